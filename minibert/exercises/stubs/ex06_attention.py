"""Exercise 6: scaled dot-product attention with a padding mask.

Statement: lessons/exercises/ex06_attention.md (lesson 2 first).
Check your work:  minibert grade ex06_attention.py
"""

import math  # noqa: F401

import numpy as np  # noqa: F401


def attention(q, k, v, attention_mask):
    """Every head's attention at once, with padded keys masked out.

        scores = q k^T / sqrt(HS)                          [B, NH, T, T]  (query rows, key columns)
        scores[b, :, :, j] = a huge negative number where attention_mask[b, j] == 0
        probs  = softmax(scores) along the last axis (the keys)
        probs[b, :, :, j] = 0 exactly where attention_mask[b, j] == 0
        context = probs v                                  [B, NH, T, HS]

    A sequence with no real token at all (a mask row of zeros) gets probs all 0, so its
    context is 0: never NaN, never a uniform average of padding.

    Shapes: q, k, v [B, NH, T, HS] (batch, heads, tokens, head size); attention_mask [B, T]
    of 0 (padding) / 1 (token) -> context [B, NH, T, HS], probs [B, NH, T, T].
    dtype: that of q (np.finfo(q.dtype).min is the most negative finite number).

    Returns:
        (context, probs).

    Cache: none asked for here; the library's also returns one, (q * scale, k, v, probs, ...), for the
    backward of exercise 7.

    Example (B = NH = 1, T = 3, HS = 2; the third token is padding):
        >>> q = k = np.array([[[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]]])
        >>> v = np.array([[[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]]])
        >>> context, probs = attention(q, k, v, np.array([[1, 1, 0]]))
        >>> probs[0, 0]                    # rows: queries; the padded key (column 2) gets 0
        array([[0.66976155, 0.33023845, 0.        ],
               [0.33023845, 0.66976155, 0.        ],
               [0.5       , 0.5       , 0.        ]])
        >>> context[0, 0]                  # v[2] = [5, 5] never counts
        array([[0.66976155, 0.33023845],
               [0.33023845, 0.66976155],
               [0.5       , 0.5       ]])
    """
    raise NotImplementedError("write attention")
