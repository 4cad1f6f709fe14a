"""The safetensors format, read and written from the bytes (no ``safetensors`` package).

Layout of a file:

    offset 0      8 bytes   N, the header length, unsigned 64-bit little-endian
    offset 8      N bytes   a UTF-8 JSON object:
                              {"__metadata__": {str: str},            (optional)
                               "<name>": {"dtype": "F32", "shape": [..],
                                          "data_offsets": [begin, end]}, ...}
    offset 8+N    the rest  the byte buffer; tensor <name> is buffer[begin:end],
                            little-endian, C order

The reader is strict, as the reference implementation is: the header must fit in the
file, every tensor's byte count must equal prod(shape) x item size, and the spans must
tile the buffer from 0 to its end with no gap and no overlap. Any violation raises
:class:`minibert.errors.WeightsError` naming the file (and the tensor).
"""

from __future__ import annotations

import json
import math
import reprlib
import os
import struct
from pathlib import Path

import numpy as np

from ..backend import to_numpy
from ..errors import WeightsError

MAX_HEADER_BYTES = 100_000_000  # the reference implementation's limit
MAX_RANK = 64  # dimensions of a tensor (NumPy 2's limit; NumPy 1's is 32): bounds the cost of prod(shape)

# safetensors dtype name -> NumPy dtype (little-endian). BF16 has no NumPy dtype: it is
# read as uint16 and widened to float32 (see _decode).
DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NAME_OF = {v: k for k, v in DTYPES.items() if k != "BF16"}  # NumPy dtype -> name, for the writer

# The reference writer lays tensors out by dtype, in descending order of its Dtype enum
# (which groups dtypes by item size, so the largest items come first and every tensor
# stays aligned), then by name. Rank of each dtype in that enum, smallest first:
_WRITE_RANK = {name: rank for rank, name in enumerate(
    ("BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"))}


def _decode(raw: bytearray, dtype_name: str, shape: tuple) -> np.ndarray:
    """Bytes -> array of the given shape (BF16 widened to float32)."""
    arr = np.frombuffer(raw, dtype=DTYPES[dtype_name])
    if dtype_name == "BF16":
        # bfloat16 is the top half of a float32: shift the 16 bits up and reinterpret.
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    return arr.reshape(shape)


def read_header(path: str | Path) -> tuple[dict, dict, int]:
    """Parse and validate the header of a safetensors file.

    Returns:
        (entries, metadata, data_start): entries maps name -> (dtype, shape, begin, end)
        with offsets relative to the buffer, which starts at byte ``data_start``.
    """
    path = Path(path)
    try:
        file_size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise WeightsError(f"{path}: not a safetensors file: {file_size} bytes, too short for the 8-byte header length")
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER_BYTES or 8 + n > file_size:
                raise WeightsError(
                    f"{path}: not a valid safetensors file (header length {n} does not fit in a file of "
                    f"{file_size} bytes; truncated download, or another format?)"
                )
            header_bytes = f.read(n)
    except FileNotFoundError as exc:
        raise WeightsError(f"weights file not found: {path}") from exc
    except IsADirectoryError as exc:
        raise WeightsError(f"{path} is a folder, not a safetensors file") from exc
    except PermissionError as exc:
        raise WeightsError(f"cannot read {path}: permission denied") from exc
    except OSError as exc:  # e.g. a path through a file ("model.safetensors/x"), an I/O error
        raise WeightsError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, a 4300-digit integer, deep nesting
        raise WeightsError(f"{path}: the safetensors header is not valid UTF-8 JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise WeightsError(f"{path}: the safetensors header must be a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise WeightsError(f"{path}: __metadata__ must be a JSON object of strings, got {reprlib.repr(metadata)}")

    data_start = 8 + n
    buffer_size = file_size - data_start
    entries = {}
    for name, info in header.items():
        where = f"{path}: tensor {name!r}"
        if not isinstance(info, dict):
            raise WeightsError(f"{where}: header entry must be an object")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in DTYPES:
            raise WeightsError(f"{where}: unsupported dtype {reprlib.repr(dtype)} (supported: {', '.join(DTYPES)})")
        if (not isinstance(shape, list) or len(shape) > MAX_RANK
                or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**63 for d in shape)):
            raise WeightsError(f"{where}: shape must be a list of at most {MAX_RANK} integers in [0, 2**63), "
                               f"got {reprlib.repr(shape)}")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
            raise WeightsError(f"{where}: data_offsets must be [begin, end], got {reprlib.repr(offsets)}")
        begin, end = offsets
        if not 0 <= begin <= end:
            raise WeightsError(f"{where}: data_offsets {offsets} must satisfy 0 <= begin <= end")
        expected = math.prod(shape) * DTYPES[dtype].itemsize
        if end - begin != expected:
            raise WeightsError(
                f"{where}: data_offsets {offsets} hold {end - begin} bytes, but dtype {dtype} and "
                f"shape {shape} need {expected}"
            )
        entries[name] = (dtype, tuple(shape), begin, end)

    # The spans must tile the buffer exactly: sorted by begin, each starts where the last ended.
    position = 0
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda kv: (kv[1][2], kv[1][3])):
        if begin != position:
            problem = "overlaps the previous tensor" if begin < position else f"leaves a gap of {begin - position} bytes"
            raise WeightsError(f"{path}: tensor {name!r} at bytes [{begin}, {end}) {problem}; the file is corrupt")
        position = end
    if position != buffer_size:
        if position > buffer_size:
            raise WeightsError(
                f"{path}: truncated: the header describes {position} bytes of tensors but only "
                f"{buffer_size} follow it (an interrupted download?)"
            )
        raise WeightsError(f"{path}: {buffer_size - position} bytes after the last tensor; the file is corrupt")
    return entries, metadata, data_start


def load_file(path: str | Path, names=None) -> dict:
    """Read a safetensors file into ``{name: numpy array}``.

    Args:
        path: the ``.safetensors`` file.
        names: read only these tensors (default: all).
    """
    path = Path(path)
    entries, _, data_start = read_header(path)
    wanted = entries if names is None else {n: entries[n] for n in names if n in entries}
    tensors = {}
    with open(path, "rb") as f:
        for name, (dtype, shape, begin, end) in wanted.items():
            f.seek(data_start + begin)
            raw = bytearray(end - begin)
            if f.readinto(raw) != len(raw):  # the file shrank since the header was checked
                raise WeightsError(f"{path}: truncated while reading tensor {name!r}")
            tensors[name] = _decode(raw, dtype, shape)
    return tensors


def save_file(tensors: dict, path: str | Path, metadata: dict | None = None) -> None:
    """Write ``{name: array}`` as a safetensors file (atomically: temp file, then rename).

    Tensors are laid out as the reference writer does: by dtype, largest items first
    (see _WRITE_RANK), then by name; the header is padded with spaces to a multiple of
    8 bytes. The same tensors and metadata give the same bytes as ``safetensors``.
    """
    path = Path(path)
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise WeightsError(f"cannot save tensor {name!r}: names must be strings other than '__metadata__'")
        try:
            arr = to_numpy(value)  # a CuPy array is copied to the host first
        except ValueError as exc:  # e.g. a ragged nested list
            raise WeightsError(f"cannot save tensor {name!r}: not a rectangular array ({exc})") from exc
        if not arr.flags.c_contiguous:
            arr = arr.copy(order="C")
        little = arr.dtype.newbyteorder("<")  # safetensors is little-endian whatever the machine
        if little not in _NAME_OF:
            raise WeightsError(f"cannot save tensor {name!r}: dtype {arr.dtype} has no safetensors equivalent")
        arrays[name] = arr.astype(little, copy=False)
    order = sorted(arrays, key=lambda n: (-_WRITE_RANK[_NAME_OF[arrays[n].dtype]], n))
    header, offset = {}, 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name in order:
        arr = arrays[name]
        header[name] = {"dtype": _NAME_OF[arr.dtype], "shape": list(arr.shape), "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    # Compact JSON with names as raw UTF-8, like the reference writer.
    header_bytes = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(header_bytes)))
            f.write(header_bytes)
            for name in order:
                f.write(arrays[name].tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # missing folder, no permission, disk full, path is a folder...
        tmp.unlink(missing_ok=True)
        raise WeightsError(f"cannot write {path}: {exc.strerror or exc}") from exc
