"""Solution of exercise 2: BertTokenizer.basic_tokenize (minibert/tokenizer.py), stages 1 to 6."""

from minibert.exercises.vocab import tokenizer_from_tokens


def basic_tokenize(text, do_lower_case=True):
    return tokenizer_from_tokens((), do_lower_case=do_lower_case).basic_tokenize(text)
