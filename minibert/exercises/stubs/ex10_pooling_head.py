"""Exercise 10: mean pooling, and a softmax-regression head trained on frozen features.

Statement: lessons/exercises/ex10_pooling_head.md (lesson 7 first).
Check your work:  minibert grade ex10_pooling_head.py
"""

import numpy as np  # noqa: F401


def mean_pool(hidden, attention_mask):
    """One vector per sequence: the mean of its REAL tokens' vectors (padding left out).

        pooled[b] = sum_t mask[b, t] hidden[b, t] / max(1, sum_t mask[b, t])

    A sequence with no real token gets a vector of zeros (not NaN).

    Shapes: hidden [B, T, H], attention_mask [B, T] of 0/1 -> pooled [B, H]. dtype: that of hidden.
    Cache: none here (the encoder is frozen: no backward goes through the pooling).

    Example:
        >>> hidden = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
        >>> mean_pool(hidden, np.array([[1, 1, 0]]))
        array([[2., 3.]])
    """
    raise NotImplementedError("write mean_pool")


def head_loss_and_grads(features, labels, weight, bias):
    """Softmax regression: the mean cross-entropy loss and its gradients.

        logits = features weight^T + bias                         [N, C]
        loss   = mean over n of (logsumexp(logits[n]) - logits[n, labels[n]])
        dlogits = (softmax(logits) - onehot(labels)) / N           [N, C]
        dweight = dlogits^T features  [C, D],     dbias = sum over n of dlogits  [C]

    Shapes: features [N, D], labels [N] ints in [0, C), weight [C, D], bias [C].

    Returns:
        (loss, dweight, dbias): loss a number (a float or a 0-d array).

    Example (two examples, two classes, all-zero head: loss = log 2):
        >>> loss, dweight, dbias = head_loss_and_grads(np.eye(2), np.array([0, 1]), np.zeros((2, 2)), np.zeros(2))
        >>> round(float(loss), 6), dweight, dbias
        (0.693147, array([[-0.25,  0.25],
               [ 0.25, -0.25]]), array([0., 0.]))
    """
    raise NotImplementedError("write head_loss_and_grads")


def fit_head(features, labels, num_classes, steps=100, lr=0.5):
    """Train the head by full-batch gradient descent, starting from zeros.

        weight = zeros [C, D], bias = zeros [C]   (features' dtype)
        repeat steps times:  loss, dweight, dbias = head_loss_and_grads(features, labels, weight, bias)
                             weight -= lr * dweight;  bias -= lr * dbias

    Returns:
        (weight, bias).

    Example (one step from zeros):
        >>> weight, bias = fit_head(np.eye(2), np.array([0, 1]), 2, steps=1, lr=1.0)
        >>> weight
        array([[ 0.25, -0.25],
               [-0.25,  0.25]])
    """
    raise NotImplementedError("write fit_head")
