"""Exercise 9: one AdamW step, with BERT's weight-decay exclusions.

Statement: lessons/exercises/ex09_adamw.md (lessons 6 and 8 first).
Check your work:  minibert grade ex09_adamw.py
"""

import math  # noqa: F401

import numpy as np  # noqa: F401


def adamw_step(params, grads, m, v, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
    """Update every named parameter once with AdamW (as torch.optim.AdamW does).

    For each name, with w = params[name], g = grads[name], t = step, (b1, b2) = betas:
        w <- w - lr * weight_decay * w       ONLY if the name does not end in "bias" and
                                             does not contain "LayerNorm" (BERT's rule)
        m <- b1 m + (1 - b1) g
        v <- b2 v + (1 - b2) g^2
        m_hat = m / (1 - b1^t),   v_hat = v / (1 - b2^t)          (bias correction)
        w <- w - lr * m_hat / (sqrt(v_hat) + eps)

    Args:
        params, grads, m, v: dicts name -> array, all with the same names and shapes
            (m and v: the moments left by the earlier steps; zeros before the first).
        step: the number of THIS update: 1 for the first.
        lr, betas, eps, weight_decay: AdamW's constants.

    Returns:
        (new_params, new_m, new_v): dicts like the inputs, same dtypes. (Updating the
        arrays in place and returning the same dicts is fine, as the library does.)

    Cache: m and v are the optimizer's state: the next step starts from them.

    Example (lr = 0.1, first step, both gradients 0.5; "bias" is not decayed):
        >>> params = {"w": np.array([1.0]), "bias": np.array([1.0])}
        >>> grads = {"w": np.array([0.5]), "bias": np.array([0.5])}
        >>> m = {"w": np.zeros(1), "bias": np.zeros(1)}      # m and v: arrays of their own
        >>> v = {"w": np.zeros(1), "bias": np.zeros(1)}      # (an in-place update must not share them)
        >>> new_params, new_m, new_v = adamw_step(params, grads, m, v, 1, lr=0.1)
        >>> new_params             # w: 1 - 0.1 * 0.01 * 1 - 0.1 * 1 ; bias: 1 - 0.1 * 1
        {'w': array([0.899]), 'bias': array([0.9])}
        >>> new_m, new_v
        ({'w': array([0.05]), 'bias': array([0.05])}, {'w': array([0.00025]), 'bias': array([0.00025])})
    """
    raise NotImplementedError("write adamw_step")
