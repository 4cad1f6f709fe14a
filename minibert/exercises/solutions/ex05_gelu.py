"""Solution of exercise 5: minibert.functional.gelu and gelu_backward (the exact, erf form)."""

from minibert.functional import gelu, gelu_backward  # noqa: F401
