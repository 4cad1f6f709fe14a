"""Docs that state figures about the code must match the code: the counts table of
docs/reliability.md is what tools/reliability_counts.py finds in the suite today."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def table_rows(text):
    return [line.strip() for line in text.splitlines() if line.startswith("| `tests/") or line.startswith("| **total**")]


def test_reliability_counts_table_is_up_to_date():
    done = subprocess.run([sys.executable, str(REPO / "tools" / "reliability_counts.py")], capture_output=True,
                          text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    counted = table_rows(done.stdout)
    assert counted, done.stdout[-2000:]
    documented = table_rows((REPO / "docs" / "reliability.md").read_text(encoding="utf-8"))
    assert documented == counted, ("docs/reliability.md's counts are out of date: run "
                                   "`python tools/reliability_counts.py` and paste its table into the Counts section")


def test_every_docs_file_named_in_readme_lessons_and_code_exists():
    import re

    sources = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "lessons").glob("*.py")),
               *sorted((REPO / "minibert").rglob("*.py")), *sorted((REPO / "tools").glob("*.py"))]
    named = {(source.name, path) for source in sources
             for path in re.findall(r"\bdocs/[\w./-]*\w", source.read_text(encoding="utf-8"))}
    assert len(named) > 10  # the pattern finds the references (README alone names a dozen)
    missing = sorted((source, path) for source, path in named if not (REPO / path).exists())
    assert not missing, f"files named but not in the repository: {missing}"
