"""What the lessons share: minibert importable from this checkout, section headings, and
argument types that refuse nonsense.

Each lesson imports this first (``from lesson_support import section``). Python finds it
because a script's own folder is on its import path, whatever folder you run it from.
"""

import sys
from pathlib import Path

try:
    import minibert  # noqa: F401  (installed with pip install -e .; otherwise the fallback below)
except ImportError:  # not installed: use the checkout these lessons live in
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minibert.cli import positive_float, positive_int  # noqa: E402, F401  (argparse types: 1, 2, 3 ...; > 0)


def section(title):
    """Print a section heading."""
    print()
    print("=" * 88)
    print(title)
    print("=" * 88)
