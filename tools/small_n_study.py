"""How much does one point of the data-efficiency table move with the reviews it was given?

`minibert compare` trains each strategy on the first n reviews of a seeded permutation of the
training set (permutation seed 0, training seed 0). At n = 100 fine-tuning and frozen features
score within a couple of points of each other, so which one is ahead may depend on which 100
reviews were drawn rather than on the strategies. This tool reruns one point of the table with
the full run's settings for several permutation seeds (the training seed stays 0), and for
several training seeds on the first subset, and writes what it measured.

    python tools/small_n_study.py                                  # n = 100, subsets 0-4
    python tools/small_n_study.py --n 300 --subsets 0,1,2 --out runs/small-n-300

Three to four and a half minutes per fine-tuning run on a 2-core machine; the frozen features take
seconds once the dev and test features are cached. Results (one row per run, kept across
invocations, so an interrupted study resumes): OUT/small_n.json and OUT/small_n.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # minibert from this checkout

from minibert.compare import FULL, data_efficiency_point, run_strategy  # noqa: E402
from minibert.transfer import Splits, load_splits  # noqa: E402

STRATEGIES = ("fine_tune", "feature_extraction")


def run_point(splits: Splits, n: int, subset_seed: int, train_seed: int, strategy: str) -> dict:
    """One strategy trained on n reviews drawn with subset_seed, training with train_seed."""
    settings = {**FULL, "seed": train_seed}
    sub, epochs = data_efficiency_point(strategy, splits, n, settings, subset_seed)
    result = run_strategy(strategy, sub, settings, None, progress=False, device=None, epochs=epochs)
    return {"strategy": strategy, "n": n, "subset_seed": subset_seed, "train_seed": train_seed,
            "test_accuracy": result.test_accuracy, "dev_accuracy": result.dev_accuracy, "wall_s": result.wall_s}


def markdown(rows: list, n: int) -> str:
    """Test accuracy (%) per run, and each strategy's mean and range."""
    runs = sorted({(r["subset_seed"], r["train_seed"]) for r in rows})
    table = {(r["strategy"], r["subset_seed"], r["train_seed"]): r["test_accuracy"] for r in rows}
    head = "| strategy | " + " | ".join(f"subset {s}, training seed {t}" for s, t in runs) + " | mean | range |"
    lines = [f"# Test accuracy (%) with {n} training reviews", "", head, "|---" * (len(runs) + 3) + "|"]
    for strategy in STRATEGIES:
        scores = [table.get((strategy, s, t)) for s, t in runs]
        done = [100 * x for x in scores if x is not None]
        cells = ["-" if x is None else f"{100 * x:.1f}" for x in scores]
        summary = [f"{statistics.mean(done):.1f}", f"{min(done):.1f}-{max(done):.1f}"] if done else ["-", "-"]
        lines.append(f"| {strategy} | " + " | ".join(cells + summary) + " |")
    paired = [s_t for s_t in runs if (STRATEGIES[0], *s_t) in table and (STRATEGIES[1], *s_t) in table]
    wins = sum(table[(STRATEGIES[0], *s_t)] > table[(STRATEGIES[1], *s_t)] for s_t in paired)
    lines += ["", f"Fine-tuning ahead of frozen features in {wins} of {len(paired)} runs."]
    return "\n".join(lines) + "\n"


def seed_list(text: str) -> list:
    """'0,1,2' -> [0, 1, 2], or an argparse error naming the bad item."""
    try:
        return [int(item) for item in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, got {text!r}") from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="training reviews per run (default 100)")
    parser.add_argument("--subsets", type=seed_list, default="0,1,2,3,4",
                        help="permutation seeds that draw the reviews")
    parser.add_argument("--train-seeds", type=seed_list, default="0", help="training seeds, run on the first subset")
    parser.add_argument("--out", default="runs/small-n", help="output folder (default runs/small-n)")
    args = parser.parse_args(argv)
    subsets, train_seeds = args.subsets, args.train_seeds
    plan = [(s, 0) for s in subsets] + [(subsets[0], t) for t in train_seeds if t != 0]

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "small_n.json"
    rows = json.loads(path.read_text()) if path.exists() else []
    done = {(r["strategy"], r["n"], r["subset_seed"], r["train_seed"]) for r in rows}
    splits = load_splits()
    for subset_seed, train_seed in plan:
        for strategy in STRATEGIES:
            if (strategy, args.n, subset_seed, train_seed) in done:
                continue
            row = run_point(splits, args.n, subset_seed, train_seed, strategy)
            print(f"{strategy}, n={args.n}, subset {subset_seed}, training seed {train_seed}: "
                  f"test {100 * row['test_accuracy']:.1f}%  ({row['wall_s']:.0f} s)", flush=True)
            rows.append(row)
            path.write_text(json.dumps(rows, indent=1))
    text = markdown([r for r in rows if r["n"] == args.n], args.n)
    (out / "small_n.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
