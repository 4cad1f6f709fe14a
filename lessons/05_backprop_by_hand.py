"""Lesson 5: backpropagation through one BERT layer, by hand.

What it teaches
    How a BERT learns: the gradient of the loss with respect to every weight, computed
    by going through the forward pass BACKWARDS, one step at a time, with plain NumPy
    right here in this file. We use a tiny random BERT (one layer, H = 16, 2 heads) in
    float64 and a padded batch of three sentences:

      1. the forward pass by hand, keeping every intermediate array the backward needs
      2. the top: cross-entropy, the classifier, the pooler (only [CLS] reaches the loss)
      3. the feed-forward block backwards: LayerNorm, the residual split, the two dense
         layers (dW = dy^T x, db = sum of dy, dx = dy W) and GELU
      4. the attention output backwards: LayerNorm, residual, dense
      5. self-attention backwards: the head split, dv, dprobs, the softmax, the scaling,
         dq and dk, the head merge, and the four paths that meet in dx
      6. the embeddings backwards: a scatter-add into the word table
      7. the proof: our gradients equal minibert's model.backward() (to ~1e-15)
      8. the definition: a few entries against finite differences (to ~1e-9)
      9. why gradients accumulate (+=) until zero_grad()

    Along the way: why padded positions get exactly zero gradient, and why the key bias
    gets none at all (the softmax ignores a constant shift).

    Shape legend:  B batch size   T tokens (after padding)   H hidden size (16)
                   NH heads (2)   HS head size (H / NH = 8)   I feed-forward size (32)
                   V vocabulary   P positions   C classes (2)

    Notation: for any array a, "da" means dLoss/da, the gradient of the loss with respect
    to a: an array of the SAME shape as a, saying how much the loss would change per unit
    change of each of a's numbers.

How to run it (from any folder; the default tokenizer is downloaded on first use)
    python lessons/05_backprop_by_hand.py
It takes a few seconds and exits with status 1 if a check fails.
"""

import math

from lesson_support import section  # first: it also makes minibert importable from this checkout

import numpy as np

from minibert.config import BertConfig
from minibert.functional import erf
from minibert.gradcheck import check_model, numeric_gradient, report
from minibert.model import BertForSequenceClassification
from minibert.pretrained import load_tokenizer

SENTENCES = ["A gripping, moving film.", "Dull.", "The plot is thin but the cast is great."]
LABELS = np.array([1, 0, 1])  # 1 = fresh (positive), 0 = rotten (negative)
LIBRARY_TOLERANCE = 1e-12  # ours vs model.backward(): the same sums, so only rounding (~1e-16)
FINITE_DIFFERENCE_TOLERANCE = 1e-6  # relative; a correct gradient agrees to ~1e-9


def show(name, array, dims, meaning):
    """Print one line: an array's name, its shape in legend letters and in numbers, what it is."""
    print(f"  {name:<15} {dims:<15} {str(tuple(array.shape)):<15} {meaning}")


def layer_norm(x, gamma, beta, eps):
    """LayerNorm over the last axis. Returns y and what its backward needs (x_hat, rstd).

        x_hat = (x - mean) * rstd,   rstd = 1 / sqrt(var + eps),   y = x_hat * gamma + beta
    """
    mean = x.mean(axis=-1, keepdims=True)  # [..., 1]
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)  # [..., 1]
    rstd = 1.0 / np.sqrt(var + eps)  # [..., 1]
    x_hat = (x - mean) * rstd  # [..., H]: mean 0, variance 1
    return x_hat * gamma + beta, x_hat, rstd


def layer_norm_backward(dy, x_hat, rstd, gamma):
    """Gradients of y = x_hat * gamma + beta, with x_hat = (x - mean) * rstd.

    gamma and beta are shared by every token, so their gradients are sums over tokens:
        dgamma = sum over (b, t) of dy * x_hat        dbeta = sum over (b, t) of dy
    For x, let g = dy * gamma (the gradient reaching x_hat). Each x_i moves x_hat_i
    directly, but also the mean and the variance that every x_hat_j uses; the two
    extra paths become the two means subtracted here (H numbers per token):
        dx = rstd * (g - mean(g) - x_hat * mean(g * x_hat))
    """
    dgamma = (dy * x_hat).sum(axis=(0, 1))  # [H]
    dbeta = dy.sum(axis=(0, 1))  # [H]
    g = dy * gamma  # [B, T, H]
    dx = rstd * (g - g.mean(axis=-1, keepdims=True) - x_hat * (g * x_hat).mean(axis=-1, keepdims=True))
    return dx, dgamma, dbeta


def linear_backward(dy, x, weight):
    """Gradients of y = x W^T + b, with x [..., in], W [out, in] (PyTorch's layout), b [out].

        dx = dy W        [..., out] @ [out, in] -> [..., in]
        dW = dy^T x      [out, N] @ [N, in] -> [out, in], N = every token of every sentence
        db = sum of dy over those N rows -> [out]
    dW and db are sums over the N rows because every token used the same W and b: each
    use adds its own share of the gradient.
    """
    dy2 = dy.reshape(-1, dy.shape[-1])  # [N, out]
    x2 = x.reshape(-1, x.shape[-1])  # [N, in]
    return dy @ weight, dy2.T @ x2, dy2.sum(axis=0)


def main():
    failures = []

    # ------------------------------------------------------------------------------------
    section("0. A tiny BERT in float64, and a padded batch")
    tok = load_tokenizer("minilm")  # the default model's tokenizer: V = 30,522 wordpieces
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=32, num_labels=2,
                     initializer_range=0.2)  # BERT uses 0.02; larger random weights make every signal visible
    # float64: finite differences (section 8) need ~16 significant digits; float32 has ~7.
    model = BertForSequenceClassification(cfg, dtype=np.float64, seed=0).eval()  # eval: dropout off
    H, NH, I, P = cfg.hidden_size, cfg.num_attention_heads, cfg.intermediate_size, cfg.max_position_embeddings
    HS = H // NH
    eps = cfg.layer_norm_eps
    print(f"BertForSequenceClassification: {cfg.num_hidden_layers} layer, H = {H}, NH = {NH}, HS = {HS}, "
          f"I = {I}, V = {cfg.vocab_size:,}, P = {P}, C = {cfg.num_labels}; random weights, float64")
    print("One layer only: here THE layer is the whole encoder. A deeper BERT repeats sections 3 to 5")
    print("once per layer, top layer first, each layer's dx being the dy of the layer below.")

    batch = tok(SENTENCES)
    ids, types, mask = batch["input_ids"], batch["token_type_ids"], batch["attention_mask"]
    B, T = ids.shape
    print(f"\n{B} sentences padded to T = {T}; labels {LABELS.tolist()} (1 = fresh, 0 = rotten)")
    for b in range(B):
        print(f"  {b}: {' '.join(tok.convert_ids_to_tokens(ids[b]))}")
    w = {name: p.data for name, p in model.named_parameters()}  # every weight, by name
    L = "bert.encoder.layer.0."  # the prefix of the layer's weight names

    # ------------------------------------------------------------------------------------
    section("1. The forward pass by hand, keeping every intermediate")
    print("The backward of each step needs some of the forward's arrays (its inputs, or its")
    print("output): we keep them all in variables. (minibert's modules keep them in a 'cache'.)\n")
    # Embeddings
    summed = (w["bert.embeddings.word_embeddings.weight"][ids]
              + w["bert.embeddings.position_embeddings.weight"][:T]  # [T, H] broadcasts over B
              + w["bert.embeddings.token_type_embeddings.weight"][types])  # [B, T, H]
    x, x_hat0, rstd0 = layer_norm(summed, w["bert.embeddings.LayerNorm.weight"],
                                  w["bert.embeddings.LayerNorm.bias"], eps)
    show("x", x, "[B, T, H]", "the embeddings: the layer's input")
    # Self-attention
    q = x @ w[L + "attention.self.query.weight"].T + w[L + "attention.self.query.bias"]
    k = x @ w[L + "attention.self.key.weight"].T + w[L + "attention.self.key.bias"]
    v = x @ w[L + "attention.self.value.weight"].T + w[L + "attention.self.value.bias"]

    def split_heads(a):
        """[B, T, H] -> [B, NH, T, HS]"""
        return a.reshape(B, T, NH, HS).transpose(0, 2, 1, 3)

    def merge_heads(a):
        """[B, NH, T, HS] -> [B, T, H], the inverse of split_heads"""
        return a.transpose(0, 2, 1, 3).reshape(B, T, H)

    q_heads, k_heads, v_heads = split_heads(q), split_heads(k), split_heads(v)
    show("q_heads ...", q_heads, "[B, NH, T, HS]", "queries, keys, values, split into heads")
    raw = q_heads @ k_heads.transpose(0, 1, 3, 2)  # [B, NH, T, T]: q . k, not yet scaled
    mask_bias = (1.0 - mask)[:, None, None, :] * np.finfo(np.float64).min  # [B, 1, 1, T]
    scores = raw / math.sqrt(HS) + mask_bias  # [B, NH, T, T]
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probs = e / e.sum(axis=-1, keepdims=True)  # [B, NH, T, T]
    show("probs", probs, "[B, NH, T, T]", "softmax(q k^T / sqrt(HS) + mask): attention weights")
    context = merge_heads(probs @ v_heads)  # [B, T, H]
    show("context", context, "[B, T, H]", "the weighted sums of the values, heads merged")
    # Attention output: dense, residual, LayerNorm
    projected = context @ w[L + "attention.output.dense.weight"].T + w[L + "attention.output.dense.bias"]
    sum1 = projected + x  # the residual connection
    attn_out, x_hat1, rstd1 = layer_norm(sum1, w[L + "attention.output.LayerNorm.weight"],
                                         w[L + "attention.output.LayerNorm.bias"], eps)
    show("attn_out", attn_out, "[B, T, H]", "LayerNorm(projected + x)")
    # Feed-forward: dense, GELU, dense, residual, LayerNorm
    h = attn_out @ w[L + "intermediate.dense.weight"].T + w[L + "intermediate.dense.bias"]  # [B, T, I]
    cdf = 0.5 * (1.0 + erf(h / math.sqrt(2.0)))  # Phi(h), kept: GELU's backward needs it
    gelu = h * cdf  # [B, T, I]
    show("gelu", gelu, "[B, T, I]", "GELU(h) = h Phi(h), h = attn_out W1^T + b1")
    down = gelu @ w[L + "output.dense.weight"].T + w[L + "output.dense.bias"]  # [B, T, H]
    sum2 = down + attn_out  # the second residual connection
    layer_out, x_hat2, rstd2 = layer_norm(sum2, w[L + "output.LayerNorm.weight"],
                                          w[L + "output.LayerNorm.bias"], eps)
    show("layer_out", layer_out, "[B, T, H]", "LayerNorm(down + attn_out): the layer's output")
    # Pooler, classifier, loss
    cls = layer_out[:, 0]  # [B, H]: the [CLS] token of each sentence
    pooled = np.tanh(cls @ w["bert.pooler.dense.weight"].T + w["bert.pooler.dense.bias"])  # [B, H]
    logits = pooled @ w["classifier.weight"].T + w["classifier.bias"]  # [B, C]
    shifted = logits - logits.max(axis=1, keepdims=True)
    class_probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)  # [B, C]
    loss = -np.log(class_probs[np.arange(B), LABELS]).mean()
    show("logits", logits, "[B, C]", "classifier(tanh(pooler(layer_out[:, 0])))")
    print(f"\n  loss = mean cross-entropy = {loss:.12f}")
    model_loss = float(model(ids, attention_mask=mask, token_type_ids=types, labels=LABELS).loss)
    print(f"  the model's loss          = {model_loss:.12f}  (difference {abs(loss - model_loss):.1e})")

    ours = {}  # our gradients, by the parameters' names

    # ------------------------------------------------------------------------------------
    section("2. The top: the loss, the classifier, the pooler")
    print("The chain rule, read backwards: start from dloss/dloss = 1 and, step by step, turn")
    print("the gradient of each step's output into the gradients of its inputs and weights.\n")
    onehot = np.eye(cfg.num_labels)[LABELS]  # [B, C]
    dlogits = (class_probs - onehot) / B  # the cross-entropy's gradient: probabilities minus truth
    show("dlogits", dlogits, "[B, C]", "(softmax(logits) - onehot(labels)) / B")
    dpooled, ours["classifier.weight"], ours["classifier.bias"] = linear_backward(
        dlogits, pooled, w["classifier.weight"])
    show("dclassifier.W", ours["classifier.weight"], "[C, H]", "dlogits^T pooled: the head's weight gradient")
    show("dpooled", dpooled, "[B, H]", "dlogits W: the gradient passed down")
    dpre = dpooled * (1.0 - pooled ** 2)  # tanh'(z) = 1 - tanh(z)^2: the output is all we need
    show("dpre", dpre, "[B, H]", "through tanh: times 1 - pooled^2")
    dcls, ours["bert.pooler.dense.weight"], ours["bert.pooler.dense.bias"] = linear_backward(
        dpre, cls, w["bert.pooler.dense.weight"])
    show("dcls", dcls, "[B, H]", "the gradient reaching the [CLS] vectors")
    dlayer_out = np.zeros((B, T, H))
    dlayer_out[:, 0] = dcls  # cls = layer_out[:, 0] read row 0 only; every other row: zero
    show("dlayer_out", dlayer_out, "[B, T, H]", "non-zero in row 0 ([CLS]) only")
    print("\n  The pooler reads [CLS] alone, so in the top layer only [CLS] rows carry gradient.")

    # ------------------------------------------------------------------------------------
    section("3. The feed-forward block, backwards")
    print("layer_out = LayerNorm(sum2):")
    dsum2, ours[L + "output.LayerNorm.weight"], ours[L + "output.LayerNorm.bias"] = layer_norm_backward(
        dlayer_out, x_hat2, rstd2, w[L + "output.LayerNorm.weight"])
    show("dsum2", dsum2, "[B, T, H]", "rstd (g - mean(g) - x_hat mean(g x_hat)), g = dy gamma")
    show("dgamma2", ours[L + "output.LayerNorm.weight"], "[H]", "sum over tokens of dy * x_hat")
    show("dbeta2", ours[L + "output.LayerNorm.bias"], "[H]", "sum over tokens of dy")
    print("sum2 = down + attn_out: a sum passes its gradient UNCHANGED to both terms (the")
    print("residual split): d(down) = dsum2, and d(attn_out) gets dsum2 now, more later.")
    ddown = dsum2
    dattn_out = dsum2.copy()  # a copy: the feed-forward's share is added to it below
    print("down = gelu W2^T + b2:")
    dgelu, ours[L + "output.dense.weight"], ours[L + "output.dense.bias"] = linear_backward(
        ddown, gelu, w[L + "output.dense.weight"])
    show("dW2", ours[L + "output.dense.weight"], "[H, I]", "ddown^T gelu, summed over all B*T tokens")
    show("db2", ours[L + "output.dense.bias"], "[H]", "ddown summed over all B*T tokens")
    show("dgelu", dgelu, "[B, T, I]", "ddown W2")
    print("gelu = h Phi(h): the product rule gives d gelu / dh = Phi(h) + h phi(h), phi the normal density")
    pdf = np.exp(-0.5 * h * h) / math.sqrt(2.0 * math.pi)  # phi(h)
    dh = dgelu * (cdf + h * pdf)  # Phi(h) was kept from the forward
    show("dh", dh, "[B, T, I]", "dgelu * (Phi(h) + h phi(h))")
    rows = int((np.abs(dh).max(axis=-1) > 0).sum())
    print(f"  (dh is non-zero in {rows} of the B*T = {B * T} token rows, the [CLS] rows: in the top layer")
    print("   the feed-forward learns from [CLS] alone, since nothing else reaches the loss)")
    print("h = attn_out W1^T + b1:")
    dattn_out_ffn, ours[L + "intermediate.dense.weight"], ours[L + "intermediate.dense.bias"] = linear_backward(
        dh, attn_out, w[L + "intermediate.dense.weight"])
    show("dW1", ours[L + "intermediate.dense.weight"], "[I, H]", "dh^T attn_out")
    dattn_out += dattn_out_ffn  # attn_out fed two places, so its gradient is a sum of two
    show("dattn_out", dattn_out, "[B, T, H]", "dsum2 (residual) + dh W1 (feed-forward)")

    # ------------------------------------------------------------------------------------
    section("4. The attention output, backwards")
    dsum1, ours[L + "attention.output.LayerNorm.weight"], ours[L + "attention.output.LayerNorm.bias"] = \
        layer_norm_backward(dattn_out, x_hat1, rstd1, w[L + "attention.output.LayerNorm.weight"])
    show("dsum1", dsum1, "[B, T, H]", "through attn_out = LayerNorm(sum1)")
    print("sum1 = projected + x: the residual split again; x gets dsum1 directly (path 1 of 4).")
    dx = dsum1.copy()
    dcontext, ours[L + "attention.output.dense.weight"], ours[L + "attention.output.dense.bias"] = \
        linear_backward(dsum1, context, w[L + "attention.output.dense.weight"])
    show("dWo", ours[L + "attention.output.dense.weight"], "[H, H]", "dsum1^T context")
    show("dcontext", dcontext, "[B, T, H]", "dsum1 Wo: through the output projection")

    # ------------------------------------------------------------------------------------
    section("5. Self-attention, backwards")
    print("context = merge_heads(probs @ v_heads). Merging is only moving numbers around, so its")
    print("backward moves the gradients back: the head SPLIT.")
    dcontext_heads = split_heads(dcontext)
    show("dcontext_heads", dcontext_heads, "[B, NH, T, HS]", "the merge undone")
    print("A matrix product C = A B has dA = dC B^T and dB = A^T dC. With A = probs, B = v_heads:")
    dv_heads = probs.transpose(0, 1, 3, 2) @ dcontext_heads
    show("dv_heads", dv_heads, "[B, NH, T, HS]", "probs^T dcontext: each key's value, weighted by its use")
    dprobs = dcontext_heads @ v_heads.transpose(0, 1, 3, 2)
    show("dprobs", dprobs, "[B, NH, T, T]", "dcontext v^T")
    print("probs = softmax(scores) along the keys: each row's weights depend on all its scores,")
    print("so dscores_j = probs_j (dprobs_j - sum_i dprobs_i probs_i), row by row:")
    dscores = probs * (dprobs - (dprobs * probs).sum(axis=-1, keepdims=True))
    show("dscores", dscores, "[B, NH, T, T]", "the softmax backward")
    print("scores = raw / sqrt(HS) + mask_bias: the mask is a constant (no gradient, and it passes")
    print("dscores on unchanged); the scaling scales the gradient by the same 1 / sqrt(HS):")
    draw = dscores / math.sqrt(HS)
    show("draw", draw, "[B, NH, T, T]", f"dscores / sqrt({HS})")
    print("raw = q_heads @ k_heads^T, a matrix product again:")
    dq_heads = draw @ k_heads
    dk_heads = draw.transpose(0, 1, 3, 2) @ q_heads
    show("dq_heads", dq_heads, "[B, NH, T, HS]", "draw k: what each query should have asked")
    show("dk_heads", dk_heads, "[B, NH, T, HS]", "draw^T q: how each key should have answered")
    print("The heads were split from q, k, v: the backward of a split is a merge.")
    dq, dk, dv = merge_heads(dq_heads), merge_heads(dk_heads), merge_heads(dv_heads)
    show("dq, dk, dv", dq, "[B, T, H]", "back in one piece per token")
    print("q, k, v = x Wq^T + bq, x Wk^T + bk, x Wv^T + bv:")
    for name, d in (("query", dq), ("key", dk), ("value", dv)):
        dx_path, ours[L + f"attention.self.{name}.weight"], ours[L + f"attention.self.{name}.bias"] = \
            linear_backward(d, x, w[L + f"attention.self.{name}.weight"])
        show(f"dW_{name}", ours[L + f"attention.self.{name}.weight"], "[H, H]", f"d{name[0]}^T x")
        dx += dx_path  # paths 2, 3 and 4 into x
    show("dx", dx, "[B, T, H]", "residual + query path + key path + value path")
    print("\n  x fed FOUR places (the residual, q, k, v): its gradient is the sum of all four.")

    print("\nWhy the key bias gets no gradient:")
    dbk = ours[L + "attention.self.key.bias"]
    print("  k = x Wk^T + bk adds the same vector bk to every key, so query i's score with every")
    print("  key j grows by the same q_i . bk: a constant shift of the whole row, and the softmax")
    print("  ignores constant shifts. The loss cannot depend on bk at all. In the numbers: each row")
    print(f"  of dscores sums to 0 (largest |row sum| {np.abs(dscores.sum(axis=-1)).max():.1e}), and")
    print("  dbk = sum over keys j of dk_j = sum over queries i of q_i x (row i's sum) = 0:")
    print(f"  max |dbk| = {np.abs(dbk).max():.1e} (rounding only),", end="")
    print(f" while max |dbq| = {np.abs(ours[L + 'attention.self.query.bias']).max():.1e} "
          f"and max |dbv| = {np.abs(ours[L + 'attention.self.value.bias']).max():.1e}.")

    # ------------------------------------------------------------------------------------
    section("6. Below the layer: the embeddings")
    dsummed, ours["bert.embeddings.LayerNorm.weight"], ours["bert.embeddings.LayerNorm.bias"] = \
        layer_norm_backward(dx, x_hat0, rstd0, w["bert.embeddings.LayerNorm.weight"])
    show("dsummed", dsummed, "[B, T, H]", "through the embeddings' LayerNorm")
    print("summed = word[ids] + position[0..T-1] + token_type[types]: a lookup is a copy of rows,")
    print("so each row of a table gets the gradient of every place it was copied to, ADDED up:")
    dword = np.zeros((cfg.vocab_size, H))
    np.add.at(dword, ids, dsummed)  # dword[ids[b, t]] += dsummed[b, t], for every (b, t)
    print("  np.add.at(dword, ids, dsummed). (dword[ids] += dsummed would keep only ONE of the")
    print("  gradients of a token that appears twice, like 'the' and 'is' in sentence 2.)")
    dposition = np.zeros((P, H))
    dposition[:T] = dsummed.sum(axis=0)  # position t was used by all B sentences
    dtype_table = np.zeros((cfg.type_vocab_size, H))
    np.add.at(dtype_table, types, dsummed)
    ours["bert.embeddings.word_embeddings.weight"] = dword
    ours["bert.embeddings.position_embeddings.weight"] = dposition
    ours["bert.embeddings.token_type_embeddings.weight"] = dtype_table
    show("dword", dword, "[V, H]", f"non-zero in {int((np.abs(dword).sum(axis=1) > 0).sum())} of "
         f"{cfg.vocab_size:,} rows: the tokens in the batch")
    show("dposition", dposition, "[P, H]", f"rows 0..{T - 1} only")

    print("\nWhy padded positions get exactly zero gradient:")
    short = int(np.argmin(mask.sum(axis=1)))  # the sentence with the most padding
    tokens = tok.convert_ids_to_tokens(ids[short])
    print(f"  largest |dx| per token of sentence {short}:")
    for t in range(T):
        print(f"    {t:2d} {tokens[t]:<7} {np.abs(dx[short, t]).max():.3e}")
    print("  A [PAD] vector could reach the loss only (1) as a key or value some token attends to,")
    print("  but its attention weight is exactly 0 (exp of a huge negative number), so its dv and")
    print("  dscores are 0; or (2) through its own row of the layer's output, which nothing reads")
    print("  (the pooler reads [CLS]; a next layer would again give it weight 0). So padding never")
    print(f"  trains anything: the [PAD] row of dword is all zero: max |dword[{tok.pad_token_id}]| = "
          f"{np.abs(dword[tok.pad_token_id]).max():g}.")

    # ------------------------------------------------------------------------------------
    section("7. Check (a): our gradients against minibert's model.backward()")
    model.zero_grad()
    model(ids, attention_mask=mask, token_type_ids=types, labels=LABELS)
    model.backward()  # fills every Parameter's .grad
    print(f"  {'parameter':<52} {'shape':<12} {'max |ours - library|':>20}")
    worst_diff = 0.0
    for name, p in model.named_parameters():
        diff = float(np.abs(ours[name] - p.grad).max())
        worst_diff = max(worst_diff, diff)
        print(f"  {name:<52} {str(p.shape):<12} {diff:>20.1e}")
    print(f"  the largest difference: {worst_diff:.1e}  (float64 rounding is ~1e-16 per operation)")
    if worst_diff <= LIBRARY_TOLERANCE:
        print(f"OK: all {len(ours)} hand-written gradients equal the library's (tolerance {LIBRARY_TOLERANCE:g}).")
    else:
        failures.append(f"hand-written gradients differ from model.backward() by {worst_diff:.1e}")
        print(f"FAILED: {failures[-1]} > {LIBRARY_TOLERANCE:g}")

    # ------------------------------------------------------------------------------------
    section("8. Check (b): against the definition of the derivative (finite differences)")
    print("Nudge one weight by +-h, +-2h (h = 1e-3) and watch the loss: the slope")
    print("  dL/dw ~= (-L(w+2h) + 8 L(w+h) - 8 L(w-h) + L(w-2h)) / 12h")
    print("needs nothing but forward passes, so it checks the backward independently. We check")
    print("the model's .grad, which section 7 showed equal to ours to the last digit or so.")
    print("(minibert.gradcheck.check_model; relative error |ours - slope| / max(|ours|, |slope|),")
    print(" with a floor of 1e-3 x the largest gradient, so zeros are not judged by noise alone)\n")

    def loss_fn():
        return model(ids, attention_mask=mask, token_type_ids=types, labels=LABELS).loss

    word_table = "bert.embeddings.word_embeddings.weight"
    others = [name for name, _ in model.named_parameters() if name != word_table]
    results = check_model(model, loss_fn, max_checks_per_param=4, names=others)  # 4 random entries each
    worst = report(results, FINITE_DIFFERENCE_TOLERANCE)
    print(f"\nThe word table has {cfg.vocab_size:,} rows and only the batch's tokens have gradients,")
    print("so instead of random entries we check the first 2 numbers of a few chosen rows:")
    table = model.bert.embeddings.word_embeddings.weight
    chosen = ["the", "is", "dull", "[PAD]", "zebra"]  # twice in a sentence, repeated, once, padding, unused
    flat = [tok.vocab[t] * H + j for t in chosen for j in range(2)]  # flat indices into [V, H]
    slopes = numeric_gradient(loss_fn, table.data, flat)
    analytic = table.grad.reshape(-1)[flat]
    floor = 1e-3 * max(np.abs(p.grad).max() for p in model.parameters())
    rel = np.abs(analytic - slopes) / np.maximum(np.maximum(np.abs(analytic), np.abs(slopes)), floor)
    for i, index in enumerate(flat):
        token, j = chosen[i // 2], index % H
        print(f"  dword[{token!r:>8}, {j}]  ours {analytic[i]:+.6e}   slope {slopes[i]:+.6e}   "
              f"relative error {rel[i]:.1e}")
    worst = max(worst, float(rel.max()))
    print(f"\nworst relative error over every entry checked: {worst:.1e}")
    if worst <= FINITE_DIFFERENCE_TOLERANCE:
        print(f"OK: the gradients match finite differences (tolerance {FINITE_DIFFERENCE_TOLERANCE:g}).")
    else:
        failures.append(f"a gradient disagrees with finite differences (relative error {worst:.1e})")
        print(f"FAILED: {failures[-1]} > {FINITE_DIFFERENCE_TOLERANCE:g}")

    # ------------------------------------------------------------------------------------
    section("9. Gradients accumulate (+=) until zero_grad()")
    model.zero_grad()
    model(ids, attention_mask=mask, token_type_ids=types, labels=LABELS)
    model.backward()
    first = {name: p.grad.copy() for name, p in model.named_parameters()}  # a copy: .grad changes in place
    model(ids, attention_mask=mask, token_type_ids=types, labels=LABELS)
    model.backward()  # no zero_grad() in between
    doubled = all(np.allclose(p.grad, 2 * first[name], rtol=1e-12, atol=0) for name, p in model.named_parameters())
    print(f"Two forward + backward passes without zero_grad(): every .grad is twice the first: {doubled}")
    print("""
backward() ADDS to .grad (Parameter.accumulate does grad += new) instead of overwriting it:
  - it is what the chain rule asks for: a weight used in several places (a word twice in a
    batch, x feeding q, k, v and the residual) gets the sum of the gradients of every use;
  - it lets one big batch be split into smaller ones that fit in memory (gradient
    accumulation): backward on each part, then ONE optimizer step with the summed gradient.
    Each part's loss is a mean over that part only, so scale each part's gradient by its
    share of the batch (part size / batch size) for the sum to be the big batch's gradient.
The price: before each new step the old gradients must go, or they are counted again.
Trainer.train_step calls model.zero_grad() before every forward pass.""")
    model.zero_grad()
    cleared = all(p.grad is None for p in model.parameters())
    print(f"After model.zero_grad(): every .grad is None: {cleared}")
    if not (doubled and cleared):
        failures.append("gradients did not accumulate / clear as described")
        print(f"FAILED: {failures[-1]}")

    # ------------------------------------------------------------------------------------
    section("Summary")
    if failures:
        for failure in failures:
            print(f"FAILED: {failure}")
        raise SystemExit(1)
    print("OK: backpropagation by hand matches the library and the definition of the derivative.")


if __name__ == "__main__":
    main()
