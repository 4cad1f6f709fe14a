"""minibert: BERT from scratch in NumPy (and CuPy), every line readable."""

__version__ = "0.1.0"
