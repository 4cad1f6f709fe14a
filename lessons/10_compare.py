"""Lesson 10: the three transfer strategies side by side -- reading `minibert compare`.

What it teaches
    How to read a comparison honestly. `minibert compare` runs fine-tuning, frozen
    features + a softmax head and random initialisation on one split with one seed, and
    writes results.json, a markdown table and three plots. This lesson reads such a
    folder and explains it, with the numbers it finds there:

      1. which run: its data, settings and machine
      2. the table, as `minibert compare` prints it
      3. what each column means
      4. accuracy: who won, by how much, and whether that is more than noise
      5. cost: time, memory and trainable parameters, as ratios
      6. data efficiency: the strategies as the training set grows, next to the
         PyTorch reference
      7. the plots: where they are and what each shows
      8. what to take away

    What you should see, on a quick run (`minibert compare --quick`: 1,000 training
    reviews, 500 dev, 500 test): fine-tuning ahead of frozen features by several points
    (78.4% against 72.0% test in a quick run on the 2-core development machine, where
    fine-tuning took 5 times the wall time: 106 s against 21 s) and both far ahead of random
    init, which stays at the majority class (52.6% of those 500 test reviews). On a full run
    (all 10,209 reviews, about 1.5 hours): fine-tuning about 85%, frozen features about
    77%, random init about 78%, as in the PyTorch reference. With --quick, the lesson
    makes a tiny comparison (40 training reviews, 24 dev and 24 test, one epoch) to read:
    its numbers are noise, and the lesson says so; it shows the machinery, in 45 s to
    2 minutes depending on how busy the machine is.

How to run it (from any folder)
    python lessons/10_compare.py                        reads runs/quick/, else runs/full/
    python lessons/10_compare.py --results runs/full    reads that folder
    python lessons/10_compare.py --run                  runs `minibert compare --quick` first if no
                                                        results exist (about 9 minutes on 2 idle cores)
    python lessons/10_compare.py --quick                a tiny comparison in a temporary folder (~1-2 min)
The folders runs/quick and runs/full are looked for in the current folder, then in the
checkout this lesson lives in. Make them with `minibert compare --quick` (or `make demo`)
and `minibert compare`.
"""

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

from lesson_support import section  # first: it also makes minibert importable from this checkout

from minibert.compare import markdown_tables, run_comparison

CHECKOUT = Path(__file__).resolve().parent.parent  # where `minibert compare` would have written runs/

NAMES = {"fine_tune": "fine-tune", "feature_extraction": "frozen features", "random_init": "random init",
         "partial_fine_tune": "partial fine-tune"}

# The tiny comparison of --quick: 40 training reviews, 24 dev and 24 test, one epoch, one
# data-efficiency point (16 reviews). Enough to exercise everything, far too little to learn.
TINY_OVERRIDES = {"train_size": 40, "eval_size": 24, "min_steps": 1, "head_min_steps": 1, "fine_tune": {"epochs": 1},
                  "random_init": {"epochs": 1}, "feature_extraction": {"epochs": 2}}
TINY_SIZES = [16]

# The PyTorch + transformers reference on the same split (test accuracy, %), from the
# project's reference measurements (docs/reference-figures.md). Full data, the settings of
# `minibert compare` (fine-tune lr 5e-5 and random init lr 1e-4, 3 epochs; frozen
# mean-pooled features with a softmax head, Adam 1e-3, 20 epochs):
REFERENCE_FULL = {"fine_tune": 85.0, "feature_extraction": 77.1, "random_init": 78.6}
# ... and its data-efficiency table (first n of a seeded permutation of train; frozen mean
# features with logistic regression; max(3 epochs, 150 steps) for the trained ones):
REFERENCE_CURVE = {
    "fine_tune": {100: 65.4, 300: 75.7, 1000: 79.5, 3000: 82.3, 10209: 85.0},
    "feature_extraction": {100: 65.2, 300: 71.9, 1000: 74.8, 3000: 76.5, 10209: 77.4},
    "random_init": {100: 58.7, 300: 58.9, 1000: 56.8, 3000: 68.9, 10209: 78.6},
}


def parse_args():
    parser = argparse.ArgumentParser(description="Read and explain a `minibert compare` results folder (lesson 10).")
    parser.add_argument("--results", type=Path, default=None,
                        help="a folder with results.json (default: runs/quick, else runs/full)")
    parser.add_argument("--run", action="store_true",
                        help="when no results are found, run `minibert compare --quick` into runs/quick first")
    parser.add_argument("--quick", action="store_true",
                        help="make a tiny comparison in a temporary folder and read that (~1-2 minutes)")
    return parser.parse_args()


def find_results_folder():
    """The first of runs/quick, runs/full (here, then in the checkout) that holds results.json."""
    for base in (Path.cwd(), CHECKOUT):
        for name in ("quick", "full"):
            folder = base / "runs" / name
            if (folder / "results.json").is_file():
                return folder
    return None


def name_of(strategy):
    """A strategy's name for people: "fine_tune" -> "fine-tune"."""
    return NAMES.get(strategy, strategy)


def pct(x):
    """An accuracy stored as a fraction, in percent."""
    return 100 * x


def standard_error(accuracy, n):
    """One standard error (in points) of an accuracy measured on n examples."""
    return 100 * math.sqrt(max(accuracy * (1 - accuracy), 1e-12) / n)


def describe_run(results, folder):
    """Print where the results come from: data, settings, machine, and whether the run finished."""
    settings, data = results["settings"], results["data"]
    complete = "total_wall_s" in results
    print(f"folder            {folder}")
    print(f"mode              {settings['mode']} run"
          + (f", {results['total_wall_s']:.0f} s (results reused from an earlier run cost nothing)" if complete
             else ": INCOMPLETE (still running, or interrupted: `minibert compare` resumes it)"))
    print(f"data              {data['train']:,} training, {data['dev']:,} dev, {data['test']:,} test reviews; "
          f"majority class: {pct(results['majority_test_accuracy']):.1f}% of test")
    print(f"weights           {settings['weights']}, max_length {settings['max_length']}, seed {settings['seed']}")
    for strategy in results["strategies"]:
        own = {**{"batch_size": settings["batch_size"]}, **settings.get(strategy, {})}
        print(f"{name_of(strategy):<17} " + ", ".join(f"{k} {v}" for k, v in own.items()))
    machine = results.get("machine", {})
    print(f"machine           {machine.get('processor', '?')}, {machine.get('cpus', '?')} CPUs, "
          f"device {machine.get('device', '?')} ({machine.get('platform', '?')})")


def explain_columns(results):
    """Print what each column of the table measures."""
    majority = results["majority_test_accuracy"]
    one_class_f1 = pct(majority / (1 + majority))  # see explain_accuracy
    print(f"""  dev acc            accuracy on the dev set, the one used to choose settings (for the
                     trained strategies: after the last epoch)
  test acc           accuracy on the test set, scored once at the end: the figure to report
  test macro-F1      the mean over the two classes of each class's F1 (harmonic mean of
                     precision and recall). A model that always says "fresh" keeps the
                     accuracy of the majority class but a macro-F1 of only {one_class_f1:.1f}
                     here (the F1 of its class, 0 for the other, averaged)
  trainable params   how many numbers the strategy trains (frozen ones are not counted)
  wall time          the strategy's run: training and evaluation (for frozen features:
                     loading the encoder, its pass over every text, and the head)
  peak memory        the most that Python and NumPy allocated during the run above what
                     was allocated before it (tracemalloc): activations kept for the
                     backward pass, gradients, AdamW's running averages. Not the process
                     size; each strategy's measurement includes loading its model (the
                     weights alone are 87 MB of float32 numbers)
  tokens/s           training throughput (fine-tune, random init), or the speed of the
                     one encoder pass that makes the features (frozen features;
                     "cached" when the features came from an earlier run's cache)""")


def explain_accuracy(results):
    """Print the test accuracies, best first, and which gaps stand out from the noise."""
    strategies = results["strategies"]
    n_test = results["data"]["test"]
    majority = results["majority_test_accuracy"]
    ranked = sorted(strategies, key=lambda s: strategies[s]["test_accuracy"], reverse=True)
    print("Test accuracy, best first:")
    for s in ranked:
        print(f"  {name_of(s):<32} {pct(strategies[s]['test_accuracy']):5.1f}%")
    print(f"  {'(always guess the larger class)':<32} {pct(majority):5.1f}%")
    se = standard_error(max(strategies[s]["test_accuracy"] for s in ranked), n_test)
    noise = 2 * se  # a rough bar: two standard errors of one accuracy
    print(f"""
How much of that is noise? {n_test:,} test reviews: one review is {100 / n_test:.2f} points, and one standard
error of an accuracy is about {se:.1f} points: another {n_test:,} reviews drawn the same way could
move a score by that much. Two strategies scored on the SAME reviews get most of them right
together, so the gap between them wobbles less than that; still, take a gap under about
{noise:.1f} points (two standard errors) as a hint, not a result. The seed adds its own noise:
at 100 labels, fine-tuning moved by 4 points with the seed alone here and by 6 in PyTorch
(docs/results/small-n-100.md); with all the labels, much less.
""")
    pairs = [("fine_tune", "feature_extraction"), ("feature_extraction", "random_init"), ("fine_tune", "random_init")]
    for a, b in pairs:
        if a in strategies and b in strategies:
            gap = pct(strategies[a]["test_accuracy"] - strategies[b]["test_accuracy"])
            winner, loser = (a, b) if gap >= 0 else (b, a)
            verdict = "more than the noise" if abs(gap) > noise else "within the noise"  # the bar above
            if abs(gap) < 1e-9:
                print(f"  {name_of(a)} and {name_of(b)} tied here.")
            else:
                print(f"  {name_of(winner)} beat {name_of(loser)} by {abs(gap):.1f} points here ({verdict}).")
    # Always predicting the larger class: accuracy = its share, macro-F1 = (F1 of that class + 0) / 2.
    one_class_f1 = majority / (1 + majority)
    for s in ranked:
        r = strategies[s]
        if abs(r["test_accuracy"] - majority) < 0.02 and abs(r["test_macro_f1"] - one_class_f1) < 0.03:
            print(f"  {name_of(s)} scores what always guessing the larger class scores "
                  f"({pct(r['test_accuracy']):.1f}%, macro-F1 {pct(r['test_macro_f1']):.1f}):\n"
                  "    it learned the share of that class, not how to read a review.")


def explain_cost(results):
    """Print each strategy's time, trainable parameters and memory relative to frozen features."""
    strategies = results["strategies"]
    if "feature_extraction" not in strategies:
        print("(no frozen-features result to compare the costs with)")
        return
    base = strategies["feature_extraction"]
    print(f"Against frozen features ({base['wall_s']:.0f} s, {base['trainable_params']:,} trainable parameters, "
          f"{base['peak_mem_mb']:.0f} MB):")
    for s, r in strategies.items():
        if s == "feature_extraction":
            continue
        print(f"  {name_of(s):<18} {r['wall_s'] / max(base['wall_s'], 1e-9):6.1f} x the time, "
              f"{r['trainable_params'] / base['trainable_params']:9,.0f} x the trainable parameters, "
              f"{r['peak_mem_mb'] / max(base['peak_mem_mb'], 1e-9):5.1f} x the memory")
    if "fine_tune" in strategies and "random_init" in strategies:
        print("  (with the same epochs and batches, fine-tune and random init do the same computation: a gap in\n"
              "   their times comes from the machine, e.g. other programs running, not from the strategies.)")
    extract = base.get("history", {}).get("extract_seconds")
    if extract is not None:
        n_texts = sum(results["data"].values())  # train + dev + test
        print(f"""
Of the frozen features' {base['wall_s']:.0f} s, {extract:.0f} s were the encoder pass over all {n_texts:,}
texts; the head trained in the rest. The pass is done once and cached: the data-efficiency
runs, and any new head, reuse it. A fine-tuning run pays a forward AND a backward pass
through the whole model for every review in every epoch, and trains everything again for
any change of settings.""")


def explain_data_efficiency(results):
    """Print test accuracy by training-set size, next to the reference, and who wins at each size."""
    curves = results.get("data_efficiency") or {}
    if not curves and "total_wall_s" not in results:
        print("(no data-efficiency results yet: the run has not reached them)")
        return
    if not curves:
        print("(this run has no data-efficiency results: `minibert compare` without --no-data-efficiency "
              "makes them)")
        return
    sizes = sorted({int(n) for curve in curves.values() for n in curve})
    print("Test accuracy (%) by number of training reviews; PyTorch reference in brackets where it has that size.\n")
    print(f"  {'strategy':<18}" + "".join(f"{n:>8,}{'':7}" for n in sizes))
    for s, curve in curves.items():
        cells = []
        for n in sizes:
            if str(n) not in curve:
                cells.append(" " * 15)
                continue
            ours = pct(curve[str(n)]["test_accuracy"])
            ref = REFERENCE_CURVE.get(s, {}).get(n)
            cells.append(f"{ours:>8.1f}" + (f" ({ref:4.1f})" if ref is not None else " " * 7))
        print(f"  {name_of(s):<18}" + "".join(cells))
    print(f"  {'majority class':<18}" + "".join(f"{pct(results['majority_test_accuracy']):>8.1f}{'':7}" for _ in sizes))
    print()
    for n in sizes:
        scores = {s: pct(curve[str(n)]["test_accuracy"]) for s, curve in curves.items() if str(n) in curve}
        if len(scores) < 2:
            continue
        best = max(scores, key=scores.get)
        others = ", ".join(f"{name_of(s)} by {scores[best] - v:.1f}" for s, v in scores.items() if s != best)
        print(f"  {n:>6,} reviews: {name_of(best)} best ({scores[best]:.1f}%), ahead of {others} points")
    if results["settings"]["mode"] == "quick":
        fine = {"batch_size": results["settings"]["batch_size"], **results["settings"]["fine_tune"]}
        print(f"\n(A quick run's settings differ from the reference's (fine-tuning: batches of {fine['batch_size']}, "
              f"lr {fine['lr']:g};\n min_steps {results['settings']['min_steps']} instead of 150) and it scores only "
              f"the first {results['data']['test']} test reviews.\n Read the brackets as a guide to the shape, "
              "not as targets.)")
    if "fine_tune" in curves and "feature_extraction" in curves:
        both = [n for n in sizes if str(n) in curves["fine_tune"] and str(n) in curves["feature_extraction"]]
        ahead = [n for n in both if curves["fine_tune"][str(n)]["test_accuracy"]
                 > curves["feature_extraction"][str(n)]["test_accuracy"]]
        if ahead:
            print(f"\nFine-tuning beat frozen features from {min(ahead):,} reviews on here"
                  + ("" if ahead == both[both.index(min(ahead)):] else " (not at every size after that)")
                  + "; in the reference, from about 300 on.")
        else:
            print("\nFine-tuning did not beat frozen features at any size here; in the reference it does from "
                  "about 300 reviews on.")


def explain_figures(results, folder, temporary=False):
    """Print the paths of the plots and what each one shows."""
    about = {
        "learning_curves": "dev accuracy after each epoch of each strategy (the frozen features' line "
                           "counts the head's epochs, which are much cheaper)",
        "comparison": "four panels: test accuracy, wall time, peak memory, trainable parameters",
        "data_efficiency": "test accuracy against the number of training reviews (log scale), one line "
                           "per strategy, with the majority class dotted",
    }
    figures = results.get("figures") or {p.stem: p.name for p in sorted(folder.glob("*.png"))}
    if not figures:
        print("(no plots yet: `minibert compare` draws them at the end of a run)")
        return
    for name, file_name in figures.items():
        path = folder / Path(file_name).name  # the plots lie beside results.json
        state = "" if path.is_file() else "   (missing)"
        print(f"  {path}{state}\n      {about.get(name, '')}")
    print("\nOpen them with any image viewer; they are PNG files.")
    if temporary:
        print("(--quick: this folder is deleted when the lesson ends; `minibert compare --quick` keeps its plots.)")


def takeaways(results):
    """Print what this run and the reference say, tied to this run's numbers."""
    strategies = results["strategies"]
    n_train = results["data"]["train"]
    if n_train < 500 or results["data"]["test"] < 200:
        print(f"""This run trained on {n_train} reviews and scored {results['data']['test']} test reviews: far too few
for its accuracies to mean much (see the noise estimate in section 4). Use it to see the
machinery; for real numbers run `minibert compare --quick` (about 9 minutes) and read it
with this lesson.
""")
    if results["settings"]["mode"] == "full" and strategies:
        print("Against the PyTorch reference (full data, same settings; the project aims to land within 1.5 points):")
        for s, ref in REFERENCE_FULL.items():
            if s in strategies:
                ours = pct(strategies[s]["test_accuracy"])
                print(f"  {name_of(s):<18} {ours:5.1f}% here, {ref:.1f}% in PyTorch ({ours - ref:+.1f})")
        print()
    known = [s for s in strategies if s in REFERENCE_CURVE]
    ours = sorted(known, key=lambda s: strategies[s]["test_accuracy"], reverse=True)
    ref_n = max((n for n in REFERENCE_CURVE["fine_tune"] if n <= n_train), default=None)
    if ours and ref_n is not None:
        theirs = sorted(known, key=lambda s: REFERENCE_CURVE[s][ref_n], reverse=True)
        same = "the same order" if ours == theirs else "a different order"
        print(f"This run, {n_train:,} training reviews, test accuracy: "
              + " > ".join(f"{name_of(s)} {pct(strategies[s]['test_accuracy']):.1f}" for s in ours) + ".")
        print(f"The reference with {ref_n:,}: "
              + " > ".join(f"{name_of(s)} {REFERENCE_CURVE[s][ref_n]:.1f}" for s in theirs) + f": {same}.\n")
    print("""What the reference shows, and a good comparison run shows too:
  - With few labels (hundreds), the pretrained model wins by far: fine-tuned or frozen, it
    reaches 65-80%, while the same network from random weights stays at the majority class.
  - Fine-tuning beats frozen features from about 300 labels on, and the gap grows with data
    (5 points at 1,000 labels, 8 with all 10,209 in the reference).
  - Frozen features are the cheap option: one forward pass, a head that trains in seconds,
    a few hundred trainable numbers. Fine-tuning costs a forward and a backward pass per
    review per epoch, and all 22.7M parameters with their AdamW state in memory.
  - With all 10k labels, training from scratch catches up with frozen features (78.6 vs
    77.4 in the reference), but fine-tuning stays about 6 points ahead: pretraining still
    pays, it just matters less as labels grow.
One split, one seed: differences of a point or two are within the noise; the shape (who
wins where) is what to trust, and it is worth checking with a second seed. With 100 labels,
even the choice of the 100 reviews moves fine-tuning by 7 points (65.4 to 72.5 on five draws;
PyTorch on the same draws: 62.8 to 74.9; docs/results/small-n-100.md, made by
tools/small_n_study.py and tools/reference_small_n.py).""")


def main():
    args = parse_args()
    start = time.perf_counter()
    temporary = None

    if args.quick:
        temporary = tempfile.TemporaryDirectory()
        folder = Path(temporary.name)
        section("0. A tiny comparison to read (--quick)")
        print("run_comparison(folder, quick=True, sizes=[16], overrides=TINY_OVERRIDES): 40 training reviews,")
        print("24 dev and 24 test, one epoch each. About a minute on 2 cores (more when they are busy).")
        t = time.perf_counter()
        run_comparison(folder, quick=True, sizes=TINY_SIZES, progress=False, overrides=TINY_OVERRIDES)
        print(f"done in {time.perf_counter() - t:.0f} s, written to a temporary folder")
    elif args.results is not None:
        folder = args.results
        if not (folder / "results.json").is_file():
            raise SystemExit(f"{folder / 'results.json'} not found: give a folder written by `minibert compare`")
    else:
        folder = find_results_folder()
        if folder is None and args.run:
            folder = Path("runs") / "quick"
            section("0. No results yet: running `minibert compare --quick` (about 9 minutes)")
            run_comparison(folder, quick=True, progress=True)
        elif folder is None:
            raise SystemExit("No comparison results found (runs/quick/results.json or runs/full/results.json, in "
                             f"this folder or in {CHECKOUT}).\nMake them first:\n"
                             "    minibert compare --quick        (about 9 minutes on 2 idle cores)\n"
                             "or run this lesson with --run to do that for you, or with --quick for a tiny "
                             "comparison (about a minute).")

    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    if not results.get("strategies"):
        raise SystemExit(f"{folder / 'results.json'} holds no finished strategy yet: wait for the run, or resume "
                         "it with `minibert compare`")

    section("1. Which run")
    describe_run(results, folder)

    section("2. The table (results.md)")
    print(markdown_tables(results))

    section("3. The columns")
    explain_columns(results)

    section("4. Accuracy: who won, by how much")
    explain_accuracy(results)

    section("5. Cost: time, memory, trainable parameters")
    explain_cost(results)

    section("6. Data efficiency: accuracy as the training set grows")
    explain_data_efficiency(results)

    section("7. The plots")
    explain_figures(results, folder, temporary=temporary is not None)

    section("8. What to take away")
    takeaways(results)

    if temporary is not None:
        temporary.cleanup()
    print(f"\nWall time: {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    main()
