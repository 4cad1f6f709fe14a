"""Exercise 7: attention backward: dq, dk and dv.

Statement: lessons/exercises/ex07_attention_backward.md (lesson 5 and exercises 3 and 6 first).
Check your work:  minibert grade ex07_attention_backward.py
"""

import math  # noqa: F401

import numpy as np  # noqa: F401


def attention_backward(dcontext, q, k, v, probs):
    """Gradients of context = softmax(q k^T / sqrt(HS) + mask) v with respect to q, k and v.

    The forward's steps, and each one's backward (s = 1 / sqrt(HS); last step first):
        context = P v        ->  dv = P^T dcontext,      dP = dcontext v^T
        P = softmax(S)       ->  dS = P * (dP - rowsum(dP * P))       (exercise 3, along the keys)
        S = q k^T s + mask   ->  dq = dS k s,            dk = dS^T q s
    The mask is a constant: it has no gradient, and padded keys (P = 0) get dS = 0.
    "^T" swaps the last two axes only: x.transpose(0, 1, 3, 2).

    Shapes: dcontext, q, k, v [B, NH, T, HS]; probs [B, NH, T, T] -> dq, dk, dv [B, NH, T, HS].

    Cache: what the forward (exercise 6) kept is passed in: q, k, v and probs, the softmax
    output with the padded keys already 0.

    Returns:
        (dq, dk, dv).

    Example (B = NH = 1, T = 2, HS = 1, no padding: s = 1):
        >>> q = k = np.array([[[[1.0], [0.0]]]])
        >>> v = np.array([[[[1.0], [3.0]]]])
        >>> probs = np.array([[[[0.73105858, 0.26894142], [0.5, 0.5]]]])   # softmax(q k^T)
        >>> dq, dk, dv = attention_backward(np.array([[[[1.0], [0.0]]]]), q, k, v, probs)
        >>> dq[0, 0, :, 0], dk[0, 0, :, 0], dv[0, 0, :, 0]
        (array([-0.39322387,  0.        ]), array([-0.39322387,  0.39322387]), array([0.73105858, 0.26894142]))
    """
    raise NotImplementedError("write attention_backward")
