"""Exercise 3: softmax, forward and backward.

Statement: lessons/exercises/ex03_softmax.md (lessons 2 and 5 first).
Check your work:  minibert grade ex03_softmax.py
"""

import numpy as np  # noqa: F401


def softmax(x, axis=-1):
    """y = exp(x) / sum(exp(x)) along ``axis``, computed stably.

        y_i = exp(x_i - m) / sum_j exp(x_j - m),   m = max_j x_j   (the same y for any m;
                                                                     m = max keeps exp <= 1)
    Shapes: x [...] -> y [...] (the same shape; every slice along ``axis`` sums to 1).
    dtype: float32 in, float32 out (never float64).

    Returns:
        (y, cache).

    Cache: y itself; the backward needs nothing else.

    Example:
        >>> y, cache = softmax(np.array([[1.0, 2.0, 3.0]]))
        >>> y
        array([[0.09003057, 0.24472847, 0.66524096]])
    """
    raise NotImplementedError("write softmax")


def softmax_backward(dy, cache, axis=-1):
    """dx = dL/dx from dy = dL/dy.

        dx_i = y_i * (dy_i - sum_j dy_j y_j)     (the Jacobian diag(y) - y y^T applied to dy)

    Shapes: dy [...] -> dx [...], the shape of x.

    Example (y from the example above):
        >>> softmax_backward(np.array([[1.0, 0.0, 0.0]]), cache)
        array([[ 0.08192507, -0.02203304, -0.05989202]])
    """
    raise NotImplementedError("write softmax_backward")
