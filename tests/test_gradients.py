"""Every backward kernel and the whole classifier against finite differences in float64.

The check (minibert.gradcheck) uses fourth-order central differences; a correct
backward agrees to ~1e-9 relative, so the bar of 1e-6 leaves room only for rounding,
never for a missing term (test_a_wrong_backward_is_caught shows one being caught).
"""

import numpy as np
import pytest

from minibert import functional as F
from minibert.config import BertConfig
from minibert.gradcheck import check_function, check_model, report
from minibert.model import BertForSequenceClassification

TOL = 1e-6


def rng():
    return np.random.default_rng(1234)


def assert_ok(results):
    worst = report(results, TOL)
    assert worst <= TOL, f"worst relative error {worst:.2e} > {TOL}"


def test_linear():
    r = rng()
    x, W, b = r.normal(size=(2, 3, 5)), r.normal(size=(4, 5)), r.normal(size=4)
    w = r.normal(size=(2, 3, 4))
    _, cache = F.linear(x, W, b)
    dx, dW, db = F.linear_backward(w, cache)
    assert_ok(check_function(lambda x, W, b: F.linear(x, W, b)[0], {"x": x, "W": W, "b": b},
                             {"x": dx, "W": dW, "b": db}, w))


def test_linear_skips_what_is_not_needed():
    r = rng()
    _, cache = F.linear(r.normal(size=(3, 5)), r.normal(size=(4, 5)))
    dx, dW, db = F.linear_backward(r.normal(size=(3, 4)), cache, need_dx=False, need_dweight=False)
    assert dx is None and dW is None and db is None


def test_embedding_with_repeated_ids():
    r = rng()
    table = r.normal(size=(7, 3))
    ids = np.array([[1, 4, 1, 1], [6, 4, 0, 1]])  # id 1 four times, id 4 twice
    w = r.normal(size=(2, 4, 3))
    _, cache = F.embedding(ids, table)
    dtable = F.embedding_backward(w, cache)
    assert_ok(check_function(lambda table: F.embedding(ids, table)[0], {"table": table}, {"table": dtable}, w))
    np.testing.assert_allclose(dtable[1], w[0, 0] + w[0, 2] + w[0, 3] + w[1, 3])  # all four summed
    assert np.all(dtable[[2, 3, 5]] == 0)  # rows never read get no gradient


def test_layer_norm():
    r = rng()
    x, g, b = r.normal(size=(2, 3, 6)) * 3 + 1, r.normal(size=6), r.normal(size=6)
    w = r.normal(size=(2, 3, 6))
    _, cache = F.layer_norm(x, g, b, 1e-12)
    dx, dg, db = F.layer_norm_backward(w, cache)
    assert_ok(check_function(lambda x, g, b: F.layer_norm(x, g, b, 1e-12)[0], {"x": x, "g": g, "b": b},
                             {"x": dx, "g": dg, "b": db}, w))


@pytest.mark.parametrize("kind", ["gelu", "gelu_tanh", "tanh"])
def test_activations(kind):
    r = rng()
    x = r.normal(size=(3, 8)) * 2
    w = r.normal(size=(3, 8))
    fwd = {"gelu": F.gelu, "gelu_tanh": F.gelu_tanh, "tanh": F.tanh}[kind]
    bwd = {"gelu": F.gelu_backward, "gelu_tanh": F.gelu_tanh_backward, "tanh": F.tanh_backward}[kind]
    _, cache = fwd(x)
    assert_ok(check_function(lambda x: fwd(x)[0], {"x": x}, {"x": bwd(w, cache)}, w))


def test_softmax():
    r = rng()
    x, w = r.normal(size=(2, 3, 5)) * 2, r.normal(size=(2, 3, 5))
    y, _ = F.softmax(x)
    assert_ok(check_function(lambda x: F.softmax(x)[0], {"x": x}, {"x": F.softmax_backward(w, y)}, w))


def test_dropout_reuses_its_mask():
    r = rng()
    x, w = r.normal(size=(4, 6)), r.normal(size=(4, 6))
    y, mask = F.dropout(x, 0.3, np.random.default_rng(0), training=True)
    keep, scale = mask
    assert keep.dtype == np.bool_ and 0 < keep.sum() < keep.size and scale == 1 / 0.7
    np.testing.assert_array_equal(y, np.where(keep, x * scale, 0.0))
    # with the mask fixed, dropout is linear: its gradient is the mask itself
    assert_ok(check_function(lambda x: x * keep / 0.7, {"x": x}, {"x": F.dropout_backward(w, mask)}, w))
    assert F.dropout(x, 0.3, None, training=False)[1] is None


def test_dropout_drops_about_p_and_keeps_the_mean():
    x = np.ones((200, 500), dtype=np.float32)
    y, (keep, _) = F.dropout(x, 0.1, np.random.default_rng(1), training=True)
    assert y.dtype == np.float32
    assert abs(1 - keep.mean() - 0.1) < 0.005  # 100,000 draws: the dropped share is p within 5 sd
    assert abs(y.mean() - 1.0) < 0.01  # inverted dropout: the expectation is unchanged


@pytest.mark.parametrize("with_dropout", [False, True])
def test_attention_with_padding_mask(with_dropout):
    r = rng()
    B, NH, T, HS = 2, 3, 5, 4
    q, k, v = (r.normal(size=(B, NH, T, HS)) for _ in range(3))
    attention_mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    bias = F.attention_mask_bias(attention_mask, np.float64)
    w = r.normal(size=(B, NH, T, HS))
    p = 0.2 if with_dropout else 0.0
    _, probs, cache = F.scaled_dot_product_attention(q, k, v, bias, p, np.random.default_rng(5), training=with_dropout)
    assert np.all(probs[1, :, :, 3:] == 0)  # padded keys get exactly zero weight
    drop_mask = cache[4]

    def forward(q, k, v):  # the same dropout mask in every evaluation
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(HS) + bias
        probs, _ = F.softmax(scores)
        return (probs if drop_mask is None else probs * drop_mask[0] * drop_mask[1]) @ v

    dq, dk, dv = F.scaled_dot_product_attention_backward(w, cache)
    assert_ok(check_function(forward, {"q": q, "k": k, "v": v}, {"q": dq, "k": dk, "v": dv}, w))


def test_head_split_and_merge_are_inverse():
    x = rng().normal(size=(2, 5, 12))
    heads = F.split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    np.testing.assert_array_equal(F.merge_heads(heads), x)


def test_masked_mean():
    r = rng()
    h, w = r.normal(size=(2, 4, 3)), r.normal(size=(2, 3))
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1]])
    y, weights = F.masked_mean(h, mask)
    np.testing.assert_allclose(y[0], h[0, :2].mean(0))
    assert_ok(check_function(lambda h: F.masked_mean(h, mask)[0], {"h": h}, {"h": F.masked_mean_backward(w, weights)}, w))


def test_cross_entropy():
    r = rng()
    logits, labels = r.normal(size=(4, 3)) * 3, np.array([0, 2, 2, 1])
    loss, cache = F.cross_entropy(logits, labels)
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(loss, -np.log(p[np.arange(4), labels]).mean())
    dlogits = F.cross_entropy_backward(1.0, cache)
    assert_ok(check_function(lambda logits: F.cross_entropy(logits, labels)[0], {"logits": logits},
                             {"logits": dlogits}, np.float64(1.0)))


def test_cross_entropy_is_stable_for_huge_logits():
    loss, _ = F.cross_entropy(np.array([[1000.0, -1000.0]]), np.array([1]))
    assert np.isfinite(loss) and abs(float(loss) - 2000.0) < 1e-9


def tiny_classifier(hidden_act="gelu", seed=3):
    cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=24, max_position_embeddings=20, num_labels=3, hidden_act=hidden_act)
    model = BertForSequenceClassification(cfg, dtype=np.float64, seed=seed).eval()  # dropout off
    r = np.random.default_rng(seed)
    for name, p in model.named_parameters():  # larger, non-trivial weights: gradients well above rounding
        p.data += r.normal(0, 0.1 if ("LayerNorm" in name or name.endswith("bias")) else 0.3, p.data.shape)
    return model


def tiny_batch():
    r = np.random.default_rng(0)
    ids = r.integers(1, 50, (3, 7))
    mask = np.ones((3, 7), np.int64)
    mask[1, 5:] = 0
    mask[2, 3:] = 0
    ids[mask == 0] = 0
    ids[0, 2] = ids[0, 4] = ids[1, 1]  # a repeated id across and within sequences
    types = np.zeros_like(ids)
    types[:, 4:] = 1
    return ids, mask, types * mask, np.array([0, 2, 1])


@pytest.mark.parametrize("hidden_act", ["gelu", "gelu_new"])
def test_whole_classifier(hidden_act):
    model = tiny_classifier(hidden_act)
    ids, mask, types, labels = tiny_batch()

    def loss():
        return model(ids, mask, types, labels=labels).loss

    model.zero_grad()
    loss()
    model.backward()
    results = check_model(model, loss, max_checks_per_param=12)
    assert len(results) == len(model.parameters())  # every parameter was checked
    assert_ok(results)


def test_whole_classifier_in_training_mode_with_dropout():
    """Dropout on (p = 0.1 in every place BERT has it): the same masks for every evaluation
    of the loss (reseeded before each forward), so finite differences see the function the
    backward differentiates; a backward that ignored its masks would fail here."""
    model = tiny_classifier().train()
    ids, mask, types, labels = tiny_batch()

    def loss():
        model.reseed_dropout(5)
        return model(ids, mask, types, labels=labels).loss

    model.zero_grad()
    train_loss = loss()
    model.backward()
    assert_ok(check_model(model, loss, max_checks_per_param=8))
    assert train_loss != model.eval()(ids, mask, types, labels=labels).loss  # dropout really changed the outputs


def test_dropout_layer_drops_scales_and_routes_the_gradient_through_its_mask():
    from minibert.layers import Dropout

    layer = Dropout(0.2, seed=4)  # a new module is in training mode
    x = np.ones((400, 500))
    y = layer(x)
    dropped = y == 0
    assert abs(dropped.mean() - 0.2) < 0.005
    np.testing.assert_allclose(y[~dropped], 1 / 0.8)
    dy = np.random.default_rng(0).normal(size=x.shape)
    np.testing.assert_allclose(layer.backward(dy), np.where(dropped, 0.0, dy / 0.8))  # the forward's own mask
    np.testing.assert_array_equal(layer.eval()(x), x)  # eval mode: the identity


def test_gradients_accumulate_until_zero_grad():
    model = tiny_classifier()
    ids, mask, types, labels = tiny_batch()
    model(ids, mask, types, labels=labels)
    model.backward()
    first = {n: p.grad.copy() for n, p in model.named_parameters()}
    model(ids, mask, types, labels=labels)
    model.backward()
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * first[n], err_msg=n)
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_frozen_encoder_gets_no_gradient_and_no_backward():
    model = tiny_classifier()
    model.bert.requires_grad_(False)
    ids, mask, types, labels = tiny_batch()
    model(ids, mask, types, labels=labels)
    calls = []
    layer0 = model.bert.encoder.layer[0]
    original = layer0.backward
    layer0.backward = lambda dy: calls.append(1) or original(dy)
    model.backward()
    assert not calls, "the frozen encoder was back-propagated through"
    assert all(p.grad is None for p in model.bert.parameters())
    assert model.classifier.weight.grad is not None


def test_partial_freeze_stops_below_lowest_trainable_layer():
    model = tiny_classifier()
    model.bert.embeddings.requires_grad_(False)
    model.bert.encoder.layer[0].requires_grad_(False)
    ids, mask, types, labels = tiny_batch()

    def loss():
        return model(ids, mask, types, labels=labels).loss

    loss()
    calls = []
    original = model.bert.encoder.layer[0].backward
    model.bert.encoder.layer[0].backward = lambda dy: calls.append(1) or original(dy)
    model.backward()
    assert not calls
    assert all(p.grad is None for p in model.bert.embeddings.parameters())
    assert_ok(check_model(model, loss, max_checks_per_param=6))  # the trainable rest is still right


def test_bert_model_backward_from_mean_pooling():
    """BertModel.backward also takes the gradient of last_hidden_state (mean pooling heads)."""
    model = tiny_classifier().bert
    ids, mask, types, _ = tiny_batch()
    w = np.random.default_rng(9).normal(size=(3, 16))

    def loss():
        out = model(ids, mask, types)
        return (F.masked_mean(out.last_hidden_state, mask)[0] * w).sum()

    loss()
    _, weights = F.masked_mean(model(ids, mask, types).last_hidden_state, mask)
    model.zero_grad()
    model.backward(d_last_hidden_state=F.masked_mean_backward(w, weights))
    assert model.pooler.dense.weight.grad is None  # the pooler took no part
    results = check_model(model, loss, max_checks_per_param=6, names=[n for n, _ in model.named_parameters() if "pooler" not in n])
    assert_ok(results)


def test_a_wrong_backward_is_caught():
    """LayerNorm backward without the mean term fails the check by orders of magnitude."""
    r = rng()
    x, g, b, w = r.normal(size=(3, 6)), r.normal(size=6), r.normal(size=6), r.normal(size=(3, 6))
    _, (x_hat, rstd, weight) = F.layer_norm(x, g, b, 1e-12)
    gg = w * weight
    wrong_dx = rstd * (gg - x_hat * (gg * x_hat).mean(-1, keepdims=True))  # forgot - mean(g)
    results = check_function(lambda x: F.layer_norm(x, g, b, 1e-12)[0], {"x": x}, {"x": wrong_dx}, w)
    assert results[0].max_rel_error > 1e-2


def test_backward_without_labels_is_a_clear_error():
    model = tiny_classifier()
    ids, mask, types, _ = tiny_batch()
    model(ids, mask, types)
    with pytest.raises(ValueError, match="labels"):
        model.backward()


def test_bad_labels_are_clear_errors():
    model = tiny_classifier()
    ids, mask, types, _ = tiny_batch()
    with pytest.raises(ValueError, match="outside"):
        model(ids, mask, types, labels=[0, 1, 3])
    with pytest.raises(ValueError, match="shape"):
        model(ids, mask, types, labels=[0, 1])




def test_no_grad_keeps_nothing_and_backward_then_says_why():
    from minibert.layers import no_grad

    model = tiny_classifier()
    ids, mask, types, labels = tiny_batch()
    with no_grad():
        out = model(ids, mask, types, labels=labels)
    assert model.bert.encoder.layer[0].attention.self.query._cache is None
    assert model.bert.encoder.layer[0].intermediate._cache is None
    with pytest.raises(RuntimeError, match="no_grad"):
        model.backward()
    again = model(ids, mask, types, labels=labels)  # outside no_grad: the same numbers, and backward works
    np.testing.assert_array_equal(out.logits, again.logits)
    model.backward()
    assert model.classifier.weight.grad is not None
    from minibert.layers import Dropout  # in training mode too: a dropout keeps no mask under no_grad()
    drop = Dropout(0.5, seed=1)
    with no_grad():
        drop(np.ones((4, 4)))
    assert drop.training and drop._cache is None
