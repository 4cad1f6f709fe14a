"""Lesson 4: weights files, byte by byte.

What it teaches
    The same BERT is published in several file formats. This lesson opens each one with
    nothing but Python and NumPy, reads one tensor out of it by hand, then loads the model
    from each file and shows that the outputs are identical:

      1. the four files of one model (a tiny 2-layer BERT written by the real libraries:
         transformers, torch.save, TensorFlow's Saver; see tools/make_format_fixtures.py)
      2. model.safetensors: an 8-byte length, a JSON header, the raw numbers
      3. Google's TF1 checkpoint: bert_model.ckpt.index, a sorted table whose footer points
         to an index block, whose entries point to data blocks, whose keys are tensor names
         and whose values are small protobuf messages saying where each tensor lies in
         bert_model.ckpt.data-00000-of-00001; Dense kernels are stored [in, out]
      4. pytorch_model.bin (zip format): an uncompressed zip whose data.pkl is a Python
         pickle -- a program that could call any function -- and how minibert reads it
         without letting it import or call anything but a whitelist of harmless stand-ins
      5. pytorch_model.bin (legacy format): pickles back to back, then the raw storages
      6. the same model from all four files: identical outputs

How to run it (from any folder; nothing is downloaded)
    python lessons/04_weight_formats.py
"""

import json
import pickle
import pickletools
import struct
import tempfile
import warnings
import zipfile
from pathlib import Path

from lesson_support import section  # first: it also makes minibert importable from this checkout

import numpy as np

from minibert.errors import WeightsError
from minibert.formats import tf_checkpoint, torch_pickle
from minibert.formats.safetensors import load_file
from minibert.model import BertModel

FORMATS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "formats"
FOLDERS = {  # format -> the folder holding that model's files
    "safetensors": FORMATS / "safetensors",
    "TF1 checkpoint": FORMATS / "uncased_L-2_H-32_A-4",
    "torch zip": FORMATS / "torch_zip",
    "torch legacy": FORMATS / "torch_legacy",
}
TENSOR = "bert.embeddings.LayerNorm.weight"  # the tensor we read by hand from every file


def hexdump(data, start=0, width=16):
    """Bytes as lines of hex + printable characters, like `xxd`."""
    for i in range(0, len(data), width):
        chunk = data[i:i + width]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        print(f"  {start + i:08x}  {chunk.hex(' '):<{3 * width}} {text}")


def varint(buf, pos):
    """Decode the varint at ``pos``: 7 bits per byte, low bits first; a set high bit means
    "more bytes follow". Returns (value, position after it)."""
    value = shift = 0
    while True:
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return value, pos
        shift += 7


def show_numbers(label, array, count=4):
    print(f"  {label:<42} {array.dtype} {str(array.shape):<8} {np.array2string(array.ravel()[:count], precision=5)}")


def main():
    # ------------------------------------------------------------------------------------
    section("1. One model, four files")
    for fmt, folder in FOLDERS.items():
        print(f"{fmt}: {folder.name}/")
        for path in sorted(folder.iterdir()):
            print(f"    {path.name:<38} {path.stat().st_size:>8,} bytes")
    print("""
The weights are the same numbers in every file (float32; 2 layers, H = 32, I = 37,
V = 99), plus BERT's pre-training heads (cls.*), which minibert's models do not use.""")

    # ------------------------------------------------------------------------------------
    section("2. model.safetensors")
    path = FOLDERS["safetensors"] / "model.safetensors"
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])  # unsigned 64-bit little-endian
    print(f"The first 8 bytes, {data[:8].hex(' ')}, say: a JSON header of {n:,} bytes follows.")
    header = json.loads(data[8:8 + n])
    print(f"It starts: {data[8:8 + 100].decode()}...")
    info = header[TENSOR]
    begin, end = info["data_offsets"]
    print(f"\nheader[{TENSOR!r}] = {info}")
    print(f"so its bytes are data[8 + {n} + {begin} : 8 + {n} + {end}], float32 little-endian:")
    by_hand = np.frombuffer(data[8 + n + begin:8 + n + end], dtype="<f4").reshape(info["shape"])
    show_numbers("by hand", by_hand)
    source = load_file(path)
    show_numbers("minibert.formats.safetensors.load_file", source[TENSOR])

    # ------------------------------------------------------------------------------------
    section("3. Google's TF1 checkpoint: bert_model.ckpt.index + .data-00000-of-00001")
    folder = FOLDERS["TF1 checkpoint"]
    index = (folder / "bert_model.ckpt.index").read_bytes()
    print("The .index file is an SSTable (LevelDB's sorted table). Its last 48 bytes, the footer:")
    footer = index[-48:]
    hexdump(footer, start=len(index) - 48)
    meta_offset, pos = varint(footer, 0)
    meta_size, pos = varint(footer, pos)
    index_offset, pos = varint(footer, pos)
    index_size, pos = varint(footer, pos)
    print(f"  varints: metaindex block at {meta_offset} ({meta_size} bytes), index block at {index_offset} "
          f"({index_size} bytes);")
    print(f"  then zeros, then the magic number {footer[40:].hex(' ')} (0xdb4775248b80fb57, little-endian).")

    # The index block: entries (shared, non_shared, value_len, key bytes, value) then restarts.
    _, p = varint(index, index_offset)
    key_len, p = varint(index, p)
    _, p = varint(index, p)
    separator = index[p:p + key_len]
    block_offset, p = varint(index, p + key_len)
    block_size, _ = varint(index, p)
    print(f"\nThe index block's one entry: key {separator!r} (not a tensor name: any key >= the block's")
    print(f"last) -> the data block at byte {block_offset}, {block_size} bytes. After it, 1 byte of")
    trailer = index[block_size:block_size + 5]
    print(f"compression type and a 4-byte masked CRC-32C: {trailer.hex(' ')} (type 0: not compressed).")
    crc = tf_checkpoint.unmask_crc(struct.unpack("<I", trailer[1:])[0])
    print(f"  crc32c(block + type byte) = {tf_checkpoint.crc32c(index[:block_size + 1]):#010x}, "
          f"stored (unmasked) {crc:#010x}")

    print("\nThe data block's first entries: varints shared, non_shared, value_len, then the new key")
    print("bytes (the key is the previous key's first `shared` bytes + these), then the value:")
    pos, key = block_offset, b""
    for _ in range(4):
        shared, pos = varint(index, pos)
        non_shared, pos = varint(index, pos)
        value_len, pos = varint(index, pos)
        key = key[:shared] + index[pos:pos + non_shared]
        value = index[pos + non_shared:pos + non_shared + value_len]
        pos += non_shared + value_len
        print(f"  shared {shared:>2} + {index[pos - value_len - non_shared:pos - value_len]!r:<36} -> key {key!r}")
        print(f"      value {value.hex(' ')}")
    print("""The first key is empty: its value is the header (08 01 = field 1, num_shards: 1). The
others are BundleEntryProto messages: a tag byte (field number << 3 | wire type), then a value.
LayerNorm/beta's, field by field:
  08 01                field 1 (dtype)  = 1: float32
  12 04 [12 02 08 20]  field 2 (shape), 4 bytes: one dimension (field 2), of size (field 1) 32
  28 80 01             field 5 (size)   = 128 bytes (varint: 0x80 & 0x7f = 0, plus 0x01 << 7)
  35 15 11 a3 ec       field 6 (crc32c), 4 bytes: the masked CRC-32C of the tensor's bytes
There is no field 3 (shard) nor field 4 (offset): protobuf leaves out zeros, so both are 0.
LayerNorm/gamma's has "20 80 01": field 4, offset = 128, right after beta's 128 bytes.""")

    ckpt = tf_checkpoint.read_index(folder / "bert_model.ckpt.index")
    entry = ckpt.entries["bert/embeddings/LayerNorm/gamma"]
    print(f"\nread_index decodes all {len(ckpt.entries)} entries; {entry.name}:")
    print(f"  dtype {entry.dtype_name}, shape {entry.shape}, shard {entry.shard_id}, bytes [{entry.offset}, "
          f"{entry.offset + entry.size}) of {ckpt.shard_path(entry.shard_id).name}")
    with open(ckpt.shard_path(entry.shard_id), "rb") as f:
        f.seek(entry.offset)
        raw = f.read(entry.size)
    show_numbers("by hand from the .data file", np.frombuffer(raw, "<f4"))
    print(f"  its CRC-32C checks out: {tf_checkpoint.mask_crc(tf_checkpoint.crc32c(raw)) == entry.crc32c}")

    kernel = ckpt.entries["bert/encoder/layer_0/intermediate/dense/kernel"]
    print(f"""
Google's names differ from Hugging Face's, and so do Dense kernels:
  bert/encoder/layer_0/intermediate/dense/kernel  {kernel.shape}  [in, out]: TF computes x @ W
  bert.encoder.layer.0.intermediate.dense.weight  {source['bert.encoder.layer.0.intermediate.dense.weight'].shape}  [out, in]: x @ W.T
so minibert transposes every kernel (minibert.pretrained.google_to_hf_name has the rules).
The file also holds what training left: global_step, Adam's adam_m/adam_v (skipped), and a
run_classifier head, output_weights/output_bias (-> classifier.weight/bias).
Optimizer variables: {[n for n in ckpt.entries if tf_checkpoint.is_optimizer_variable(n)]}""")

    # ------------------------------------------------------------------------------------
    section("4. pytorch_model.bin, zip format")
    path = FOLDERS["torch zip"] / "pytorch_model.bin"
    data = path.read_bytes()
    print(f"It starts with {data[:4].hex(' ')} ('PK\\x03\\x04', a zip local header). A zip is read from its")
    eocd = data.rfind(b"PK\x05\x06")
    print(f"END: the end-of-central-directory record at byte {eocd:,}:")
    hexdump(data[eocd:eocd + 22], start=eocd)
    count, dir_size, dir_offset = struct.unpack_from("<HII", data, eocd + 10)
    print(f"  {count} members; the central directory is {dir_size:,} bytes at byte {dir_offset:,}.")
    with open(path, "rb") as f:
        members = torch_pickle.read_zip_directory(f, len(data))
    print("\n  member                               bytes  local header at  (method 0 = stored)")
    for member in list(members.values())[:6]:
        print(f"  {member.name:<34} {member.size:>7,}  {member.header_offset:>15,}  method {member.method}")
    print(f"  ... ({len(members) - 6} more: one data/<key> per storage, then version and an id)")

    pkl = members["pytorch_model/data.pkl"]
    with open(path, "rb") as f:
        pkl_bytes = torch_pickle.read_zip_member(f, pkl, len(data))
    print(f"\ndata.pkl is a pickle: instructions for a stack machine. Its first ones (of "
          f"{len(torch_pickle.scan_opcodes(pkl_bytes)):,}):")
    for i, (opcode, arg, pos) in enumerate(pickletools.genops(pkl_bytes)):
        if i == 24:
            break
        print(f"  {pos:>5}  {opcode.name:<12} {'' if arg is None else repr(arg)}")
    print("""  ...
GLOBAL names a Python function; REDUCE calls it. Here it is torch's _rebuild_tensor_v2(storage,
offset 0, size (99, 32), stride (32, 1), ...), and the storage is a "persistent id"
('storage', FloatStorage, '0', 'cpu', 3168): the member data/0, 3,168 floats.
But a pickle may name ANY function: GLOBAL os system + REDUCE runs a shell command, and
pickle.load would obey. minibert's unpickler knows only the few names a state dict needs,
mapped to its own harmless stand-ins. Watch it refuse a hostile pickle:""")
    hostile = b"\x80\x02cos\nsystem\nX\x0b\x00\x00\x00echo hackedR."  # os.system("echo hacked")
    with tempfile.TemporaryDirectory() as tmp:
        bad = Path(tmp) / "pytorch_model.bin"
        with zipfile.ZipFile(bad, "w") as archive:  # a torch.save-shaped zip around it
            archive.writestr("archive/data.pkl", hostile)
        try:
            torch_pickle.load_file(bad)
        except WeightsError as exc:
            print(f"  WeightsError: {str(exc).replace(str(bad), 'pytorch_model.bin')}")
    obeyed = pickle.loads(b"\x80\x02cos\ngetcwd\n)R.")  # GLOBAL os getcwd, EMPTY_TUPLE, REDUCE: harmless
    print(f"Plain pickle.loads obeys any GLOBAL + REDUCE: it just called os.getcwd() -> {obeyed!r}")

    refs = torch_pickle.SafeUnpickler(pkl_bytes).load()  # what each tensor is; no arrays yet
    ref = refs[TENSOR]
    print(f"\n{TENSOR} is storage {ref.storage.key!r}, offset {ref.offset}, shape {ref.shape}, stride {ref.stride};")
    key_member = members[f"pytorch_model/data/{ref.storage.key}"]
    with open(path, "rb") as f:
        f.seek(key_member.header_offset + 26)
        name_len, extra_len = struct.unpack("<HH", f.read(4))
        start = key_member.header_offset + 30 + name_len + extra_len
        f.seek(start)
        raw = f.read(key_member.size)
    print(f"its member's data starts at byte {start:,} (= {start // 64} x 64: torch aligns storages to 64 bytes).")
    show_numbers("by hand from the zip", np.frombuffer(raw, "<f4")[ref.offset:ref.offset + ref.shape[0]])
    tensors = torch_pickle.load_file(path)
    show_numbers("minibert.formats.torch_pickle.load_file", tensors[TENSOR])
    decoder = tensors["cls.predictions.decoder.weight"]
    print(f"Tied weights: cls.predictions.decoder.weight uses storage "
          f"{refs['cls.predictions.decoder.weight'].storage.key!r}, like bert.embeddings.word_embeddings.weight "
          f"({refs['bert.embeddings.word_embeddings.weight'].storage.key!r}): equal "
          f"{np.array_equal(decoder, tensors['bert.embeddings.word_embeddings.weight'])}.")

    # ------------------------------------------------------------------------------------
    section("5. pytorch_model.bin, legacy format (PyTorch < 1.6)")
    path = FOLDERS["torch legacy"] / "pytorch_model.bin"
    data = path.read_bytes()
    print("No zip: five pickles back to back, then the storages. The first 64 bytes:")
    hexdump(data[:64])
    print(f"""  80 02 8a 0a 6c fc 9c 46 f9 20 6a a8 50 19 2e = PROTO 2, LONG1 (10 bytes) {torch_pickle.LEGACY_MAGIC_NUMBER:#x}, STOP:
  the magic number; then the protocol version 1001, then sys_info (byte order, type sizes),
  then the state dict, then the list of storage keys; then each storage: an int64 element
  count and the raw bytes. The tensors are built only once the storages have been read.""")
    legacy = torch_pickle.load_file(path)
    show_numbers("minibert.formats.torch_pickle.load_file", legacy[TENSOR])

    # ------------------------------------------------------------------------------------
    section("6. The same model from all four files")
    reference = np.load(FORMATS / "reference.npz")
    print(f"input_ids {reference['input_ids'].shape}: {reference['input_ids'][1]}\n")
    outputs = {}
    for fmt, folder in FOLDERS.items():
        # device="cpu": this lesson works on NumPy arrays, even if MINIBERT_DEVICE says "cuda".
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the TF checkpoint's classifier head is unused here
                model = BertModel.from_pretrained(folder, device="cpu")
        except WeightsError as exc:
            print(f"FAILED to load {fmt}: {exc}")
            raise SystemExit(1) from exc
        out = model(reference["input_ids"], attention_mask=reference["attention_mask"],
                    token_type_ids=reference["token_type_ids"]).last_hidden_state
        outputs[fmt] = out
        diff = np.abs(out - outputs["safetensors"]).max()
        print(f"  {fmt:<15} last_hidden_state[1, 0, :4] = {np.array2string(out[1, 0, :4], precision=5)}"
              f"   max abs difference from safetensors: {diff}")
    identical = all(np.array_equal(out, outputs["safetensors"]) for out in outputs.values())
    hf = np.abs(outputs["safetensors"] - reference["last_hidden_state"]).max()
    print(f"\nIdentical outputs from all four formats: {identical}")
    print(f"(and transformers' own output differs by at most {hf:.1e}: float32 rounding)")
    if not identical:
        print("FAILED: the formats disagree")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
