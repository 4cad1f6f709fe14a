"""Every lesson runs to the end, from any folder.

Each ``lessons/NN_*.py`` file (found by glob, so a new lesson is tested as soon as it
exists) is run as a student would run it: ``python lessons/NN_name.py``, in a separate
process, from a temporary working directory (proving that it does not depend on being
started from the repository root), with a time limit. It must exit with status 0 and,
where we know what it should print, print it.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

LESSONS_DIR = Path(__file__).resolve().parent.parent / "lessons"
LESSONS = sorted(LESSONS_DIR.glob("[0-9][0-9]_*.py"))
TIMEOUT_S = 300  # generous: CI machines and laptops are slower when busy

# Text a lesson must print, by file name (lessons not listed only have to exit with 0).
EXPECTED_OUTPUT = {
    "02_attention_by_hand.py": ["max abs difference", "OK: the hand-written layer matches the model"],
    "03_official_weights.py": ["22,713,216", "Cosine similarity, mean pooling"],
    "04_weight_formats.py": ["refused without running anything", "Identical outputs from all four formats: True"],
    "05_backprop_by_hand.py": ["OK: all 25 hand-written gradients equal the library's",
                               "OK: the gradients match finite differences",
                               "every .grad is twice the first: True"],
    "06_first_training_run.py": ["dev accuracy before training:", "batch loss", "dev accuracy:", "Wall time:"],
    "07_feature_extraction.py": ["22,713,216 parameters, 0 of them trainable",
                                 "largest difference between the library's mean features and ours",
                                 "mean_last4", "Best here:", "Wall time:"],
    "08_fine_tuning.py": ["22,713,986", "s per step", "6. Side by side", "Wall time:"],
    "09_random_init.py": ["parameters to learn from scratch", "22,713,986", "dev accuracy", "Wall time:"],
    "11_layer_probe.py": ["2. One encoder pass, every layer's vectors", "  embeddings ", "probe.png",
                          "5. What it means", "Wall time:"],
    "10_compare.py": ["| fine-tune |", "| random init |", "3. The columns", "learning_curves.png",
                      "8. What to take away", "Wall time:"],
}

# Command-line arguments of a lesson, by file name (lessons not listed run without any).
# Lessons 6-11's default runs take minutes; --quick runs each on a few dozen reviews:
# lesson 10's --quick makes a tiny `minibert compare` run in a temporary folder and reads it.
LESSON_ARGS = {
    "06_first_training_run.py": ["--quick"],
    "07_feature_extraction.py": ["--quick"],
    "08_fine_tuning.py": ["--quick"],
    "09_random_init.py": ["--quick"],
    "10_compare.py": ["--quick"],
    "11_layer_probe.py": ["--quick", "--out", "probe-run"],
}


def lesson_env() -> dict:
    """The environment of a lesson: ours (MINIBERT_CACHE and MINIBERT_WEIGHTS pass through when set)."""
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"  # a lesson that plots must never open a window and wait
    env["PYTHONIOENCODING"] = "utf-8"  # lessons may print any character
    return env


def test_lessons_are_found():
    names = [path.name for path in LESSONS]
    assert "02_attention_by_hand.py" in names and "03_official_weights.py" in names, names


@pytest.mark.parametrize("lesson", LESSONS, ids=[path.name for path in LESSONS])
def test_lesson_runs_from_any_folder(lesson, tmp_path):
    try:
        proc = subprocess.run(
            [sys.executable, str(lesson), *LESSON_ARGS.get(lesson.name, [])], cwd=tmp_path, env=lesson_env(),
            capture_output=True, text=True, encoding="utf-8", timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        partial = (exc.stdout or b"").decode("utf-8", "replace")  # always bytes, even with text=True
        pytest.fail(f"{lesson.name} did not finish within {TIMEOUT_S} s; its last output:\n{partial[-2000:]}")
    report = (f"{lesson.name} exited with {proc.returncode}\n"
              f"--- stdout (end) ---\n{proc.stdout[-3000:]}\n"
              f"--- stderr (end) ---\n{proc.stderr[-3000:]}")
    assert proc.returncode == 0, report
    for text in EXPECTED_OUTPUT.get(lesson.name, []):
        assert text in proc.stdout, f"{lesson.name} did not print {text!r}\n{report}"
