"""Tests of minibert.tokenizer: ids identical to transformers' pure-Python BERT tokenizer.

The reference ids live in tests/fixtures/tokenizer_reference.json.gz, written by
tools/make_tokenizer_fixture.py with transformers installed; these tests need neither
transformers nor a network once the default model and the movie reviews are cached.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import shutil
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minibert.download import ensure_default_model
from minibert.errors import MinibertWarning, TokenizerError
from minibert.tokenizer import BertTokenizer, longest_first_cuts

FIXTURE = Path(__file__).parent / "fixtures" / "tokenizer_reference.json.gz"


@functools.lru_cache(maxsize=None)
def reference() -> dict:
    with gzip.open(FIXTURE, "rt", encoding="ascii") as f:
        return json.load(f)


@functools.lru_cache(maxsize=None)
def model_dir() -> Path:
    return ensure_default_model(quiet=True)


@functools.lru_cache(maxsize=None)
def tokenizer(config: str = "uncased") -> BertTokenizer:
    """The tokenizer for one of the fixture's configs ("uncased", "cased", ...)."""
    return BertTokenizer(model_dir() / "vocab.txt", **reference()["configs"][config])


def describe_mismatches(mismatches: list, tok: BertTokenizer) -> str:
    """A readable report: the text, then the expected and the actual ids and tokens."""
    lines = [f"{len(mismatches)} mismatch(es) with the reference "
             f"(fixture made with Unicode {reference()['reference']['unicodedata']}, "
             f"this Python has {unicodedata.unidata_version}):"]
    for label, expected, got in mismatches[:20]:
        lines.append(f"  {label}")
        lines.append(f"    expected {expected}  {tok.convert_ids_to_tokens(expected)}")
        lines.append(f"    got      {got}  {tok.convert_ids_to_tokens(got)}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Identical ids to the reference
# --------------------------------------------------------------------------------------


def test_fixture_was_made_with_this_vocabulary():
    vocab = model_dir() / "vocab.txt"
    assert hashlib.sha256(vocab.read_bytes()).hexdigest() == reference()["vocab"]["sha256"]
    assert len(reference()["strings"]) >= 250


@pytest.mark.parametrize("config", ["uncased", "cased", "cased_strip_accents", "uncased_keep_accents_no_cjk_split"])
def test_hard_strings_match_reference(config):
    tok = tokenizer(config)
    mismatches = []
    for record in reference()["strings"]:
        got = tok.encode(record["text"])
        if got != record[config]:
            mismatches.append((repr(record["text"]), record[config], got))
    assert not mismatches, describe_mismatches(mismatches, tok)


@pytest.mark.parametrize("config", ["uncased", "cased"])
def test_pair_truncation_matches_reference(config):
    tok = tokenizer(config)
    mismatches = []
    for r in reference()["pairs"]:
        got = tok.encode(r["text"], r["text_pair"], max_length=r["max_length"], truncation=True)
        if got != r[config]:
            mismatches.append((f"{r['text']!r} + {r['text_pair']!r}, max_length={r['max_length']}", r[config], got))
    assert not mismatches, describe_mismatches(mismatches, tok)


def test_decode_matches_reference():
    tok = tokenizer("uncased")
    wrong = []
    for r in reference()["decode"]:
        got, got_skip = tok.decode(r["ids"]), tok.decode(r["ids"], skip_special_tokens=True)
        if (got, got_skip) != (r["text"], r["text_skip_special"]):
            wrong.append(f"ids {r['ids']}\n  expected {r['text']!r} / {r['text_skip_special']!r}\n  got      {got!r} / {got_skip!r}")
    assert not wrong, "\n".join(wrong[:20])


@pytest.mark.parametrize("config", ["uncased", "cased"])
def test_movie_review_corpus_digest_matches_reference(config):
    from minibert.data import load_movie_reviews

    corpus = reference()["corpus"]
    texts = load_movie_reviews().texts
    assert len(texts) == corpus["texts"]
    assert hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest() == corpus["texts_sha256"], (
        "the corpus itself differs from the one the fixture was made from"
    )
    tok = tokenizer(config)
    # the serialisation the fixture describes: ids joined by ",", texts joined by "\n"
    encoded = [tok.encode(text) for text in texts]
    stream = "\n".join(",".join(map(str, ids)) for ids in encoded)
    assert sum(map(len, encoded)) == corpus[config]["tokens"]
    assert hashlib.sha256(stream.encode("utf-8")).hexdigest() == corpus[config]["sha256"]


# --------------------------------------------------------------------------------------
# Vocabulary and conversions
# --------------------------------------------------------------------------------------


def test_vocabulary_and_special_ids():
    tok = tokenizer()
    assert tok.vocab_size == len(tok) == 30522
    assert (tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id) == (0, 100, 101, 102, 103)


def test_tokenize_worked_example():
    tok = tokenizer()
    assert tok.tokenize("Héllo, WORLD!  Unaffable 東京 tokenizers.") == [
        "hello", ",", "world", "!", "una", "##ffa", "##ble", "東", "京", "token", "##izer", "##s", "."]
    assert tok.basic_tokenize("Héllo, WORLD!") == ["hello", ",", "world", "!"]
    assert tok.wordpiece("unaffable") == ["una", "##ffa", "##ble"]
    assert tok.encode("Unaffable!") == [101, 14477, 20961, 3468, 999, 102]
    # the cased tokenizer keeps "É" and "WORLD", which this uncased vocabulary does not know
    assert tokenizer("cased").tokenize("Héllo WORLD") == ["[UNK]", "[UNK]"]


def test_special_tokens_in_text():
    tok = tokenizer()
    assert tok.tokenize("[CLS] Hi [SEP]") == ["[CLS]", "hi", "[SEP]"]
    assert tok.tokenize("a[MASK]b") == ["a", "[MASK]", "b"]
    assert tok.tokenize("[cls]") == ["[", "cl", "##s", "]"]  # only the exact spelling is special


def test_long_words_become_unk():
    tok = tokenizer()
    assert tok.tokenize("a" * 101) == ["[UNK]"]
    assert tok.tokenize("a" * 100) != ["[UNK]"]
    short = BertTokenizer(model_dir() / "vocab.txt", max_input_chars_per_word=5)
    assert short.tokenize("hello helloo") == ["hello", "[UNK]"]


def test_convert_tokens_to_ids():
    tok = tokenizer()
    assert tok.convert_tokens_to_ids("hello") == 7592
    assert tok.convert_tokens_to_ids(["[CLS]", "hello", "no-such-token"]) == [101, 7592, 100]


def test_convert_ids_to_tokens():
    tok = tokenizer()
    assert tok.convert_ids_to_tokens(7592) == "hello"
    assert tok.convert_ids_to_tokens([101, 7592, 102]) == ["[CLS]", "hello", "[SEP]"]
    assert tok.convert_ids_to_tokens(np.array([101, 102])) == ["[CLS]", "[SEP]"]
    for bad in (30522, -1, 10**9):
        with pytest.raises(TokenizerError, match=str(bad)):
            tok.convert_ids_to_tokens([101, bad])
    with pytest.raises(TokenizerError):
        tok.convert_ids_to_tokens(["hello"])


# --------------------------------------------------------------------------------------
# encode / decode
# --------------------------------------------------------------------------------------


def test_encode_single_and_pair():
    tok = tokenizer()
    assert tok.encode("hello world") == [101, 7592, 2088, 102]
    assert tok.encode("hello", "world") == [101, 7592, 102, 2088, 102]
    assert tok.encode("") == [101, 102]


def test_encode_truncation():
    tok = tokenizer()
    assert tok.encode("a b c d e f", max_length=5, truncation=True) == [101, 1037, 1038, 1039, 102]
    assert tok.encode("a b", max_length=5) == [101, 1037, 1038, 102]  # fits: nothing to cut
    # pair, longest first; on a tie the second text loses the odd token
    assert tok.encode("a b c d", "e f g h", max_length=7, truncation=True) == [101, 1037, 1038, 102, 1041, 1042, 102]
    assert tok.encode("a b c d e f", "g h", max_length=7, truncation=True) == [101, 1037, 1038, 102, 1043, 1044, 102]
    assert tok.encode("a b", "c d", max_length=3, truncation=True) == [101, 102, 102]
    with pytest.raises(TokenizerError, match="truncation=True"):
        tok.encode("a b c d e f", max_length=5)
    with pytest.raises(TokenizerError, match="max_length=1"):
        tok.encode("a", max_length=1, truncation=True)
    with pytest.raises(TokenizerError, match="max_length=2"):
        tok.encode("a", "b", max_length=2, truncation=True)


def test_longest_first_cuts():
    assert longest_first_cuts(4, 4, 3) == (1, 2)
    assert longest_first_cuts(6, 2, 3) == (3, 0)
    assert longest_first_cuts(2, 6, 3) == (0, 3)
    assert longest_first_cuts(5, 4, 5) == (3, 2)
    assert longest_first_cuts(3, 3, 6) == (3, 3)


def test_decode():
    tok = tokenizer()
    ids = tok.encode("Hello, world! It's unaffable.")
    assert tok.decode(ids) == "[CLS] hello, world! it's unaffable. [SEP]"
    assert tok.decode(ids, skip_special_tokens=True) == "hello, world! it's unaffable."
    assert tok.decode(ids, clean_up_tokenization_spaces=False) == "[CLS] hello , world ! it ' s unaffable . [SEP]"
    assert tok.decode(7592) == "hello"
    assert tok.decode([100, 7592], skip_special_tokens=True) == "hello"  # [UNK] counts as special
    with pytest.raises(TokenizerError, match="30522"):
        tok.decode([101, 30522])


# --------------------------------------------------------------------------------------
# __call__: batches of model inputs
# --------------------------------------------------------------------------------------


def test_call_pads_to_longest():
    tok = tokenizer()
    batch = tok(["hello world", "hi", "a b c d e"])
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask"}
    for array in batch.values():
        assert array.shape == (3, 7) and array.dtype == np.int64
    assert batch["input_ids"][1].tolist() == [101, 7632, 102, 0, 0, 0, 0]
    assert batch["attention_mask"].sum(axis=1).tolist() == [4, 3, 7]
    assert batch["attention_mask"][1].tolist() == [1, 1, 1, 0, 0, 0, 0]
    assert not batch["token_type_ids"].any()


def test_call_single_string_and_pairs():
    tok = tokenizer()
    one = tok("hello", "world")
    assert one["input_ids"].tolist() == [[101, 7592, 102, 2088, 102]]
    assert one["token_type_ids"].tolist() == [[0, 0, 0, 1, 1]]
    batch = tok(["a", "a b c"], ["x y", "z"])
    assert batch["input_ids"].tolist() == [[101, 1037, 102, 1060, 1061, 102, 0], [101, 1037, 1038, 1039, 102, 1062, 102]]
    assert batch["token_type_ids"].tolist() == [[0, 0, 0, 1, 1, 1, 0], [0, 0, 0, 0, 0, 1, 1]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1]]


def test_call_max_length_padding_and_truncation():
    tok = tokenizer()
    batch = tok(["hello", "a b c d e f g h"], max_length=6, padding="max_length")
    assert batch["input_ids"].shape == (2, 6)
    assert batch["input_ids"][1].tolist() == [101, 1037, 1038, 1039, 1040, 102]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]]
    pairs = tok(["a b c d"], ["e f g h"], max_length=7)
    assert pairs["input_ids"].tolist() == [[101, 1037, 1038, 102, 1041, 1042, 102]]
    assert pairs["token_type_ids"].tolist() == [[0, 0, 0, 0, 1, 1, 1]]


def test_call_without_padding():
    tok = tokenizer()
    assert tok(["a b", "c d"], padding=False)["input_ids"].shape == (2, 4)
    with pytest.raises(TokenizerError, match="different lengths"):
        tok(["a", "b c"], padding=False)


def test_call_bad_arguments():
    tok = tokenizer()
    with pytest.raises(TokenizerError):
        tok(["a", "b"], ["x"])
    with pytest.raises(TokenizerError):
        tok(["a"], padding="sideways")
    with pytest.raises(TokenizerError):
        tok(["a"], padding="max_length", max_length=None)
    with pytest.raises(TokenizerError):
        tok([1, 2])
    with pytest.raises(TokenizerError, match="truncation=True"):
        tok(["a b c d e"], max_length=4, truncation=False)


# --------------------------------------------------------------------------------------
# Loading, and the errors users meet
# --------------------------------------------------------------------------------------


def copy_vocab(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(model_dir() / "vocab.txt", folder / "vocab.txt")
    return folder


def test_from_pretrained_default_model():
    tok = BertTokenizer.from_pretrained(model_dir())
    assert tok.do_lower_case is True
    assert tok.encode("Unaffable!") == [101, 14477, 20961, 3468, 999, 102]


def test_from_pretrained_reads_tokenizer_config(tmp_path):
    folder = copy_vocab(tmp_path / "model")
    assert BertTokenizer.from_pretrained(folder).do_lower_case is True  # no config: uncased
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"do_lower_case": False, "tokenize_chinese_chars": False, "strip_accents": True}), encoding="utf-8")
    tok = BertTokenizer.from_pretrained(folder)
    assert (tok.do_lower_case, tok.tokenize_chinese_chars, tok.strip_accents) == (False, False, True)
    assert tok.tokenize("Hi") == ["[UNK]"]  # not lower-cased: "Hi" is not in this vocabulary
    assert tok.tokenize("mé 東京") == ["me", "東", "##京"]  # accents stripped; "東京" stays one word
    assert BertTokenizer.from_pretrained(folder, do_lower_case=True).tokenize("Hi") == ["hi"]  # override wins


def test_crlf_vocabulary_gives_the_same_ids(tmp_path):
    text = (model_dir() / "vocab.txt").read_text(encoding="utf-8")
    (tmp_path / "vocab.txt").write_bytes(text.replace("\n", "\r\n").encode("utf-8"))
    sentence = "The film's [MASK] was unaffable!"
    assert BertTokenizer(tmp_path / "vocab.txt").encode(sentence) == tokenizer().encode(sentence)


def test_vocabulary_with_a_byte_order_mark_reads_the_same(tmp_path):
    text = (model_dir() / "vocab.txt").read_text(encoding="utf-8")
    (tmp_path / "vocab.txt").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    with_bom = BertTokenizer(tmp_path / "vocab.txt")
    assert with_bom.ids_to_tokens[0] == "[PAD]"  # not "\ufeff[PAD]"
    assert with_bom.encode("Unaffable!") == tokenizer().encode("Unaffable!")


def test_repeated_vocabulary_tokens_are_warned_about(tmp_path):
    lines = (model_dir() / "vocab.txt").read_text(encoding="utf-8").splitlines()
    (tmp_path / "vocab.txt").write_text("\n".join(lines + ["film", "[UNK]"]) + "\n", encoding="utf-8")
    with pytest.warns(MinibertWarning, match=r"2 repeated token\(s\): 'film' \(lines \d+ and 30523\)"):
        doubled = BertTokenizer(tmp_path / "vocab.txt")
    # as in transformers, the later line's id wins
    assert doubled.convert_tokens_to_ids(["film", "[UNK]"]) == [30522, 30523]
    assert doubled.encode("film") == [doubled.cls_token_id, 30522, doubled.sep_token_id]


def test_missing_vocab_file(tmp_path):
    with pytest.raises(TokenizerError, match="no-such-vocab.txt"):
        BertTokenizer(tmp_path / "no-such-vocab.txt")


def test_missing_folder_or_vocab_in_folder(tmp_path):
    with pytest.raises(TokenizerError, match="not found"):
        BertTokenizer.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(TokenizerError, match="vocab.txt"):
        BertTokenizer.from_pretrained(tmp_path)


def test_vocab_without_special_tokens(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n[SEP]\nhello\n", encoding="utf-8")
    with pytest.raises(TokenizerError, match=r"vocab\.txt.*\[CLS\]"):
        BertTokenizer(vocab)
    vocab.write_text("", encoding="utf-8")
    with pytest.raises(TokenizerError, match="empty"):
        BertTokenizer(vocab)


def test_bad_config_and_arguments(tmp_path):
    folder = copy_vocab(tmp_path / "model")
    (folder / "tokenizer_config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(TokenizerError, match="tokenizer_config.json"):
        BertTokenizer.from_pretrained(folder)
    (folder / "tokenizer_config.json").write_text('{"do_lower_case": "yes"}', encoding="utf-8")
    with pytest.raises(TokenizerError, match="do_lower_case"):
        BertTokenizer.from_pretrained(folder)
    with pytest.raises(TokenizerError):
        BertTokenizer(folder / "vocab.txt", max_input_chars_per_word=0)
    with pytest.raises(TokenizerError):
        tokenizer().encode(None)


# --------------------------------------------------------------------------------------
# Properties that hold for any text
# --------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_text_encodes_to_framed_known_ids(text):
    tok = tokenizer()
    ids = tok.encode(text)
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert tok.convert_ids_to_tokens(ids[1:-1]) == tok.tokenize(text)
    batch = tok([text, text + " more"], max_length=16)
    assert batch["input_ids"].shape[1] <= 16
    assert (batch["input_ids"][batch["attention_mask"] == 0] == tok.pad_token_id).all()



@functools.lru_cache(maxsize=None)
def whole_words_and_pieces() -> tuple:
    """The vocabulary's word-starting tokens and its ``##`` continuation pieces (no specials)."""
    tokens = tokenizer().ids_to_tokens
    words = [t for t in tokens if not t.startswith("##") and not t.startswith("[")]
    pieces = [t[2:] for t in tokens if t.startswith("##") and len(t) > 2]
    return words, pieces


def covered_word():
    """A word the vocabulary covers: a whole-word token, maybe followed by ## pieces."""
    words, pieces = whole_words_and_pieces()
    return st.builds(lambda w, ps: w + "".join(ps), st.sampled_from(words),
                     st.lists(st.sampled_from(pieces), max_size=2))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(covered_word(), st.sampled_from([" ", "  ", "\t", "\n", "\u3000"])),
                min_size=1, max_size=12))
def test_decode_of_encode_gives_back_the_normalised_text(words_and_gaps):
    tok = tokenizer()
    text = "".join(word + gap for word, gap in words_and_gaps)
    pieces = tok.tokenize(text)
    # Greedy longest-match can strand a remainder no piece covers: then the word is [UNK], not covered.
    assume("[UNK]" not in pieces)
    # Normalised text: what basic tokenization makes of it (lower case, no accents,
    # punctuation split off), one space between words.
    normalised = " ".join(tok.basic_tokenize(text))
    ids = tok.encode(text)
    assert tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False) == normalised
    assert tok.decode(ids, clean_up_tokenization_spaces=False) == f"[CLS] {normalised} [SEP]"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.text(max_size=80), st.integers(min_value=3, max_value=40))
def test_pair_truncation_stays_within_max_length_and_keeps_the_frame(a, b, max_length):
    tok = tokenizer()
    full = tok.encode(a, b)
    cut = tok.encode(a, b, max_length=max_length, truncation=True)
    assert len(cut) <= max_length
    assert cut[0] == tok.cls_token_id and cut[-1] == tok.sep_token_id
    assert cut.count(tok.sep_token_id) == full.count(tok.sep_token_id)  # both [SEP]s survive
    if len(full) <= max_length:
        assert cut == full
    else:  # every id kept comes from the untruncated encoding, in order
        it = iter(full)
        assert all(any(i == j for j in it) for i in cut)
    ids = tok([a], [b], max_length=max_length)["input_ids"]
    assert ids.shape == (1, len(cut)) and ids[0].tolist() == cut


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=1000, max_size=3000))
def test_long_unicode_texts_truncate_to_max_length(text):
    tok = tokenizer()
    ids = tok.encode(text, max_length=64, truncation=True)
    assert 2 <= len(ids) <= 64 and all(0 <= i < tok.vocab_size for i in ids)
