"""Sentence vectors from a BERT: run the encoder over texts in batches and pool.

Poolings (what one vector per text is made of):
  mean        the average of the last layer's real-token vectors (the default: Sentence-BERT,
              Reimers & Gurevych 2019, found it the better sentence vector for cosine
              similarity, and all-MiniLM-L6-v2 was trained to make exactly this mean meaningful)
  cls         the last layer's vector at [CLS]
  pooler      the pooler's output, tanh(dense(h_[CLS])) (trained for next-sentence prediction
              in the original BERTs; never trained in all-MiniLM-L6-v2, whose pooler is random)
  mean_last4  the mean-pooled vectors of the last four layers, concatenated ([N, 4H]), in the
              spirit of the BERT paper's feature-based experiment (which concatenated the
              last four layers' token vectors)
  mean_layers the mean-pooled vectors of every hidden state, concatenated: the embeddings,
              then layers 1..L ([N, (L+1)H]); what the layer probe (minibert.probe) reads

Feature extraction runs the encoder once, in eval mode; ``cached_features`` keeps the
result on disk, keyed by the weights, the texts, the pooling, the length limit, the dtype
and the casing (features_cache_file), so
training a new head on the same features takes seconds.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import backend
from . import functional as F
from .data import batches_by_length, collate, encode_texts
from .errors import ConfigError
from .layers import no_grad
from .model import check_max_length
from .paths import cache_dir

POOLINGS = ("mean", "cls", "pooler", "mean_last4", "mean_layers")


def pool(output, attention_mask, pooling: str = "mean"):
    """One vector per sequence from a BertModelOutput: [B, H] ([B, 4H] for mean_last4, [B, (L+1)H] for mean_layers)."""
    if pooling == "mean":
        return F.masked_mean(output.last_hidden_state, attention_mask)[0]
    if pooling == "cls":
        return output.last_hidden_state[:, 0]
    if pooling == "pooler":
        return output.pooler_output
    if pooling in ("mean_last4", "mean_layers"):
        needed = 5 if pooling == "mean_last4" else 2  # hidden states: the embeddings' output, then one per layer
        if output.hidden_states is None or len(output.hidden_states) < needed:
            raise ConfigError(f"{pooling} needs the hidden states of at least {needed - 1} layer(s) "
                              "(output_hidden_states=True)")
        states = output.hidden_states[-4:] if pooling == "mean_last4" else output.hidden_states
        xp = backend.get_xp(output.last_hidden_state)
        return xp.concatenate([F.masked_mean(h, attention_mask)[0] for h in states], axis=1)
    raise ConfigError(f"unknown pooling {pooling!r}: use one of {POOLINGS}")


def feature_size(model, pooling: str) -> int:
    per_vector = {"mean_last4": 4, "mean_layers": model.config.num_hidden_layers + 1}.get(pooling, 1)
    return model.config.hidden_size * per_vector


def embed_texts(model, tokenizer, texts, pooling: str = "mean", batch_size: int = 32,
                max_length: int = 128, progress: bool | None = None) -> np.ndarray:
    """Sentence vectors [N, D] (NumPy, the model's dtype) for a list of texts.

    Texts are tokenized first and sorted by their number of tokens before batching, so
    each batch pads little; the vectors come back in the texts' own order. ``progress``
    shows a tqdm bar (default: only for more than a few batches).
    """
    if pooling not in POOLINGS:
        raise ConfigError(f"unknown pooling {pooling!r}: use one of {POOLINGS}")
    check_max_length(model.config, max_length)
    encoded = encode_texts(tokenizer, texts, max_length)  # token ids, [CLS] ... [SEP], no padding yet
    # Sorted by token count (not characters): neighbours then pad to nearly the same length.
    # For 1,000 movie reviews: 27,248 tokens in the batches instead of 34,096 (26,473 real).
    batches = batches_by_length([len(e) for e in encoded], batch_size)
    out = np.zeros((len(encoded), feature_size(model, pooling)), dtype=model.dtype)
    show = progress if progress is not None else len(batches) > 4
    was_training = model.training
    model.eval()  # features are deterministic: no dropout
    try:
        with no_grad():  # inference only: no caches kept, little memory
            for idx in tqdm(batches, desc="features", unit="batch", disable=not show, leave=False):
                batch = collate([encoded[i] for i in idx], np.zeros(len(idx)), tokenizer.pad_token_id)  # (no labels here)
                result = model(batch.input_ids, attention_mask=batch.attention_mask,
                               token_type_ids=batch.token_type_ids, output_hidden_states=pooling in ("mean_last4", "mean_layers"))
                mask = backend.to_device(batch.attention_mask, model.device)
                out[idx] = backend.to_numpy(pool(result, mask, pooling))
    finally:
        model.train(was_training)
    return out


def weights_fingerprint(model) -> str:
    """A digest of every parameter of the model (its name, shape, dtype and values)."""
    digest = hashlib.sha256()
    for name, p in model.named_parameters():
        data = np.ascontiguousarray(backend.to_numpy(p.data))
        digest.update(f"{name}:{data.shape}:{data.dtype};".encode())
        digest.update(data.tobytes())
    return digest.hexdigest()


def features_cache_file(model, tokenizer, texts, pooling: str = "mean", max_length: int = 64,
                        folder: str | Path | None = None, fingerprint: str | None = None) -> Path:
    """Where cached_features keeps these features: <folder>/<digest>.npy (the file may not exist yet).

    The digest covers the weights (``fingerprint``: weights_fingerprint), the pooling,
    max_length, the dtype, the casing and every text.
    """
    folder = Path(folder) if folder is not None else cache_dir() / "features"
    fingerprint = fingerprint or weights_fingerprint(model)
    key = hashlib.sha256()
    key.update(f"{fingerprint}|{pooling}|{max_length}|{np.dtype(model.dtype)}|{tokenizer.do_lower_case}|".encode())
    for t in texts:
        key.update(t.encode("utf-8") + b"\0")
    return folder / f"{key.hexdigest()[:32]}.npy"


def cached_features(model, tokenizer, texts, pooling: str = "mean", max_length: int = 64,
                    batch_size: int = 32, folder: str | Path | None = None, progress: bool | None = None,
                    fingerprint: str | None = None, refresh: bool = False) -> np.ndarray:
    """embed_texts, remembered on disk under ``folder`` (default: <cache>/features).

    The file name is a digest of (weights, texts, pooling, max_length, dtype, casing):
    change any of them and the features are computed afresh. max_length defaults to 64
    here, as the transfer strategies use it (embed_texts' own default is 128). Pass
    ``fingerprint`` (weights_fingerprint) to avoid hashing the weights again for every
    split; ``refresh=True`` recomputes (and rewrites) them even when cached.
    """
    path = features_cache_file(model, tokenizer, texts, pooling, max_length, folder, fingerprint)
    if path.is_file() and not refresh:
        try:
            return np.load(path)
        except (OSError, ValueError):  # a damaged cache file: compute again
            pass
    features = embed_texts(model, tokenizer, texts, pooling, batch_size, max_length, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, features)
    os.replace(tmp, path)
    return features


def cosine_similarity(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarities between the rows of a and b (a with itself when b is None)."""
    b = a if b is None else b
    an = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    bn = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return an @ bn.T


def similarity_table(sims: np.ndarray, width: int = 7) -> str:
    """A text table of a square similarity matrix: one row and one column per item."""
    lines = ["    " + "".join(f"[{j}]".rjust(width) for j in range(len(sims)))]
    for i, row in enumerate(sims):
        lines.append(f"[{i}] " + "".join(f"{v:{width}.3f}" for v in row))
    return "\n".join(lines)
