"""Classifier heads trained on frozen features (feature extraction).

With the encoder frozen, each text is one fixed vector (minibert.features), and only a
small head learns: a softmax (multinomial logistic) regression, or an MLP with one
hidden GELU layer. Training runs over cached features with AdamW, so it takes seconds.
"""

from __future__ import annotations

import numpy as np

from . import functional as F
from .errors import ConfigError
from .layers import Dropout, Linear, Module, no_grad
from .metrics import accuracy, macro_f1
from .optim import AdamW


class SoftmaxHead(Module):
    """logits = x W^T + b: one linear layer, softmax regression. x: [N, D] -> [N, C]."""

    def __init__(self, in_features: int, num_classes: int, seed: int = 0, dtype=np.float32):
        rng = np.random.default_rng(seed)
        self.classifier = Linear(in_features, num_classes, rng, 0.02, dtype)

    def forward(self, x):
        return self.classifier(x)

    def backward(self, dlogits):
        self.classifier.backward(dlogits, need_dx=False)


class MLPHead(Module):
    """logits = W2 dropout(GELU(W1 x + b1)) + b2: one hidden layer. x: [N, D] -> [N, C]."""

    def __init__(self, in_features: int, num_classes: int, hidden: int = 256, dropout: float = 0.1,
                 seed: int = 0, dtype=np.float32):
        rng = np.random.default_rng(seed)
        self.dense = Linear(in_features, hidden, rng, 0.02, dtype)
        self.dropout = Dropout(dropout, seed=seed)
        self.classifier = Linear(hidden, num_classes, rng, 0.02, dtype)
        self._cache = None

    def forward(self, x):
        h, cache = F.gelu(self.dense(x))  # [N, hidden]
        self._cache = self.keep(cache)  # for the GELU backward
        return self.classifier(self.dropout(h))  # [N, C]

    def backward(self, dlogits):
        dh = self.dropout.backward(self.classifier.backward(dlogits))
        self.dense.backward(F.gelu_backward(dh, self.cached()), need_dx=False)


def head_predict(head, features: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Logits [N, C] of a head on features [N, D] (eval mode)."""
    was_training = head.training
    head.eval()
    try:
        with no_grad():
            return np.concatenate([head(features[i:i + batch_size]) for i in range(0, len(features), batch_size)])
    finally:
        head.train(was_training)


def train_head(head, features: np.ndarray, labels, epochs: int = 20, lr: float = 1e-3, batch_size: int = 32,
               weight_decay: float = 0.01, seed: int = 0, dev=None) -> list:
    """Train a head on fixed features with AdamW (constant lr) and mean cross-entropy.

    Args:
        head: a SoftmaxHead or MLPHead.
        features: [N, D] float array; labels: [N] ints.
        dev: optional (features, labels) evaluated after every epoch.

    Returns:
        The history: one dict per epoch (train loss, and dev accuracy / macro-F1 when given).
    """
    labels = np.asarray(labels, dtype=np.int64)
    if len(features) != len(labels) or len(labels) == 0:
        raise ConfigError(f"need as many labels as feature rows (and at least one): {len(features)} vs {len(labels)}")
    features = features.astype(head.dtype, copy=False)
    optimizer = AdamW(head.named_parameters(), lr=lr, weight_decay=weight_decay)
    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(epochs):
        head.train()
        head.reseed_dropout((seed, epoch))
        order = rng.permutation(len(labels))
        losses = []
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            head.zero_grad()
            loss, cache = F.cross_entropy(head(features[idx]), labels[idx])
            head.backward(F.cross_entropy_backward(1.0, cache))
            optimizer.step()
            losses.append(float(loss))
        record = {"epoch": epoch + 1, "train_loss": float(np.mean(losses))}
        if dev is not None:
            preds = head_predict(head, dev[0].astype(head.dtype, copy=False)).argmax(1)
            record["dev_accuracy"] = accuracy(dev[1], preds)
            record["dev_macro_f1"] = macro_f1(dev[1], preds, head.classifier.weight.shape[0])
        history.append(record)
    head.eval()
    return history
