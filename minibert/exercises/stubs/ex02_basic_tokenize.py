"""Exercise 2: BERT's BasicTokenizer: from raw text to the words WordPiece will cut.

Statement: lessons/exercises/ex02_basic_tokenize.md (lesson 1 first).
Check your work:  minibert grade ex02_basic_tokenize.py
"""

import unicodedata  # noqa: F401  (category(), normalize(): you will need them)


def basic_tokenize(text, do_lower_case=True):
    """Split a text into words and punctuation, the way BERT's tokenizer does (Hugging Face's
    version of Google's: it drops every character of a Unicode category C*).

    The stages, in order:
        1. clean-up: drop "\\x00", "\\ufffd" and every control/format character (Unicode
           category starting with "C", except "\\t", "\\n", "\\r"); turn every whitespace
           character ("\\t", "\\n", "\\r", or category "Zs", e.g. a no-break space) into " "
        2. put spaces around every CJK ideograph (code points in the ranges of
           minibert/tokenizer.py CJK_RANGES), so each is a word of its own
        3. NFC-normalise the text (unicodedata.normalize("NFC", text))
        4. split on whitespace
        5. only if do_lower_case: lower() each word, then strip its accents:
           NFD-normalise and drop the characters of category "Mn"
        6. split each word on punctuation: every punctuation character becomes a word of
           its own. Punctuation = category starting with "P", or any ASCII character in
           33-47, 58-64, 91-96, 123-126 (so "$", "+", "^", "`" count too).

    Args:
        text: any str.
        do_lower_case: lower-case and strip accents (an "uncased" model), or keep both.

    Returns:
        The words, a list of str (no [CLS]/[SEP]; WordPiece comes later).

    Cache: none.

    Example:
        >>> basic_tokenize("Héllo, WORLD!  東京 don't")
        ['hello', ',', 'world', '!', '東', '京', 'don', "'", 't']
        >>> basic_tokenize("Héllo, WORLD!", do_lower_case=False)
        ['Héllo', ',', 'WORLD', '!']
    """
    raise NotImplementedError("write basic_tokenize")
