"""The worker: runs ONE exercise of a student's code, in a process of its own.

    python -m minibert.exercises.worker JOB.pickle RESULT.pickle

The grader (minibert.grade) writes the job: the exercise id, the student's file and the
inputs of every case. The worker imports the file, calls the student's functions on
each case's inputs (minibert.exercises.checks.run_exNN) and writes back what they
returned, or the error they raised. It never sees the reference values: those stay in
the grader's process, so nothing the student's code does can change them.

Before each case it writes the case's label to RESULT.pickle.progress, so that a grader
that had to stop it (time limit) can say which case was running.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import pickle
import sys
import traceback
from pathlib import Path

import numpy as np

from . import BY_ID
from .checks import MAY_CHANGE_INPUTS, RUNNERS, ExerciseError, portable


def import_student_file(path: Path):
    """Import a student's file as the module named after it (``ex04_layer_norm``).

    Its folder goes first on sys.path, so the student's files may import each other.
    """
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def _student_frames(exc: BaseException, folder: Path) -> list:
    """The traceback frames of an exception that are in the student's folder, outermost first."""
    return [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).parent == folder]


def describe_exception(exc: BaseException, folder: Path) -> str:
    """``"ValueError: operands could not be broadcast ... (ex04_layer_norm.py line 52: `y = ...`)"``."""
    text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    frames = _student_frames(exc, folder)
    if not frames:
        return text
    where = frames[-1]
    return f"{text} ({Path(where.filename).name} line {where.lineno}: `{(where.line or '').strip()}`)"


def describe_import_error(exc: BaseException, path: Path) -> str:
    """Why a student's file does not import, in one or two lines (never a traceback)."""
    if isinstance(exc, SyntaxError):
        code = f": `{exc.text.strip()}`" if exc.text else ""
        return f"SyntaxError: {exc.msg} ({Path(exc.filename or path).name} line {exc.lineno}{code})"
    if isinstance(exc, SystemExit):
        return f"{path.name} calls exit() when it is imported: keep code that runs under `if __name__ == '__main__':`"
    text = describe_exception(exc, path.parent)
    if isinstance(exc, ModuleNotFoundError):
        text += " (the exercises need only NumPy, Python's standard library and minibert)"
    return text


def changed_input(before: dict, after: dict) -> str | None:
    """The name of the first input the student's code changed in place, or None."""
    for name, old in before.items():
        if not _same(old, after[name]):
            return name
    return None


def _same(a, b) -> bool:
    """Equal values of the same types (arrays: same shape, dtype and numbers, NaN equal to NaN)."""
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.shape == b.shape and a.dtype == b.dtype
                and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def run_case(exercise_id: str, module, inputs: dict, folder: Path) -> dict:
    """One case: {"outputs": ...} or {"error": message, "not_implemented": bool}."""
    pristine = copy.deepcopy(inputs)
    try:
        outputs = RUNNERS[exercise_id](module, inputs)
    except NotImplementedError as exc:
        frames = _student_frames(exc, folder)
        function = frames[-1].name if frames else "a function"
        return {"error": f"not written yet: {function} raises NotImplementedError", "not_implemented": True}
    except ExerciseError as exc:
        return {"error": str(exc)}
    except SystemExit:
        return {"error": "your code called exit() (or raised SystemExit)"}
    except Exception as exc:  # noqa: BLE001 (any error of the student's code is a result to report)
        return {"error": describe_exception(exc, folder)}
    if exercise_id not in MAY_CHANGE_INPUTS:
        name = changed_input(pristine, inputs)
        if name is not None:
            return {"error": f"your code changed its input `{name}` in place: a kernel must leave its "
                             "inputs as they were (the caller may still need them); work on new arrays"}
    outputs = portable(outputs)
    try:
        pickle.dumps(outputs)
    except Exception as exc:  # noqa: BLE001
        return {"error": f"your functions returned something that cannot be compared ({exc})"}
    return {"outputs": outputs}


def run_job(job: dict, progress: Path) -> dict:
    """Import the student's file and run every case of the job."""
    path = Path(job["file"]).resolve()
    exercise = BY_ID[job["exercise"]]
    try:
        module = import_student_file(path)
    except BaseException as exc:  # noqa: BLE001 (SyntaxError, ImportError, exit() ...: all reported)
        if isinstance(exc, KeyboardInterrupt):
            raise
        return {"import_error": describe_import_error(exc, path)}
    missing = [name for name in exercise.functions if not callable(getattr(module, name, None))]
    if missing:
        return {"missing": missing}
    records = []
    for label, inputs in zip(job["labels"], job["inputs"]):
        progress.write_text(label, encoding="utf-8")
        records.append(run_case(exercise.id, module, inputs, path.parent))
    return {"records": records}


def main(argv=None) -> int:
    job_path, result_path = map(Path, argv if argv is not None else sys.argv[1:])
    job = pickle.loads(job_path.read_bytes())
    result = run_job(job, result_path.with_name(result_path.name + ".progress"))
    tmp = result_path.with_name(result_path.name + ".tmp")
    tmp.write_bytes(pickle.dumps(result))
    os.replace(tmp, result_path)  # the grader sees a whole result or none
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
