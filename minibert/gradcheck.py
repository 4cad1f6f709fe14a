"""Finite-difference gradient checking, for kernels and for whole models.

A hand-written backward is only trusted once it agrees with the definition of the
derivative. For a scalar function L of an array x we estimate dL/dx[i] with the
fourth-order central difference

    dL/dx[i] ~= (-L(x + 2h e_i) + 8 L(x + h e_i) - 8 L(x - h e_i) + L(x - 2h e_i)) / (12 h)

whose truncation error is O(h^4). With h = 1e-3 in float64 both that error and the
rounding error (about 1e-16 |L| / h) are near 1e-12: far below any real bug. (The
plain two-point difference has error O(h^2) and cannot get much below 1e-9 relative.)

Kernels return arrays, not scalars, so we check L = sum(y * w) for a fixed random w:
then dL/dy = w is the ``dy`` we hand to the backward.

Relative error of one element: |analytic - numeric| / max(|analytic|, |numeric|, floor),
floor = 1e-3 x the largest gradient seen in the whole check, so that elements whose
gradient is (nearly) zero, such as the attention key bias (softmax ignores a constant
shift), are not judged by rounding noise alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import backend

STEP = 1e-3
_STENCIL = ((2.0, -1.0), (1.0, 8.0), (-1.0, -8.0), (-2.0, 1.0))  # (offset in h, weight); / 12h


@dataclass
class GradCheckResult:
    """The worst element of one checked array: its relative error and where it is."""

    name: str
    max_rel_error: float
    index: tuple
    analytic: float
    numeric: float
    checked: int

    def __str__(self) -> str:
        return (f"{self.name}: worst relative error {self.max_rel_error:.2e} at {self.index} "
                f"(analytic {self.analytic:+.6e}, numeric {self.numeric:+.6e}; {self.checked} elements checked)")


def numeric_gradient(loss, x: np.ndarray, flat_idx, h: float = STEP) -> np.ndarray:
    """Fourth-order central differences of ``loss()`` with respect to x.flat[flat_idx].

    ``x`` is edited in place and restored, so ``loss`` must read it (a closure or a
    Parameter's ``.data``).
    """
    if x.dtype != np.float64 or not x.flags.c_contiguous:
        raise ValueError(f"gradient checks need contiguous float64 arrays, got {x.dtype}")
    flat = x.reshape(-1)  # a view: editing it edits x
    out = np.empty(len(flat_idx))
    for j, i in enumerate(flat_idx):
        old = flat[i]
        total = 0.0
        for offset, weight in _STENCIL:
            flat[i] = old + offset * h
            total += weight * float(loss())
        flat[i] = old
        out[j] = total / (12.0 * h)
    return out


def _pick_indices(shape, max_checks, rng):
    """All flat indices of an array, or a seeded random subset of max_checks of them."""
    size = int(np.prod(shape))
    if max_checks is None or size <= max_checks:
        return np.arange(size)
    return np.sort(rng.choice(size, max_checks, replace=False))


def _summarise(pairs) -> list:
    """pairs: (name, shape, flat_idx, analytic, numeric) -> one GradCheckResult each."""
    scale = max((max(np.abs(a).max(initial=0.0), np.abs(n).max(initial=0.0)) for _, _, _, a, n in pairs), default=0.0)
    floor = max(1e-3 * scale, 1e-300)
    results = []
    for name, shape, flat_idx, analytic, numeric in pairs:
        if len(flat_idx) == 0:
            results.append(GradCheckResult(name, 0.0, (), 0.0, 0.0, 0))
            continue
        rel = np.abs(analytic - numeric) / np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)
        w = int(np.argmax(rel))
        index = tuple(int(i) for i in np.unravel_index(flat_idx[w], shape))
        results.append(GradCheckResult(name, float(rel[w]), index, float(analytic[w]), float(numeric[w]), len(rel)))
    return results


def check_function(forward, inputs: dict, backward_grads: dict, w, max_checks: int | None = 200,
                   seed: int = 0, h: float = STEP) -> list:
    """Compare analytic gradients of L = sum(forward(**inputs) * w) with finite differences.

    Args:
        forward: a function of the named float64 ``inputs`` returning one array y.
        inputs: {name: float64 array}: the arguments to differentiate (others: use a closure).
        backward_grads: {name: analytic dL/d input} computed by the backward with dy = w.
        w: the fixed weights of L (same shape as y).
        max_checks: elements checked per input (a seeded random subset when larger).

    Returns:
        A GradCheckResult per input.
    """
    rng = np.random.default_rng(seed)
    pairs = []
    for name, x in inputs.items():
        flat_idx = _pick_indices(x.shape, max_checks, rng)
        numeric = numeric_gradient(lambda: (forward(**inputs) * w).sum(), x, flat_idx, h)
        analytic = np.asarray(backend.to_numpy(backward_grads[name]), dtype=np.float64).reshape(-1)[flat_idx]
        pairs.append((name, x.shape, flat_idx, analytic, numeric))
    return _summarise(pairs)


def check_model(model, loss_fn, max_checks_per_param: int | None = 20, seed: int = 0,
                names=None, h: float = STEP) -> list:
    """Check every trainable parameter's ``.grad`` against finite differences of loss_fn().

    Args:
        model: a float64 Module whose parameters' ``.grad`` hold the analytic gradient
            of ``loss_fn()`` (run forward + backward first; dropout off, i.e. eval mode, or
            the same masks every time: loss_fn calls ``model.reseed_dropout(k)`` first).
        loss_fn: a function of no arguments returning the scalar loss for the same batch.
        max_checks_per_param: elements per parameter (a seeded random subset).
        names: only these parameter names (default: every trainable one).

    Returns:
        A GradCheckResult per parameter.
    """
    rng = np.random.default_rng(seed)
    pairs = []
    for name, p in model.named_parameters():
        if not p.requires_grad or (names is not None and name not in names):
            continue
        if p.grad is None:
            raise ValueError(f"{name} has no gradient: run forward and backward first")
        flat_idx = _pick_indices(p.data.shape, max_checks_per_param, rng)
        numeric = numeric_gradient(loss_fn, p.data, flat_idx, h)
        analytic = backend.to_numpy(p.grad).reshape(-1)[flat_idx]
        pairs.append((name, p.data.shape, flat_idx, analytic, numeric))
    return _summarise(pairs)


def report(results, tolerance: float | None = None) -> float:
    """Print one line per result and the worst overall; return the worst relative error."""
    for r in results:
        flag = "FAIL " if tolerance is not None and r.max_rel_error > tolerance else ""
        print(f"  {flag}{r}")
    worst = max(results, key=lambda r: r.max_rel_error)
    print(f"worst: {worst.name}, relative error {worst.max_rel_error:.2e}")
    return worst.max_rel_error
