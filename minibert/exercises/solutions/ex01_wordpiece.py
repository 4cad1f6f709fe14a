"""Solution of exercise 1: WordPiece is BertTokenizer.wordpiece (minibert/tokenizer.py)."""

from minibert.exercises.vocab import tokenizer_from_tokens


def wordpiece(word, vocab, max_input_chars_per_word=100):
    tokenizer = tokenizer_from_tokens(vocab, max_input_chars_per_word=max_input_chars_per_word)
    return tokenizer.wordpiece(word)
