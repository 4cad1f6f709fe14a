"""Readers (and writers) of weights files: bytes in, ``{name: numpy array}`` out.

They know nothing of BERT: mapping names and shapes onto a model is
:mod:`minibert.pretrained`'s job.
"""
