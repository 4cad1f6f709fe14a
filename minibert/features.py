"""Sentence vectors from a BERT: run the encoder over texts in batches and pool.

Poolings:
  mean    the average of the last layer's real-token vectors (the default: Sentence-BERT,
          Reimers & Gurevych 2019, measured it as the better sentence vector of a BERT
          not fine-tuned for the task; [CLS] alone was worse)
  cls     the last layer's vector at [CLS]
  pooler  the pooler's output, tanh(dense(h_[CLS])), trained for next-sentence prediction
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from . import backend
from . import functional as F

POOLINGS = ("mean", "cls", "pooler")


def pool(output, attention_mask, pooling: str = "mean"):
    """One vector [B, H] per sequence from a BertModelOutput."""
    if pooling == "mean":
        return F.masked_mean(output.last_hidden_state, attention_mask)[0]
    if pooling == "cls":
        return output.last_hidden_state[:, 0]
    if pooling == "pooler":
        return output.pooler_output
    raise ValueError(f"unknown pooling {pooling!r}: use one of {POOLINGS}")


def embed_texts(model, tokenizer, texts, pooling: str = "mean", batch_size: int = 32,
                max_length: int = 128, progress: bool | None = None) -> np.ndarray:
    """Sentence vectors [N, H] (NumPy, float32 or the model's dtype) for a list of texts.

    Texts are sorted by length before batching, so each batch pads little, and the
    vectors are returned in the original order. ``progress`` shows a tqdm bar (default:
    only for more than a few batches).
    """
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}: use one of {POOLINGS}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    texts = list(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), model.config.hidden_size), dtype=model.dtype)
    starts = range(0, len(texts), batch_size)
    show = progress if progress is not None else len(starts) > 4
    was_training = model.training
    model.eval()  # features are deterministic: no dropout
    try:
        for start in tqdm(starts, desc="embedding", unit="batch", disable=not show):
            idx = order[start:start + batch_size]
            batch = tokenizer([texts[i] for i in idx], max_length=max_length, padding=True, truncation=True)
            result = model(batch["input_ids"], attention_mask=batch["attention_mask"],
                           token_type_ids=batch["token_type_ids"])
            mask = backend.to_device(batch["attention_mask"], model.device)
            out[idx] = backend.to_numpy(pool(result, mask, pooling))
    finally:
        model.train(was_training)
    return out


def cosine_similarity(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarities between the rows of a and b (a with itself when b is None)."""
    b = a if b is None else b
    an = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    bn = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return an @ bn.T
