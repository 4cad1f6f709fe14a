"""The only file that knows NumPy from CuPy.

Kernels never import NumPy or CuPy directly to *create* arrays: they ask
``get_xp(x)`` for the array module that owns their input, so the same code runs on
the CPU (NumPy) and on an NVIDIA GPU (CuPy), the way DeZero's ``get_array_module``
does. Moving data between the two is explicit: ``to_device(x, "cuda")`` and
``to_numpy(x)``.

Device names: ``"cpu"`` (NumPy) and ``"cuda"`` (CuPy). The default device comes from
the environment variable ``MINIBERT_DEVICE`` (``cpu`` when unset).
"""

from __future__ import annotations

import os

import numpy as np

from .errors import DeviceError

_cupy = None  # the cupy module once imported and checked; None until then


def _import_cupy():
    """Import CuPy and check a GPU is usable; one clear error otherwise."""
    global _cupy
    if _cupy is not None:
        return _cupy
    try:
        import cupy  # noqa: PLC0415  (optional dependency, imported on demand)
    except ImportError as exc:
        raise DeviceError(
            "device 'cuda' needs CuPy, which is not installed: "
            "in the minibert checkout, pip install -e '.[cuda12]' or -e '.[cuda13]' (the CUDA version "
            "nvidia-smi shows), or use device 'cpu'"
        ) from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken
        raise DeviceError(f"device 'cuda': CuPy is installed but no usable GPU was found ({exc})") from exc
    if count < 1:
        raise DeviceError("device 'cuda': CuPy is installed but this machine has no GPU")
    _cupy = cupy
    return cupy


def cuda_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    try:
        _import_cupy()
    except DeviceError:
        return False
    return True


def normalize_device(device: str | None) -> str:
    """Turn ``None``/``"gpu"``/``"cuda:0"`` etc. into ``"cpu"`` or ``"cuda"``."""
    origin = ""
    if device is None:
        device = os.environ.get("MINIBERT_DEVICE", "cpu") or "cpu"
        origin = " (from the environment variable MINIBERT_DEVICE)"
    name = str(device).strip().lower()
    if name in ("cpu", "numpy"):
        return "cpu"
    if name in ("cuda", "gpu", "cupy") or name.startswith("cuda:"):
        return "cuda"
    raise DeviceError(f"unknown device {device!r}{origin}: use 'cpu' or 'cuda'")


def default_device() -> str:
    """The device named by ``MINIBERT_DEVICE`` (``"cpu"`` when unset)."""
    return normalize_device(None)


def get_xp(*arrays):
    """The array module (``numpy`` or ``cupy``) that owns the given arrays.

    A kernel calls ``xp = get_xp(x)`` and then writes ``xp.exp``, ``xp.matmul``...
    so it works on either backend. Plain Python numbers are ignored.
    """
    for a in arrays:
        if isinstance(a, np.ndarray) or np.isscalar(a) or a is None:
            continue
        module = type(a).__module__
        if module.startswith("cupy"):
            return _import_cupy()
    return np


def device_of(x) -> str:
    """``"cuda"`` for a CuPy array, ``"cpu"`` otherwise."""
    return "cuda" if get_xp(x) is not np else "cpu"


def to_device(x, device: str | None = None):
    """Copy an array to ``device`` (``"cpu"`` or ``"cuda"``); a no-op when already there."""
    device = normalize_device(device)
    if device == "cpu":
        return to_numpy(x)
    cp = _import_cupy()
    return cp.asarray(x)


def to_numpy(x) -> np.ndarray:
    """A NumPy array from a NumPy or CuPy array (or anything ``np.asarray`` takes)."""
    if isinstance(x, np.ndarray):
        return x
    if type(x).__module__.startswith("cupy"):
        return x.get()
    return np.asarray(x)


def random_generator(xp, seed):
    """A new random generator on the backend ``xp`` (numpy or cupy), seeded with ``seed``.

    NumPy: ``default_rng`` (PCG64). CuPy: Philox4x3210, a counter-based generator whose
    setup only stores the seed in each GPU thread's state; CuPy's ``default_rng`` (XORWOW)
    skips every thread's stream ahead when it is made, which is slow, and the trainer
    makes a new generator for every dropout layer at every step (Module.reseed_dropout).
    """
    if xp is np:
        return np.random.default_rng(seed)
    return xp.random.Generator(xp.random.Philox4x3210(int(seed)))


def scatter_add(table, ids, values) -> None:
    """table[ids[i]] += values[i] for every i, in place, adding up repeated ids.

    (``table[ids] += values`` would keep only one of the values of a repeated id.)
    NumPy's unbuffered ``add.at`` does it on the CPU, ``cupyx.scatter_add`` on a GPU.
    """
    if isinstance(table, np.ndarray):
        np.add.at(table, ids, values)
    else:
        import cupyx  # noqa: PLC0415 (only on the GPU path; installed with CuPy)

        cupyx.scatter_add(table, ids, values)


# ----------------------------------------------------------------------------------------
# Element-wise work on several CPU cores
#
# NumPy runs a matrix product on every core (through BLAS) but an element-wise operation
# (exp, +, *) on one. NumPy releases Python's GIL inside those loops, though, so two
# Python threads working on two halves of an array really do run at the same time.
# map_blocks uses that for the big element-wise kernels (erf and GELU, softmax, LayerNorm,
# and their backwards): each element (or
# row) is computed exactly as it would be alone, so the result is identical whatever the
# number of threads.
# ----------------------------------------------------------------------------------------
_pool = None  # (threads, ThreadPoolExecutor), made on first use


def cpu_threads() -> int:
    """How many threads minibert's own element-wise work may use on the CPU.

    ``MINIBERT_THREADS`` if set, else ``OMP_NUM_THREADS`` (the BLAS thread count, so one
    setting governs both), else the number of CPUs this process may run on.
    """
    for name in ("MINIBERT_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value:
            try:
                return max(1, int(value))
            except ValueError:
                raise DeviceError(f"{name} must be a whole number of threads, not {value!r}") from None
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def map_blocks(fn, inputs: tuple, out, block: int):
    """Call ``fn(*[a[i:i + block] for a in inputs], *[o[i:i + block] for o in outs])`` for
    every block of rows (axis 0) of the NumPy arrays, spread over cpu_threads() threads.
    CuPy arrays go to ``fn`` whole, in one call: the GPU parallelises each operation itself.

    ``out`` is one output array or a tuple of them (all with the same number of rows);
    ``fn`` must write its results into the out blocks it is given and touch nothing else.
    Returns out.
    """
    global _pool
    outs = out if isinstance(out, tuple) else (out,)
    if get_xp(outs[0]) is not np:
        fn(*inputs, *outs)
        return out

    def run(i):
        fn(*(a[i:i + block] for a in inputs), *(o[i:i + block] for o in outs))

    starts = range(0, outs[0].shape[0], block)
    threads = cpu_threads()
    if threads <= 1 or len(starts) <= 1:
        for i in starts:
            run(i)
        return out
    if _pool is None or _pool[0] != threads:  # one pool per thread count, whatever the number of blocks
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

        if _pool is not None:
            _pool[1].shutdown(wait=False)
        _pool = (threads, ThreadPoolExecutor(threads, thread_name_prefix="minibert"))
    for _ in _pool[1].map(run, starts):
        pass  # map returns the results lazily: iterating waits for them (and re-raises errors)
    return out
