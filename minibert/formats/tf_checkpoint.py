"""TensorFlow 1 checkpoints (Google's ``bert_model.ckpt``), read from the bytes (no TensorFlow).

A checkpoint called ``bert_model.ckpt`` is really several files:

    bert_model.ckpt.index                 what tensors there are: dtype, shape, and where
                                          their bytes lie (an SSTable, described below)
    bert_model.ckpt.data-00000-of-00001   the tensors' raw bytes, back to back ("shard" 0 of 1;
                                          a save from two devices has -00000-of-00002 and
                                          -00001-of-00002)
    bert_model.ckpt.meta                  the TensorFlow graph: not needed, never read

The ``.index`` file is a LevelDB "sorted string table" (SSTable), a map from keys (here
tensor names, sorted bytewise) to values (small protobuf messages), stored in blocks:

    [data block]...[data block][metaindex block][index block][footer, 48 bytes]

    footer        varint offset + varint size of the metaindex block, the same for the
                  index block, zeros up to byte 40, then 8 magic bytes 57 fb 80 8b 24 75 47 db
    block         contents | compression type (1 byte, 0 = none) | masked CRC-32C (4 bytes,
                  little-endian) of contents + type byte
    contents      entries, then the restart offsets (u32 each), then their count (u32)
    entry         varint shared | varint non_shared | varint value_len | key bytes | value
                  The key is the previous key's first `shared` bytes + the key bytes (keys
                  share long prefixes: "bert/encoder/layer_0/..."). At a "restart point",
                  listed in the restart offsets, shared is 0 and the whole key is stored.
    index block   one entry per data block: a key >= the block's last key (often
                  shortened, e.g. "{") -> the block's handle (varint offset, varint size)

The first key is "" (empty); its value is a BundleHeaderProto (number of shards, byte
order, version). Every other key is a tensor name, and its value a BundleEntryProto:

    field 1 dtype (1 float32, 2 float64, 3 int32, 9 int64, 14 bfloat16, 19 float16)
    field 2 shape            field 3 shard_id      field 4 offset (bytes into the shard)
    field 5 size (bytes)     field 6 crc32c (masked CRC-32C of the tensor's bytes)
    field 7 slices           (a partitioned variable, split over several entries: refused)

protobuf 3 leaves out every field that holds its default (0, empty), so a tensor at
offset 0 of shard 0 has no offset and no shard_id field: they read as 0.

Everything is checked before it is trusted: block checksums, that every offset and size
lies inside its file, that size = prod(shape) x item size, so a corrupt or forged file
raises :class:`minibert.errors.WeightsError` (naming the file and the tensor) and never
makes the reader allocate more than the files hold.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import WeightsError

TABLE_MAGIC = 0xDB4775248B80FB57  # the last 8 bytes of every LevelDB table
FOOTER_BYTES = 48
BLOCK_TRAILER_BYTES = 5  # compression type (1 byte) + masked CRC-32C (4 bytes)
MAX_INDEX_BYTES = 64 * 2**20  # BERT-Large's index is ~50 KB; anything this big is not an index
BUNDLE_VERSION = 1  # the tensor-bundle format version this reader understands
MAX_RANK = 64  # dimensions of a tensor (BERT's have at most 2; NumPy 2 allows 64, NumPy 1 32)

# TensorFlow DataType enum -> (name, NumPy type code without byte order). bfloat16 has no
# NumPy dtype: it is read as uint16 and widened to float32 (see _decode).
DTYPES = {
    1: ("float32", "f4"), 2: ("float64", "f8"), 3: ("int32", "i4"), 9: ("int64", "i8"),
    14: ("bfloat16", "u2"), 19: ("float16", "f2"),
}
OTHER_DTYPE_NAMES = {4: "uint8", 5: "int16", 6: "int8", 7: "string", 8: "complex64", 10: "bool",
                     17: "uint16", 18: "complex128", 22: "uint32", 23: "uint64"}

# Variables a training run saves next to the weights: optimizer state, step counters, the
# TF2 object graph. A name with any of these as a path component is not a weight.
OPTIMIZER_NAMES = frozenset({
    "adam_m", "adam_v", "AdamWeightDecayOptimizer", "AdamWeightDecayOptimizer_1",  # Google's BERT optimizer
    "Adam", "Adam_1", "beta1_power", "beta2_power", "Momentum", "Adagrad", "RMSProp", "RMSProp_1",  # tf.train.*
    "global_step", "save_counter", "_CHECKPOINTABLE_OBJECT_GRAPH",
})


class _Malformed(Exception):
    """A structural problem found deep in the parser; turned into a WeightsError naming the file."""


# ----------------------------------------------------------------------------------------
# CRC-32C (Castagnoli), as LevelDB and TensorFlow use it
# ----------------------------------------------------------------------------------------
def _crc32c_table() -> list[int]:
    """The CRC of each single byte value: lets crc32c process a byte per step, not a bit."""
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):  # reflected polynomial 0x82F63B78, one bit at a time
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data`` (crc32c(b"123456789") == 0xE3069283).

    Pure Python: about 10 MB/s, so checking every tensor of BERT-Base takes ~40 s. That is
    why tensor checksums are optional (``verify_crc``); block checksums are always checked.
    """
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def mask_crc(crc: int) -> int:
    """LevelDB stores CRCs "masked" (rotated, plus a constant), so that the CRC of data
    that itself holds CRCs is not trivially related to them."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def unmask_crc(masked: int) -> int:
    """The inverse of mask_crc."""
    rotated = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rotated >> 17) | (rotated << 15)) & 0xFFFFFFFF


# ----------------------------------------------------------------------------------------
# Varints and protobuf messages
# ----------------------------------------------------------------------------------------
def _varint(buf: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    """Read an unsigned LEB128 varint at ``pos``: 7 bits per byte, low bits first, the high
    bit set on every byte but the last. Returns (value, position after it)."""
    result = shift = 0
    while True:
        if pos >= end:
            raise _Malformed(f"{what}: truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:  # 64-bit values need at most 10 bytes
            raise _Malformed(f"{what}: varint longer than 10 bytes")


def _signed(value: int, bits: int) -> int:
    """A varint read as an unsigned number -> the two's-complement int32/int64 it encodes
    (protobuf writes -1 as ten bytes ff ff ... 01; there is no zigzag for int32/int64)."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _parse_message(buf: bytes, what: str) -> dict[int, list]:
    """Split a protobuf message into ``{field number: [(wire type, value), ...]}``.

    Each field starts with a varint tag = field number << 3 | wire type. Wire type 0 is a
    varint, 1 eight bytes, 2 a varint length + that many bytes (strings, sub-messages,
    packed repeated numbers), 5 four bytes. The caller decides what the numbers mean.
    """
    fields: dict[int, list] = {}
    pos, end = 0, len(buf)
    while pos < end:
        tag, pos = _varint(buf, pos, end, what)
        number, wire_type = tag >> 3, tag & 7
        if number == 0:
            raise _Malformed(f"{what}: field number 0 in a protobuf message")
        if wire_type == 0:
            value, pos = _varint(buf, pos, end, what)
        elif wire_type in (1, 5):
            width = 8 if wire_type == 1 else 4
            if pos + width > end:
                raise _Malformed(f"{what}: truncated fixed-width field {number}")
            value = int.from_bytes(buf[pos:pos + width], "little")
            pos += width
        elif wire_type == 2:
            length, pos = _varint(buf, pos, end, what)
            if pos + length > end:
                raise _Malformed(f"{what}: field {number} claims {length} bytes, more than the message holds")
            value = buf[pos:pos + length]
            pos += length
        else:
            raise _Malformed(f"{what}: unsupported protobuf wire type {wire_type} (field {number})")
        fields.setdefault(number, []).append((wire_type, value))
    return fields


def _field(fields: dict, number: int, wire_type: int, default, what: str):
    """The value of a non-repeated field (the last one wins, as in protobuf), or ``default``."""
    if number not in fields:
        return default
    found_type, value = fields[number][-1]
    if found_type != wire_type:
        raise _Malformed(f"{what}: field {number} has wire type {found_type}, expected {wire_type}")
    return value


def _repeated_ints(fields: dict, number: int, what: str) -> list[int]:
    """A repeated int field, written one varint each or "packed" (one length-delimited run)."""
    values = []
    for wire_type, value in fields.get(number, []):
        if wire_type == 0:
            values.append(value)
        elif wire_type == 2:
            pos = 0
            while pos < len(value):
                item, pos = _varint(value, pos, len(value), what)
                values.append(item)
        else:
            raise _Malformed(f"{what}: field {number} has wire type {wire_type}")
    return values


# ----------------------------------------------------------------------------------------
# The SSTable
# ----------------------------------------------------------------------------------------
def _read_block(data: bytes, offset: int, size: int, limit: int, what: str) -> bytes:
    """The contents of the block at [offset, offset + size), after checking its trailer."""
    end = offset + size
    if end + BLOCK_TRAILER_BYTES > limit:
        raise _Malformed(f"{what} at bytes [{offset}, {end}) runs past the end of the table ({limit} bytes)")
    contents = data[offset:end]
    block_type = data[end]
    (stored,) = struct.unpack_from("<I", data, end + 1)
    if unmask_crc(stored) != crc32c(data[offset:end + 1]):  # the CRC covers contents + type byte
        raise _Malformed(f"{what} at bytes [{offset}, {end}): checksum mismatch (the file is corrupt)")
    if block_type == 1:
        raise _Malformed(f"{what} is snappy-compressed; minibert reads only uncompressed tables "
                         "(which is what TensorFlow writes)")
    if block_type != 0:
        raise _Malformed(f"{what} has unknown compression type {block_type}")
    return contents


def _block_entries(block: bytes, what: str) -> list[tuple[bytes, bytes]]:
    """The (key, value) entries of a block's contents, keys rebuilt from their shared prefixes."""
    if len(block) < 4:
        raise _Malformed(f"{what}: {len(block)} bytes, too short for the restart count")
    (num_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    restarts_at = len(block) - 4 - 4 * num_restarts  # where the restart offsets begin
    if restarts_at < 0:
        raise _Malformed(f"{what}: {num_restarts} restart offsets do not fit in {len(block)} bytes")
    restarts = struct.unpack_from(f"<{num_restarts}I", block, restarts_at)
    entries, shared_at = [], {}  # shared_at: entry start -> its `shared` count
    pos, key = 0, b""
    while pos < restarts_at:
        start = pos
        shared, pos = _varint(block, pos, restarts_at, what)
        non_shared, pos = _varint(block, pos, restarts_at, what)
        value_len, pos = _varint(block, pos, restarts_at, what)
        if shared > len(key):
            raise _Malformed(f"{what}: an entry shares {shared} bytes with a key of {len(key)} bytes")
        if pos + non_shared + value_len > restarts_at:
            raise _Malformed(f"{what}: an entry at byte {start} runs past the entries")
        key = key[:shared] + block[pos:pos + non_shared]
        pos += non_shared
        entries.append((key, block[pos:pos + value_len]))
        pos += value_len
        shared_at[start] = shared
    if entries:  # an empty block (the metaindex) still lists one restart, at 0
        for restart in restarts:
            if shared_at.get(restart) != 0:
                raise _Malformed(f"{what}: restart offset {restart} is not an entry with a full key")
    return entries


def _block_handle(value: bytes, what: str) -> tuple[int, int]:
    """A BlockHandle: varint offset, varint size."""
    offset, pos = _varint(value, 0, len(value), what)
    size, _ = _varint(value, pos, len(value), what)
    return offset, size


def read_table(data: bytes) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of an SSTable held in ``data``, in key order.

    Raises _Malformed; :func:`read_index` turns that into a WeightsError naming the file.
    """
    if len(data) < FOOTER_BYTES:
        raise _Malformed(f"{len(data)} bytes, shorter than the {FOOTER_BYTES}-byte table footer")
    footer_at = len(data) - FOOTER_BYTES
    (magic,) = struct.unpack_from("<Q", data, len(data) - 8)
    if magic != TABLE_MAGIC:
        raise _Malformed("no SSTable magic number at the end: not a TensorFlow checkpoint index, or truncated")
    meta_offset, pos = _varint(data, footer_at, footer_at + 40, "the footer")
    meta_size, pos = _varint(data, pos, footer_at + 40, "the footer")
    index_offset, pos = _varint(data, pos, footer_at + 40, "the footer")
    index_size, _ = _varint(data, pos, footer_at + 40, "the footer")
    index = _read_block(data, index_offset, index_size, footer_at, "the index block")
    _read_block(data, meta_offset, meta_size, footer_at, "the metaindex block")  # empty here; checked all the same
    entries, next_free = [], 0
    for _, handle in _block_entries(index, "the index block"):  # its keys are separators, not names
        offset, size = _block_handle(handle, "a block handle")
        if offset < next_free:  # blocks in order, never overlapping: every byte is parsed once
            raise _Malformed(f"data block at byte {offset} overlaps the previous block")
        block = _read_block(data, offset, size, index_offset, f"the data block at byte {offset}")
        entries.extend(_block_entries(block, f"the data block at byte {offset}"))
        next_free = offset + size + BLOCK_TRAILER_BYTES
    for (previous, _), (key, _) in zip(entries, entries[1:]):
        if key <= previous:
            raise _Malformed(f"keys out of order ({previous!r} then {key!r})")
    return entries


# ----------------------------------------------------------------------------------------
# The bundle: header and entries
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor lies: a decoded BundleEntryProto."""

    name: str
    dtype: int  # TensorFlow's DataType number
    shape: tuple
    shard_id: int
    offset: int
    size: int
    crc32c: int  # masked, as stored
    sliced: bool  # a partitioned variable (not supported)

    @property
    def dtype_name(self) -> str:
        if self.dtype in DTYPES:
            return DTYPES[self.dtype][0]
        return OTHER_DTYPE_NAMES.get(self.dtype, f"DataType {self.dtype}")


@dataclass(frozen=True)
class CheckpointIndex:
    """A parsed ``.index`` file."""

    index_path: Path
    prefix: Path  # the checkpoint's name: shards are <prefix>.data-00000-of-00001...
    num_shards: int
    big_endian: bool
    entries: dict  # name -> TensorEntry, in key order

    def shard_path(self, shard_id: int) -> Path:
        return self.prefix.with_name(f"{self.prefix.name}.data-{shard_id:05d}-of-{self.num_shards:05d}")


def _parse_header(value: bytes) -> tuple[int, bool]:
    """BundleHeaderProto: 1 num_shards, 2 endianness (0 little, 1 big), 3 version."""
    what = "the bundle header"
    fields = _parse_message(value, what)
    num_shards = _signed(_field(fields, 1, 0, 0, what), 32)
    endianness = _field(fields, 2, 0, 0, what)
    version = _parse_message(_field(fields, 3, 2, b"", what), "the bundle version")
    min_consumer = _signed(_field(version, 2, 0, 0, what), 32)
    if not 1 <= num_shards <= 99999:  # shard names have 5 digits
        raise _Malformed(f"the header says {num_shards} data shards")
    if endianness not in (0, 1):
        raise _Malformed(f"the header gives an unknown byte order ({endianness})")
    bad_consumers = _repeated_ints(version, 3, what)  # reader versions the writer rules out
    if min_consumer > BUNDLE_VERSION:
        raise _Malformed(f"written by a newer TensorFlow (needs reader version {min_consumer}; "
                         f"minibert reads version {BUNDLE_VERSION})")
    if BUNDLE_VERSION in bad_consumers:
        raise _Malformed(f"written by a TensorFlow that rules out readers of version {BUNDLE_VERSION}, "
                         "minibert's")
    return num_shards, endianness == 1


def _parse_shape(value: bytes, what: str) -> tuple:
    """TensorShapeProto: 2 repeated Dim {1 size int64, 2 name}, 3 unknown_rank."""
    fields = _parse_message(value, what)
    if _field(fields, 3, 0, 0, what):
        raise _Malformed(f"{what}: shape of unknown rank")
    dims = []
    for wire_type, dim in fields.get(2, []):
        if wire_type != 2:
            raise _Malformed(f"{what}: a shape dimension with wire type {wire_type}")
        size = _signed(_field(_parse_message(dim, what), 1, 0, 0, what), 64)
        if size < 0:
            raise _Malformed(f"{what}: dimension of unknown size ({size})")
        dims.append(size)
        if len(dims) > MAX_RANK:
            raise _Malformed(f"{what}: a shape of more than {MAX_RANK} dimensions")
    return tuple(dims)


def _parse_entry(name: str, value: bytes) -> TensorEntry:
    """BundleEntryProto (see the module docstring); missing fields are proto3 defaults (0)."""
    what = f"tensor {name!r}"
    fields = _parse_message(value, what)
    offset = _signed(_field(fields, 4, 0, 0, what), 64)
    size = _signed(_field(fields, 5, 0, 0, what), 64)
    shard_id = _signed(_field(fields, 3, 0, 0, what), 32)
    if offset < 0 or size < 0 or shard_id < 0:
        raise _Malformed(f"{what}: negative offset, size or shard ({offset}, {size}, {shard_id})")
    return TensorEntry(
        name=name, dtype=_field(fields, 1, 0, 0, what), shape=_parse_shape(_field(fields, 2, 2, b"", what), what),
        shard_id=shard_id, offset=offset, size=size, crc32c=_field(fields, 6, 5, 0, what), sliced=7 in fields,
    )


def checkpoint_prefix(path: str | Path) -> Path:
    """The checkpoint name for any of its files: ``x.ckpt.index``, ``x.ckpt.data-00000-of-00001``
    or ``x.ckpt`` itself all give ``x.ckpt``."""
    path = Path(path)
    stem = re.sub(r"\.(index|meta|data-\d{5}-of-\d{5})$", "", path.name)
    return path.with_name(stem)


def read_index(path: str | Path) -> CheckpointIndex:
    """Parse and check a checkpoint's ``.index`` file (no tensor data is read).

    Args:
        path: the ``.index`` file, another file of the checkpoint, or its prefix
            (``bert_model.ckpt``).
    """
    prefix = checkpoint_prefix(path)
    index_path = prefix.with_name(prefix.name + ".index")
    try:
        size = index_path.stat().st_size
        if size > MAX_INDEX_BYTES:
            raise WeightsError(f"{index_path}: {size:,} bytes is far too big for a checkpoint index "
                               "(it holds only names and offsets); is it another kind of file?")
        data = index_path.read_bytes()
    except FileNotFoundError as exc:
        raise WeightsError(f"checkpoint index not found: {index_path}") from exc
    except IsADirectoryError as exc:
        raise WeightsError(f"{index_path} is a folder, not a checkpoint index") from exc
    except OSError as exc:
        raise WeightsError(f"cannot read {index_path}: {exc.strerror or exc}") from exc
    try:
        records = read_table(data)
        if not records or records[0][0] != b"":
            raise _Malformed("the first key is not the bundle header (the empty key)")
        num_shards, big_endian = _parse_header(records[0][1])
        entries = {}
        for key, value in records[1:]:
            name = key.decode("utf-8", errors="backslashreplace")
            if name in entries:  # two keys that differ only in invalid UTF-8
                raise _Malformed(f"tensor {name!r} is listed twice")
            entries[name] = _parse_entry(name, value)
    except _Malformed as exc:
        raise WeightsError(f"{index_path}: {exc} (a corrupt or truncated checkpoint index?)") from exc
    return CheckpointIndex(index_path, prefix, num_shards, big_endian, entries)


# ----------------------------------------------------------------------------------------
# The tensors
# ----------------------------------------------------------------------------------------
def is_optimizer_variable(name: str) -> bool:
    """True for optimizer state and counters (``.../adam_m``, ``global_step``...): not weights."""
    return any(part in OPTIMIZER_NAMES for part in name.split("/"))


def _check_entry(index: CheckpointIndex, entry: TensorEntry, shard_sizes: dict) -> None:
    """Refuse an entry we cannot read, before any of its bytes are: every size is bounded
    by a file that exists, so a forged entry cannot make us allocate more than that."""
    where = f"{index.index_path}: tensor {entry.name!r}"
    if entry.sliced:
        raise WeightsError(f"{where} is a partitioned (sliced) variable, saved in pieces; minibert does not "
                           "read those (BERT checkpoints have none)")
    if entry.dtype not in DTYPES:
        raise WeightsError(f"{where} has dtype {entry.dtype_name}; minibert reads "
                           f"{', '.join(name for name, _ in DTYPES.values())}")
    itemsize = np.dtype(DTYPES[entry.dtype][1]).itemsize
    expected = math.prod(entry.shape) * itemsize
    if entry.size != expected:
        raise WeightsError(f"{where}: the index says {entry.size} bytes, but dtype {entry.dtype_name} and shape "
                           f"{list(entry.shape)} need {expected}")
    if entry.shard_id >= index.num_shards:
        raise WeightsError(f"{where} is in shard {entry.shard_id}, but the checkpoint has {index.num_shards}")
    shard = index.shard_path(entry.shard_id)
    if shard not in shard_sizes:
        try:
            shard_sizes[shard] = shard.stat().st_size
        except OSError as exc:
            raise WeightsError(f"{where}: its data file {shard} is missing or unreadable "
                               f"({exc.strerror or exc}); copy every .data-* file of the checkpoint") from exc
    if entry.offset + entry.size > shard_sizes[shard]:
        raise WeightsError(f"{where} needs bytes [{entry.offset}, {entry.offset + entry.size}) of {shard}, which "
                           f"has only {shard_sizes[shard]}: the data file is truncated (an interrupted download?)")


def _decode(raw: bytearray, entry: TensorEntry, big_endian: bool) -> np.ndarray:
    """Raw bytes -> an array of the entry's shape (bfloat16 widened to float32)."""
    name, code = DTYPES[entry.dtype]
    arr = np.frombuffer(raw, dtype=np.dtype((">" if big_endian else "<") + code))
    if name == "bfloat16":  # the top half of a float32: shift the 16 bits up, reinterpret
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    return arr.astype(arr.dtype.newbyteorder("="), copy=False).reshape(entry.shape)


def load_checkpoint(path: str | Path, names=None, verify_crc: bool = False, skip_optimizer: bool = True) -> dict:
    """Read a TF1 checkpoint into ``{TensorFlow variable name: numpy array}``.

    Args:
        path: the ``.index`` file (or the prefix, e.g. ``.../bert_model.ckpt``).
        names: read only these tensors (default: all).
        verify_crc: check each tensor's CRC-32C (slow in pure Python: ~10 MB/s).
        skip_optimizer: leave out optimizer state and counters (``adam_m``, ``adam_v``,
            ``global_step``...), which are not weights.

    Raises:
        WeightsError: a corrupt or truncated index or data file, a missing data shard, a
        tensor minibert cannot read (compressed, sliced, unknown dtype), a checksum
        mismatch; the message names the file and the tensor.
    """
    index = read_index(path)
    entries = [e for e in index.entries.values()
               if (names is None or e.name in names) and not (skip_optimizer and is_optimizer_variable(e.name))]
    shard_sizes: dict = {}
    for entry in entries:  # every check first, so nothing is read from a bad checkpoint
        _check_entry(index, entry, shard_sizes)
    tensors = {}
    for shard_id in sorted({e.shard_id for e in entries}):
        shard = index.shard_path(shard_id)
        try:
            with open(shard, "rb") as f:
                for entry in (e for e in entries if e.shard_id == shard_id):
                    f.seek(entry.offset)
                    raw = bytearray(entry.size)
                    if f.readinto(raw) != entry.size:  # the file shrank since it was checked
                        raise WeightsError(f"{shard}: truncated while reading tensor {entry.name!r}")
                    if verify_crc and mask_crc(crc32c(raw)) != entry.crc32c:
                        raise WeightsError(f"{shard}: tensor {entry.name!r} fails its CRC-32C check: the data file "
                                           "is corrupt (or does not belong to this index)")
                    tensors[entry.name] = _decode(raw, entry, index.big_endian)
        except OSError as exc:
            raise WeightsError(f"cannot read {shard}: {exc.strerror or exc}") from exc
    return {e.name: tensors[e.name] for e in entries}  # in key order
