"""PyTorch ``torch.save`` files (``pytorch_model.bin``), read safely from the bytes (no PyTorch).

torch.save writes a Python *pickle*: a little program for a stack machine that rebuilds
the saved objects, and it may call any function Python can import -- ``os.system``
included. ``pickle.load`` on a file from the internet therefore runs code from the
internet. minibert never does. It reads a pickle in three steps:

  1. It lists the pickle's instructions (opcodes) without running them, and refuses any
     that a state dict does not need, and memo indices that would make Python allocate
     a huge table.
  2. It runs the pickle through an Unpickler whose ``find_class`` (called for every
     global the pickle names) knows only what a state dict needs --
     ``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``,
     ``torch._utils._rebuild_parameter`` and the ``torch.*Storage`` types -- and hands back
     minibert's own harmless stand-ins for them (torch is never imported). Any other
     global, ``os.system`` first, raises WeightsError before anything is called.
  3. The stand-ins only *record* what each tensor is (which storage, offset, shape,
     strides); the arrays are built afterwards, each view checked against its storage.

Two layouts exist:

zip (the default since PyTorch 1.6): an uncompressed zip archive holding
    <root>/data.pkl           the pickle: {name: tensor}
    <root>/byteorder          "little" or "big" (absent in old files: little)
    <root>/data/0, /data/1..  one member per storage, its raw bytes
    <root>/version, ...       bookkeeping (not needed)
  where <root> is the file's stem at save time ("pytorch_model", "archive"...).

legacy (``_use_new_zipfile_serialization=False``, and PyTorch before 1.6): back to back,
    pickle(magic number 0x1950A86A20F9469CFC6C)   pickle(protocol version 1001)
    pickle(sys_info: byte order, type sizes)        pickle({name: tensor})
    pickle([storage keys])   then for each key, in that order: int64 element count, raw bytes

A tensor in the pickle is ``_rebuild_tensor_v2(storage, storage_offset, size, stride,
requires_grad, backward_hooks)``: a view into a *storage* (a flat array of one dtype),
with offset, shape and strides counted in elements. Several tensors may share a storage
(tied weights, slices). The storage appears as a "persistent id", a tuple
``('storage', torch.FloatStorage, key, location, numel)`` that the loader resolves.
"""

from __future__ import annotations

import collections
import io
import math
import pickle
import pickletools
import re
import reprlib
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import WeightsError

ZIP_MAGIC = b"PK\x03\x04"
# pickle(0x1950A86A20F9469CFC6C): PROTO 2, LONG1 of 10 bytes, STOP.
LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x2e"
LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# torch.XStorage -> NumPy type code (byte order added later). BFloat16 is read as
# uint16 and widened to float32, as in the safetensors reader.
STORAGE_DTYPES = {
    "FloatStorage": "f4", "DoubleStorage": "f8", "HalfStorage": "f2", "BFloat16Storage": "u2",
    "LongStorage": "i8", "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "b1",
}

# The opcodes a state dict is written with (protocol 2), and the harmless protocol-4
# ones. Refused: the ones that build objects without find_class's say-so (INST, OBJ,
# NEWOBJ, EXT*), byte strings and buffers (BINBYTES allocates its claimed length before
# reading it), text-mode and Python 2 strings, sets, and huge integers (LONG4).
ALLOWED_OPCODES = frozenset({
    "PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK", "DUP",
    "GLOBAL", "STACK_GLOBAL", "REDUCE", "BUILD", "BINPERSID",
    "BINPUT", "LONG_BINPUT", "MEMOIZE", "BINGET", "LONG_BINGET",
    "NONE", "NEWTRUE", "NEWFALSE", "BININT", "BININT1", "BININT2", "LONG1", "BINFLOAT",
    "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8",
    "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3",
    "EMPTY_LIST", "LIST", "APPEND", "APPENDS", "EMPTY_DICT", "DICT", "SETITEM", "SETITEMS",
})
MEMO_OPCODES = ("BINPUT", "LONG_BINPUT", "BINGET", "LONG_BINGET")
MAX_ZIP_MEMBERS = 1_000_000
MAX_RANK = 32  # dimensions of a tensor (BERT's have at most 2)


class _Refused(Exception):
    """Something in the file that a state dict never holds; becomes a WeightsError naming the file."""


# ----------------------------------------------------------------------------------------
# Stand-ins for the few torch objects a state dict names
# ----------------------------------------------------------------------------------------
class _StandIn:
    """Base of the stand-ins: the pickle may not set attributes on them (BUILD)."""

    __slots__ = ()

    def __setstate__(self, state):
        raise _Refused(f"the pickle tries to set the state of {self!r}")


class StorageType(_StandIn):
    """Stands for ``torch.FloatStorage`` and friends: only a name and a dtype."""

    __slots__ = ("name", "code")

    def __init__(self, name: str, code: str):
        self.name, self.code = name, code

    def __repr__(self):
        return f"torch.{self.name}"


@dataclass(frozen=True)
class StorageRef(_StandIn):
    """A storage the pickle refers to (a persistent id): its key, type and element count."""

    key: str
    storage_type: StorageType
    numel: int


@dataclass(frozen=True)
class TensorRef(_StandIn):
    """What ``_rebuild_tensor_v2`` would build: a view (offset, shape, strides) of a storage.

    (Frozen, and no BUILD: pickle's BUILD writes straight into an object's __dict__, which
    would let a forged file change a view after _rebuild_tensor_v2 checked it.)"""

    storage: StorageRef
    offset: int
    shape: tuple
    stride: tuple


class _OrderedDict(collections.OrderedDict):
    """Stands for ``collections.OrderedDict``. torch.save of ``model.state_dict()`` attaches
    ``{'_metadata': ...}`` (module versions) with BUILD: accepted and ignored."""

    def __setstate__(self, state):
        if not isinstance(state, dict) or set(state) - {"_metadata"}:
            raise _Refused("the pickle sets unexpected attributes on an OrderedDict")


def _short(value) -> str:
    """A short repr of anything a pickle may have built (deeply nested, huge...), for messages."""
    return reprlib.repr(value)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_empty_hooks(value) -> bool:
    return value is None or (isinstance(value, dict) and not value)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    """Stands for ``torch._utils._rebuild_tensor_v2``: checks the arguments, records the view."""
    if not isinstance(storage, StorageRef):
        raise _Refused(f"a tensor is built on {type(storage).__name__}, not on a storage")
    if not (_is_int(storage_offset) and isinstance(size, tuple) and isinstance(stride, tuple)
            and len(size) <= MAX_RANK and len(stride) <= MAX_RANK and all(_is_int(n) for n in size + stride)):
        raise _Refused(f"a tensor has a malformed view (offset {_short(storage_offset)}, size {_short(size)}, "
                       f"stride {_short(stride)})")
    if not isinstance(requires_grad, bool) or not _is_empty_hooks(backward_hooks) or not _is_empty_hooks(metadata):
        raise _Refused("a tensor carries backward hooks or metadata (conjugate/negative bits), "
                       "which a state dict never has")
    return TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad, backward_hooks):
    """Stands for ``torch._utils._rebuild_parameter`` (an ``nn.Parameter``): just the tensor."""
    if not isinstance(data, TensorRef) or not isinstance(requires_grad, bool) or not _is_empty_hooks(backward_hooks):
        raise _Refused("malformed nn.Parameter")
    return data


SAFE_GLOBALS = {
    ("collections", "OrderedDict"): _OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): StorageType(name, code) for name, code in STORAGE_DTYPES.items()},
}


# ----------------------------------------------------------------------------------------
# Unpickling safely
# ----------------------------------------------------------------------------------------
def scan_opcodes(data: bytes) -> list[str]:
    """The opcode names of the pickle in ``data``, refusing those a state dict never needs.

    Nothing is executed: pickletools only decodes the instructions. Memo indices are
    bounded by the number of instructions (a writer numbers memo slots 0, 1, 2...):
    LONG_BINPUT 300000000 would make CPython's unpickler allocate a 2.4 GB memo table.
    """
    try:
        with warnings.catch_warnings():  # decoding a corrupt text-mode STRING argument warns
            warnings.simplefilter("ignore", DeprecationWarning)
            ops = list(pickletools.genops(data))
    except ValueError as exc:  # an unknown opcode, a truncated argument, bad UTF-8...
        raise _Refused(f"the pickle is corrupt ({exc})") from exc
    for opcode, arg, pos in ops:
        if opcode.name not in ALLOWED_OPCODES:
            raise _Refused(f"the pickle uses opcode {opcode.name} (at byte {pos}), which a state dict never "
                           "needs; refused (a malicious or non-weights file?)")
        if opcode.name in MEMO_OPCODES and arg > len(ops):
            raise _Refused(f"the pickle uses memo slot {arg} (at byte {pos}), far beyond its {len(ops)} instructions")
    return [opcode.name for opcode, _, _ in ops]


class SafeUnpickler(pickle.Unpickler):
    """An Unpickler that knows only the globals of SAFE_GLOBALS, and storage persistent ids.

    Args:
        data: the bytes of one pickle.
        tensors: allow the state-dict globals and persistent ids (False for the legacy
            format's small header pickles, which need neither).
        legacy: persistent ids are the legacy 6-tuples (with a view_metadata field).
    """

    def __init__(self, data: bytes, tensors: bool = True, legacy: bool = False):
        super().__init__(io.BytesIO(data))
        self.tensors, self.legacy = tensors, legacy
        self.storages: dict[str, StorageRef] = {}  # key -> storage, in order of first use

    def find_class(self, module, name):
        if self.tensors and (module, name) in SAFE_GLOBALS:
            return SAFE_GLOBALS[(module, name)]
        raise _Refused(f"the pickle asks for the global {module}.{name}, which a state dict never needs; "
                       "refused without running anything (a malicious or non-weights file?)")

    def persistent_load(self, pid):
        length = 6 if self.legacy else 5
        if not (self.tensors and isinstance(pid, tuple) and len(pid) == length and pid[0] == "storage"):
            raise _Refused(f"unexpected persistent id {_short(pid)} (a state dict holds only storages)")
        storage_type, key, _location, numel = pid[1:5]
        # The key names a file member (data/<key>): decimal digits only, nothing like "../x".
        if not isinstance(key, str) or not re.fullmatch(r"[0-9]{1,40}", key):
            raise _Refused(f"storage key {_short(key)} is not a decimal number")
        if self.legacy and pid[5] is not None:
            raise _Refused(f"storage {key!r} is a view of another storage (legacy view_metadata), not supported")
        if not isinstance(storage_type, StorageType):
            raise _Refused(f"storage {key!r} has type {_short(storage_type)}, not a torch.*Storage")
        if not _is_int(numel) or numel < 0:
            raise _Refused(f"storage {key!r} has a bad element count {_short(numel)}")
        storage = StorageRef(key, storage_type, numel)
        if self.storages.setdefault(key, storage) != storage:
            raise _Refused(f"storage {key!r} is declared twice, with different types or sizes")
        return storage


def _unpickle(data: bytes, tensors: bool = True, legacy: bool = False):
    """Scan, then unpickle ``data`` safely. Returns (object, {key: StorageRef})."""
    scan_opcodes(data)
    unpickler = SafeUnpickler(data, tensors=tensors, legacy=legacy)
    try:
        obj = unpickler.load()
    except (_Refused, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001  the pickle module raises many types on bad input
        raise _Refused(f"the pickle is corrupt ({type(exc).__name__}: {exc})") from exc
    return obj, unpickler.storages


def _state_dict_refs(obj) -> dict:
    """The unpickled top-level object -> ``{name: TensorRef}``, or _Refused if it is not a state dict."""
    if not isinstance(obj, dict):
        raise _Refused(f"the file holds a {type(obj).__name__}, not a state dict ({{name: tensor}})")
    for name, value in obj.items():
        if not isinstance(name, str) or not isinstance(value, TensorRef):
            raise _Refused(f"entry {_short(name)} holds a {type(value).__name__}, not a tensor; "
                           "minibert reads only state dicts ({name: tensor})")
    return dict(obj)


# ----------------------------------------------------------------------------------------
# Arrays from storages
# ----------------------------------------------------------------------------------------
def _storage_dtype(storage: StorageRef, big_endian: bool) -> np.dtype:
    return np.dtype((">" if big_endian else "<") + storage.storage_type.code)


def _view(name: str, ref: TensorRef, storage: np.ndarray) -> np.ndarray:
    """The tensor ``ref`` as a C-ordered copy, after checking that the view stays inside its storage."""
    shape, stride, offset = ref.shape, ref.stride, ref.offset
    where = f"tensor {name!r} (offset {offset}, shape {list(shape)}, stride {list(stride)})"
    if len(shape) != len(stride) or min(shape + stride + (offset,)) < 0 or max(shape + stride + (offset,)) > 2**48:
        raise _Refused(f"{where}: a malformed view (negative or absurd numbers, or shape and stride of "
                       "different lengths)")
    if math.prod(shape) == 0:  # an empty tensor reads nothing
        last = offset - 1
    else:  # the element furthest into the storage
        last = offset + sum((n - 1) * s for n, s in zip(shape, stride))
    if last >= storage.size or offset > storage.size:
        raise _Refused(f"{where} reaches element {last} of storage {ref.storage.key!r}, which has "
                       f"{storage.size}: out of bounds")
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=shape,
                                           strides=[s * storage.itemsize for s in stride], writeable=False)
    array = np.array(view, dtype=view.dtype.newbyteorder("="), order="C")  # a copy, native byte order
    if ref.storage.storage_type.name == "BFloat16Storage":  # the top half of a float32
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array


def _build_arrays(refs: dict, storages: dict) -> dict:
    """``{name: TensorRef}`` + ``{key: flat storage array}`` -> ``{name: numpy array}``."""
    return {name: _view(name, ref, storages[ref.storage.key]) for name, ref in refs.items()}


# ----------------------------------------------------------------------------------------
# The zip format
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ZipMember:
    """One file of a zip archive, as its central-directory record describes it."""

    name: str
    method: int  # 0 = stored (uncompressed), 8 = deflated
    crc: int
    compressed_size: int
    size: int
    header_offset: int  # where its local header starts


def _zip64_extra(extra: bytes, wanted: int) -> list[int]:
    """The 8-byte values of the zip64 extra field (id 0x0001): sizes/offset too big for 32 bits."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        if tag == 0x0001:
            if length < 8 * wanted or pos + 4 + length > len(extra):
                raise _Refused("a truncated zip64 extra field")
            return list(struct.unpack_from(f"<{wanted}Q", extra, pos + 4))
        pos += 4 + length
    raise _Refused("a zip64 member without its zip64 extra field")


def read_zip_directory(f, file_size: int) -> dict[str, ZipMember]:
    """The members of a zip archive, from its central directory (not the local headers:
    torch writes them with sizes 0 and the real sizes after the data).

    The end-of-central-directory record (PK 05 06) is in the last 22 + 65535 bytes; it
    gives the directory's offset and size. When a field is all ones, the zip64 record,
    found through the zip64 locator (PK 06 07) just before it, holds the real 64-bit value.
    """
    tail_size = min(file_size, 22 + 65535)
    f.seek(file_size - tail_size)
    tail = f.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        raise _Refused("no end-of-central-directory record: truncated (an interrupted download?) or not a zip")
    _, _, _, _, count, dir_size, dir_offset, _ = struct.unpack_from("<4sHHHHIIH", tail, at)
    eocd_offset = file_size - tail_size + at
    if 0xFFFF == count or 0xFFFFFFFF in (dir_size, dir_offset):
        locator = tail[at - 20:at] if at >= 20 else b""
        if len(locator) != 20 or locator[:4] != b"PK\x06\x07":
            raise _Refused("a zip64 archive without its zip64 locator")
        (zip64_offset,) = struct.unpack_from("<Q", locator, 8)
        if zip64_offset + 56 > eocd_offset:
            raise _Refused("the zip64 end-of-central-directory record lies outside the file")
        f.seek(zip64_offset)
        record = f.read(56)
        if record[:4] != b"PK\x06\x06":
            raise _Refused("no zip64 end-of-central-directory record where the locator points")
        count, dir_size, dir_offset = struct.unpack_from("<QQQ", record, 32)
        eocd_offset = zip64_offset
    if dir_offset + dir_size > eocd_offset or count * 46 > dir_size or count > MAX_ZIP_MEMBERS:
        raise _Refused(f"the central directory ({count} members, {dir_size} bytes at {dir_offset}) "
                       "does not fit in the file: truncated or corrupt")
    f.seek(dir_offset)
    directory = f.read(dir_size)
    members, pos = {}, 0
    for _ in range(count):
        if pos + 46 > len(directory) or directory[pos:pos + 4] != b"PK\x01\x02":
            raise _Refused("a corrupt central directory")
        (flags, method, crc, csize, usize, name_len, extra_len, comment_len,
         header_offset) = struct.unpack_from("<8xHH4xIIIHHH8xI", directory, pos)
        name_end = pos + 46 + name_len
        extra = directory[name_end:name_end + extra_len]
        if name_end + extra_len + comment_len > len(directory):
            raise _Refused("a corrupt central directory")
        name = directory[pos + 46:name_end].decode("utf-8" if flags & 0x800 else "cp437", errors="replace")
        big = [v for v in (usize, csize, header_offset) if v == 0xFFFFFFFF]
        if big:  # the 64-bit values are in the zip64 extra field, in this order
            values = iter(_zip64_extra(extra, len(big)))
            usize, csize, header_offset = (next(values) if v == 0xFFFFFFFF else v
                                           for v in (usize, csize, header_offset))
        if name in members:
            raise _Refused(f"the zip holds {name!r} twice")
        members[name] = ZipMember(name, method, crc, csize, usize, header_offset)
        pos = name_end + extra_len + comment_len
    return members


def read_zip_member(f, member: ZipMember, limit: int) -> bytes:
    """The bytes of a stored member, checked against its CRC-32.

    Its data starts after the local header: 30 bytes + the name + an "extra" field whose
    length is in the local header (torch pads it so that data starts at a multiple of 64).
    """
    if member.method != 0:
        raise _Refused(f"member {member.name!r} is compressed (method {member.method}); torch.save stores "
                       "members uncompressed")
    if member.header_offset + 30 > limit:
        raise _Refused(f"member {member.name!r}: its local header lies outside the archive")
    f.seek(member.header_offset)
    header = f.read(30)
    if header[:4] != ZIP_MAGIC:
        raise _Refused(f"member {member.name!r}: no local header where the directory says")
    name_len, extra_len = struct.unpack_from("<HH", header, 26)
    start = member.header_offset + 30 + name_len + extra_len
    if member.compressed_size != member.size or start + member.size > limit:
        raise _Refused(f"member {member.name!r} ({member.size} bytes at {start}) runs past the end of the "
                       "archive: truncated")
    f.seek(start)
    data = f.read(member.size)
    if len(data) != member.size or zlib.crc32(data) != member.crc:
        raise _Refused(f"member {member.name!r} fails its CRC-32 check: the file is corrupt")
    return data


def _load_zip(f, file_size: int) -> dict:
    members = read_zip_directory(f, file_size)
    pickles = [name for name in members if re.fullmatch(r"[^/]+/data\.pkl", name)]
    if len(pickles) != 1:
        raise _Refused(f"expected one <folder>/data.pkl in the zip, found {len(pickles) or 'none'}: "
                       "not a torch.save file")
    root = pickles[0][: -len("data.pkl")]
    limit = file_size
    refs, storage_refs = _unpickle(read_zip_member(f, members[pickles[0]], limit))
    refs = _state_dict_refs(refs)
    byteorder = b"little"
    if root + "byteorder" in members:
        byteorder = read_zip_member(f, members[root + "byteorder"], limit).strip()
    if byteorder not in (b"little", b"big"):
        raise _Refused(f"unknown byte order {byteorder[:20]!r} in {root}byteorder")
    storages = {}
    for key, storage in storage_refs.items():
        dtype = _storage_dtype(storage, byteorder == b"big")
        member = members.get(f"{root}data/{key}")
        if member is None:
            raise _Refused(f"storage {key!r} has no member {root}data/{key}")
        if member.size != storage.numel * dtype.itemsize:
            raise _Refused(f"storage {key!r}: member {member.name!r} holds {member.size} bytes, but "
                           f"{storage.numel} x {storage.storage_type} elements need {storage.numel * dtype.itemsize}")
        storages[key] = np.frombuffer(read_zip_member(f, member, limit), dtype=dtype)
    return _build_arrays(refs, storages)


# ----------------------------------------------------------------------------------------
# The legacy format
# ----------------------------------------------------------------------------------------
def _next_pickle(f, file_size: int) -> bytes:
    """The bytes of the pickle that starts at the file's position (the position moves past it)."""
    start = f.tell()
    try:  # pickletools stops at STOP; reads are capped at what the file holds
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            for _ in pickletools.genops(_CappedReader(f, file_size)):
                pass
    except ValueError as exc:
        raise _Refused(f"the pickle at byte {start} is corrupt or truncated ({exc})") from exc
    end = f.tell()
    f.seek(start)
    return f.read(end - start)


class _CappedReader:
    """A file whose ``read(n)`` never asks for more than the file has left: a corrupt length
    of 4 GB in a pickle must not make Python allocate 4 GB before finding out."""

    def __init__(self, f, file_size: int):
        self.f, self.file_size = f, file_size

    def read(self, n: int = -1) -> bytes:
        left = self.file_size - self.f.tell()
        return self.f.read(left if n < 0 else min(n, left))

    def readline(self) -> bytes:
        return self.f.readline(self.file_size - self.f.tell())

    def tell(self) -> int:
        return self.f.tell()


def _load_legacy(f, file_size: int) -> dict:
    magic, _ = _unpickle(_next_pickle(f, file_size), tensors=False)
    if magic != LEGACY_MAGIC_NUMBER:
        raise _Refused("not a torch.save file (wrong magic number)")
    protocol, _ = _unpickle(_next_pickle(f, file_size), tensors=False)
    if protocol != LEGACY_PROTOCOL:
        raise _Refused(f"unsupported legacy protocol version {_short(protocol)} (minibert reads {LEGACY_PROTOCOL})")
    sys_info, _ = _unpickle(_next_pickle(f, file_size), tensors=False)
    if not isinstance(sys_info, dict) or not isinstance(sys_info.get("little_endian"), bool):
        raise _Refused("malformed sys_info record (byte order unknown)")
    big_endian = not sys_info["little_endian"]
    obj, storage_refs = _unpickle(_next_pickle(f, file_size), legacy=True)
    refs = _state_dict_refs(obj)
    keys, _ = _unpickle(_next_pickle(f, file_size), tensors=False)
    if (not isinstance(keys, list) or not all(isinstance(k, str) for k in keys)
            or len(set(keys)) != len(keys) or set(keys) != set(storage_refs)):
        raise _Refused("the list of storage keys does not match the storages the tensors use")
    storages = {}
    for key in keys:  # each storage: int64 element count, then the raw bytes
        storage = storage_refs[key]
        dtype = _storage_dtype(storage, big_endian)
        head = f.read(8)
        if len(head) != 8:
            raise _Refused(f"truncated before storage {key!r} (an interrupted download?)")
        (count,) = struct.unpack(">q" if big_endian else "<q", head)
        if count != storage.numel:
            raise _Refused(f"storage {key!r} holds {count} elements, but the pickle says {storage.numel}")
        nbytes = count * dtype.itemsize
        if f.tell() + nbytes > file_size:
            raise _Refused(f"storage {key!r} needs {nbytes} bytes at byte {f.tell()}, past the end of the "
                           f"file ({file_size} bytes): truncated (an interrupted download?)")
        storages[key] = np.frombuffer(f.read(nbytes), dtype=dtype)
    return _build_arrays(refs, storages)


# ----------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------
def load_file(path: str | Path) -> dict:
    """Read a ``torch.save`` state dict (zip or legacy format) into ``{name: numpy array}``.

    Nothing in the file is executed and PyTorch is not needed. Tensors that share a
    storage (tied weights) come out as separate arrays with equal values.

    Raises:
        WeightsError: the file is missing, truncated, corrupt, not a state dict, or names
        anything a state dict does not need (e.g. ``os.system``); the message names the
        file, and the tensor or global at fault.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            file_size = path.stat().st_size
            start = f.read(len(LEGACY_MAGIC))
            f.seek(0)
            if start.startswith(ZIP_MAGIC):
                return _load_zip(f, file_size)
            if start == LEGACY_MAGIC:
                return _load_legacy(f, file_size)
            raise WeightsError(f"{path}: not a torch.save file (it starts with {start[:8].hex(' ')}; expected a zip "
                               "archive, PK 03 04, or the legacy magic number)")
    except _Refused as exc:
        raise WeightsError(f"{path}: {exc}") from exc
    except FileNotFoundError as exc:
        raise WeightsError(f"weights file not found: {path}") from exc
    except IsADirectoryError as exc:
        raise WeightsError(f"{path} is a folder, not a torch.save file") from exc
    except OSError as exc:
        raise WeightsError(f"cannot read {path}: {exc.strerror or exc}") from exc
