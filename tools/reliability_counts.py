"""Count what the test suite tries against minibert's reliability promises (docs/reliability.md).

    python tools/reliability_counts.py            # prints a markdown table
    python tools/reliability_counts.py --write    # ... and puts it into docs/reliability.md

It collects the suite (nothing runs) and counts, per test file:
  - bad-input cases: collected test cases (each parametrization counted) whose code expects
    one of minibert's own errors (``pytest.raises(SomeMinibertError``, a helper around it, or
    the CLI's exit status 2): each case feeds at least one bad input;
  - error checks: how many such ``pytest.raises`` / error-line checks those cases contain (a
    case may try several bad inputs);
  - generated examples: for hypothesis tests, max_examples per collected case (what one
    run of the suite tries; hypothesis stops early only when a strategy has fewer
    distinct values).
"""

from __future__ import annotations

import contextlib
import inspect
import io
import re
import sys
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ERRORS = ("WeightsError", "ConfigError", "TokenizerError", "InputError", "DataError", "DeviceError",
          "DownloadError", "TrainingError", "CheckpointError", "MinibertError")
# pytest.raises(<a minibert error>, the CLI's exit status 2, and the test files' helpers that wrap
# pytest.raises(WeightsError) (assert_error, assert_weights_error)
ERROR_CHECK = re.compile(r"pytest\.raises\(\s*(?:\w+\.)?(?:%s)\b|one_error_line\(|assert_(?:weights_)?error\("
                         r"|main\(.*\) == 2\b|(?:code|returncode|status|\[0\]) == 2\b" % "|".join(ERRORS))


class Collector:
    """A pytest plugin that keeps the collected items."""

    def __init__(self):
        self.items = []

    def pytest_collection_modifyitems(self, items):
        self.items = list(items)


def source_of(function) -> str:
    try:
        return inspect.getsource(inspect.unwrap(function))
    except (OSError, TypeError):
        return ""


def hypothesis_examples(function) -> int:
    """max_examples of a hypothesis test (0 for a plain test)."""
    if not getattr(function, "is_hypothesis_test", False):
        return 0
    settings = getattr(function, "_hypothesis_internal_use_settings", None)
    return settings.max_examples if settings is not None else 100  # hypothesis' default


def count(test_dir: Path) -> dict:
    collector = Collector()
    with contextlib.redirect_stdout(io.StringIO()):  # the list of collected tests: not wanted here
        code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", str(test_dir)], plugins=[collector])
    if code not in (0, 5):
        raise SystemExit(f"collection failed (pytest exit code {code})")
    rows = defaultdict(lambda: {"bad_input_cases": 0, "error_checks": 0, "generated_examples": 0})
    for item in collector.items:
        function = getattr(item, "obj", None)
        row = rows[Path(item.path).name]
        source = source_of(function) if function is not None else ""
        checks = len(ERROR_CHECK.findall(source))
        if checks:
            row["bad_input_cases"] += 1
            row["error_checks"] += checks
        row["generated_examples"] += hypothesis_examples(function)
    return dict(rows)


def markdown(rows: dict) -> str:
    lines = ["| test file | bad-input cases | error checks in them | generated examples |",
             "|---|---|---|---|"]
    totals = defaultdict(int)
    for name in sorted(rows):
        row = rows[name]
        if not (row["bad_input_cases"] or row["generated_examples"]):
            continue
        for key, value in row.items():
            totals[key] += value
        lines.append(f"| `tests/{name}` | {row['bad_input_cases']} | {row['error_checks']} | "
                     f"{row['generated_examples']:,} |")
    lines.append(f"| **total** | {totals['bad_input_cases']} | {totals['error_checks']} | "
                 f"{totals['generated_examples']:,} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    table = markdown(count(REPO / "tests"))
    print(table)
    if "--write" in argv:  # replace the table in docs/reliability.md
        doc = REPO / "docs" / "reliability.md"
        text = doc.read_text(encoding="utf-8")
        old = re.search(r"^\| test file \|.*?^\| \*\*total\*\*[^\n]*", text, flags=re.S | re.M)
        if old is None:
            raise SystemExit(f"no counts table found in {doc}")
        doc.write_text(text[:old.start()] + table + text[old.end():], encoding="utf-8")
        print(f"written into {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
