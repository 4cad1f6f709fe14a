"""The layer probe: where in BERT does the sentiment information live?

A probe is a small classifier trained on frozen features. Train one on the mean-pooled
output of each layer (layer 0 is the embeddings: a bag of word vectors before any
attention) and plot its accuracy by layer: the layers where the accuracy climbs are where
the encoder builds what the task needs.

    minibert probe [--limit N] [--data FILE] [--out DIR]

One encoder pass gives every layer's features at once (pooling ``mean_layers``, cached on
disk like the other features); each probe is a softmax head (logistic regression) trained
with AdamW on one layer's slice of them, so the whole probe costs one feature extraction
plus a few seconds per layer.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from . import backend, plots
from .heads import SoftmaxHead, head_predict, train_head
from .metrics import accuracy, macro_f1, majority_accuracy
from .model import BertModel
from .pretrained import load_tokenizer
from .transfer import Splits, measure, split_features


def layer_name(layer: int) -> str:
    return "embeddings" if layer == 0 else f"layer {layer}"


def run_probe(splits: Splits, weights=None, max_length: int = 64, epochs: int = 20, lr: float = 1e-3,
              batch_size: int = 32, weight_decay: float = 0.01, seed: int = 0, progress: bool = True,
              device=None, cache_folder=None) -> dict:
    """Train a softmax head on each layer's mean-pooled features; score it on dev and test.

    Returns a dictionary (what probe.json holds): ``layers`` lists, for layer 0 (the
    embeddings) to L, its dev/test accuracy and macro-F1; plus the settings, the data sizes,
    the majority-class accuracies and the time taken.
    """
    tokenizer = load_tokenizer(weights)
    with measure() as m:
        encoder = BertModel.from_pretrained(weights, device=device).eval()
        start = time.perf_counter()
        feats = split_features(encoder, tokenizer, splits, "mean_layers", max_length, cache_folder, progress)
        extract_s = time.perf_counter() - start
        H, L, C = encoder.config.hidden_size, encoder.config.num_hidden_layers, splits.num_labels
        labels = {name: np.asarray(getattr(splits, name).labels) for name in ("train", "dev", "test")}
        layers = []
        for layer in range(L + 1):
            # [N, (L+1)H] -> this layer's [N, H] slice
            x = {name: f[:, layer * H:(layer + 1) * H] for name, f in feats.items()}
            head = SoftmaxHead(H, C, seed)
            head_start = time.perf_counter()
            train_head(head, x["train"], labels["train"], epochs, lr, batch_size, weight_decay, seed)
            row = {"layer": layer, "name": layer_name(layer), "head_seconds": time.perf_counter() - head_start}
            for name in ("dev", "test"):
                preds = head_predict(head, x[name]).argmax(axis=1)
                row[f"{name}_accuracy"] = accuracy(labels[name], preds)
                row[f"{name}_macro_f1"] = macro_f1(labels[name], preds, C)
            layers.append(row)
            if progress:
                print(f"[probe] {layer_name(layer):<10} dev {100 * row['dev_accuracy']:.1f}%  "
                      f"test {100 * row['test_accuracy']:.1f}%", flush=True)
    return {
        "settings": {"weights": str(weights or "minilm"), "pooling": "mean", "head": "softmax", "epochs": epochs,
                     "lr": lr, "batch_size": batch_size, "weight_decay": weight_decay, "max_length": max_length,
                     "seed": seed},
        "data": {"train": len(splits.train), "dev": len(splits.dev), "test": len(splits.test)},
        "majority_dev_accuracy": majority_accuracy(labels["train"], labels["dev"]),
        "majority_test_accuracy": majority_accuracy(labels["train"], labels["test"]),
        "layers": layers,
        "extract_seconds": extract_s, "wall_s": m["wall_s"], "peak_mem_mb": m["peak_mem_mb"],
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "device": backend.normalize_device(device)},
    }


def markdown_table(results: dict) -> str:
    d = results["data"]
    lines = [f"Layer probe: a softmax head on each layer's mean-pooled features (train {d['train']:,}, "
             f"dev {d['dev']:,}, test {d['test']:,}; majority class {100 * results['majority_test_accuracy']:.1f}% "
             "of test).", "",
             "| layer | dev acc | test acc | test macro-F1 |", "|---|---|---|---|"]
    for row in results["layers"]:
        lines.append(f"| {row['name']} | {100 * row['dev_accuracy']:.1f} | {100 * row['test_accuracy']:.1f} | "
                     f"{100 * row['test_macro_f1']:.1f} |")
    return "\n".join(lines) + "\n"


def write_probe(results: dict, out_dir) -> dict:
    """probe.json, probe.md and probe.png in out_dir; returns {kind: path}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "probe.json", "table": out / "probe.md", "plot": out / "probe.png"}
    plots.layer_probe(results, paths["plot"])
    paths["table"].write_text(markdown_table(results), encoding="utf-8")
    tmp = paths["json"].with_name(".probe.json.tmp")
    tmp.write_text(json.dumps(results, indent=1), encoding="utf-8")
    os.replace(tmp, paths["json"])
    return {k: v.resolve() for k, v in paths.items()}
