"""Exercise 5: GELU and its derivative.

Statement: lessons/exercises/ex05_gelu.md (lessons 2 and 5 first).
Check your work:  minibert grade ex05_gelu.py
"""

import math  # noqa: F401

import numpy as np  # noqa: F401

from minibert.functional import erf  # noqa: F401  (NumPy has no erf: use this one, elementwise)


def gelu(x):
    """GELU, the exact form BERT uses:

        y = x * Phi(x),    Phi(x) = 0.5 * (1 + erf(x / sqrt(2)))   (the normal distribution's CDF)

    Shapes: x [...] -> y [...]. dtype: that of x (cast Python floats: x.dtype.type(0.5)).

    Returns:
        (y, cache).

    Cache (suggested): (x, Phi(x)): erf is costly, keep it for the backward.

    Example:
        >>> y, cache = gelu(np.array([-1.0, 0.0, 1.0, 2.0]))
        >>> y
        array([-0.15865525,  0.        ,  0.84134475,  1.95449974])
    """
    raise NotImplementedError("write gelu")


def gelu_backward(dy, cache):
    """dx = dy * (Phi(x) + x * phi(x)),   phi(x) = exp(-x^2 / 2) / sqrt(2 pi)  (the normal density).

    Shapes: dy [...] -> dx [...].

    Example (the cache of the example above):
        >>> gelu_backward(np.ones(4), cache)
        array([-0.08331547,  0.5       ,  1.08331547,  1.0852318 ])
    """
    raise NotImplementedError("write gelu_backward")
