"""matplotlib figures for the comparison: learning curves, side-by-side bars, data efficiency.

Every function takes the results dictionary that ``minibert compare`` writes
(results.json; ``layer_probe``: the one ``minibert probe`` writes) and saves one PNG; the Agg backend is used, so no screen is needed.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.ticker import MaxNLocator, NullFormatter  # noqa: E402

LABELS = {"fine_tune": "fine-tune", "feature_extraction": "frozen features + head",
          "random_init": "random init", "partial_fine_tune": "partial fine-tune"}
COLORS = {"fine_tune": "#1f77b4", "feature_extraction": "#ff7f0e", "random_init": "#7f7f7f",
          "partial_fine_tune": "#2ca02c"}


def _label(name):
    return LABELS.get(name, name)


def learning_curves(results: dict, path) -> Path:
    """Dev accuracy after each epoch: the trained models on the left, the frozen-features head
    (which trains for many more, much cheaper epochs) on the right."""
    trained = {n: r for n, r in results["strategies"].items() if n != "feature_extraction"}
    head = results["strategies"].get("feature_extraction")
    fig, axes = plt.subplots(1, 2 if head else 1, figsize=(11 if head else 6.4, 4.2), squeeze=False)
    panels = [(axes[0, 0], trained, "fine-tuned / trained models")]
    if head:
        panels.append((axes[0, 1], {"feature_extraction": head}, "head on frozen features"))
    for ax, runs, title in panels:
        for name, r in runs.items():
            epochs = r["history"].get("epochs", [])
            points = [(i + 1, 100 * e["dev_accuracy"]) for i, e in enumerate(epochs) if e.get("dev_accuracy") is not None]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o", label=_label(name), color=COLORS.get(name))
        if "majority_dev_accuracy" in results:
            ax.axhline(100 * results["majority_dev_accuracy"], color="black", linestyle=":", linewidth=1,
                       label="majority class")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("dev accuracy (%)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Learning curves")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path).resolve()


def comparison_bars(results: dict, path) -> Path:
    """Four panels: test accuracy, wall time, peak memory, trainable parameters."""
    names = list(results["strategies"])
    rs = [results["strategies"][n] for n in names]
    panels = [("test accuracy (%)", [100 * r["test_accuracy"] for r in rs], "{:.1f}"),
              ("wall time (s)", [r["wall_s"] for r in rs], "{:.0f}"),
              ("peak memory (MB)", [r["peak_mem_mb"] for r in rs], "{:.0f}"),
              ("trainable parameters (millions)", [r["trainable_params"] / 1e6 for r in rs], "{:.3g}")]
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.8))
    for ax, (title, values, fmt) in zip(axes, panels):
        bars = ax.bar(range(len(names)), values, color=[COLORS.get(n, "#999999") for n in names])
        ax.set_xticks(range(len(names)), [_label(n) for n in names], rotation=20, ha="right")
        ax.set_title(title)
        for bar, v in zip(bars, values):
            ax.annotate(fmt.format(v), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=8)
        ax.margins(y=0.15)
    if "majority_test_accuracy" in results:
        axes[0].axhline(100 * results["majority_test_accuracy"], color="black", linestyle=":", linewidth=1)
    fig.suptitle("What each strategy buys and costs")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path).resolve()


def data_efficiency(results: dict, path) -> Path:
    """Test accuracy as the training set grows, one line per strategy (log-scale x)."""
    curve = results.get("data_efficiency", {})
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, points in curve.items():
        sizes = sorted(int(n) for n in points)
        ax.plot(sizes, [100 * points[str(n)]["test_accuracy"] for n in sizes], marker="o",
                label=_label(name), color=COLORS.get(name))
    if "majority_test_accuracy" in results:
        ax.axhline(100 * results["majority_test_accuracy"], color="black", linestyle=":", linewidth=1,
                   label="majority class")
    ax.set_xscale("log")
    all_sizes = sorted({int(n) for points in curve.values() for n in points})
    ax.set_xticks(all_sizes, [f"{n:,}" for n in all_sizes])  # the sizes actually run, written out
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("training examples (log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Data efficiency")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path).resolve()


def layer_probe(results: dict, path) -> Path:
    """Probe accuracy by layer (the results of minibert.probe.run_probe): dev and test lines,
    the majority class as a floor."""
    rows = results["layers"]
    layers = [r["layer"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(layers, [100 * r["test_accuracy"] for r in rows], marker="o", label="test", color="#1f77b4")
    ax.plot(layers, [100 * r["dev_accuracy"] for r in rows], marker="s", linestyle="--", label="dev",
            color="#ff7f0e")
    ax.axhline(100 * results["majority_test_accuracy"], color="black", linestyle=":", linewidth=1,
               label="majority class (test)")
    ax.set_xticks(layers, ["emb." if n == 0 else str(n) for n in layers])
    ax.set_xlabel("layer (emb. = the embeddings, before any attention)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"Layer probe: softmax head on each layer's mean-pooled features\n"
                 f"({results['data']['train']:,} training texts)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path).resolve()
