"""The same model on an NVIDIA GPU through CuPy: parity with transformers, and the
kernels giving the values they give on NumPy.

- The checks of tests/test_model_parity.py with the model moved to "cuda": tiny random
  models in float64 within 1e-10, all-MiniLM-L6-v2 in float32 within 1e-4.
- The backward of a whole classifier and three AdamW steps on CuPy, against NumPy's.
- erf, GELU, LayerNorm, softmax and masked_mean on CuPy arrays against NumPy.

Skipped as a whole where CuPy or a GPU is missing (``pip install -e '.[cuda12]'`` or ``-e '.[cuda13]'`` in the checkout).
Results come back to the host with minibert.backend.to_numpy before any comparison.
"""

import numpy as np
import pytest

from minibert import backend

if not backend.cuda_available():
    pytest.skip("CuPy and a CUDA GPU are needed", allow_module_level=True)

import cupy as cp  # noqa: E402  (only once we know it imports)

from minibert import functional as F  # noqa: E402
from minibert.errors import MinibertWarning  # noqa: E402
from minibert.model import BertForSequenceClassification, BertModel  # noqa: E402

FLOAT32_TOL = 1e-4
FLOAT64_TOL = 1e-10
to_numpy = backend.to_numpy


# ----------------------------------------------------------------------------------------
# Parity with transformers, on the GPU
# ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_reference(fixtures_dir):
    return np.load(fixtures_dir / "tiny_reference.npz")


@pytest.fixture(scope="module")
def minilm_reference(fixtures_dir):
    return np.load(fixtures_dir / "minilm_reference.npz")


def test_model_moves_to_cuda_and_back(fixtures_dir):
    model = BertModel.from_pretrained(fixtures_dir / "tiny_bert", dtype=np.float64)
    before = model.state_dict()
    model.to("cuda")
    assert model.device == "cuda"
    assert all(isinstance(p.data, cp.ndarray) for p in model.parameters())
    after = model.state_dict()  # state_dict always returns NumPy arrays
    assert all(isinstance(a, np.ndarray) for a in after.values())
    model.to("cpu")
    assert model.device == "cpu"
    for name, array in before.items():
        np.testing.assert_array_equal(after[name], array, err_msg=name)
        np.testing.assert_array_equal(model.state_dict()[name], array, err_msg=name)


def test_tiny_float64_exact_gelu_on_cuda(fixtures_dir, tiny_reference):
    ref = tiny_reference
    model = BertModel.from_pretrained(fixtures_dir / "tiny_bert", dtype=np.float64, strict=True, device="cuda")
    assert model.device == "cuda"
    out = model(ref["input_ids"], attention_mask=ref["attention_mask"], token_type_ids=ref["token_type_ids"],
                output_hidden_states=True, output_attentions=True)
    assert isinstance(out.last_hidden_state, cp.ndarray)  # computed on the GPU
    mask = ref["attention_mask"].astype(bool)
    for layer, expected in enumerate(ref["tiny_hidden_states"]):
        got = to_numpy(out.hidden_states[layer])
        err = np.abs(got[mask] - expected[mask]).max()
        assert err <= FLOAT64_TOL, f"hidden state {layer}: {err}"
    for layer, expected in enumerate(ref["tiny_attentions"]):
        diff = np.abs(to_numpy(out.attentions[layer]) - expected)  # [B, NH, T, T]
        err = diff.transpose(0, 2, 1, 3)[mask].max()  # every query that is a real token
        assert err <= FLOAT64_TOL, f"attention {layer}: {err}"
    err = np.abs(to_numpy(out.pooler_output) - ref["tiny_pooler_output"]).max()
    assert err <= FLOAT64_TOL


def test_tiny_classifier_tanh_gelu_on_cuda(fixtures_dir, tiny_reference):
    ref = tiny_reference
    model = BertForSequenceClassification.from_pretrained(
        fixtures_dir / "tiny_bert_tanh_cls", dtype=np.float64, strict=True, device="cuda")
    out = model(ref["input_ids"], attention_mask=ref["attention_mask"], token_type_ids=ref["token_type_ids"],
                output_hidden_states=True)
    mask = ref["attention_mask"].astype(bool)
    err_h = np.abs(to_numpy(out.hidden_states[-1])[mask] - ref["cls_last_hidden_state"][mask]).max()
    err_logits = np.abs(to_numpy(out.logits) - ref["cls_logits"]).max()
    assert err_h <= FLOAT64_TOL and err_logits <= FLOAT64_TOL


def test_minilm_float32_on_cuda(minilm_dir, minilm_reference):
    ref = minilm_reference
    model = BertModel.from_pretrained(minilm_dir).to("cuda")
    out = model(ref["input_ids"], attention_mask=ref["attention_mask"],
                token_type_ids=ref["token_type_ids"], output_hidden_states=True)
    mask = ref["attention_mask"].astype(bool)
    last = to_numpy(out.last_hidden_state)
    assert last.dtype == np.float32
    assert np.abs(last[mask] - ref["last_hidden_state_real_tokens"]).max() <= FLOAT32_TOL
    rows, cols = ref["sample_positions"].T
    for layer, expected in enumerate(ref["lower_hidden_states_sample"]):
        err = np.abs(to_numpy(out.hidden_states[layer])[rows, cols] - expected).max()
        assert err <= FLOAT32_TOL, f"hidden state {layer} differs by {err}"
    assert np.abs(to_numpy(out.pooler_output) - ref["pooler_output"]).max() <= FLOAT32_TOL


def test_cuda_inputs_are_accepted(fixtures_dir, tiny_reference):
    """Ids already on the GPU give the same result as ids handed over from NumPy."""
    ref = tiny_reference
    model = BertModel.from_pretrained(fixtures_dir / "tiny_bert", dtype=np.float64, device="cuda")
    from_host = model(ref["input_ids"], attention_mask=ref["attention_mask"])
    from_gpu = model(cp.asarray(ref["input_ids"]), attention_mask=cp.asarray(ref["attention_mask"]))
    np.testing.assert_array_equal(to_numpy(from_gpu.last_hidden_state), to_numpy(from_host.last_hidden_state))


# ----------------------------------------------------------------------------------------
# Gradients and a training step: the GPU gives what the CPU gives
# ----------------------------------------------------------------------------------------
def _classifier_grads(fixtures_dir, ref, device):
    """Every parameter's gradient (NumPy) after one forward + loss + backward in float64, eval mode."""
    model = BertForSequenceClassification.from_pretrained(
        fixtures_dir / "tiny_bert_tanh_cls", dtype=np.float64, strict=True, device=device).eval()
    labels = np.arange(len(ref["input_ids"])) % model.config.num_labels
    out = model(ref["input_ids"], attention_mask=ref["attention_mask"], token_type_ids=ref["token_type_ids"],
                labels=labels)
    model.backward()
    if device == "cuda":  # the work really ran on the GPU
        assert all(isinstance(p.grad, cp.ndarray) for p in model.parameters())
    return float(to_numpy(out.loss)), {n: to_numpy(p.grad) for n, p in model.named_parameters()}


def test_gradients_on_cuda_equal_the_cpu_ones(fixtures_dir, tiny_reference):
    """The whole backward (attention, GELU, LayerNorm, the embeddings' scatter-add with
    repeated ids) on CuPy: every gradient within float64 rounding of NumPy's, which the
    test suite proves against finite differences and PyTorch."""
    loss_cpu, grads_cpu = _classifier_grads(fixtures_dir, tiny_reference, "cpu")
    loss_gpu, grads_gpu = _classifier_grads(fixtures_dir, tiny_reference, "cuda")
    assert abs(loss_gpu - loss_cpu) <= FLOAT64_TOL
    assert grads_gpu.keys() == grads_cpu.keys()
    # Errors relative to each gradient's size, floored at 1e-3 of the largest: some gradients
    # are 0 up to rounding (the key bias shifts every score of a row alike, which softmax
    # ignores), and rounding noise of 1e-22 summed in another order is no error.
    floor = 1e-3 * max(np.abs(g).max() for g in grads_cpu.values())
    for name, expected in grads_cpu.items():
        scale = max(np.abs(expected).max(), floor)
        err = np.abs(grads_gpu[name] - expected).max() / scale
        assert err <= 1e-9, f"{name}: relative error {err:.1e}"


def test_adamw_steps_on_cuda_follow_the_cpu(fixtures_dir, tiny_reference):
    """Three AdamW steps on each device from the same weights end at the same weights."""
    from minibert.optim import AdamW

    ref = tiny_reference
    finals = {}
    for device in ("cpu", "cuda"):
        model = BertForSequenceClassification.from_pretrained(
            fixtures_dir / "tiny_bert_tanh_cls", dtype=np.float64, device=device).eval()
        optimizer = AdamW(model.named_parameters(), lr=1e-3, weight_decay=0.01)
        labels = np.arange(len(ref["input_ids"])) % model.config.num_labels
        for _ in range(3):
            model.zero_grad()
            model(ref["input_ids"], attention_mask=ref["attention_mask"], labels=labels)
            model.backward()
            optimizer.step()
        finals[device] = model.state_dict()
    for name, expected in finals["cpu"].items():
        np.testing.assert_allclose(finals["cuda"][name], expected, rtol=1e-9, atol=1e-12, err_msg=name)

    # a model moved to the GPU between steps takes its optimizer's moments along
    model = BertForSequenceClassification.from_pretrained(
        fixtures_dir / "tiny_bert_tanh_cls", dtype=np.float64, device="cpu").eval()
    optimizer = AdamW(model.named_parameters(), lr=1e-3, weight_decay=0.01)
    for step in range(3):
        if step == 1:
            model.to("cuda")
        model.zero_grad()
        model(ref["input_ids"], attention_mask=ref["attention_mask"], labels=labels)
        model.backward()
        optimizer.step()
    assert all(isinstance(m, cp.ndarray) for m in optimizer.m.values())
    for name, expected in finals["cpu"].items():
        np.testing.assert_allclose(model.state_dict()[name], expected, rtol=1e-9, atol=1e-12, err_msg=name)


def test_tiny_float32_on_cuda_follows_the_cpu(fixtures_dir, tiny_reference):
    """float32 on the GPU, where the MiniLM weights are not at hand (the lent machine has no
    network and weights/ is not copied to it): the tiny model's every layer within float32
    rounding of the same model on the CPU, padded sequences included."""
    ref = tiny_reference
    outputs = {}
    for device in ("cpu", "cuda"):
        model = BertModel.from_pretrained(fixtures_dir / "tiny_bert", dtype=np.float32, device=device)
        out = model(ref["input_ids"], attention_mask=ref["attention_mask"], token_type_ids=ref["token_type_ids"],
                    output_hidden_states=True)
        outputs[device] = [to_numpy(h) for h in out.hidden_states] + [to_numpy(out.pooler_output)]
    for got, expected in zip(outputs["cuda"], outputs["cpu"]):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_dropout_on_cuda(fixtures_dir, tiny_reference):
    """Training mode on the GPU: dropout drops about p of its input and scales the rest by
    1/(1-p), the same seed gives the same masks (hence the same loss and gradients), and
    another seed other masks."""
    from minibert.layers import Dropout

    layer = Dropout(0.1, seed=3)
    y = to_numpy(layer(cp.ones((500, 1000), dtype=cp.float32)))
    assert abs((y == 0).mean() - 0.1) < 0.005
    np.testing.assert_allclose(y[y != 0], np.float32(1 / 0.9))
    dx = to_numpy(layer.backward(cp.ones((500, 1000), dtype=cp.float32)))
    np.testing.assert_array_equal(dx, y)  # the gradient goes through the forward's own mask and scale

    ref = tiny_reference
    model = BertForSequenceClassification.from_pretrained(
        fixtures_dir / "tiny_bert_tanh_cls", dtype=np.float32, device="cuda").train()
    labels = np.arange(len(ref["input_ids"])) % model.config.num_labels

    def loss_and_grads(seed):
        model.zero_grad()
        model.reseed_dropout(seed)
        out = model(ref["input_ids"], attention_mask=ref["attention_mask"], labels=labels)
        model.backward()
        return float(to_numpy(out.loss)), {n: to_numpy(p.grad) for n, p in model.named_parameters()}

    loss_a, grads_a = loss_and_grads(7)
    loss_again, grads_again = loss_and_grads(7)
    loss_b, _ = loss_and_grads(8)
    assert loss_again == loss_a and loss_b != loss_a
    for name, g in grads_a.items():
        assert np.isfinite(g).all(), name
        np.testing.assert_array_equal(grads_again[name], g, err_msg=name)


def test_trainer_on_cuda(fixtures_dir):
    """The whole loop on the GPU (batches, dropout, clipping, AdamW, the schedule,
    evaluation) with the small-vocabulary test model: the loss falls on its own data, and
    the weights and every optimizer state stay on the GPU."""
    from minibert.data import TextDataset
    from minibert.pretrained import load_tokenizer
    from minibert.train import TrainConfig, Trainer

    folder = fixtures_dir / "formats" / "safetensors"  # a 2-layer BERT with its own 99-word vocabulary
    tokenizer = load_tokenizer(folder)
    texts = ["the cat sat on the mat", "a good film", "the dog was bad", "hello world", "a bad night",
             "the film is good", "the dog sat at night", "hello paris"] * 4
    labels = [0, 1, 0, 1, 0, 1, 0, 1] * 4
    data = TextDataset(texts, labels, ["no", "yes"])
    with pytest.warns(MinibertWarning, match="newly initialised"):  # the new classifier head
        model = BertForSequenceClassification.from_pretrained(folder, num_labels=2, device="cuda")
    trainer = Trainer(model, tokenizer, data, data, TrainConfig(epochs=8, batch_size=8, lr=1e-3, warmup_ratio=0.0,
                                                                 max_length=16, progress=False, seed=1))
    history = trainer.train()
    losses = [e["train_loss"] for e in history.epochs]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    assert all(isinstance(p.data, cp.ndarray) for p in model.parameters())
    moments = [*trainer.optimizer.m.values(), *trainer.optimizer.v.values()]
    assert moments and all(isinstance(m, cp.ndarray) for m in moments)
    assert 0 <= history.epochs[-1]["dev_accuracy"] <= 1


# ----------------------------------------------------------------------------------------
# Kernels: CuPy gives NumPy's values
# ----------------------------------------------------------------------------------------
TOLERANCES = {np.float64: dict(rtol=1e-12, atol=1e-13), np.float32: dict(rtol=1e-5, atol=1e-6)}


def both(array):
    """The same values as a NumPy and as a CuPy array."""
    return array, cp.asarray(array)


def assert_same(got_gpu, expected_cpu, dtype):
    assert backend.device_of(got_gpu) == "cuda"  # the kernel stayed on the GPU
    got = to_numpy(got_gpu)
    assert got.dtype == expected_cpu.dtype and got.shape == expected_cpu.shape
    np.testing.assert_allclose(got, expected_cpu, **TOLERANCES[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_erf_and_gelu_kernels(dtype):
    x_cpu, x_gpu = both(np.linspace(-7.0, 7.0, 2001).astype(dtype))
    assert_same(F.erf(x_gpu), F.erf(x_cpu), dtype)
    assert_same(F.gelu(x_gpu)[0], F.gelu(x_cpu)[0], dtype)
    assert_same(F.gelu(x_gpu, cache=False)[0], F.gelu(x_cpu)[0], dtype)
    assert_same(F.gelu_tanh(x_gpu)[0], F.gelu_tanh(x_cpu)[0], dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layer_norm_kernel(dtype):
    rng = np.random.default_rng(0)
    x_cpu, x_gpu = both((rng.standard_normal((3, 5, 16)) * 4 + 1).astype(dtype))
    w_cpu, w_gpu = both(rng.standard_normal(16).astype(dtype))
    b_cpu, b_gpu = both(rng.standard_normal(16).astype(dtype))
    assert_same(F.layer_norm(x_gpu, w_gpu, b_gpu, 1e-12)[0], F.layer_norm(x_cpu, w_cpu, b_cpu, 1e-12)[0], dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_kernel(dtype):
    rng = np.random.default_rng(1)
    x_cpu, x_gpu = both((rng.standard_normal((2, 4, 7, 7)) * 10).astype(dtype))
    x_cpu[..., -2:] = -1e4  # masked positions, as the attention mask adds them
    x_gpu = cp.asarray(x_cpu)
    for axis in (-1, 1):
        assert_same(F.softmax(x_gpu, axis=axis)[0], F.softmax(x_cpu, axis=axis)[0], dtype)
    in_place = x_gpu.copy()
    F.softmax(in_place, out=in_place)  # as attention calls it, on its scores
    assert_same(in_place, F.softmax(x_cpu)[0], dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_masked_mean_kernel(dtype):
    rng = np.random.default_rng(2)
    h_cpu, h_gpu = both(rng.standard_normal((3, 6, 8)).astype(dtype))
    m_cpu, m_gpu = both(np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0]], dtype=np.int64))
    expected = F.masked_mean(h_cpu, m_cpu)[0]
    assert_same(F.masked_mean(h_gpu, m_gpu)[0], expected, dtype)
    np.testing.assert_allclose(expected[1], h_cpu[1, :3].mean(axis=0), **TOLERANCES[dtype])  # the kernel is a mean
