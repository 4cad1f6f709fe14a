"""Where minibert keeps downloaded weights and cached data.

- Weights: ``$MINIBERT_WEIGHTS`` when set; else the ``weights/`` folder of a source
  checkout (the folder next to ``minibert/`` when ``setup.cfg`` is there too); else
  ``<cache>/weights``.
- Cache (movie reviews, features): ``$MINIBERT_CACHE`` when set; else
  ``$XDG_CACHE_HOME/minibert``; else ``~/.cache/minibert``.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"


def cache_dir() -> Path:
    """The user's cache folder for minibert (not created here)."""
    if os.environ.get("MINIBERT_CACHE"):
        return Path(os.environ["MINIBERT_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "minibert"


def weights_dir() -> Path:
    """The folder that holds model folders such as ``all-MiniLM-L6-v2/``."""
    if os.environ.get("MINIBERT_WEIGHTS"):
        return Path(os.environ["MINIBERT_WEIGHTS"]).expanduser()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "setup.cfg").is_file() and (checkout / "weights").is_dir():
        return checkout / "weights"
    return cache_dir() / "weights"


def default_model_dir() -> Path:
    """Where the embedded default model (all-MiniLM-L6-v2) lives once downloaded."""
    return weights_dir() / DEFAULT_MODEL_NAME
