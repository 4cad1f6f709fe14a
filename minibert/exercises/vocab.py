"""The library's tokenizer on a small vocabulary given as a set of strings.

Exercises 1 and 2 hand the student a vocabulary as a Python set; the grader (and the
solutions) need minibert's BertTokenizer on that same vocabulary. BertTokenizer reads a
``vocab.txt``, so we write one into a temporary folder, load it, and keep the result.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from ..tokenizer import REQUIRED_TOKENS, BertTokenizer


def tokenizer_from_tokens(tokens, do_lower_case: bool = True, max_input_chars_per_word: int = 100) -> BertTokenizer:
    """A BertTokenizer whose vocabulary is ``tokens`` (plus [CLS], [SEP], [PAD], [UNK] if missing)."""
    return _cached(frozenset(tokens), do_lower_case, max_input_chars_per_word)


@functools.lru_cache(maxsize=32)
def _cached(tokens: frozenset, do_lower_case: bool, max_input_chars_per_word: int) -> BertTokenizer:
    lines = list(REQUIRED_TOKENS) + sorted(tokens - set(REQUIRED_TOKENS))  # ids do not matter here
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "vocab.txt"
        path.write_text("".join(f"{t}\n" for t in lines), encoding="utf-8")
        return BertTokenizer(path, do_lower_case=do_lower_case, max_input_chars_per_word=max_input_chars_per_word)
