"""BERT's tokenizer, from scratch: text in, integer ids out (and back).

A BERT model never sees letters. It sees a list of integers, one per *token*, where
each integer is a row number in ``vocab.txt`` (30,522 lines for the English BERTs).
This module turns text into those integers exactly the way Hugging Face's pure-Python
``BertTokenizer`` (``BertTokenizerLegacy`` in transformers 5) does: our ids are tested
to be identical to its ids. That tokenizer is a port of Google's original
``tokenization.py`` with three differences, which we follow: NFC normalisation (stage 3),
special tokens kept whole (stage 0), and every character of a Unicode category ``C*``
dropped in the clean-up (stage 1; Google's current code drops only ``Cc`` and ``Cf``).
Google's own code gives the same ids wherever these do not matter: no ``[MASK]``-style
strings in the text, no private-use or unassigned code points, and already-NFC text or an
uncased vocabulary (whose accent stripping undoes the difference).

The pipeline, stage by stage
----------------------------
Take ``"Héllo, WORLD!  Unaffable 東京 tokenizers."`` with an uncased vocabulary.

0. **Special tokens.** ``[CLS]``, ``[SEP]``, ``[PAD]``, ``[UNK]`` and ``[MASK]`` written
   in the text (exactly, case-sensitively) are cut out first and kept whole: they are
   neither lower-cased nor split (``"[cls]"`` is ordinary text: ``[ cl ##s ]``). Our
   example has none. (As in Hugging Face's, a *word* that only becomes a special token
   in stage 1, 3 or 5, such as ``"[CL\x00S]"``, is kept whole as well.)
1. **Clean-up.** Drop NUL, U+FFFD (the "replacement character" that marks broken
   bytes) and control characters (Unicode categories ``C*``); turn every whitespace
   character (tab, newline, no-break space, ideographic space ...) into a plain space.
2. **CJK ideographs.** Put spaces around each Chinese/Japanese/Korean *ideograph*, so
   that each becomes a word of its own: ``"東京"`` -> ``" 東  京 "``. (Hiragana,
   Katakana and Hangul are left alone: Korean separates its words with spaces, but
   Japanese does not, so a run of kana stays one long word for WordPiece to cut.)
3. **NFC.** Unicode lets ``"é"`` be one code point or ``"e"`` + a combining accent;
   NFC normalisation picks the one-code-point form so both spellings agree.
4. **Whitespace split** into words.
5. **Lower-casing and accent stripping** (uncased models only): ``lower()``, then NFD
   normalisation (``"é"`` -> ``"e"`` + U+0301) and removal of the combining marks
   (category ``Mn``): ``"Héllo"`` -> ``"hello"``.
6. **Punctuation split.** Every punctuation character becomes a word of its own.
   "Punctuation" is Unicode's ``P*`` categories plus all non-alphanumeric printable
   ASCII (so ``$``, ``+``, ``^`` and ``` ` ``` count too):
   ``['hello', ',', 'world', '!', 'unaffable', '東', '京', 'tokenizers', '.']``
7. **WordPiece.** Each word is cut into the longest pieces found in the vocabulary,
   left to right; pieces that continue a word are written with a ``##`` prefix:
   ``"unaffable"`` -> ``['una', '##ffa', '##ble']``, ``"tokenizers"`` ->
   ``['token', '##izer', '##s']``. A word that cannot be cut this way, or that is
   longer than 100 characters, becomes the single token ``[UNK]`` ("unknown").
8. **Ids and special tokens.** Look every piece up in the vocabulary and frame the
   sequence as ``[CLS] ... [SEP]``:
   ``[101, 7592, 1010, 2088, 999, 14477, 20961, 3468, 1879, 1755, 19204, 17629, 2015, 1012, 102]``.

Why ``##``? It records that a piece glues onto the previous one, so ``decode`` can
undo the split (``"una ##ffa ##ble"`` -> ``"unaffable"``), and the model can tell the
word *start* ``"able"`` from the word *ending* ``"##able"``. A small vocabulary of
pieces can spell every word it has the letters for, so ``[UNK]`` stays rare.

Speed
-----
The reference walks over every character in Python, several times. Here each
per-character stage is one call of ``str.translate`` (a loop written in C) with a
table that classifies each distinct character once, on first sight; pure-ASCII text
(most English) takes a shorter route through one regular expression; and WordPiece
results are cached per word, because the same words come back again and again.
Character classes come from :mod:`unicodedata`, like the reference, so both agree on
every character for the same Python (the ``regex`` package ships its own, usually
newer, Unicode tables, whose ``\\p{P}`` can disagree on recently added characters).

Example::

    >>> tok = BertTokenizer.from_pretrained("weights/all-MiniLM-L6-v2")
    >>> tok.tokenize("Unaffable!")
    ['una', '##ffa', '##ble', '!']
    >>> tok.encode("Unaffable!")
    [101, 14477, 20961, 3468, 999, 102]
    >>> tok.decode([101, 14477, 20961, 3468, 999, 102])
    '[CLS] unaffable! [SEP]'
"""

from __future__ import annotations

import json
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import regex

from .errors import MinibertWarning, TokenizerError

CLS_TOKEN = "[CLS]"  # starts every sequence; the pooler and classification heads read its final vector
SEP_TOKEN = "[SEP]"  # ends each of the (one or two) texts
PAD_TOKEN = "[PAD]"  # fills short rows of a batch up to a common length
UNK_TOKEN = "[UNK]"  # stands for a word the vocabulary cannot spell
MASK_TOKEN = "[MASK]"  # hides a token during masked-language-model pre-training
SPECIAL_TOKENS = (CLS_TOKEN, SEP_TOKEN, PAD_TOKEN, UNK_TOKEN, MASK_TOKEN)
REQUIRED_TOKENS = (CLS_TOKEN, SEP_TOKEN, PAD_TOKEN, UNK_TOKEN)  # [MASK] is optional

# Word cache size limit: a cache that grew without bound could eat memory on a huge corpus.
WORD_CACHE_LIMIT = 1 << 18


# --------------------------------------------------------------------------------------
# Character classes (the same rules as Google's tokenization.py)
# --------------------------------------------------------------------------------------


def is_whitespace(char: str) -> bool:
    """Space, tab, newline, carriage return, or any Unicode space separator (``Zs``)."""
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def is_control(char: str) -> bool:
    """A Unicode "other" character (``C*``: controls, format, unassigned ...), except tab/newline/CR."""
    return char not in "\t\n\r" and unicodedata.category(char).startswith("C")


def is_punctuation(char: str) -> bool:
    """Unicode punctuation (``P*``), or printable ASCII that is neither a letter nor a digit."""
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True  # ASCII symbols such as "$", "+", "^", "`" count as punctuation too
    return unicodedata.category(char).startswith("P")


# The code point ranges Google's _is_chinese_char calls "CJK": the CJK Unified
# Ideographs block, its extensions A to E, and the two compatibility-ideograph blocks.
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def is_cjk_ideograph(char: str) -> bool:
    """True for a CJK ideograph (a Chinese character, also used in Japanese and Korean)."""
    cp = ord(char)
    return any(low <= cp <= high for low, high in CJK_RANGES)


class CharTable(dict):
    """A ``str.translate`` table that works out each character's replacement on first sight.

    ``text.translate(table)`` replaces every character ``c`` of ``text`` by
    ``table[ord(c)]`` (a string; ``None`` deletes it), looping in C. Filling a table
    for all 1.1 million code points up front would be slow, so this dict computes
    the entry for a code point the first time it is missing (``__missing__``) and
    stores it: after that the character costs one dict lookup.
    """

    def __init__(self, rule):
        super().__init__()
        self.rule = rule  # function: one character -> its replacement (str or None)

    def __missing__(self, code_point: int):
        replacement = self.rule(chr(code_point))
        self[code_point] = replacement
        return replacement


def _clean_rule(char: str):
    """Stage 1: drop NUL, U+FFFD and control characters; any whitespace becomes one space."""
    if char == "\x00" or char == "\ufffd" or is_control(char):
        return None
    if is_whitespace(char):
        return " "
    return char


def _clean_and_space_cjk_rule(char: str):
    """Stages 1 and 2 together: clean-up, then spaces around each CJK ideograph.

    Clean-up comes first: an *unassigned* code point inside a CJK block (such as
    U+FAFF) is a control character (category ``Cn``) and is dropped, not spaced.
    """
    cleaned = _clean_rule(char)
    if cleaned is not None and is_cjk_ideograph(char):
        return f" {char} "
    return cleaned


def _space_punctuation_rule(char: str):
    """Stage 6: put spaces around punctuation, so that ``split()`` isolates it."""
    return f" {char} " if is_punctuation(char) else char


def _drop_nonspacing_mark_rule(char: str):
    """Stage 5: delete non-spacing marks (category ``Mn``: accents after NFD)."""
    return None if unicodedata.category(char) == "Mn" else char


CLEAN_TABLE = CharTable(_clean_rule)
CLEAN_AND_SPACE_CJK_TABLE = CharTable(_clean_and_space_cjk_rule)
SPACE_PUNCTUATION_TABLE = CharTable(_space_punctuation_rule)
DROP_NONSPACING_MARK_TABLE = CharTable(_drop_nonspacing_mark_rule)

# Pure-ASCII text after clean-up holds only spaces, letters, digits and punctuation
# (every other printable ASCII character), so one regex does stages 4 and 6 at once:
# a run of letters/digits is a word, any other non-space character stands alone.
ASCII_WORDS_AND_PUNCTUATION = regex.compile(r"[A-Za-z0-9]+|[^A-Za-z0-9 ]")

# Stage 0: special tokens written in the text. The capturing group makes
# ``split`` keep them: "a [SEP] b" -> ["a ", "[SEP]", " b"].
SPECIAL_TOKEN_PATTERN = regex.compile("(" + "|".join(regex.escape(t) for t in SPECIAL_TOKENS) + ")")


def strip_accents(text: str) -> str:
    """``"crème brûlée"`` -> ``"creme brulee"``: NFD, then drop the combining marks."""
    return unicodedata.normalize("NFD", text).translate(DROP_NONSPACING_MARK_TABLE)


def load_vocab(vocab_file: str | Path) -> list:
    """The tokens of a ``vocab.txt``, one per line, in id order (line ``i`` is id ``i``).

    Read as UTF-8 with Python's universal newlines (so a Windows CRLF file reads the
    same), a leading byte-order mark dropped; only the line break is removed from each
    line (a token may legitimately be a space-like character).

    A token on two lines is warned about (MinibertWarning): it maps to the later line's
    id, as in transformers, so the earlier id is never produced.

    Raises:
        TokenizerError: the file is missing, not UTF-8, empty, or lacks one of
            ``[CLS]``, ``[SEP]``, ``[PAD]``, ``[UNK]``.
    """
    path = Path(vocab_file)
    if not path.is_file():
        raise TokenizerError(f"vocabulary file not found: {path}")
    try:
        with open(path, encoding="utf-8-sig") as f:
            tokens = [line.rstrip("\n") for line in f]
    except UnicodeDecodeError as exc:
        raise TokenizerError(f"vocabulary file {path} is not valid UTF-8: {exc}") from exc
    except OSError as exc:  # no permission, a disk error...
        raise TokenizerError(f"vocabulary file {path} cannot be read: {exc.strerror or exc}") from exc
    if not tokens:
        raise TokenizerError(f"vocabulary file {path} is empty")
    present = set(tokens)
    if len(present) < len(tokens):  # a hand-edited vocabulary: the later line wins, the earlier id is never produced
        first_line, repeats = {}, []
        for line, token in enumerate(tokens, start=1):
            if token in first_line:
                repeats.append(f"{token!r} (lines {first_line[token]} and {line})")
            else:
                first_line[token] = line
        warnings.warn(f"vocabulary file {path} has {len(repeats)} repeated token(s): {', '.join(repeats[:5])}"
                      f"{' ...' if len(repeats) > 5 else ''}; each maps to its last line's id",
                      MinibertWarning, stacklevel=3)
    missing = [t for t in REQUIRED_TOKENS if t not in present]
    if missing:
        raise TokenizerError(
            f"vocabulary file {path} lacks the special token(s) {', '.join(missing)} "
            f"(a BERT vocabulary needs {', '.join(REQUIRED_TOKENS)}, each on a line of its own)"
        )
    return tokens


def longest_first_cuts(len_a: int, len_b: int, to_remove: int) -> tuple:
    """How many tokens to cut from the end of each text of a pair ("longest first").

    Tokens are removed one at a time from whichever text is longer at that moment;
    when both are equally long the *second* text loses the token (as in transformers).
    In closed form: first cut the longer text down to the shorter one's length, then
    share the rest, the second text taking the odd one.

    Args:
        len_a: tokens in the first text.
        len_b: tokens in the second text.
        to_remove: how many tokens must go in total (at most ``len_a + len_b``).

    Returns:
        ``(cut_a, cut_b)``, with ``cut_a + cut_b == to_remove``.
    """
    even_out = min(abs(len_a - len_b), to_remove)  # bring the longer down to the shorter
    rest = to_remove - even_out  # then take from both in turn, the second first
    cut_a = rest // 2 + (even_out if len_a > len_b else 0)
    cut_b = rest - rest // 2 + (even_out if len_a <= len_b else 0)
    return cut_a, cut_b


def clean_up_tokenization(text: str) -> str:
    """Glue punctuation and English contractions back onto the previous word.

    The same replacements transformers applies when ``clean_up_tokenization_spaces``
    is on: ``"hello , world ."`` -> ``"hello, world."``, ``"it ' s"`` -> ``"it's"``.
    """
    for spaced, glued in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"),
                          (" n't", "n't"), (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(spaced, glued)
    return text


class BertTokenizer:
    """BERT's WordPiece tokenizer (BasicTokenizer + WordPiece), ids identical to Hugging Face's.

    Args:
        vocab_file: path of a ``vocab.txt`` (one token per line; line ``i`` is id ``i``).
        do_lower_case: lower-case the text (and strip accents) before WordPiece; ``True``
            for "uncased" models such as all-MiniLM-L6-v2.
        max_input_chars_per_word: longer words become ``[UNK]`` without trying WordPiece.
        tokenize_chinese_chars: make every CJK ideograph a word of its own.
        strip_accents: ``None`` strips accents exactly when lower-casing (original BERT);
            ``True``/``False`` force it on/off.

    Raises:
        TokenizerError: an unusable vocabulary file or a bad argument.
    """

    def __init__(
        self,
        vocab_file: str | Path,
        do_lower_case: bool = True,
        max_input_chars_per_word: int = 100,
        tokenize_chinese_chars: bool = True,
        strip_accents: bool | None = None,
    ):
        for name, value in (("do_lower_case", do_lower_case), ("tokenize_chinese_chars", tokenize_chinese_chars)):
            if not isinstance(value, bool):
                raise TokenizerError(f"{name} must be True or False, not {value!r}")
        if strip_accents is not None and not isinstance(strip_accents, bool):
            raise TokenizerError(f"strip_accents must be None, True or False, not {strip_accents!r}")
        if isinstance(max_input_chars_per_word, bool) or not isinstance(max_input_chars_per_word, int) or max_input_chars_per_word < 1:
            raise TokenizerError(f"max_input_chars_per_word must be a positive int, not {max_input_chars_per_word!r}")

        self.vocab_file = Path(vocab_file)
        self.do_lower_case = do_lower_case
        self.max_input_chars_per_word = max_input_chars_per_word
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.strip_accents = strip_accents
        # Accents go when asked for, or (by default) together with the upper case.
        self._strips_accents = strip_accents if strip_accents is not None else do_lower_case
        self._clean_table = CLEAN_AND_SPACE_CJK_TABLE if tokenize_chinese_chars else CLEAN_TABLE

        self.ids_to_tokens = load_vocab(vocab_file)
        # token -> id; should a token appear twice, its last line wins (as in transformers)
        self.vocab = {token: index for index, token in enumerate(self.ids_to_tokens)}
        self.special_tokens = frozenset(t for t in SPECIAL_TOKENS if t in self.vocab)
        # No vocabulary entry is longer than this, so WordPiece never tries longer pieces.
        self._longest_piece = max(len(token) for token in self.ids_to_tokens)
        self._word_cache = {}  # word -> tuple of WordPiece ids

    @classmethod
    def from_pretrained(cls, folder: str | Path, **overrides) -> "BertTokenizer":
        """The tokenizer of a model folder: ``folder/vocab.txt`` + ``folder/tokenizer_config.json``.

        The config file is optional; from it we read ``do_lower_case`` (default
        ``True``), ``strip_accents`` and ``tokenize_chinese_chars``.

        Args:
            folder: a model folder, e.g. the one :func:`minibert.download.ensure_default_model` returns.
            **overrides: constructor arguments that win over the config file.

        Returns:
            A ready :class:`BertTokenizer`.

        Raises:
            TokenizerError: the folder or its ``vocab.txt`` is missing, or the config is unreadable.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise TokenizerError(f"tokenizer folder not found: {folder}")
        vocab_file = folder / "vocab.txt"
        if not vocab_file.is_file():
            raise TokenizerError(f"tokenizer folder {folder} has no vocab.txt")
        options = {}
        config_file = folder / "tokenizer_config.json"
        if config_file.is_file():
            try:
                config = json.loads(config_file.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise TokenizerError(f"{config_file} is not valid JSON: {exc}") from exc
            if not isinstance(config, dict):
                raise TokenizerError(f"{config_file} must hold a JSON object, not {type(config).__name__}")
            for key in ("do_lower_case", "strip_accents", "tokenize_chinese_chars"):
                if key in config:
                    options[key] = config[key]
        try:
            return cls(vocab_file, **{**options, **overrides})
        except TokenizerError as exc:
            if options:  # a bad value may have come from the config file: say so
                raise TokenizerError(f"{exc} (settings read from {config_file})") from exc
            raise

    # ----------------------------------------------------------------------------------
    # Vocabulary
    # ----------------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        """Number of ids: the number of lines in ``vocab.txt``."""
        return len(self.ids_to_tokens)

    def __len__(self) -> int:
        return self.vocab_size

    @property
    def cls_token_id(self) -> int:
        return self.vocab[CLS_TOKEN]

    @property
    def sep_token_id(self) -> int:
        return self.vocab[SEP_TOKEN]

    @property
    def pad_token_id(self) -> int:
        return self.vocab[PAD_TOKEN]

    @property
    def unk_token_id(self) -> int:
        return self.vocab[UNK_TOKEN]

    @property
    def mask_token_id(self) -> int | None:
        """Id of ``[MASK]``, or ``None`` for a vocabulary without one."""
        return self.vocab.get(MASK_TOKEN)

    @property
    def all_special_ids(self) -> list:
        """Ids of the special tokens this vocabulary has (what ``skip_special_tokens`` drops)."""
        return sorted(self.vocab[t] for t in self.special_tokens)

    def convert_tokens_to_ids(self, tokens):
        """Look tokens up in the vocabulary.

        Args:
            tokens: one token (``str``) or a list of them.

        Returns:
            An ``int`` for a ``str``, else a list of ints; unknown tokens get the ``[UNK]`` id.
        """
        unk = self.unk_token_id
        if isinstance(tokens, str):
            return self.vocab.get(tokens, unk)
        return [self.vocab.get(token, unk) for token in tokens]

    def convert_ids_to_tokens(self, ids):
        """The vocabulary entries of ids.

        Args:
            ids: one id (``int`` or NumPy integer) or a sequence / 1-D array of them.

        Returns:
            A ``str`` for a single id, else a list of strings.

        Raises:
            TokenizerError: an id that is not an integer in ``[0, vocab_size)``.
        """
        if isinstance(ids, (int, np.integer)):
            return self.ids_to_tokens[self._check_id(ids)]
        return [self.ids_to_tokens[self._check_id(i)] for i in ids]

    def _check_id(self, token_id) -> int:
        """``token_id`` as an int, or a TokenizerError naming it."""
        if isinstance(token_id, (bool, np.bool_)) or not isinstance(token_id, (int, np.integer)):
            raise TokenizerError(f"token id {token_id!r} is not an integer")
        if not 0 <= token_id < len(self.ids_to_tokens):
            raise TokenizerError(f"token id {token_id} is out of range: the vocabulary has ids 0 to {len(self.ids_to_tokens) - 1}")
        return int(token_id)

    # ----------------------------------------------------------------------------------
    # Text -> tokens
    # ----------------------------------------------------------------------------------

    def tokenize(self, text: str) -> list:
        """Split text into WordPiece tokens (no ``[CLS]``/``[SEP]`` added).

        Args:
            text: any string.

        Returns:
            The tokens, e.g. ``["una", "##ffa", "##ble", "!"]`` for ``"Unaffable!"``.
        """
        return [self.ids_to_tokens[i] for i in self._text_to_ids(text)]

    def basic_tokenize(self, text: str) -> list:
        """Stages 1 to 6 on a text without special tokens: the words WordPiece will cut.

        Args:
            text: any string. Special tokens are not cut out of it here (that is stage 0,
                in :meth:`tokenize`); only a whole word equal to one is kept as it is.

        Returns:
            The words, e.g. ``["hello", ",", "world", "!"]`` for ``"Héllo, WORLD!"``.
        """
        text = text.translate(self._clean_table)  # stages 1 and 2
        is_ascii = text.isascii()
        if not is_ascii:
            text = unicodedata.normalize("NFC", text)  # stage 3 (ASCII is always NFC)
        if "[" in text:
            # Rare case: a special token that only appears after clean-up, such as
            # "[CL\x00S]". A whole word equal to a special token is kept as it is.
            words = text.split()
            if any(word in self.special_tokens for word in words):
                tokens = []
                for word in words:
                    if word in self.special_tokens:
                        tokens.append(word)
                    else:
                        tokens.extend(self._normalize_and_split(word, word.isascii()))
                return tokens
        return self._normalize_and_split(text, is_ascii)

    def _normalize_and_split(self, text: str, is_ascii: bool) -> list:
        """Stages 4 to 6: lower-case, strip accents, split on whitespace and punctuation.

        Done on the whole text at once, which gives the same words as doing it word by
        word like the reference: none of these steps looks across whitespace (even the
        Greek final-sigma rule of ``lower()``, "Σ" -> "ς" at a word's end, stops there).
        """
        if self.do_lower_case:
            text = text.lower()
        if is_ascii:  # ASCII has no accents, and one regex splits words and punctuation
            return ASCII_WORDS_AND_PUNCTUATION.findall(text)
        if self._strips_accents:
            text = strip_accents(text)
        if "[" in text:
            # Rare case: stripping accents without lower-casing can turn a word into a
            # special token ("\u0301[CLS]" -> "[CLS]"); such a word is kept whole too.
            tokens = []
            for word in text.split():
                if word in self.special_tokens:
                    tokens.append(word)
                else:
                    tokens.extend(word.translate(SPACE_PUNCTUATION_TABLE).split())
            return tokens
        return text.translate(SPACE_PUNCTUATION_TABLE).split()

    def wordpiece(self, word: str) -> list:
        """Stage 7 on one word: its WordPiece tokens, e.g. ``"unaffable"`` -> ``["una", "##ffa", "##ble"]``."""
        return [self.ids_to_tokens[i] for i in self._wordpiece_ids(word)]

    def _wordpiece_ids(self, word: str) -> tuple:
        """Ids of the WordPiece tokens of one word, remembered in a cache."""
        ids = self._word_cache.get(word)
        if ids is None:
            ids = self._greedy_longest_match(word)
            if len(self._word_cache) < WORD_CACHE_LIMIT:
                self._word_cache[word] = ids
        return ids

    def _greedy_longest_match(self, word: str) -> tuple:
        """WordPiece: repeatedly take the longest vocabulary entry that starts the rest of the word.

        Pieces after the first are looked up with the ``##`` prefix. If at some point
        no piece (not even one character) is in the vocabulary, the whole word is
        ``[UNK]``, as it is when longer than ``max_input_chars_per_word``.
        """
        if len(word) > self.max_input_chars_per_word:
            return (self.unk_token_id,)
        vocab = self.vocab
        ids = []
        start = 0
        while start < len(word):
            prefix = "##" if start > 0 else ""
            end = min(len(word), start + self._longest_piece)
            while end > start:  # shrink the candidate from the right until it is known
                piece_id = vocab.get(prefix + word[start:end])
                if piece_id is not None:
                    break
                end -= 1
            if end == start:  # not even a single character matched
                return (self.unk_token_id,)
            ids.append(piece_id)
            start = end
        return tuple(ids)

    def _text_to_ids(self, text: str) -> list:
        """Stages 0 to 8 without ``[CLS]``/``[SEP]``: the ids of a text's tokens."""
        if not isinstance(text, str):
            raise TokenizerError(f"text must be a str, not {type(text).__name__}")
        # Stage 0: split out special tokens; the pieces alternate text, special, text ...
        pieces = SPECIAL_TOKEN_PATTERN.split(text) if "[" in text else [text]
        ids = []
        for index, piece in enumerate(pieces):
            if index % 2 == 1 and piece in self.special_tokens:
                ids.append(self.vocab[piece])
            elif piece:
                for word in self.basic_tokenize(piece):
                    ids.extend(self._wordpiece_ids(word))
        return ids

    # ----------------------------------------------------------------------------------
    # Model inputs
    # ----------------------------------------------------------------------------------

    def _frame(self, ids_a: list, ids_b: list | None, max_length: int | None, truncation: bool) -> tuple:
        """``[CLS] a [SEP] (b [SEP])`` and its token type ids, truncated to ``max_length``."""
        num_special = 2 if ids_b is None else 3
        if max_length is not None:
            if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)):
                raise TokenizerError(f"max_length must be an int, not {max_length!r}")
            if max_length < num_special:
                raise TokenizerError(
                    f"max_length={max_length} leaves no room for the {num_special} special tokens "
                    f"([CLS] and {'two [SEP]' if ids_b is not None else '[SEP]'}); use at least {num_special}"
                )
            excess = len(ids_a) + len(ids_b or ()) + num_special - max_length
            if excess > 0:
                if not truncation:
                    raise TokenizerError(
                        f"the text needs {max_length + excess} tokens, more than max_length={max_length}; "
                        "pass truncation=True to cut it"
                    )
                if ids_b is None:
                    ids_a = ids_a[: len(ids_a) - excess]  # a single text loses its end
                else:
                    cut_a, cut_b = longest_first_cuts(len(ids_a), len(ids_b), excess)
                    ids_a = ids_a[: len(ids_a) - cut_a]
                    ids_b = ids_b[: len(ids_b) - cut_b]
        input_ids = [self.cls_token_id, *ids_a, self.sep_token_id]
        token_type_ids = [0] * len(input_ids)  # segment A: [CLS], the first text, its [SEP]
        if ids_b is not None:
            input_ids += [*ids_b, self.sep_token_id]
            token_type_ids += [1] * (len(ids_b) + 1)  # segment B: the second text and its [SEP]
        return input_ids, token_type_ids

    def encode(self, text: str, text_pair: str | None = None, max_length: int | None = None, truncation: bool = False) -> list:
        """Ids of ``[CLS] text [SEP]``, or ``[CLS] text [SEP] text_pair [SEP]`` for a pair.

        Args:
            text: the (first) text.
            text_pair: an optional second text (a question's context, a sentence that follows ...).
            max_length: the most ids to return, special tokens included.
            truncation: cut the text(s) to fit ``max_length``: a single text loses its
                end; a pair loses tokens "longest first" (see :func:`longest_first_cuts`).

        Returns:
            A list of ints.

        Raises:
            TokenizerError: ``max_length`` below the number of special tokens, or a text
                too long for ``max_length`` while ``truncation`` is off.
        """
        ids_b = None if text_pair is None else self._text_to_ids(text_pair)
        return self._frame(self._text_to_ids(text), ids_b, max_length, truncation)[0]

    def decode(self, ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool = True) -> str:
        """Turn ids back into text, the way transformers' BERT tokenizer does.

        Tokens are joined with spaces and ``" ##"`` is removed, which re-glues the
        WordPiece pieces. Then, by default (as in transformers' legacy ``BertTokenizer``),
        :func:`clean_up_tokenization` removes the space before ``. , ! ?`` and inside
        contractions. Lower-casing, stripped accents and ``[UNK]`` cannot be undone, and
        a space the original had (or lacked) around other punctuation is not restored:
        ``decode(encode("Don't stop-motion!"))`` gives ``"[CLS] don't stop - motion! [SEP]"``.

        Args:
            ids: one id or a sequence / 1-D array of ids.
            skip_special_tokens: leave out ``[CLS]``, ``[SEP]``, ``[PAD]``, ``[MASK]`` and ``[UNK]``.
            clean_up_tokenization_spaces: apply :func:`clean_up_tokenization`.

        Returns:
            The text.

        Raises:
            TokenizerError: an id outside the vocabulary.
        """
        if isinstance(ids, (int, np.integer)):
            ids = [ids]
        tokens = self.convert_ids_to_tokens(ids)
        if skip_special_tokens:
            tokens = [token for token in tokens if token not in self.special_tokens]
        text = " ".join(tokens).replace(" ##", "").strip()
        return clean_up_tokenization(text) if clean_up_tokenization_spaces else text

    def __call__(self, texts, text_pairs=None, max_length: int | None = 128, padding=True, truncation: bool = True) -> dict:
        """Encode a batch into the three arrays a BERT model takes.

        Args:
            texts: one ``str`` or a list of them (the batch).
            text_pairs: optional second texts, one per text (a ``str`` when ``texts`` is one).
            max_length: the most tokens per row, special tokens included (``None``: no limit).
            padding: ``True`` (or ``"longest"``) pads every row to the longest one;
                ``"max_length"`` pads to ``max_length``; ``False`` pads nothing, so all
                rows must already have the same length.
            truncation: cut texts that do not fit ``max_length`` (pairs longest first).

        Returns:
            A dict of NumPy ``int64`` arrays of shape ``[batch, length]``:
            ``input_ids`` (token ids, ``[PAD]`` at the end of short rows),
            ``token_type_ids`` (0 for the first text, 1 for the second), and
            ``attention_mask`` (1 for real tokens, 0 for padding).

        Raises:
            TokenizerError: inputs that are not strings, a pair list of another length,
                unknown ``padding``, ``padding="max_length"`` without ``max_length``,
                rows of different lengths with ``padding=False``, or the errors of :meth:`encode`.
        """
        single = isinstance(texts, str)
        texts = [texts] if single else texts
        if not isinstance(texts, (list, tuple)) or not all(isinstance(t, str) for t in texts):
            raise TokenizerError("texts must be a str or a list of str")
        if text_pairs is not None:
            text_pairs = [text_pairs] if isinstance(text_pairs, str) and single else text_pairs
            if not isinstance(text_pairs, (list, tuple)) or not all(isinstance(t, str) for t in text_pairs):
                raise TokenizerError("text_pairs must be None, or a str / list of str like texts")
            if len(text_pairs) != len(texts):
                raise TokenizerError(f"got {len(texts)} texts but {len(text_pairs)} text_pairs; they must pair up one to one")
        if padding not in (True, False, "longest", "max_length", "do_not_pad"):
            raise TokenizerError(f"padding must be True, False, 'longest' or 'max_length', not {padding!r}")
        if padding == "max_length" and max_length is None:
            raise TokenizerError("padding='max_length' needs a max_length")

        rows = []
        for index, text in enumerate(texts):
            ids_b = None if text_pairs is None else self._text_to_ids(text_pairs[index])
            rows.append(self._frame(self._text_to_ids(text), ids_b, max_length, truncation))

        lengths = [len(input_ids) for input_ids, _ in rows]
        if padding == "max_length":
            width = max_length
        elif padding in (True, "longest"):
            width = max(lengths, default=0)
        else:
            if len(set(lengths)) > 1:
                raise TokenizerError(
                    f"padding=False but the rows have different lengths ({min(lengths)} to {max(lengths)} tokens); "
                    "use padding=True or padding='max_length'"
                )
            width = lengths[0] if lengths else 0

        input_ids = np.full((len(rows), width), self.pad_token_id, dtype=np.int64)
        token_type_ids = np.zeros((len(rows), width), dtype=np.int64)
        attention_mask = np.zeros((len(rows), width), dtype=np.int64)
        for row, (ids, types) in enumerate(rows):
            input_ids[row, : len(ids)] = ids
            token_type_ids[row, : len(ids)] = types
            attention_mask[row, : len(ids)] = 1
        return {"input_ids": input_ids, "token_type_ids": token_type_ids, "attention_mask": attention_mask}

    def save_pretrained(self, folder: str | Path) -> None:
        """Write ``vocab.txt`` and ``tokenizer_config.json`` into ``folder`` (Hugging Face's layout)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "vocab.txt", "w", encoding="utf-8", newline="\n") as f:
            f.write("".join(token + "\n" for token in self.ids_to_tokens))
        config = {"tokenizer_class": "BertTokenizer", "do_lower_case": self.do_lower_case,
                  "strip_accents": self.strip_accents, "tokenize_chinese_chars": self.tokenize_chinese_chars,
                  "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                  "mask_token": "[MASK]", "model_max_length": 512}
        (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

    def __repr__(self) -> str:
        return (
            f"BertTokenizer(vocab_file={str(self.vocab_file)!r}, vocab_size={self.vocab_size}, "
            f"do_lower_case={self.do_lower_case}, strip_accents={self.strip_accents}, "
            f"tokenize_chinese_chars={self.tokenize_chinese_chars})"
        )
