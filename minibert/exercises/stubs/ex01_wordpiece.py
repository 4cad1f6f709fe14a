"""Exercise 1: WordPiece, BERT's greedy longest-match-first word splitter.

Statement: lessons/exercises/ex01_wordpiece.md (lesson 1 first).
Check your work:  minibert grade ex01_wordpiece.py   (or minibert grade FOLDER for them all)
"""


def wordpiece(word, vocab, max_input_chars_per_word=100):
    """Cut one word into the longest vocabulary pieces, left to right.

    The rule (Google's WordPiece, as in BERT):
        start = 0
        while start < len(word):
            piece = the LONGEST word[start:end] that is in vocab, written "##" + word[start:end]
                    when start > 0 (a piece that continues a word)
            if there is none: the whole word is ["[UNK]"]
            add the piece, start = end
    A word longer than max_input_chars_per_word characters is ["[UNK]"] straight away.

    Args:
        word: one word, already lower-cased and split from punctuation (str).
        vocab: the vocabulary: a set of str; ``piece in vocab`` says whether a piece exists.
        max_input_chars_per_word: longer words are not split at all.

    Returns:
        The pieces, a list of str (["[UNK]"] for a word the vocabulary cannot spell).

    Cache: none (no backward: a tokenizer is not trained by gradients).

    Example:
        >>> vocab = {"un", "una", "##ffa", "##ff", "##able", "##ble", "play", "##ing", "##ers", "a", "##a"}
        >>> wordpiece("unaffable", vocab)      # "una" beats "un": it is longer
        ['una', '##ffa', '##ble']
        >>> wordpiece("players", vocab)
        ['play', '##ers']
        >>> wordpiece("aaa", vocab)
        ['a', '##a', '##a']
        >>> wordpiece("playx", vocab)          # no piece for "x": the WHOLE word is unknown
        ['[UNK]']
    """
    raise NotImplementedError("write wordpiece")
