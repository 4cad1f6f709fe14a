"""The grader of the exercise track: ``minibert grade PATH`` (or ``python -m minibert.grade PATH``).

    minibert grade hw1                       every exercise file (exNN_*.py) in hw1/
    minibert grade hw1/ex04_layer_norm.py    one exercise
    minibert grade hw1 --exercises 3,4,5     exactly these (a missing file fails)
    minibert grade hw1 --seed 7 --json scores.json --csv class.csv

For each exercise it prints how many test cases pass and, if one fails, the first
failing case with what is wrong and where (shape, index, expected vs got), then a last
line ``score: N/M exercises passed``. It exits 0 only when every exercise passes.

How a student's code is run, and why
------------------------------------
1. The cases (random inputs from ``--seed``, plus fixed edge cases: padded and fully
   masked rows, repeated ids, float32 and float64) and their reference values are
   computed here, with the library's kernels, BEFORE any student code runs
   (minibert.exercises.checks).
2. The student's file runs in a separate Python process per exercise
   (minibert.exercises.worker), given a pickled copy of the inputs only. It sends back
   what the functions returned; the comparison happens here.
3. That process is killed after ``--timeout`` seconds.

A subprocess rather than a thread: Python cannot stop a thread, so an endless loop in a
thread would run (and hold the CPU) until the grader exits, while a process can be
killed at the time limit. A process also keeps the student's code away from the
grader's memory: it cannot change the reference values or patch the library the grader
uses, and a crash (exit(), a segfault, running out of memory) ends only that process.
The price is about half a second per exercise to start Python and import NumPy.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pickle
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import exercises
from .errors import MinibertError

DEFAULT_TIMEOUT_S = 30.0
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the folder holding minibert/


@dataclass
class ExerciseResult:
    """How one exercise went.

    status: "pass", "fail", "not started", "missing file", "import error",
    "missing function", "timeout" or "crashed". ``lines``: the explanation printed under it.
    """

    id: str
    name: str
    file: str
    status: str
    passed_cases: int = 0
    cases: int = 0
    seconds: float = 0.0
    lines: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "pass"


# ----------------------------------------------------------------------------------------
# Finding the files
# ----------------------------------------------------------------------------------------
def files_to_grade(path: Path, chosen=None) -> list:
    """[(Exercise, file path)] for PATH: a student's folder or one exercise file.

    Args:
        path: a folder (its exNN_*.py files) or a single exNN_*.py file.
        chosen: Exercises that must be graded (a folder lacking one of the files fails
            that exercise); None grades whichever exercise files the folder holds.

    Raises:
        MinibertError: PATH does not exist, is not an exercise file, or holds none.
    """
    if not path.exists():
        raise MinibertError(f"{path} does not exist (start the exercises with: minibert exercise start {path})")
    if path.is_file():
        ex = exercises.exercise_of_file(path)
        if ex is None:
            raise MinibertError(f"{path.name} is not an exercise file: the grader tells exercises apart by their file "
                                f"names, exNN_name.py (e.g. {exercises.EXERCISES[3].file_name})")
        return [(ex, path)]
    if chosen is not None:
        return [(ex, path / ex.file_name) for ex in chosen]
    found = [(ex, path / ex.file_name) for ex in exercises.EXERCISES if (path / ex.file_name).is_file()]
    if not found:
        raise MinibertError(f"{path} holds no exercise file (names like {exercises.EXERCISES[0].file_name}); "
                            f"start with: minibert exercise start {path}")
    return found


# ----------------------------------------------------------------------------------------
# Running one exercise
# ----------------------------------------------------------------------------------------
def _worker_env() -> dict:
    """The worker's environment: minibert importable, no .pyc files in the student's folder,
    one BLAS thread (the arrays are tiny), plots never shown."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PACKAGE_ROOT), env.get("PYTHONPATH")]))
    env.update(PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               MPLBACKEND="Agg", PYTHONIOENCODING="utf-8")
    return env


def run_worker(exercise, file: Path, cases: list, timeout: float) -> dict:
    """Run the student's file on the cases' inputs in a worker process (see the module docstring).

    Returns the worker's result ({"records": [...]}, {"import_error": ...} or {"missing": [...]})
    or {"timeout": label of the running case} / {"crashed": explanation}.
    """
    with tempfile.TemporaryDirectory(prefix="minibert-grade-") as tmp:
        job_path, result_path = Path(tmp) / "job.pickle", Path(tmp) / "result.pickle"
        job = {"exercise": exercise.id, "file": str(file.resolve()),
               "labels": [case.label for case in cases], "inputs": [case.inputs for case in cases]}
        job_path.write_bytes(pickle.dumps(job))
        command = [sys.executable, "-m", "minibert.exercises.worker", str(job_path), str(result_path)]
        progress = result_path.with_name(result_path.name + ".progress")  # the label of the running case
        try:
            proc = subprocess.run(command, cwd=file.parent, env=_worker_env(), stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"timeout": progress.read_text(encoding="utf-8") if progress.exists() else None}
        if not result_path.exists():
            running = f' while running case "{progress.read_text(encoding="utf-8")}"' if progress.exists() else ""
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            return {"crashed": f"its process ended (exit status {proc.returncode}){running} before reporting"
                               + (":\n" + "\n".join(tail) if tail else "")}
        return pickle.loads(result_path.read_bytes())


def grade_exercise(exercise, file: Path, seed: int, timeout: float = DEFAULT_TIMEOUT_S) -> ExerciseResult:
    """Build the exercise's cases (references first), run the student's file, judge each case."""
    from .exercises.checks import CASES  # noqa: PLC0415 (NumPy and the kernels: only when grading)
    import numpy as np  # noqa: PLC0415

    start = time.perf_counter()
    result = ExerciseResult(exercise.id, exercise.name, str(file), "fail")
    if not file.is_file():
        result.status = "missing file"
        result.lines = [f"{file} not found (copy the stub: minibert exercise start {file.parent} "
                        f"--exercises {exercise.id})"]
        return result
    rng = np.random.default_rng([seed, int(exercise.id[2:])])  # the same cases whether graded alone or not
    cases = CASES[exercise.id](rng)
    result.cases = len(cases)
    answer = run_worker(exercise, file, cases, timeout)
    result.seconds = time.perf_counter() - start
    if "records" in answer:
        _judge(result, cases, answer["records"])
    else:
        result.status, line = _explain_failure(answer, exercise, file, timeout)
        result.lines = [line]
    return result


def _explain_failure(answer: dict, exercise, file: Path, timeout: float) -> tuple:
    """(status, one explanation) when the worker could not run the cases."""
    if "import_error" in answer:
        return "import error", f"does not import: {answer['import_error']}"
    if "missing" in answer:
        return "missing function", (f"{file.name} defines no function {', '.join(answer['missing'])} "
                                    f"(the stub's names must stay: {', '.join(exercise.functions)})")
    if "timeout" in answer:
        running = (f' while running case "{answer["timeout"]}"' if answer["timeout"]
                   else " before the first case (while importing the file?)")
        return "timeout", (f"stopped after the time limit of {timeout:g} s{running}: an endless loop? "
                           "(every case takes well under a second when the code is right)")
    return "crashed", answer["crashed"]


def _judge(result: ExerciseResult, cases: list, records: list) -> None:
    """Count the passing cases and explain the first failing one."""
    from .exercises.checks import compare  # noqa: PLC0415

    first = None
    for case, record in zip(cases, records):
        problem = record["error"] if "error" in record else compare(case, record["outputs"])
        if problem is None:
            result.passed_cases += 1
        elif first is None:
            first = (case, problem)
    if first is None:
        result.status = "pass"
    elif all(record.get("not_implemented") for record in records):
        result.status, result.lines = "not started", [first[1]]
    else:
        case, problem = first
        result.lines = [f"first failing case: {case.label}", problem] + ([f"tip: {case.tip}"] if case.tip else [])


# ----------------------------------------------------------------------------------------
# Grading a folder, reporting
# ----------------------------------------------------------------------------------------
def grade(path, chosen=None, seed: int | None = None, timeout: float = DEFAULT_TIMEOUT_S, out=print) -> dict:
    """Grade a student's folder (or file) and print the report as it goes.

    Returns:
        {"path", "seed", "passed", "total", "exercises": [ExerciseResult as dict, ...]}
    """
    path = Path(path)
    files = files_to_grade(path, chosen)
    seed = secrets.randbelow(1_000_000) if seed is None else seed
    out(f"grading {path} ({len(files)} exercise{'s' if len(files) != 1 else ''}; seed {seed}: "
        f"--seed {seed} repeats these cases)\n")
    results = []
    for exercise, file in files:
        r = grade_exercise(exercise, file, seed, timeout)
        results.append(r)
        counts = f"{r.passed_cases}/{r.cases} cases" if r.status in ("pass", "fail") else r.status
        out(f"{r.id} {r.name:<20} {'PASS' if r.passed else 'FAIL'}  {counts}")
        for line in r.lines:
            out("\n".join(f"     {part}" for part in line.splitlines()))
    passed = sum(r.passed for r in results)
    out(f"\nscore: {passed}/{len(results)} exercises passed")
    return {"path": str(path), "seed": seed, "passed": passed, "total": len(results),
            "exercises": [asdict(r) for r in results]}


def write_json(report: dict, file) -> None:
    Path(file).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def append_csv(report: dict, file) -> None:
    """Add one row for this submission to a class's CSV (written with a header when new).

    Columns: path, seed, passed, total, then one per exercise of the track: the fraction
    of its cases that passed (1 = the exercise passes), empty when it was not graded.
    """
    file = Path(file)
    header = ["path", "seed", "passed", "total"] + [ex.id for ex in exercises.EXERCISES]
    fractions = {r["id"]: f"{r['passed_cases'] / r['cases']:.3g}" if r["cases"] else "0" for r in report["exercises"]}
    row = [report["path"], report["seed"], report["passed"], report["total"]] + [fractions.get(ex.id, "")
                                                                                 for ex in exercises.EXERCISES]
    new = not file.exists() or file.stat().st_size == 0
    if not new:
        with open(file, newline="", encoding="utf-8") as f:
            if next(csv.reader(f), None) != header:
                raise MinibertError(f"{file} is not a minibert grade CSV (its first row is not {','.join(header)})")
    with open(file, "a", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(header)
        writer.writerow(row)


# ----------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------
def add_arguments(parser) -> None:
    """The options of ``minibert grade`` (also used by ``python -m minibert.grade``)."""
    parser.add_argument("path", help="a student's folder of exercise files, or one exercise file")
    parser.add_argument("--exercises", default=None,
                        help="grade exactly these, e.g. 3,4,5 (default: every exercise file in the folder)")
    parser.add_argument("--seed", type=int, default=None, help="the random cases' seed (default: a new one each run)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help=f"seconds allowed per exercise (default {DEFAULT_TIMEOUT_S:g})")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the scores to this JSON file")
    parser.add_argument("--csv", default=None, metavar="FILE", help="also append a row of scores to this CSV file")


def run_from_args(args) -> int:
    """Grade as the parsed arguments say; 0 when every exercise passes, else 1."""
    if args.timeout <= 0:
        raise MinibertError(f"--timeout must be positive, got {args.timeout:g}")
    chosen = exercises.select(args.exercises) if args.exercises else None
    report = grade(args.path, chosen, args.seed, args.timeout)
    if args.json:
        write_json(report, args.json)
    if args.csv:
        append_csv(report, args.csv)
    return 0 if report["passed"] == report["total"] else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minibert.grade", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_from_args(args)
    except MinibertError as exc:
        print(f"minibert grade: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
