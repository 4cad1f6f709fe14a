"""Write tests/fixtures/tokenizer_reference.json.gz: reference ids from transformers' BERT tokenizer.

Dev-only. Run it with a Python that has transformers installed (never a dependency of
minibert), from anywhere:

    /path/to/venv-with-transformers/bin/python tools/make_tokenizer_fixture.py

The reference is ``BertTokenizerLegacy``, transformers' pure-Python port of Google's
``tokenization.py`` (not the Rust "fast" tokenizer). This script deliberately does not
import ``minibert.tokenizer``: the fixture must come from the reference alone. It uses
``minibert.data`` only to read the movie-review corpus.

The fixture (gzip-compressed JSON) holds:

- ``reference``: library, version, class, Python and Unicode-database versions.
- ``vocab``: the vocabulary used (``weights/all-MiniLM-L6-v2/vocab.txt``) and its SHA-256.
- ``configs``: the tokenizer settings, by name: ``uncased`` (``do_lower_case=True``),
  ``cased`` (``do_lower_case=False``), and two rarer combinations of ``strip_accents``
  and ``tokenize_chinese_chars``.
- ``strings``: hard strings, each with the reference ids of ``encode(text)``
  (``[CLS] ... [SEP]`` included) under every config.
- ``pairs``: text pairs encoded with ``max_length`` and ``truncation=True`` (longest
  first), for ``uncased`` and ``cased``.
- ``decode``: id lists with ``decode(ids)`` and ``decode(ids, skip_special_tokens=True)``.
- ``corpus``: for all movie-review texts, per casing, the SHA-256 and the number of ids
  of the id stream serialised as described in ``corpus["serialisation"]``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import sys
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # for minibert.data (the corpus) only

import transformers  # noqa: E402
from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy  # noqa: E402

from minibert.data import load_movie_reviews  # noqa: E402

VOCAB = REPO / "weights" / "all-MiniLM-L6-v2" / "vocab.txt"
OUT = REPO / "tests" / "fixtures" / "tokenizer_reference.json.gz"
CORPUS_SERIALISATION = (
    "for each text, in load_movie_reviews().texts order: encode(text) (with [CLS] and [SEP], "
    "no truncation) as decimal ids joined by ','; texts joined by '\\n'; UTF-8; SHA-256 hex. "
    "'tokens' counts all ids, special tokens included."
)


# Tokenizer settings by name (keyword arguments of BertTokenizerLegacy and of minibert's BertTokenizer).
CONFIGS = {
    "uncased": {"do_lower_case": True},
    "cased": {"do_lower_case": False},
    "cased_strip_accents": {"do_lower_case": False, "strip_accents": True},
    "uncased_keep_accents_no_cjk_split": {"do_lower_case": True, "strip_accents": False, "tokenize_chinese_chars": False},
}
CORPUS_CONFIGS = ("uncased", "cased")  # pairs, decode and the corpus use these two


def hard_strings() -> list:
    """Strings chosen to hit every rule of the tokenizer, and its edges."""
    s = [
        # empty and whitespace-only
        "", " ", "   ", "\t", "\n", "\r\n", "\u00a0", "\u3000", " \t\n\r\u00a0\u2009\u3000 ",
        "\u2028", "\u2029", "a\u2028b", "a\u2029b", "a\x1cb", "a\x85b", "a\x0bb\x0cc",
        # control characters, NUL, U+FFFD, format characters
        "hello\x00world", "\x00", "\ufffd", "a\ufffdb", "abc\x07def", "tab\there", "new\nline",
        "cr\rreturn", "del\x7fete", "zero\u200bwidth", "soft\u00adhyphen", "bidi\u202eevil\u202c",
        "bom\ufeffstart", "\ufeff", "word\u2060joiner", "private\ue000use", "unassigned\u0378char",
        "noncharacter\uffff", "lone\ud800surrogate", "\U0010ffff", "\x01\x02\x03\x04", "\x1b[31mred\x1b[0m",
        # accents and combining marks
        "café", "cafe\u0301", "Café Crème Brûlée", "naïve façade", "Ångström", "A\u030angstro\u0308m",
        "e\u0301" * 3, "\u0301", "\u0301\u0301abc", "a\u0323\u0302", "a\u0302\u0323", "Zoë Saldaña",
        "Dvořák Škoda Łódź", "ØRESUND ÆBLE œuvre", "Ελληνικά ά έ ή", "ǅemal ǈubljana", "İstanbul",
        "ISTANBUL ıi", "straße STRASSE \u1e9e", "ﬁne ﬂow ﬀ", "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３",
        "Ⅻ ⅻ ① ²³ ½", "n\u0303o", "\u00e9\u0301", "z\u0308\u0301", "ḱ ǘ ǹ",
        # CJK ideographs, Japanese, Korean
        "中文", "我爱北京天安门", "東京タワー", "日本語のテキストです。", "ひらがな カタカナ ｶﾀｶﾅ",
        "한국어 텍스트", "한국어는 좋아요!", "中a文b", "漢字kanji混合", "\u3400\u4dbf",
        "\U00020000\U0002a6df", "\U0002a700\U0002b740\U0002b820", "\uf900\ufaff", "\U0002f800\U0002fa1d",
        "\U00030000", "\u9fa5\u4e00", "\ufada\ufaff\U0002fa1f", "\u2e80\u2f00\u3005", "（括号）【方括号】「引号」", "你好，世界！",
        "ＡＢＣ中文ＸＹＺ", "\u3002\u3001", "北京大學 BEIJING",
        # emoji and ZWJ sequences
        "😀", "I ❤ NY", "I ❤️ NY", "👍🏽", "👨\u200d👩\u200d👧\u200d👦", "🏳️\u200d🌈", "🇫🇷🇯🇵",
        "emoji😀in😀words", "☕️ and 🍰", "1️⃣ 2️⃣", "👩🏿\u200d💻", "🤷\u200d♀️ shrug",
        # whitespace of all kinds
        "a\u00a0b", "a\u2000b\u2001c\u2002d\u2003e", "a\u2009b\u200ac", "a\u202fb\u205fc", "a\u3000b",
        "a\u1680b", "a\u180eb", "  leading and trailing  ", "multiple     spaces", "tabs\t\t\tand\n\n\nnewlines",
        # punctuation runs, ASCII symbols, Unicode punctuation
        "!!!", "?!?!", "...", "Wait...what?!", "---", "a--b", "(((nested)))", "\"quoted\"", "'single'",
        "it's", "don't", "won't've", "rock'n'roll", "$100", "50%", "a+b=c", "x^2", "`code`", "a_b_c",
        "~tilde~", "{braces}", "[brackets]", "<angle>", "a|b\\c/d", "@user #tag", "&amp;", "*stars*",
        "“smart quotes”", "‘single smart’", "«guillemets»", "„German“", "em—dash en–dash", "ellipsis…",
        "¿Qué? ¡Hola!", "§ ¶ † ‡ • ·", "‰ ‱ ′ ″", "word‐hyphen‑nonbreak", "a・b", "Ⓐ ⓑ",
        "¡¿‼⁇⁈⁉", "⸘⸮", "〜〝〞", "‹›", "⁂ ※",
        # math symbols and currency (symbols, not punctuation)
        "∑ ∫ √ ∞ ≠ ≤ ≥ ± × ÷", "α + β = γ", "E = mc²", "∀x∃y: x<y", "€5 £3 ¥100 ₹50 ₿", "°C °F",
        "©2024 ®™", "→ ← ↑ ↓ ⇒", "♠♣♥♦", "1/2 ½ ⅓", "π≈3.14159",
        # many scripts
        "مرحبا بالعالم", "العَرَبِيَّة", "שלום עולם", "עִבְרִית", "नमस्ते दुनिया", "हिन्दी",
        "สวัสดีชาวโลก", "ภาษาไทย", "Привет, мир!", "ПРИВЕТ Ёлка ё", "Γειά σου Κόσμε", "ΟΔΟΣ ΟΔΟΣ. ΣΑ Σ",
        "ΑΣ'Β ΑΣ Β", "ΑΣ\u2028Β", "Ѐ ѐ Ї ї", "Բարեւ աշխարհ", "გამარჯობა", "ሰላም ዓለም", "வணக்கம்",
        "ಕನ್ನಡ", "বাংলা", "ਪੰਜਾਬੀ", "ગુજરાતી", "తెలుగు", "മലയാളം", "සිංහල", "ລາວ", "ខ្មែរ", "မြန်မာ",
        "བོད་ཡིག", "ᠮᠣᠩᠭᠣᠯ", "Tiếng Việt có dấu", "Türkçe ğüşıöç", "Română ăâîșț", "Íslenska þð",
        "Cymraeg ŵŷ", "ᚠᚢᚦ", "𐌰𐌱𐌲", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝐁𝐨𝐥𝐝", "ⓒⓘⓡⓒⓛⓔ", "ꙮ",
        # numbers
        "0", "42", "3.14159", "1,000,000", "1e-10", "-273.15", "0x1F", "12th", "2024-01-31", "10:30pm",
        "٣٤٥", "१२३", "१२३४५६७८९०", "一二三", "①②③", "IV XII",
        # URLs, e-mails, code
        "https://example.com/path?q=1&r=two#frag", "www.example.org", "user.name+tag@example.co.uk",
        "mailto:someone@example.com", "C:\\Users\\name\\file.txt", "/usr/local/bin/python3",
        "def f(x): return x**2 + 1", "if (a && b || !c) { return; }", "for i in range(10): print(i)",
        "<div class=\"x\">hi</div>", "SELECT * FROM t WHERE id=1;", "x = [1, 2, 3]; y = {'a': 1}",
        "snake_case camelCase PascalCase kebab-case", "#include <stdio.h>", "λx.x", "a->b => c",
        # special tokens inside text
        "[CLS] hello [SEP]", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", "[cls]", "[Cls]", "[ CLS ]",
        "[CLS][SEP]", "x[SEP]y", "[[CLS]]", "[CLS", "CLS]", "[mask] [MASK] [Mask]", "The [MASK] sat.",
        "[MASK]ed", "un[UNK]able", "[PAD] [PAD] [PAD]", "hello [CLS] WORLD", "[CL\x00S]", "[CL\u200bS] x",
        "a [CL\x00S]b", "[MAS\u212a]", "[ＣＬＳ]", "[CLS]\u0301", "e[SEP]\u0301", "[CLS]é", "\u200b[SEP]",
        "[SEP]\t[SEP]", "ΑΣ[CLS]", "[CLS]ΣΑ", "[unused0] [unused1]", "[UNK][UNK]", "[SEP]Café[SEP]",
        "中[CLS]文", "##", "##ing", "un ##aff ##able", "# # #", "\u0301[CLS]", "[\u0301CLS]", "x \u0308[SEP]\u0308 y",
        "[CLS\u0301]", "\u0301[cls]", "[ᴄʟs]",
        # long words around max_input_chars_per_word = 100
        "a" * 99, "a" * 100, "a" * 101, "a" * 250, "b" * 99 + "!", "x" * 100 + "y", "é" * 100,
        "é" * 101, "e\u0301" * 60, "e\u0301" * 101, "antidisestablishmentarianism" * 4,
        "supercalifragilisticexpialidocious", "Pneumonoultramicroscopicsilicovolcanoconiosis",
        "中" * 150, "qwertyuiopasdfghjkl", "xyzzyxyzzy", "hello" * 20, "hello" * 21, ("word " * 60).strip(),
        # mixed bag, movie-review flavour
        "This movie was AMAZING!!! 10/10 would watch again :)", "meh... 2/5 stars :-(",
        "The film's director (Christopher Nolan) said: \"It's not about time.\"",
        "unaffable", "Unaffable!", "Héllo, WORLD!  Unaffable 東京 tokenizers.", "I loved it!", "So did I.",
        "ALL CAPS SHOUTING", "MiXeD cAsE", "L'été dernier à Paris", "Schrödinger's cat",
        "résumé vs resume", "coöperate", "jalapeño piñata", "Ærø Øre", "McDonald's", "O'Brien",
    ]
    return s


def random_strings(count: int, seed: int = 12345) -> list:
    """Seeded random strings drawn from pools of tricky characters."""
    rng = random.Random(seed)
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        " \t\n\r\u00a0\u2009\u3000\u2028",
        "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
        "éèêëàâäîïôöùûüçñÉÈÀÇÑßøØåÅæÆœŒ",
        "\u0300\u0301\u0302\u0303\u0308\u030a\u0323\u0327",
        "中文字漢東京北大学",
        "ひらがなカタカナ한국어",
        "😀👍🏽❤️\u200d👩🇫🇷",
        "\x00\x01\x07\x1b\x7f\ufffd\u200b\u00ad\ufeff",
        "“”‘’«»—–…¿¡·•※",
        "∑∫√∞≠≤≥±×÷€£¥°©®™",
        "αβγΣσςΩПриветשלוםمرحباनमस्ते",
        "[]CLSEPADUNKMA",
    ]
    out = []
    for _ in range(count):
        n = rng.randint(1, 40)
        chars = []
        for _ in range(n):
            pool = rng.choice(pools)
            chars.append(rng.choice(pool))
        if rng.random() < 0.3:  # sometimes put a special token in
            pos = rng.randint(0, len(chars))
            chars.insert(pos, rng.choice(["[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", "[cls]"]))
        out.append("".join(chars))
    return out


def pair_cases(seed: int = 7) -> list:
    """(text, text_pair, max_length) triples: ties, odd/even removals, tiny budgets."""
    cases = [
        ("a b c d", "e f g h", 7),  # tie: who loses the odd token?
        ("a b c d e", "e f g h", 7),
        ("a b c d e f", "g h", 7),
        ("a b", "c d e f g h", 7),
        ("a b", "c d", 3),  # only the special tokens fit
        ("a b c", "d", 4),
        ("one two three four five six seven eight", "nine ten", 9),
        ("The movie was long.", "But it was worth every minute!", 10),
        ("The movie was long.", "But it was worth every minute!", 100),  # no truncation needed
        ("", "only the second text", 6),
        ("only the first text", "", 6),
        ("", "", 3),
        ("Héllo wörld 東京", "[CLS] inside [SEP] text", 8),
        ("unaffable unaffable", "unaffable", 6),
    ]
    rng = random.Random(seed)
    words = "the a movie film great bad plot actor scene long short funny boring loved hated it".split()
    for _ in range(30):
        a = " ".join(rng.choice(words) for _ in range(rng.randint(0, 12)))
        b = " ".join(rng.choice(words) for _ in range(rng.randint(0, 12)))
        cases.append((a, b, rng.randint(3, 16)))
    return cases


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    transformers.utils.logging.set_verbosity_error()  # silence the pair-truncation warnings
    configs = {name: BertTokenizerLegacy(str(VOCAB), **kwargs) for name, kwargs in CONFIGS.items()}
    tokenizers = {name: configs[name] for name in CORPUS_CONFIGS}

    strings = hard_strings() + random_strings(120)
    string_records = []
    for text in strings:
        record = {"text": text}
        for name, tok in configs.items():
            record[name] = tok.encode(text)
        string_records.append(record)

    pair_records = []
    for text, text_pair, max_length in pair_cases():
        record = {"text": text, "text_pair": text_pair, "max_length": max_length}
        for name, tok in tokenizers.items():
            record[name] = tok.encode(text, text_pair, max_length=max_length, truncation=True)
        pair_records.append(record)

    # decode: the ids of some hard strings, plus seeded random id lists (any vocabulary entry)
    decode_records = []
    rng = random.Random(99)
    id_lists = [r["uncased"] for r in string_records[::4]] + [r["cased"] for r in string_records[1::9]]
    id_lists += [[rng.randrange(len(tokenizers["uncased"])) for _ in range(rng.randint(1, 25))] for _ in range(40)]
    id_lists += [[101, 2009, 1005, 1055, 2025, 1010, 1045, 1005, 1049, 2183, 999, 102], [1001, 1001, 2005], [100, 0, 103]]
    # texts written with spaces before punctuation and inside contractions (treebank style),
    # which exercise every replacement of the decode clean-up
    for text in ["I do n't know , it 's fine .", "you 're sure ? I 'm not ! we 've seen it", "He said ' hi ' .",
                 "Wait ... what ?! No , no .", "[CLS] rock 'n' roll [SEP] [PAD]", "can n't 's 're 've 'm"]:
        id_lists.append(tokenizers["uncased"].encode(text))
    # "'" followed by a "##" piece decodes to "'m", "'s" ... with a space before it
    for tokens in (["i", "'", "##m", "here"], ["it", "'", "##s", "ok"], ["we", "'", "##ve", "won"],
                   ["they", "'", "##re", "in"], ["do", "n", "'", "##t", "go"], ["a", "'", "##b", "'"]):
        id_lists.append(tokenizers["uncased"].convert_tokens_to_ids(tokens))
    for ids in id_lists:
        tok = tokenizers["uncased"]
        decode_records.append(
            {"ids": ids, "text": tok.decode(ids), "text_skip_special": tok.decode(ids, skip_special_tokens=True)}
        )

    texts = load_movie_reviews().texts
    corpus = {"serialisation": CORPUS_SERIALISATION, "texts": len(texts),
              "texts_sha256": hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()}
    for name, tok in tokenizers.items():
        digest = hashlib.sha256()
        count = 0
        for i, text in enumerate(texts):
            ids = tok.encode(text)
            count += len(ids)
            digest.update((("\n" if i else "") + ",".join(map(str, ids))).encode("utf-8"))
        corpus[name] = {"sha256": digest.hexdigest(), "tokens": count}

    fixture = {
        "reference": {
            "library": "transformers",
            "version": transformers.__version__,
            "class": f"{BertTokenizerLegacy.__module__}.{BertTokenizerLegacy.__qualname__}",
            "settings": "BertTokenizerLegacy(vocab, **configs[name]), other arguments default",
            "python": sys.version.split()[0],
            "unicodedata": unicodedata.unidata_version,
        },
        "vocab": {"path": "weights/all-MiniLM-L6-v2/vocab.txt", "sha256": sha256_of(VOCAB)},
        "configs": CONFIGS,
        "strings": string_records,
        "pairs": pair_records,
        "decode": decode_records,
        "corpus": corpus,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(fixture, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    # mtime=0 keeps the gzip bytes reproducible from run to run
    with open(OUT, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz:
        gz.write(data)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes; {len(data)} bytes of JSON): "
          f"{len(string_records)} strings, {len(pair_records)} pairs, {len(decode_records)} decodes, "
          f"corpus of {len(texts)} texts")


if __name__ == "__main__":
    main()
