"""The exercise track (minibert/exercises/) and its grader (minibert/grade.py).

What is proven here: the solutions grade at 100% and the untouched stubs at 0%; the
classic wrong answers are caught with a hint that names the case, the output, the
index, the expected value and the value got; a file that does not import, an endless
loop or a missing function gets one clear line (never a traceback) within the time
limit; a student's code that changes its inputs, or even patches the library, cannot
change the reference values. Every grading run starts one worker process per exercise
(about half a second each), so most tests grade single files.
"""

import csv
import doctest
import importlib
import importlib.util
import json
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from minibert import exercises
from minibert.cli import main as cli_main
from minibert.exercises import EXERCISES, SOLUTIONS_DIR, STATEMENTS_DIR, STUBS_DIR
from minibert.grade import main as grade_main

SEED = "12345"


def write(folder: Path, name: str, code: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(code), encoding="utf-8")
    return path


def grade(capsys, *args):
    """Run ``python -m minibert.grade`` in-process (its workers are still processes): (status, stdout, stderr)."""
    status = grade_main([*map(str, args), "--seed", SEED])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# ----------------------------------------------------------------------------------------
# The track itself
# ----------------------------------------------------------------------------------------
def test_every_exercise_has_a_stub_a_solution_and_a_statement():
    assert len(EXERCISES) >= 10
    index = (STATEMENTS_DIR / "README.md").read_text(encoding="utf-8")
    for ex in EXERCISES:
        stub = (STUBS_DIR / ex.file_name).read_text(encoding="utf-8")
        for function in ex.functions:
            assert f"def {function}(" in stub, (ex.id, function)
            assert f'raise NotImplementedError("write {function}")' in stub, (ex.id, function)
        assert "Example" in stub and ">>>" in stub and "Cache" in stub, f"{ex.file_name}: no worked example or cache"
        assert (SOLUTIONS_DIR / ex.file_name).is_file(), ex.id
        assert (STATEMENTS_DIR / f"{ex.stem}.md").is_file(), ex.id
        assert f"({ex.stem}.md)" in index, f"lessons/exercises/README.md does not link {ex.stem}.md"


def test_the_worked_examples_in_the_stubs_are_right():
    """Every ``>>>`` example of every stub, run with the solution's functions, prints what it says."""
    for ex in EXERCISES:
        spec = importlib.util.spec_from_file_location(f"stub_{ex.stem}", STUBS_DIR / ex.file_name)
        stub = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(stub)
        solution = importlib.import_module(f"minibert.exercises.solutions.{ex.stem}")
        globs = {"np": np, **{name: getattr(solution, name) for name in ex.functions}}
        runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
        for test in doctest.DocTestFinder().find(stub, globs=globs):  # forward before backward: they share globs
            test.globs = globs
            runner.run(test, clear_globs=False)
        assert runner.failures == 0, f"{ex.file_name}: {runner.failures} worked example(s) disagree with the library"


def test_exercise_names_are_understood():
    names = ("4", "04", "ex04", "layer_norm", "ex04_layer_norm.py")
    assert {exercises.find(name) for name in names} == {exercises.BY_ID["ex04"]}
    assert [ex.id for ex in exercises.select("7, 3,ex03")] == ["ex03", "ex07"]
    with pytest.raises(exercises.MinibertError, match="no exercise is called 'ex99'.*ex04 \\(layer_norm\\)"):
        exercises.find("ex99")


# ----------------------------------------------------------------------------------------
# minibert exercise start
# ----------------------------------------------------------------------------------------
def test_start_copies_the_stubs_and_refuses_to_overwrite(tmp_path, capsys):
    hw = tmp_path / "hw1"
    assert cli_main(["exercise", "start", str(hw)]) == 0
    assert "minibert grade" in capsys.readouterr().out
    assert sorted(p.name for p in hw.glob("*.py")) == sorted(ex.file_name for ex in EXERCISES)
    assert len(list(hw.glob("ex*.md"))) == len(EXERCISES) and (hw / "README.md").is_file()
    assert (hw / "ex04_layer_norm.py").read_bytes() == (STUBS_DIR / "ex04_layer_norm.py").read_bytes()

    (hw / "ex04_layer_norm.py").write_text("# my work\n")
    assert cli_main(["exercise", "start", str(hw)]) == 2
    err = capsys.readouterr().err
    assert "already exist" in err and "--force" in err
    assert (hw / "ex04_layer_norm.py").read_text() == "# my work\n"  # nothing was overwritten
    assert cli_main(["exercise", "start", str(hw), "--force"]) == 0
    assert (hw / "ex04_layer_norm.py").read_bytes() == (STUBS_DIR / "ex04_layer_norm.py").read_bytes()

    assert cli_main(["exercise", "start", str(tmp_path / "only"), "--exercises", "4,ex08"]) == 0
    copied = sorted(p.name for p in (tmp_path / "only").glob("*.py"))
    assert copied == ["ex04_layer_norm.py", "ex08_embedding_backward.py"]
    # adding an exercise later: the README and statements already there are the same files, no conflict
    assert cli_main(["exercise", "start", str(tmp_path / "only"), "--exercises", "9"]) == 0
    assert (tmp_path / "only" / "ex09_adamw.py").is_file()


# ----------------------------------------------------------------------------------------
# Solutions at 100%, stubs at 0%
# ----------------------------------------------------------------------------------------
def test_solutions_grade_at_100_percent_and_stubs_at_0(tmp_path, capsys):
    key, hw = tmp_path / "key", tmp_path / "hw1"
    assert cli_main(["exercise", "start", str(key), "--with-solutions"]) == 0
    assert cli_main(["exercise", "start", str(hw)]) == 0
    capsys.readouterr()
    scores, table = tmp_path / "scores.json", tmp_path / "class.csv"
    total = len(EXERCISES)

    status = cli_main(["grade", str(key), "--seed", SEED, "--json", str(scores), "--csv", str(table)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.rstrip().splitlines()[-1] == f"score: {total}/{total} exercises passed"
    assert out.count(" PASS ") == total and "FAIL" not in out
    report = json.loads(scores.read_text())
    assert (report["passed"], report["total"], report["seed"]) == (total, total, int(SEED))
    assert all(e["status"] == "pass" and e["passed_cases"] == e["cases"] > 0 for e in report["exercises"])

    # the stubs, through the real entry point `python -m minibert.grade`
    proc = subprocess.run([sys.executable, "-m", "minibert.grade", str(hw), "--seed", SEED, "--csv", str(table)],
                          capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().splitlines()[-1] == f"score: 0/{total} exercises passed"
    assert proc.stdout.count("not started") == total and "Traceback" not in proc.stdout + proc.stderr
    assert "not written yet: layer_norm raises NotImplementedError" in proc.stdout

    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    assert [row["passed"] for row in rows] == [str(total), "0"]
    assert rows[0]["ex04"] == "1" and rows[1]["ex04"] == "0"


# ----------------------------------------------------------------------------------------
# Wrong answers are caught, with a hint naming the case
# ----------------------------------------------------------------------------------------
WRONG = {
    "layer_norm_backward_without_the_mean_term": ("ex04_layer_norm.py", """
        from minibert.functional import layer_norm


        def layer_norm_backward(dy, cache):
            x_hat, rstd, weight = cache
            H = x_hat.shape[-1]
            g = dy * weight
            dx = rstd * (g - x_hat * (g * x_hat).mean(axis=-1, keepdims=True))  # - mean(g) is missing
            return dx, (dy * x_hat).reshape(-1, H).sum(0), dy.reshape(-1, H).sum(0)
        """, ["0/4 cases", "first failing case: float64, x [4, 6], eps 1e-12",
              "layer_norm_backward: dx [4, 6] float64: at index (", "tip: dx = rstd * (g - mean(g)"]),
    "softmax_backward_without_the_sum": ("ex03_softmax.py", """
        from minibert.functional import softmax


        def softmax_backward(dy, cache, axis=-1):
            return cache * dy  # the sum over the row is missing
        """, ["0/5 cases", "first failing case: float64, x [3, 5]", "softmax_backward: dx [3, 5] float64: at index (",
              "do not forget the sum"]),
    "embedding_backward_losing_repeated_ids": ("ex08_embedding_backward.py", """
        import numpy as np


        def embedding_backward(dy, ids, vocab_size):
            dtable = np.zeros((vocab_size, dy.shape[-1]), dtype=dy.dtype)
            dtable[ids] += dy  # a repeated id keeps only one of its gradients
            return dtable
        """, ["1/4 cases", "first failing case: repeated ids, float64, ids of shape [2, 4]",
              "embedding_backward: dtable [7, 3] float64: at index (", "use np.add.at"]),
    "adamw_decaying_biases": ("ex09_adamw.py", """
        import numpy as np


        def adamw_step(params, grads, m, v, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
            b1, b2 = betas
            new_params, new_m, new_v = {}, {}, {}
            for name, w in params.items():
                g = grads[name]
                w = w - lr * weight_decay * w  # every parameter decayed, biases and LayerNorm too
                new_m[name] = b1 * m[name] + (1 - b1) * g
                new_v[name] = b2 * v[name] + (1 - b2) * g * g
                m_hat, v_hat = new_m[name] / (1 - b1 ** step), new_v[name] / (1 - b2 ** step)
                new_params[name] = w - lr * m_hat / (np.sqrt(v_hat) + eps)
            return new_params, new_m, new_v
        """, ["1/5 cases", "first failing case: first step (moments 0)",
              "adamw_step: params['bert.embeddings.LayerNorm.weight'] [4] float64: at index (", "get NO weight decay"]),
}


@pytest.mark.parametrize("mistake", list(WRONG))
def test_a_wrong_solution_is_caught_with_a_useful_hint(mistake, tmp_path, capsys):
    name, code, hints = WRONG[mistake]
    status, out, err = grade(capsys, write(tmp_path, name, code))
    assert status == 1 and out.rstrip().endswith("score: 0/1 exercises passed"), out + err
    for hint in hints:
        assert hint in out, f"{hint!r} not in:\n{out}"
    # the value expected, the value got (and for gradients what finite differences say)
    assert re.search(r"expected [+-][\d.e+-]+, got [+-][\d.e+-]+", out), out
    if "backward" in mistake:
        assert "(finite differences: " in out


# ----------------------------------------------------------------------------------------
# Broken files: import errors, endless loops, missing functions and files
# ----------------------------------------------------------------------------------------
def test_broken_files_get_one_clear_line_each_within_the_time_limit(tmp_path, capsys):
    write(tmp_path, "ex03_softmax.py", "def softmax(x, axis=-1)\n    return x, x\n")  # no colon
    write(tmp_path, "ex04_layer_norm.py", "import torch_that_is_not_installed\n")
    write(tmp_path, "ex05_gelu.py", """
        def gelu(x):
            while True:  # an endless loop
                pass


        def gelu_backward(dy, cache):
            return dy
        """)
    write(tmp_path, "ex08_embedding_backward.py", "def embeding_backward(dy, ids, vocab_size):\n    return dy\n")
    limit = 4
    start = time.perf_counter()
    status, out, err = grade(capsys, tmp_path, "--exercises", "3,4,5,8,9", "--timeout", limit)
    assert time.perf_counter() - start < limit + 15  # the loop was stopped at the limit
    assert status == 1 and out.rstrip().endswith("score: 0/5 exercises passed"), out + err
    assert "Traceback" not in out + err
    assert "does not import: SyntaxError: expected ':' (ex03_softmax.py line 1: `def softmax(x, axis=-1)`)" in out
    assert ("does not import: ModuleNotFoundError: No module named 'torch_that_is_not_installed' "
            "(ex04_layer_norm.py line 1: `import torch_that_is_not_installed`)") in out
    assert f'stopped after the time limit of {limit} s while running case "float64, x [3, 7]"' in out
    assert "defines no function embedding_backward" in out
    assert "ex09_adamw.py not found" in out


def test_usage_mistakes_are_one_line_errors(tmp_path, capsys):
    assert grade(capsys, tmp_path / "nowhere")[0] == 2
    write(tmp_path, "homework.py", "x = 1\n")
    status, _, err = grade(capsys, tmp_path / "homework.py")
    assert status == 2 and "not an exercise file" in err and "ex04_layer_norm.py" in err
    status, _, err = grade(capsys, tmp_path)
    assert status == 2 and "holds no exercise file" in err
    status, _, err = grade(capsys, tmp_path, "--exercises", "99")
    assert status == 2 and "no exercise is called '99'" in err


# ----------------------------------------------------------------------------------------
# Student code cannot change the references
# ----------------------------------------------------------------------------------------
def test_student_code_cannot_change_the_reference_results(tmp_path, capsys):
    # changes its input in place (the values it returns are right)
    write(tmp_path, "ex03_softmax.py", """
        import numpy as np


        def softmax(x, axis=-1):
            x -= x.max(axis=axis, keepdims=True)  # the caller's array changes
            e = np.exp(x)
            y = e / e.sum(axis=axis, keepdims=True)
            return y, y


        def softmax_backward(dy, cache, axis=-1):
            return cache * (dy - (dy * cache).sum(axis=axis, keepdims=True))
        """)
    # replaces the library's kernels with its own wrong ones, hoping the grader uses them
    write(tmp_path, "ex04_layer_norm.py", """
        import numpy as np

        import minibert.functional as F


        def layer_norm(x, weight, bias, eps):
            return np.zeros_like(x), x


        def layer_norm_backward(dy, cache):
            return np.zeros_like(dy), np.zeros_like(dy[..., 0, :]), np.zeros_like(dy[..., 0, :])


        F.layer_norm, F.layer_norm_backward = layer_norm, layer_norm_backward
        """)
    status, out, _ = grade(capsys, tmp_path)
    assert status == 1 and "score: 0/2 exercises passed" in out, out
    assert "your code changed its input `x` in place" in out
    assert re.search(r"layer_norm: y \[4, 6\] float64: at index \(0, 0\) expected [+-][\d.e+-]+, got \+0\b", out), out


def test_exercise_list_names_times_lessons_and_paper_sections(capsys):
    from minibert.cli import main
    from minibert.exercises import EXERCISES

    assert main(["exercise", "list"]) == 0
    out = capsys.readouterr().out
    for ex in EXERCISES:
        assert ex.title in out and f"BERT paper, section {ex.paper}" in out
    assert f"{len(EXERCISES)} exercises" in out
