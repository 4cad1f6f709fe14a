"""Exercise 4: LayerNorm, forward and backward.

Statement: lessons/exercises/ex04_layer_norm.md (lessons 2 and 5 first).
Check your work:  minibert grade ex04_layer_norm.py
"""

import numpy as np  # noqa: F401


def layer_norm(x, weight, bias, eps):
    """LayerNorm over the last axis, as in BERT.

        mean = mean(x)                     (over the last axis, H numbers)
        var  = mean((x - mean)^2)          (biased: divide by H)
        rstd = 1 / sqrt(var + eps)
        x_hat = (x - mean) * rstd
        y = x_hat * weight + bias

    Shapes: x [..., H], weight [H], bias [H] -> y [..., H]. dtype: that of x.

    Returns:
        (y, cache).

    Cache (suggested): (x_hat, rstd, weight): all the backward needs.

    Example:
        >>> y, cache = layer_norm(np.array([[1.0, 2.0, 3.0, 6.0]]), np.ones(4), np.zeros(4), 1e-12)
        >>> y                                  # mean 3, var 3.5, rstd 0.5345
        array([[-1.06904497, -0.53452248,  0.        ,  1.60356745]])
    """
    raise NotImplementedError("write layer_norm")


def layer_norm_backward(dy, cache):
    """Gradients of LayerNorm, from dy = dL/dy.

        dweight = sum over every axis but the last of dy * x_hat            [H]
        dbias   = sum over every axis but the last of dy                    [H]
        g  = dy * weight                                                    [..., H]
        dx = rstd * (g - mean(g) - x_hat * mean(g * x_hat))                 [..., H]
    (means over the last axis: the two paths through the mean and the variance of x)

    Returns:
        (dx, dweight, dbias).

    Example (the cache of the example above):
        >>> dx, dweight, dbias = layer_norm_backward(np.array([[1.0, 0.0, 0.0, 0.0]]), cache)
        >>> dx
        array([[ 0.24817115, -0.20999098, -0.13363062,  0.09545044]])
        >>> dweight, dbias
        (array([-1.06904497,  0.        ,  0.        ,  0.        ]), array([1., 0., 0., 0.]))
    """
    raise NotImplementedError("write layer_norm_backward")
