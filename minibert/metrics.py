"""Classification metrics: accuracy, macro-averaged F1 and the majority-class baseline."""

from __future__ import annotations

import numpy as np


def accuracy(labels, predictions) -> float:
    """Share of predictions equal to the labels."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    return float((labels == predictions).mean()) if len(labels) else 0.0


def macro_f1(labels, predictions, num_classes: int | None = None) -> float:
    """F1 of each class, 2 TP / (2 TP + FP + FN), averaged with equal weight per class,
    so a classifier that ignores a small class is penalised (always guessing the
    majority class scores F1 = 0 on the other class).

    Classes absent from both labels and predictions are left out of the average.
    """
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    classes = range(num_classes) if num_classes is not None else np.union1d(labels, predictions)
    scores = []
    for c in classes:
        tp = int(((predictions == c) & (labels == c)).sum())
        fp = int(((predictions == c) & (labels != c)).sum())
        fn = int(((predictions != c) & (labels == c)).sum())
        if tp + fp + fn == 0:
            continue  # the class is absent from both: it says nothing
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def majority_accuracy(train_labels, labels) -> float:
    """The baseline: accuracy on ``labels`` of always predicting the training set's most frequent label."""
    majority = int(np.bincount(np.asarray(train_labels)).argmax())
    return float(np.mean(np.asarray(labels) == majority))
