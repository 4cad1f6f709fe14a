"""``minibert compare``: the three transfer strategies side by side on the movie reviews.

One split, one seed, the same tokenizer and architecture for every strategy:

  1. the main comparison: fine-tune, frozen features + head, random init, each trained
     on the training set, scored on dev and test (accuracy, macro-F1), with wall time,
     peak memory and trainable parameters;
  2. data efficiency: the same strategies on the first n examples of a seeded
     permutation of the training set, n growing (test accuracy against n).

Writes, into the output folder: results.json (everything), results.md (the tables) and
three PNG plots (learning curves, comparison bars, data efficiency). results.json is
rewritten after every run, and ``resume=True`` skips runs it already holds with the same
settings, so an interrupted full run (about an hour and a half on 2 cores) continues
where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import time
from pathlib import Path

from . import backend, plots
from .errors import ConfigError
from .metrics import majority_accuracy
from .transfer import Splits, feature_extraction, fine_tune, load_splits, random_init, subsample

STRATEGIES = ("fine_tune", "feature_extraction", "random_init")

# The reference settings (docs/reference-figures.md): BERT's fine-tuning recipe.
FULL = {
    "train_size": None, "eval_size": None, "max_length": 64, "batch_size": 32, "seed": 0,
    "fine_tune": {"epochs": 3, "lr": 5e-5},
    "random_init": {"epochs": 3, "lr": 1e-4},
    "feature_extraction": {"pooling": "mean", "head": "softmax", "epochs": 20, "lr": 1e-3},
    "sizes": [100, 300, 1000, 3000],
    "min_steps": 150,  # data-efficiency runs train for max(epochs, enough epochs for this many steps)
    # ... and the frozen features' head for at least this many: 20 epochs of 100 examples are
    # only 80 steps, which leave a softmax head far from converged (measured on dev at n=100:
    # 58% after 80 steps, 62% after 400, 64% after 1200; the reference's logistic regression is
    # fitted to convergence). Head steps cost milliseconds.
    "head_min_steps": 1000,
}

# --quick: at most 1000 training examples, 500 dev and 500 test examples. Batches of 16
# give fine-tuning enough steps (2 x 63) to pull ahead of frozen features on 1000 labels
# (measured: dev 77% after the first epoch, against 72% for the features' head).
QUICK = {
    **FULL,
    "train_size": 1000, "eval_size": 500,
    "fine_tune": {"epochs": 2, "lr": 1e-4, "batch_size": 16},
    "random_init": {"epochs": 2, "lr": 1e-4, "batch_size": 16},
    "sizes": [100, 300],
    "min_steps": 60,  # fewer steps leave fine-tuning on 100-300 examples under-trained
}


def _epochs_for(n: int, base_epochs: int, batch_size: int, min_steps: int) -> int:
    steps_per_epoch = math.ceil(n / batch_size)
    return max(base_epochs, math.ceil(min_steps / steps_per_epoch))


def data_efficiency_point(strategy: str, splits: Splits, n: int, settings: dict, subset_seed=None):
    """(splits, epochs) for one point of the data-efficiency curve: the training set cut to the
    first n of a permutation (seed: ``subset_seed``, default the settings' seed), and enough
    epochs for the settings' minimum number of steps at that size."""
    own = settings[strategy]
    sub = Splits(subsample(splits.train, n, settings["seed"] if subset_seed is None else subset_seed),
                 splits.dev, splits.test)
    min_steps = settings["head_min_steps" if strategy == "feature_extraction" else "min_steps"]
    return sub, _epochs_for(n, own["epochs"], own.get("batch_size", settings["batch_size"]), min_steps)


def run_strategy(strategy: str, splits: Splits, settings: dict, weights, progress: bool, device, epochs=None,
         refresh_cache=False):
    common = dict(weights=weights, max_length=settings["max_length"], batch_size=settings["batch_size"],
                  seed=settings["seed"], progress=progress, device=device)
    own = dict(settings[strategy])
    if epochs is not None:  # a data-efficiency run, with the epoch count chosen for its size
        own["epochs"] = epochs
        if strategy != "feature_extraction":
            own["eval_each_epoch"] = False  # data-efficiency runs: only the final scores are used
    kwargs = {**common, **own}  # a strategy's own settings (e.g. its batch size) win
    if strategy == "fine_tune":
        return fine_tune(splits, **kwargs)
    if strategy == "random_init":
        return random_init(splits, **kwargs)
    return feature_extraction(splits, **kwargs, refresh_cache=refresh_cache)


def _key(*parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_comparison(out_dir, quick: bool = False, weights=None, strategies=STRATEGIES, sizes=None,
                   progress: bool = True, device=None, resume: bool = True, data_efficiency: bool = True,
                   overrides: dict | None = None) -> dict:
    """Run the comparison and write results.json, results.md and the plots into out_dir.

    Args:
        quick: the QUICK settings instead of FULL.
        sizes: data-efficiency training sizes (default: the settings').
        overrides: settings to change, e.g. {"train_size": 500, "fine_tune": {"epochs": 1, "lr": 1e-4}}.
        resume: reuse runs already in out_dir/results.json made with the same settings.

    Returns the results dictionary (the content of results.json).
    """
    settings = json.loads(json.dumps(QUICK if quick else FULL))  # a deep copy
    for key, value in (overrides or {}).items():
        if key not in settings:
            raise ConfigError(f"unknown setting {key!r}; known: {sorted(settings)}")
        settings[key] = {**settings[key], **value} if isinstance(settings[key], dict) else value
    if sizes is not None:
        settings["sizes"] = list(sizes)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    previous = json.loads(path.read_text(encoding="utf-8")) if resume and path.is_file() else {}
    done = previous.get("runs", {})
    started = time.perf_counter()
    splits = load_splits(settings["train_size"], settings["seed"], settings["eval_size"])
    results = {
        "settings": {**settings, "mode": "quick" if quick else "full", "weights": str(weights or "minilm"),
                     "strategies": list(strategies)},
        "data": {"train": len(splits.train), "dev": len(splits.dev), "test": len(splits.test)},
        "majority_dev_accuracy": majority_accuracy(splits.train.labels, splits.dev.labels),
        "majority_test_accuracy": majority_accuracy(splits.train.labels, splits.test.labels),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "device": backend.normalize_device(device)},
        "strategies": {}, "data_efficiency": {}, "runs": dict(done),
    }

    def remember(key, result_dict):
        results["runs"][key] = result_dict
        _write_json(path, results)

    def run_once(strategy, data, epochs=None, label=""):
        # Everything that changes a run's result or its timings: a run made with other
        # settings, or on another device, is not reused.
        key = _key(strategy, settings[strategy], len(data.train), settings["seed"], epochs, str(weights),
                   settings["eval_size"], settings["max_length"], settings["batch_size"],
                   results["machine"]["device"])
        if key in results["runs"]:
            if progress:
                print(f"[{strategy}{label}] reusing the result in {path}")
            return results["runs"][key]
        if progress:
            print(f"[{strategy}{label}] training on {len(data.train)} examples ...", flush=True)
        main_run = epochs is None  # (data-efficiency runs pass their own epoch count)
        # The main frozen-features run computes its features afresh, so that its wall time
        # includes the encoder pass; the data-efficiency subsets reuse the cache.
        r = run_strategy(strategy, data, settings, weights, progress, device, epochs,
                         refresh_cache=(strategy == "feature_extraction" and main_run)).to_dict()
        if progress:
            print(f"[{strategy}{label}] test accuracy {100 * r['test_accuracy']:.1f}%, "
                  f"{r['wall_s']:.0f} s", flush=True)
        remember(key, r)
        return r

    for strategy in strategies:
        results["strategies"][strategy] = run_once(strategy, splits)
        _write_json(path, results)

    if data_efficiency:
        full_n = len(splits.train)
        for strategy in strategies:
            curve = {}
            for n in sorted(set(settings["sizes"])):
                if n >= full_n:
                    continue
                sub, epochs = data_efficiency_point(strategy, splits, n, settings)
                r = run_once(strategy, sub, epochs, label=f", n={n}")
                curve[str(n)] = {k: r[k] for k in ("test_accuracy", "dev_accuracy", "test_macro_f1", "wall_s")}
            main = results["strategies"][strategy]
            curve[str(full_n)] = {k: main[k] for k in ("test_accuracy", "dev_accuracy", "test_macro_f1", "wall_s")}
            results["data_efficiency"][strategy] = curve
            _write_json(path, results)

    results["total_wall_s"] = time.perf_counter() - started  # this invocation (reused runs cost nothing)
    _write_json(path, results)
    figures = {
        "learning_curves": plots.learning_curves(results, out / "learning_curves.png"),
        "comparison": plots.comparison_bars(results, out / "comparison.png"),
    }
    if results["data_efficiency"]:
        figures["data_efficiency"] = plots.data_efficiency(results, out / "data_efficiency.png")
    results["figures"] = {k: Path(v).name for k, v in figures.items()}  # beside results.json: the folder can move
    (out / "results.md").write_text(markdown_tables(results), encoding="utf-8")
    _write_json(path, results)
    return results


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _tokens_per_s(result: dict) -> str:
    rate = result.get("tokens_per_s")
    return "cached" if rate is None else f"{rate:.0f}"


def markdown_tables(results: dict) -> str:
    """The comparison and the data-efficiency tables, in markdown."""
    from .plots import LABELS

    lines = [f"Movie-review sentiment, {results['settings']['mode']} run: train {results['data']['train']}, "
             f"dev {results['data']['dev']}, test {results['data']['test']} "
             f"(majority class: {100 * results['majority_test_accuracy']:.1f}% of test).", "",
             "tokens/s: training throughput (fine-tune, random init) or the encoder pass that makes the "
             "features (frozen features; \"cached\" when they came from the cache).", "",
             "| strategy | dev acc | test acc | test macro-F1 | trainable params | wall time | peak memory | tokens/s |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in results["strategies"].items():
        lines.append(f"| {LABELS.get(name, name)} | {100 * r['dev_accuracy']:.1f} | {100 * r['test_accuracy']:.1f} | "
                     f"{100 * r['test_macro_f1']:.1f} | {r['trainable_params']:,} | {r['wall_s']:.0f} s | "
                     f"{r['peak_mem_mb']:.0f} MB | {_tokens_per_s(r)} |")
    if results.get("data_efficiency"):
        sizes = sorted({int(n) for curve in results["data_efficiency"].values() for n in curve})
        lines += ["", "Test accuracy (%) by number of training examples:", "",
                  "| strategy | " + " | ".join(f"{n:,}" for n in sizes) + " |",
                  "|---|" + "---|" * len(sizes)]
        for name, curve in results["data_efficiency"].items():
            cells = [f"{100 * curve[str(n)]['test_accuracy']:.1f}" if str(n) in curve else "" for n in sizes]
            lines.append(f"| {LABELS.get(name, name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
