"""The three ways to transfer a pretrained BERT to a new classification task (and a fourth).

    fine_tune            start from the pretrained weights, train everything
    feature_extraction   freeze the encoder, run it once, train only a small head on its vectors
    random_init          the same architecture from random weights: no transfer at all
    partial_fine_tune    freeze the embeddings and the lowest k layers, train the rest

Each function takes the same Splits (train, dev, test) and returns a StrategyResult:
dev/test accuracy and macro-F1, trainable parameters, wall time, peak memory, tokens per
second, and the training history. Peak memory is what Python and NumPy allocated during
the strategy (tracemalloc), above what was allocated before it started.
"""

from __future__ import annotations

import time
import tracemalloc
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .data import TextDataset, encode_texts, load_movie_reviews, read_labelled_file, split_dataset
from .errors import ConfigError, DataError, MinibertWarning
from .features import cached_features, features_cache_file, weights_fingerprint
from .heads import MLPHead, SoftmaxHead, head_predict, train_head
from .metrics import accuracy, macro_f1
from .model import BertForSequenceClassification, BertModel
from .pretrained import load_config, load_tokenizer
from .train import TrainConfig, Trainer, evaluate


@dataclass
class Splits:
    """The data of one comparison: the same train/dev/test for every strategy."""

    train: TextDataset
    dev: TextDataset
    test: TextDataset

    @property
    def num_labels(self) -> int:
        return len(self.train.label_names)


def load_splits(train_size: int | None = None, seed: int = 0, eval_size: int | None = None) -> Splits:
    """The movie reviews split by the sha1 rule; ``train_size`` keeps the first n of a
    seeded permutation of the training set, ``eval_size`` the first n of dev and test."""
    train, dev, test = (load_movie_reviews(s) for s in ("train", "dev", "test"))
    return Splits(subsample(train, train_size, seed), truncate(dev, eval_size), truncate(test, eval_size))


def splits_from_file(path, text_column: str = "text", label_column: str = "label", train_size: int | None = None,
                     seed: int = 0) -> Splits:
    """A user's CSV/TSV/JSONL file, split by the same sha1 rule as the movie reviews."""
    parts = split_dataset(read_labelled_file(path, text_column, label_column))
    for name in ("train", "dev", "test"):
        if len(parts[name]) == 0:
            raise DataError(f"{path}: the {name} split is empty (the file is too small: the split sends "
                            "about 80% of texts to train, 10% to dev, 10% to test)")
    unseen = sorted(set(parts["dev"].labels + parts["test"].labels) - set(parts["train"].labels))
    if unseen:
        names = [parts["train"].label_names[i] for i in unseen]
        warnings.warn(f"{path}: label(s) {names} occur in dev/test but in no training text: "
                      "the model cannot learn to predict them", MinibertWarning, stacklevel=2)
    return Splits(subsample(parts["train"], train_size, seed), parts["dev"], parts["test"])


def subsample(data: TextDataset, n: int | None, seed: int = 0) -> TextDataset:
    """The first n examples of a seeded permutation (all of them when n is None or too big)."""
    if n is None or n >= len(data):
        return data
    if n < 1:
        raise ConfigError(f"train_size must be at least 1, got {n}")
    idx = np.random.default_rng(seed).permutation(len(data))[:n]
    return TextDataset([data.texts[i] for i in idx], [data.labels[i] for i in idx], data.label_names)


def truncate(data: TextDataset, n: int | None) -> TextDataset:
    if n is None or n >= len(data):
        return data
    return TextDataset(data.texts[:n], data.labels[:n], data.label_names)


@dataclass
class StrategyResult:
    """What one strategy achieved and what it cost."""

    strategy: str
    dev_accuracy: float
    dev_macro_f1: float
    test_accuracy: float
    test_macro_f1: float
    trainable_params: int
    wall_s: float
    peak_mem_mb: float
    tokens_per_s: float | None  # None: nothing ran through the encoder (features from the cache)
    train_size: int
    history: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@contextmanager
def measure():
    """Wall time and peak traced memory (MB) of a block: ``with measure() as m: ...; m["wall_s"]``.

    The memory is the host's only: tracemalloc sees what Python and NumPy allocate, not
    CuPy's arrays on a GPU (a run on the GPU reports little more than its batches here).
    """
    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    stats = {}
    start = time.perf_counter()
    try:
        yield stats
    finally:
        stats["wall_s"] = time.perf_counter() - start
        stats["peak_mem_mb"] = max(0, tracemalloc.get_traced_memory()[1] - base) / 2**20
        if started_here:
            tracemalloc.stop()


def _train_classifier(name, build_model, tokenizer, splits, settings, progress, checkpoint_dir=None) -> StrategyResult:
    """Shared by fine_tune / random_init / partial_fine_tune: build the model, train it with the
    Trainer, then score dev and test. Building happens inside the measurement, as feature
    extraction's encoder loading does, so wall time and memory compare like for like."""
    config = TrainConfig(epochs=settings["epochs"], batch_size=settings["batch_size"], lr=settings["lr"],
                         weight_decay=settings["weight_decay"], warmup_ratio=settings["warmup_ratio"],
                         max_length=settings["max_length"], seed=settings["seed"], progress=progress,
                         checkpoint_dir=checkpoint_dir, eval_each_epoch=settings.get("eval_each_epoch", True))
    with measure() as m:
        model = build_model()
        trainer = Trainer(model, tokenizer, splits.train, splits.dev, config)
        history = trainer.train(resume=checkpoint_dir is not None and _has_checkpoint(checkpoint_dir))
        test = evaluate(model, tokenizer, splits.test, settings["max_length"])
    last = history.epochs[-1]  # evaluated on dev after the last epoch
    train_tokens = sum(e["tokens_per_s"] * e["seconds"] for e in history.epochs)
    train_seconds = sum(e["seconds"] for e in history.epochs)
    return StrategyResult(
        strategy=name, dev_accuracy=last["dev_accuracy"], dev_macro_f1=last["dev_macro_f1"],
        test_accuracy=test["accuracy"], test_macro_f1=test["macro_f1"],
        trainable_params=model.num_parameters(trainable_only=True), wall_s=m["wall_s"],
        peak_mem_mb=m["peak_mem_mb"], tokens_per_s=train_tokens / max(train_seconds, 1e-9),
        train_size=len(splits.train), history=history.to_dict(), settings=settings)


def _has_checkpoint(folder) -> bool:
    return (Path(folder) / "latest").is_file()


def fine_tune(splits: Splits, weights=None, epochs: int = 3, lr: float = 5e-5, batch_size: int = 32,
              max_length: int = 64, warmup_ratio: float = 0.1, weight_decay: float = 0.01, seed: int = 0,
              freeze_layers: int = 0, progress: bool = True, device=None, checkpoint_dir=None,
              eval_each_epoch: bool = True) -> StrategyResult:
    """Start from the pretrained weights and train every parameter (the BERT recipe).

    ``freeze_layers=k`` (k >= 1) is partial fine-tuning: the embeddings and the lowest k
    layers stay frozen, and backward stops above them.
    """
    settings = dict(weights=str(weights or "minilm"), epochs=epochs, lr=lr, batch_size=batch_size,
                    max_length=max_length, warmup_ratio=warmup_ratio, weight_decay=weight_decay, seed=seed,
                    freeze_layers=freeze_layers, eval_each_epoch=eval_each_epoch)
    tokenizer = load_tokenizer(weights)
    layers = load_config(weights).num_hidden_layers
    if not 0 <= freeze_layers <= layers:
        raise ConfigError(f"freeze_layers must be in [0, {layers}], got {freeze_layers}")

    def build():
        with warnings.catch_warnings():  # "classifier newly initialised" is the point here, not news
            warnings.simplefilter("ignore", MinibertWarning)
            model = BertForSequenceClassification.from_pretrained(weights, num_labels=splits.num_labels, seed=seed,
                                                                  device=device)
        if freeze_layers:
            model.bert.embeddings.requires_grad_(False)
            for layer in list(model.bert.encoder.layer)[:freeze_layers]:
                layer.requires_grad_(False)
        return model

    name = "partial_fine_tune" if freeze_layers else "fine_tune"
    return _train_classifier(name, build, tokenizer, splits, settings, progress, checkpoint_dir)


def partial_fine_tune(splits: Splits, freeze_layers: int = 3, **kwargs) -> StrategyResult:
    """Fine-tune all but the embeddings and the lowest ``freeze_layers`` layers."""
    return fine_tune(splits, freeze_layers=freeze_layers, **kwargs)


def random_init(splits: Splits, weights=None, epochs: int = 3, lr: float = 1e-4, batch_size: int = 32,
                max_length: int = 64, warmup_ratio: float = 0.1, weight_decay: float = 0.01, seed: int = 0,
                progress: bool = True, device=None, checkpoint_dir=None, eval_each_epoch: bool = True) -> StrategyResult:
    """The same architecture (config and tokenizer of ``weights``), every weight random:
    N(0, 0.02), LayerNorm 1 and 0, biases 0. It learns the task, and English, from scratch."""
    settings = dict(weights=str(weights or "minilm"), epochs=epochs, lr=lr, batch_size=batch_size,
                    max_length=max_length, warmup_ratio=warmup_ratio, weight_decay=weight_decay, seed=seed,
                    eval_each_epoch=eval_each_epoch)
    tokenizer = load_tokenizer(weights)
    config = load_config(weights)
    config.num_labels = splits.num_labels

    def build():
        return BertForSequenceClassification(config, seed=seed).to(device)  # device None: MINIBERT_DEVICE, else cpu

    return _train_classifier("random_init", build, tokenizer, splits, settings, progress, checkpoint_dir)


def split_features(encoder, tokenizer, splits: Splits, pooling: str, max_length: int, cache_folder=None,
                   progress: bool = True, fingerprint=None, refresh: bool = False) -> dict:
    """{"train", "dev", "test"}: each split's features from the frozen encoder (cached_features)."""
    fingerprint = fingerprint or weights_fingerprint(encoder)
    return {name: cached_features(encoder, tokenizer, data.texts, pooling, max_length, folder=cache_folder,
                                  progress=progress, fingerprint=fingerprint, refresh=refresh)
            for name, data in (("train", splits.train), ("dev", splits.dev), ("test", splits.test))}


def feature_extraction(splits: Splits, weights=None, pooling: str = "mean", head: str = "softmax",
                       epochs: int = 20, lr: float = 1e-3, batch_size: int = 32, max_length: int = 64,
                       weight_decay: float = 0.01, seed: int = 0, progress: bool = True, device=None,
                       cache_folder=None, refresh_cache: bool = False) -> StrategyResult:
    """Freeze the encoder, turn every text into one vector once (cached), train a head on them.

    Args:
        pooling: "mean" (default), "cls", "pooler" or "mean_last4".
        head: "softmax" (logistic regression) or "mlp" (one hidden layer).
        refresh_cache: compute the features even when cached (so the wall time includes
            the encoder pass: what a first run costs).
    """
    if head not in ("softmax", "mlp"):
        raise ConfigError(f"head must be 'softmax' or 'mlp', got {head!r}")
    settings = dict(weights=str(weights or "minilm"), pooling=pooling, head=head, epochs=epochs, lr=lr,
                    batch_size=batch_size, max_length=max_length, weight_decay=weight_decay, seed=seed)
    tokenizer = load_tokenizer(weights)
    with measure() as m:
        encoder = BertModel.from_pretrained(weights, device=device).eval()
        fingerprint = weights_fingerprint(encoder)
        def cached(data):
            return features_cache_file(encoder, tokenizer, data.texts, pooling, max_length, cache_folder,
                                       fingerprint).is_file()

        # The splits whose features the encoder computes now; the others come from the cache.
        computed = [d for d in (splits.train, splits.dev, splits.test) if refresh_cache or not cached(d)]
        start = time.perf_counter()
        feats = split_features(encoder, tokenizer, splits, pooling, max_length, cache_folder, progress,
                               fingerprint, refresh=refresh_cache)
        extract_s = time.perf_counter() - start
        n_tokens = sum(len(ids) for d in computed for ids in encode_texts(tokenizer, d.texts, max_length))
        dim, C = feats["train"].shape[1], splits.num_labels
        model = SoftmaxHead(dim, C, seed) if head == "softmax" else MLPHead(dim, C, seed=seed)
        history = train_head(model, feats["train"], splits.train.labels, epochs, lr, batch_size, weight_decay, seed,
                             dev=(feats["dev"], np.asarray(splits.dev.labels)))
        metrics = {}
        for name in ("dev", "test"):
            preds = head_predict(model, feats[name]).argmax(1)
            labels = getattr(splits, name).labels
            metrics[name] = (accuracy(labels, preds), macro_f1(labels, preds, C))
    return StrategyResult(
        strategy="feature_extraction", dev_accuracy=metrics["dev"][0], dev_macro_f1=metrics["dev"][1],
        test_accuracy=metrics["test"][0], test_macro_f1=metrics["test"][1],
        trainable_params=model.num_parameters(trainable_only=True), wall_s=m["wall_s"], peak_mem_mb=m["peak_mem_mb"],
        tokens_per_s=n_tokens / max(extract_s, 1e-9) if computed else None, train_size=len(splits.train),
        history={"epochs": history, "extract_seconds": extract_s, "features_computed": bool(computed)},
        settings=settings)
