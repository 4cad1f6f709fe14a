"""Exercise 8: embedding backward, with repeated ids.

Statement: lessons/exercises/ex08_embedding_backward.md (lesson 5 first).
Check your work:  minibert grade ex08_embedding_backward.py
"""

import numpy as np  # noqa: F401


def embedding_backward(dy, ids, vocab_size):
    """The gradient of the embedding table, from the gradient of the looked-up rows.

    The forward was a row lookup:  y[b, t] = table[ids[b, t]].
    So every position adds its dy row to the row of the table it read:

        dtable[v] = sum of dy[b, t] over every (b, t) with ids[b, t] == v     (0 if v is never read)

    An id used at several positions gets the SUM of their dy rows.

    Shapes: dy [B, T, H], ids [B, T] integers in [0, vocab_size) -> dtable [vocab_size, H].
    dtype: that of dy.

    Cache: the forward kept (ids, vocab_size); here they are passed in directly.

    Example (id 1 is read twice, ids 0 and 2 never):
        >>> dy = np.array([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])
        >>> embedding_backward(dy, np.array([[1, 3, 1]]), 4)
        array([[0., 0.],
               [6., 8.],
               [0., 0.],
               [3., 4.]])
    """
    raise NotImplementedError("write embedding_backward")
