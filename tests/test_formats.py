"""The TF checkpoint and torch.save readers, and loading models from every weights format.

The files under tests/fixtures/formats/ were written by the real libraries
(tools/make_format_fixtures.py: TensorFlow's tf.compat.v1.train.Saver, torch.save, and
transformers' save_pretrained) from the same tiny BERT; neither library is needed here.

- Each reader gives exactly the arrays of the safetensors source, for every dtype and
  for views into shared storages.
- The same model loaded from the four formats gives identical outputs (and matches
  transformers' reference outputs); Google's TF names, transposed kernels, the
  run_classifier head and the casing of Google model folders are handled.
- Corrupt files are caught: checksums, truncations, compressed blocks, sliced variables,
  missing shards, out-of-bounds views, non-decimal storage keys.
- A hostile pickle (os.system) is refused and nothing runs; so is any other global.
- Fuzzing (hypothesis): random truncations, flipped bytes and random headers end in a
  WeightsError or a successful read: never another exception, a hang or a huge allocation.

Corrupt files are built with small writers written here (an SSTable writer, a pickle
assembler, zipfile), so the tests do not trust the readers under test to make them.
"""

import contextlib
import json
import os
import pickle
import shutil
import signal
import struct
import sys
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minibert.errors import MinibertWarning, WeightsError
from minibert.formats import safetensors, tf_checkpoint, torch_pickle
from minibert.formats.tf_checkpoint import crc32c, load_checkpoint, mask_crc, read_index, read_table, unmask_crc
from minibert.model import BertForSequenceClassification, BertModel
from minibert.pretrained import google_to_hf_name, load_tokenizer, lower_case_from_name

MODEL_FOLDERS = {  # format -> its folder under tests/fixtures/formats
    "safetensors": "safetensors",
    "torch_zip": "torch_zip",
    "torch_legacy": "torch_legacy",
    "tf_checkpoint": "uncased_L-2_H-32_A-4",
}
GOOGLE = "uncased_L-2_H-32_A-4"
INDEX = "bert_model.ckpt.index"
DATA = "bert_model.ckpt.data-00000-of-00001"


@pytest.fixture(scope="module")
def formats_dir(fixtures_dir):
    return fixtures_dir / "formats"


@pytest.fixture(scope="module")
def source(formats_dir):
    """The weights as transformers saved them (BertForPreTraining, 46 tensors, float32)."""
    return safetensors.load_file(formats_dir / "safetensors" / "model.safetensors")


@pytest.fixture(scope="module")
def ref(formats_dir):
    return np.load(formats_dir / "reference.npz")


@pytest.fixture(scope="module")
def expected_dtypes(formats_dir):
    with np.load(formats_dir / "dtypes" / "expected.npz") as data:
        return dict(data)


@pytest.fixture()
def google_copy(formats_dir, tmp_path):
    """A copy of the Google TF checkpoint folder, free to corrupt."""
    return shutil.copytree(formats_dir / GOOGLE, tmp_path / GOOGLE)


def run(model, ref):
    return model(ref["input_ids"], attention_mask=ref["attention_mask"], token_type_ids=ref["token_type_ids"])


def assert_same_arrays(got, expected):
    """Equal values, dtype and shape, bit for bit."""
    assert got.dtype == expected.dtype and got.shape == expected.shape, (got.dtype, got.shape, expected.shape)
    np.testing.assert_array_equal(got, expected)


def assert_error(call, *fragments):
    """``call()`` raises WeightsError whose message holds every fragment (file, tensor...)."""
    with pytest.raises(WeightsError) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert str(fragment) in message, f"{fragment!r} not in: {message}"
    return message


# ----------------------------------------------------------------------------------------
# Independent writers: an SSTable / tensor bundle, and pickles of state dicts
# ----------------------------------------------------------------------------------------
def varint(n):
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def block(entries):
    """An uncompressed SSTable block, every entry a restart point (full keys), with its trailer."""
    body, restarts = b"", []
    for key, value in entries:
        restarts.append(len(body))
        body += varint(0) + varint(len(key)) + varint(len(value)) + key + value
    body += b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts) or 1)
    if not entries:
        body = struct.pack("<II", 0, 1)  # an empty block still lists a restart at 0
    return body + b"\x00" + struct.pack("<I", mask_crc(crc32c(body + b"\x00")))


def sstable(entries):
    """A table of sorted (key, value) entries: one data block, the metaindex, the index, the footer."""
    data = block(entries)
    meta_at, meta = len(data), block([])
    index_at = meta_at + len(meta)
    last_key = entries[-1][0] if entries else b""
    index = block([(last_key, varint(0) + varint(len(data) - 5))])
    handles = varint(meta_at) + varint(len(meta) - 5) + varint(index_at) + varint(len(index) - 5)
    footer = handles + bytes(40 - len(handles)) + struct.pack("<Q", tf_checkpoint.TABLE_MAGIC)
    return data + meta + index + footer


def bundle_entry(dtype=1, shape=(), shard_id=0, offset=0, size=0, crc=0, extra=b""):
    """A BundleEntryProto, field by field (see tf_checkpoint's docstring)."""
    dims = b"".join(b"\x12" + varint(len(d)) + d for d in (b"\x08" + varint(n % 2**64) for n in shape))
    return (b"\x08" + varint(dtype) + b"\x12" + varint(len(dims)) + dims + b"\x18" + varint(shard_id % 2**64)
            + b"\x20" + varint(offset % 2**64) + b"\x28" + varint(size % 2**64) + b"\x35" + struct.pack("<I", crc)
            + extra)


def bundle_header(num_shards=1):
    return b"\x08" + varint(num_shards % 2**64) + b"\x1a\x02\x08\x01"  # version {producer: 1}


def write_bundle(folder, tensors, num_shards=1, header=None):
    """A checkpoint ``folder/x.ckpt``: {name: float32 array} in shard 0, with proper CRCs."""
    data, entries = b"", []
    for name, array in sorted(tensors.items()):
        raw = np.ascontiguousarray(array, dtype="<f4").tobytes()
        entries.append((name.encode(), bundle_entry(1, array.shape, 0, len(data), len(raw), mask_crc(crc32c(raw)))))
        data += raw
    index = sstable([(b"", header if header is not None else bundle_header(num_shards))] + entries)
    (folder / "x.ckpt.index").write_bytes(index)
    (folder / f"x.ckpt.data-00000-of-{num_shards:05d}").write_bytes(data)
    return folder / "x.ckpt.index"


def pickled_str(text):
    data = text.encode("utf-8")
    return b"X" + struct.pack("<I", len(data)) + data  # BINUNICODE


def pickled_int(n):
    return b"J" + struct.pack("<i", n)  # BININT


def pickled_tuple(items):
    return b"(" + b"".join(items) + b"t"  # MARK ... TUPLE


def state_dict_pickle(tensors, legacy=False):
    """A protocol-2 pickle of {name: tensor} as torch writes it, assembled opcode by opcode.

    tensors: {name: (storage key, storage type, numel, offset, size, stride)}.
    """
    out = b"\x80\x02}("  # PROTO 2, EMPTY_DICT, MARK
    for name, (key, storage_type, numel, offset, size, stride) in tensors.items():
        pid = pickled_tuple([pickled_str("storage"), f"ctorch\n{storage_type}\n".encode(), pickled_str(key),
                             pickled_str("cpu"), pickled_int(numel)] + ([b"N"] if legacy else []))
        args = pickled_tuple([pid + b"Q", pickled_int(offset), pickled_tuple(map(pickled_int, size)),
                              pickled_tuple(map(pickled_int, stride)), b"\x89", b"}"])  # ..., False, {}
        out += pickled_str(name) + b"ctorch._utils\n_rebuild_tensor_v2\n" + args + b"R"
    return out + b"u."  # SETITEMS, STOP


def write_torch_zip(path, pickle_bytes, storages, byteorder="little", root="archive", compression=zipfile.ZIP_STORED):
    """A torch.save zip: <root>/data.pkl, <root>/byteorder, <root>/data/<key> (storages: {key: bytes})."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        archive.writestr(f"{root}/data.pkl", pickle_bytes)
        archive.writestr(f"{root}/byteorder", byteorder)
        for key, raw in storages.items():
            archive.writestr(f"{root}/data/{key}", raw)
        archive.writestr(f"{root}/version", "3\n")
    return path


def write_torch_legacy(path, pickle_bytes, storages, itemsize=4):
    """A legacy torch.save file: magic, protocol, sys_info, the pickle, the keys, the storages."""
    sys_info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
    out = b"".join(pickle.dumps(x, protocol=2) for x in (torch_pickle.LEGACY_MAGIC_NUMBER, 1001, sys_info))
    out += pickle_bytes + pickle.dumps(list(storages), protocol=2)
    for raw in storages.values():
        out += struct.pack("<q", len(raw) // itemsize) + raw
    path.write_bytes(out)
    return path


def simple_torch_file(path, legacy, offset=0, size=(2, 3), stride=(3, 1), key="0", numel=6):
    """A one-tensor float32 state dict {"w": view of storage [0, 1, 2, 3, 4, 5]}."""
    raw = np.arange(numel, dtype="<f4").tobytes()
    pkl = state_dict_pickle({"w": (key, "FloatStorage", numel, offset, size, stride)}, legacy=legacy)
    writer = write_torch_legacy if legacy else write_torch_zip
    return writer(path, pkl, {key: raw})


# ----------------------------------------------------------------------------------------
# CRC-32C
# ----------------------------------------------------------------------------------------
def test_crc32c_check_value_and_mask():
    assert crc32c(b"123456789") == 0xE3069283  # the standard check value of CRC-32C
    assert crc32c(b"") == 0
    for value in (0, 1, 0xE3069283, 0xFFFFFFFF):
        assert unmask_crc(mask_crc(value)) == value
    assert mask_crc(0) == 0xA282EAD8


# ----------------------------------------------------------------------------------------
# The real files, read tensor by tensor
# ----------------------------------------------------------------------------------------
def test_tf_index_as_tensorflow_wrote_it(formats_dir):
    index = read_index(formats_dir / GOOGLE / INDEX)
    assert (index.num_shards, index.big_endian) == (1, False)
    names = list(index.entries)
    assert names == sorted(names, key=str.encode)  # keys sort bytewise
    first = index.entries[names[0]]
    assert first.name == "bert/embeddings/LayerNorm/beta" and first.offset == 0  # proto3 omitted offset 0
    assert index.entries["global_step"].dtype == 9 and index.entries["global_step"].shape == ()
    kernel = index.entries["bert/encoder/layer_0/intermediate/dense/kernel"]
    assert kernel.shape == (32, 37) and kernel.size == 32 * 37 * 4  # TF Dense kernels are [in, out]


def test_tf_checkpoint_equals_the_safetensors_source(formats_dir, source):
    tensors = load_checkpoint(formats_dir / GOOGLE / INDEX, verify_crc=True)
    assert "global_step" not in tensors and not any("adam" in name for name in tensors)  # optimizer skipped
    covered = set()
    for tf_name, array in tensors.items():
        hf_name, transpose = google_to_hf_name(tf_name)
        if hf_name.startswith("classifier."):
            continue  # run_classifier's head: not in the pre-training source
        assert_same_arrays(array.T if transpose else array, source[hf_name])
        covered.add(hf_name)
    assert covered == set(source)  # all 46 tensors
    assert tensors["output_weights"].shape == (3, 32) and tensors["output_bias"].shape == (3,)


def test_tf_optimizer_variables_on_request(formats_dir):
    tensors = load_checkpoint(formats_dir / GOOGLE / INDEX, skip_optimizer=False)
    assert tensors["global_step"].dtype == np.int64 and int(tensors["global_step"]) == 1000
    assert tensors["output_bias/adam_m"].shape == (3,)
    assert tf_checkpoint.is_optimizer_variable("bert/pooler/dense/bias/adam_v")
    assert not tf_checkpoint.is_optimizer_variable("bert/pooler/dense/bias")


def test_tf_prefix_and_data_file_name_the_same_checkpoint(formats_dir):
    by_index = load_checkpoint(formats_dir / GOOGLE / INDEX, names=["output_bias"])
    for path in (formats_dir / GOOGLE / "bert_model.ckpt", formats_dir / GOOGLE / DATA):
        assert_same_arrays(load_checkpoint(path, names=["output_bias"])["output_bias"], by_index["output_bias"])


def test_tf_every_dtype_over_two_shards(formats_dir, expected_dtypes):
    index = read_index(formats_dir / "dtypes" / "tf.ckpt.index")
    assert index.num_shards == 2 and {e.shard_id for e in index.entries.values()} == {0, 1}
    tensors = load_checkpoint(formats_dir / "dtypes" / "tf.ckpt.index", verify_crc=True)
    assert sorted(tensors) == sorted(k[len("tf/"):] for k in expected_dtypes if k.startswith("tf/"))
    for name, array in tensors.items():
        assert_same_arrays(array, expected_dtypes[f"tf/{name}"])


@pytest.mark.parametrize("fmt", ["torch_zip", "torch_legacy"])
def test_torch_file_equals_the_safetensors_source(formats_dir, source, fmt):
    tensors = torch_pickle.load_file(formats_dir / fmt / "pytorch_model.bin")
    # torch.save keeps the tied decoder (sharing the word embeddings' storage); safetensors drops it
    assert set(tensors) == set(source) | {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}
    for name, array in source.items():
        assert_same_arrays(tensors[name], array)
    assert_same_arrays(tensors["cls.predictions.decoder.weight"], source["bert.embeddings.word_embeddings.weight"])
    assert_same_arrays(tensors["cls.predictions.decoder.bias"], source["cls.predictions.bias"])


@pytest.mark.parametrize("name", ["torch_zip.pt", "torch_legacy.pt"])
def test_torch_every_storage_type_and_views(formats_dir, expected_dtypes, name):
    tensors = torch_pickle.load_file(formats_dir / "dtypes" / name)
    assert sorted(tensors) == sorted(k[len("torch/"):] for k in expected_dtypes if k.startswith("torch/"))
    for key, array in tensors.items():
        assert_same_arrays(array, expected_dtypes[f"torch/{key}"])
        assert array.flags.c_contiguous and array.flags.writeable, key
    np.testing.assert_array_equal(tensors["view/transposed"], tensors["view/base"].T)  # stride (1, 6)


def test_torch_zip_layout(formats_dir):
    """What torch.save wrote: one <stem>/data.pkl, storages under <stem>/data/, a byteorder record."""
    path = formats_dir / "torch_zip" / "pytorch_model.bin"
    with open(path, "rb") as f:
        members = torch_pickle.read_zip_directory(f, path.stat().st_size)
    assert "pytorch_model/data.pkl" in members and "pytorch_model/byteorder" in members
    assert all(m.method == 0 for m in members.values())
    opcodes = torch_pickle.scan_opcodes(zipfile.ZipFile(path).read("pytorch_model/data.pkl"))
    assert opcodes[:3] == ["PROTO", "GLOBAL", "BINPUT"] and opcodes[-1] == "STOP"


# ----------------------------------------------------------------------------------------
# The same model from every format
# ----------------------------------------------------------------------------------------
def test_identical_outputs_from_the_four_formats(formats_dir, ref):
    outputs = {}
    for fmt, folder in MODEL_FOLDERS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MinibertWarning)  # the TF checkpoint's unused classifier head
            model = BertModel.from_pretrained(formats_dir / folder, device="cpu")
        outputs[fmt] = run(model, ref)
    for fmt, out in outputs.items():
        assert np.abs(out.last_hidden_state - outputs["safetensors"].last_hidden_state).max() == 0, fmt
        assert np.abs(out.pooler_output - outputs["safetensors"].pooler_output).max() == 0, fmt
    # and they are transformers' outputs (float32 rounding apart)
    np.testing.assert_allclose(outputs["safetensors"].last_hidden_state, ref["last_hidden_state"], atol=1e-5)
    np.testing.assert_allclose(outputs["safetensors"].pooler_output, ref["pooler_output"], atol=1e-5)


@pytest.mark.parametrize("fmt", ["safetensors", "torch_zip", "torch_legacy"])
def test_pretraining_heads_are_ignored_even_strictly(formats_dir, fmt):
    with warnings.catch_warnings():
        warnings.simplefilter("error", MinibertWarning)  # no warning about cls.* tensors
        BertModel.from_pretrained(formats_dir / fmt, strict=True)


def test_run_classifier_head_becomes_the_classifier(formats_dir, ref):
    with warnings.catch_warnings():
        warnings.simplefilter("error", MinibertWarning)
        model = BertForSequenceClassification.from_pretrained(formats_dir / GOOGLE, num_labels=3, strict=True)
    tensors = load_checkpoint(formats_dir / GOOGLE / INDEX, names=["output_weights"])
    np.testing.assert_array_equal(model.classifier.weight.data, tensors["output_weights"])  # not transposed
    np.testing.assert_allclose(run(model, ref).logits, ref["logits"], atol=1e-5)


def test_tf_head_in_a_bert_model_is_reported_by_its_tf_name(formats_dir):
    with pytest.warns(MinibertWarning, match="output_bias, output_weights"):
        BertModel.from_pretrained(formats_dir / GOOGLE)
    assert_error(lambda: BertModel.from_pretrained(formats_dir / GOOGLE, strict=True), "output_weights", INDEX)


def test_wrong_shape_names_the_tf_variable(google_copy):
    config = json.loads((google_copy / "bert_config.json").read_text())
    (google_copy / "bert_config.json").write_text(json.dumps({**config, "intermediate_size": 36}))
    assert_error(lambda: BertModel.from_pretrained(google_copy), google_copy / INDEX,
                 "'bert/encoder/layer_0/intermediate/dense/bias'", "(36,)")


def test_wrong_shape_in_a_torch_file(formats_dir, tmp_path):
    folder = shutil.copytree(formats_dir / "torch_zip", tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "hidden_size": 16, "num_attention_heads": 2}))
    assert_error(lambda: BertModel.from_pretrained(folder), folder / "pytorch_model.bin", "(99, 32)")


def test_safetensors_is_preferred_and_a_named_file_is_used(formats_dir, tmp_path, ref):
    folder = shutil.copytree(formats_dir / "safetensors", tmp_path / "m")
    (folder / "pytorch_model.bin").write_bytes(b"PK\x03\x04 broken")  # never read: safetensors comes first
    expected = run(BertModel.from_pretrained(folder), ref).last_hidden_state
    assert_error(lambda: BertModel.from_pretrained(folder / "pytorch_model.bin"), folder / "pytorch_model.bin")
    shutil.copy(formats_dir / "torch_legacy" / "pytorch_model.bin", folder / "pytorch_model.bin")
    model = BertModel.from_pretrained(folder / "pytorch_model.bin")  # the file named, not the folder's first
    assert np.abs(run(model, ref).last_hidden_state - expected).max() == 0


def test_tf_prefix_as_the_model_path(formats_dir, ref):
    """Google's instructions name a checkpoint by its prefix: .../bert_model.ckpt."""
    with pytest.warns(MinibertWarning):
        model = BertModel.from_pretrained(formats_dir / GOOGLE / "bert_model.ckpt")
    assert model.config.intermediate_size == 37


@pytest.mark.parametrize("tf_name, hf_name, transpose", [
    ("bert/embeddings/word_embeddings", "bert.embeddings.word_embeddings.weight", False),
    ("bert/embeddings/LayerNorm/gamma", "bert.embeddings.LayerNorm.weight", False),
    ("bert/encoder/layer_11/attention/self/query/kernel", "bert.encoder.layer.11.attention.self.query.weight", True),
    ("bert/encoder/layer_0/output/LayerNorm/beta", "bert.encoder.layer.0.output.LayerNorm.bias", False),
    ("bert/pooler/dense/bias", "bert.pooler.dense.bias", False),
    ("cls/predictions/output_bias", "cls.predictions.bias", False),
    ("cls/seq_relationship/output_weights", "cls.seq_relationship.weight", False),
    ("output_weights", "classifier.weight", False),
    ("output_bias", "classifier.bias", False),
])
def test_google_to_hf_name(tf_name, hf_name, transpose):
    assert google_to_hf_name(tf_name) == (hf_name, transpose)


# ----------------------------------------------------------------------------------------
# Casing of the tokenizer
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, lower", [
    ("uncased_L-12_H-768_A-12", True), ("cased_L-24_H-1024_A-16", False), ("wwm_uncased_L-24_H-1024_A-16", True),
    ("wwm_cased_L-24_H-1024_A-16", False), ("multi_cased_L-12_H-768_A-12", False),
    ("multilingual_L-12_H-768_A-12", True), ("chinese_L-12_H-768_A-12", True), ("uncased_L-2_H-128_A-2", True),
    ("bert-base-cased", False), ("bert-base-multilingual-uncased", True), ("bert_uncased_L-4_H-256_A-4", True),
    ("my-model", None), ("casedness", None),
])
def test_lower_case_from_name(name, lower):
    assert lower_case_from_name(name) is lower


def test_tokenizer_casing_from_the_google_folder_name(google_copy, tmp_path):
    assert load_tokenizer(google_copy).tokenize("Hello") == ["hello"]
    cased = shutil.copytree(google_copy, tmp_path / "cased_L-2_H-32_A-4")
    assert load_tokenizer(cased).tokenize("Hello") == ["Hello"]


def test_tokenizer_config_wins_over_the_name(google_copy, tmp_path):
    cased = shutil.copytree(google_copy, tmp_path / "cased_L-2_H-32_A-4")
    (cased / "tokenizer_config.json").write_text('{"do_lower_case": true}')
    assert load_tokenizer(cased).tokenize("Hello") == ["hello"]


def test_tokenizer_of_an_unknown_folder_lower_cases_with_a_warning(google_copy, tmp_path):
    folder = shutil.copytree(google_copy, tmp_path / "my-model")
    with pytest.warns(MinibertWarning, match="tokenizer_config.json"):
        assert load_tokenizer(folder).tokenize("Hello") == ["hello"]


# ----------------------------------------------------------------------------------------
# TF checkpoints: corruption
# ----------------------------------------------------------------------------------------
def flip(path, position, mask=0x01):
    data = bytearray(path.read_bytes())
    data[position] ^= mask
    path.write_bytes(bytes(data))


def test_tf_flipped_data_byte_is_caught_by_the_tensor_crc(google_copy):
    entry = read_index(google_copy / INDEX).entries["bert/encoder/layer_1/output/dense/kernel"]
    flip(google_copy / DATA, entry.offset + 5)
    load_checkpoint(google_copy / INDEX)  # without verification, the corruption goes unseen...
    assert_error(lambda: load_checkpoint(google_copy / INDEX, verify_crc=True),  # ...with it, it is caught
                 google_copy / DATA, "'bert/encoder/layer_1/output/dense/kernel'", "CRC-32C")


def test_tf_flipped_index_byte_is_caught_by_the_block_crc(google_copy):
    flip(google_copy / INDEX, 100)  # inside the data block
    assert_error(lambda: load_checkpoint(google_copy / INDEX), google_copy / INDEX, "checksum mismatch")


def test_tf_truncated_data_shard(google_copy):
    data = (google_copy / DATA).read_bytes()
    (google_copy / DATA).write_bytes(data[:-10])
    last = max(read_index(google_copy / INDEX).entries.values(), key=lambda e: e.offset)
    assert_error(lambda: load_checkpoint(google_copy / INDEX), google_copy / INDEX, f"'{last.name}'", "truncated")


def test_tf_truncated_index(google_copy):
    data = (google_copy / INDEX).read_bytes()
    (google_copy / INDEX).write_bytes(data[:-1])
    assert_error(lambda: load_checkpoint(google_copy / INDEX), google_copy / INDEX, "magic")


def test_tf_missing_data_shard(google_copy):
    (google_copy / DATA).unlink()
    assert_error(lambda: load_checkpoint(google_copy / INDEX), DATA, "'bert/embeddings/LayerNorm/beta'", "missing")


def test_tf_missing_index(tmp_path):
    assert_error(lambda: load_checkpoint(tmp_path / "nothing.ckpt.index"), tmp_path / "nothing.ckpt.index")


def read_varint(buf, pos):
    """(value, next position) of the varint at ``pos``."""
    value = shift = 0
    while True:
        value |= (buf[pos] & 0x7F) << shift
        shift += 7
        pos += 1
        if not buf[pos - 1] & 0x80:
            return value, pos


def test_tf_compressed_block_is_refused(google_copy):
    data = bytearray((google_copy / INDEX).read_bytes())
    pos = len(data) - 48  # the footer: metaindex handle, then the index block's
    for _ in range(2):
        _, pos = read_varint(data, pos)
    index_offset, _ = read_varint(data, pos)
    # The index block's first entry: shared, non_shared, value_len, key, then the handle of
    # the first data block (which starts at byte 0): offset, size.
    _, pos = read_varint(data, index_offset)
    key_len, pos = read_varint(data, pos)
    _, pos = read_varint(data, pos)
    block_offset, pos = read_varint(data, pos + key_len)
    size, _ = read_varint(data, pos)
    assert block_offset == 0
    data[size] = 1  # compression type: snappy; then a valid CRC, so that only the flag is wrong
    data[size + 1:size + 5] = struct.pack("<I", mask_crc(crc32c(bytes(data[:size + 1]))))
    (google_copy / INDEX).write_bytes(bytes(data))
    assert_error(lambda: load_checkpoint(google_copy / INDEX), google_copy / INDEX, "snappy")


def rewrite_index(folder, edit):
    """Re-encode folder's index with our writer after ``edit(entries)`` changed its (key, value) list."""
    entries = read_table((folder / INDEX).read_bytes())
    edit(entries)
    (folder / INDEX).write_bytes(sstable(entries))


def test_tf_index_rewritten_by_our_writer_reads_the_same(google_copy, formats_dir):
    rewrite_index(google_copy, lambda entries: None)
    original = load_checkpoint(formats_dir / GOOGLE / INDEX)
    for name, array in load_checkpoint(google_copy / INDEX, verify_crc=True).items():
        assert_same_arrays(array, original[name])


def test_tf_sliced_variable_is_refused(google_copy):
    name = b"bert/pooler/dense/kernel"

    def add_slices(entries):
        i = [key for key, _ in entries].index(name)
        entries[i] = (name, entries[i][1] + b"\x3a\x00")  # field 7 (slices): one empty TensorSliceProto

    rewrite_index(google_copy, add_slices)
    assert_error(lambda: load_checkpoint(google_copy / INDEX), google_copy / INDEX, "'bert/pooler/dense/kernel'",
                 "sliced")
    assert "bert/embeddings/LayerNorm/beta" in load_checkpoint(google_copy / INDEX, names=["bert/embeddings/LayerNorm/beta"])


def test_tf_forged_huge_tensor_is_refused_before_allocating(tmp_path):
    index = write_bundle(tmp_path, {"w": np.ones(3, np.float32)})
    huge = bundle_entry(1, (2**20, 2**20), 0, 0, 4 * 2**40)  # 4 TiB, exactly prod(shape) x 4
    (tmp_path / "x.ckpt.index").write_bytes(sstable([(b"", bundle_header()), (b"w", huge)]))
    assert_error(lambda: load_checkpoint(index), index, "'w'", "truncated")


@pytest.mark.parametrize("entry, message", [
    (bundle_entry(1, (3,), 0, 0, 16), "need 12"),  # size != prod(shape) x 4
    (bundle_entry(7, (3,), 0, 0, 12), "dtype string"),
    (bundle_entry(1, (3,), 5, 0, 12), "shard 5"),
    (bundle_entry(1, (2**64 - 1,), 0, 0, 12), "unknown size"),  # a dimension of -1
    (bundle_entry(1, (3,), 0, 2**64 - 8, 12), "negative offset"),
    (b"\x0b", "wire type 3"),  # a protobuf group: never in a BundleEntryProto
])
def test_tf_bad_entries(tmp_path, entry, message):
    index = write_bundle(tmp_path, {"w": np.ones(3, np.float32)})
    (tmp_path / "x.ckpt.index").write_bytes(sstable([(b"", bundle_header()), (b"w", entry)]))
    assert_error(lambda: load_checkpoint(index), index, message)


@pytest.mark.parametrize("header, message", [(bundle_header(0), "0 data shards"),
                                              (b"\x08\x01\x10\x05", "byte order"),
                                              (b"\x08\x01\x1a\x02\x10\x02", "newer TensorFlow"),
                                              (b"\x08\x01\x1a\x02\x18\x01", "rules out readers of version 1")])
def test_tf_bad_headers(tmp_path, header, message):
    index = write_bundle(tmp_path, {"w": np.ones(3, np.float32)}, header=header)
    assert_error(lambda: load_checkpoint(index), index, message)


def test_tf_our_writer_and_big_endian(tmp_path):
    index = write_bundle(tmp_path, {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.float32(7)})
    tensors = load_checkpoint(index, verify_crc=True)
    assert_same_arrays(tensors["a"], np.arange(6, dtype=np.float32).reshape(2, 3))
    assert_same_arrays(tensors["b"], np.array(7, np.float32))
    big = np.arange(3, dtype=">f4")
    raw = big.tobytes()
    (tmp_path / "x.ckpt.index").write_bytes(sstable([
        (b"", b"\x08\x01\x10\x01\x1a\x02\x08\x01"),  # endianness BIG
        (b"a", bundle_entry(1, (3,), 0, 0, 12, mask_crc(crc32c(raw))))]))
    (tmp_path / "x.ckpt.data-00000-of-00001").write_bytes(raw)
    got = load_checkpoint(index, verify_crc=True)["a"]
    assert got.dtype == np.float32 and got.dtype.isnative
    np.testing.assert_array_equal(got, [0, 1, 2])


# ----------------------------------------------------------------------------------------
# torch.save files: hostile and corrupt
# ----------------------------------------------------------------------------------------
class Payload:
    """Pickles as a call to os.system: what a malicious pytorch_model.bin holds."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):  # the command creates the marker file: proof that it ran
        return os.system, (f'"{sys.executable}" -c "open(r\'{self.marker}\', \'w\').close()"',)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_hostile_pickle_is_refused_and_nothing_runs(tmp_path, legacy):
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(Payload(control), protocol=2))  # a plain pickle.load WOULD run the command
    assert control.exists()
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"weight": Payload(marker)}, protocol=2)
    path = tmp_path / "pytorch_model.bin"
    (write_torch_legacy if legacy else write_torch_zip)(path, payload, {})
    message = assert_error(lambda: torch_pickle.load_file(path), path, f"{os.system.__module__}.system")
    assert "refused" in message
    assert not marker.exists()


def test_hostile_pickle_in_the_legacy_header_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(torch_pickle.LEGACY_MAGIC + pickle.dumps(1001, protocol=2)
                     + pickle.dumps(Payload(marker), protocol=2))  # as sys_info
    assert_error(lambda: torch_pickle.load_file(path), path, "system")
    assert not marker.exists()


@pytest.mark.parametrize("module, name", [
    ("builtins", "eval"), ("numpy.core.multiarray", "_reconstruct"), ("torch._tensor", "_rebuild_from_type_v2"),
    ("torch", "load"), ("collections", "Counter"),
])
def test_unknown_globals_are_refused_by_name(tmp_path, module, name):
    pkl = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b")R."  # GLOBAL, EMPTY_TUPLE, REDUCE, STOP
    path = write_torch_zip(tmp_path / "m.bin", pkl, {})
    assert_error(lambda: torch_pickle.load_file(path), path, f"{module}.{name}")


@pytest.mark.parametrize("pkl, message", [
    (b"\x80\x02\x82\x01.", "EXT1"),  # the copyreg extension registry
    (b"\x80\x02C\x03abc.", "SHORT_BINBYTES"),
    (b"\x80\x02ccollections\nOrderedDict\n)\x81.", "NEWOBJ"),  # builds an object without REDUCE
    (b"\x80\x02Nr\xff\xff\xff\x0f.", "memo slot"),  # LONG_BINPUT 268435455: a 2 GB memo table
    (b"\x80\x02]q\x00.", "list"),  # not a state dict
    (b"\x80\x02}q\x00X\x01\x00\x00\x00aK\x01s.", "not a tensor"),
    (b"\x80\x02}q\x00(", "corrupt"),  # truncated
])
def test_pickles_that_are_not_state_dicts(tmp_path, pkl, message):
    path = write_torch_zip(tmp_path / "m.bin", pkl, {})
    assert_error(lambda: torch_pickle.load_file(path), path, message)


def test_build_may_not_change_a_checked_tensor(tmp_path):
    """BUILD writes into an object's __dict__: it could change a view after it was checked."""
    pkl = state_dict_pickle({"w": ("0", "FloatStorage", 6, 0, (2, 3), (3, 1))})
    assert pkl.endswith(b"Ru.")
    build = b"}" + pickled_str("shape") + pickled_str("abc") + b"sb"  # {"shape": "abc"}, BUILD
    path = write_torch_zip(tmp_path / "m.bin", pkl[:-2] + build + b"u.", {"0": bytes(24)})
    assert_error(lambda: torch_pickle.load_file(path), path, "set the state")


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_our_torch_writer_round_trip(tmp_path, legacy):
    path = simple_torch_file(tmp_path / "m.bin", legacy, offset=1, size=(2, 2), stride=(1, 2))
    assert_same_arrays(torch_pickle.load_file(path)["w"], np.array([[1, 3], [2, 4]], np.float32))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("view", [
    dict(offset=1, size=(2, 3), stride=(3, 1)),  # reaches element 6 of 6
    dict(offset=0, size=(3, 3), stride=(3, 1)),
    dict(offset=0, size=(2, 3), stride=(4, 1)),
    dict(offset=7, size=(0, 3), stride=(3, 1)),  # even an empty view may not start past the end
])
def test_view_out_of_bounds(tmp_path, legacy, view):
    path = simple_torch_file(tmp_path / "m.bin", legacy, **view)
    assert_error(lambda: torch_pickle.load_file(path), path, "'w'", "out of bounds")


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_negative_stride_is_refused(tmp_path, legacy):
    path = simple_torch_file(tmp_path / "m.bin", legacy, offset=5, size=(6,), stride=(-1,))
    assert_error(lambda: torch_pickle.load_file(path), path, "'w'", "malformed view")


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("key", ["../0", "0x1", "abc", "", "١"])  # the last: an Arabic-Indic digit
def test_non_decimal_storage_key(tmp_path, legacy, key):
    path = simple_torch_file(tmp_path / "m.bin", legacy, key=key)
    assert_error(lambda: torch_pickle.load_file(path), path, "not a decimal number")


def test_storage_size_mismatch(tmp_path):
    pkl = state_dict_pickle({"w": ("0", "FloatStorage", 6, 0, (6,), (1,))})
    path = write_torch_zip(tmp_path / "m.bin", pkl, {"0": bytes(20)})
    assert_error(lambda: torch_pickle.load_file(path), path, "storage '0'", "need 24")
    legacy = write_torch_legacy(tmp_path / "l.bin", state_dict_pickle(
        {"w": ("0", "FloatStorage", 6, 0, (6,), (1,))}, legacy=True), {"0": bytes(20)})
    assert_error(lambda: torch_pickle.load_file(legacy), legacy, "storage '0' holds 5 elements")


def test_truncated_zip(formats_dir, tmp_path):
    data = (formats_dir / "torch_zip" / "pytorch_model.bin").read_bytes()
    for cut in (10, len(data) // 2, len(data) - 1):
        path = tmp_path / "pytorch_model.bin"
        path.write_bytes(data[:cut])
        assert_error(lambda: torch_pickle.load_file(path), path, "truncated")


def test_truncated_legacy(formats_dir, tmp_path):
    data = (formats_dir / "torch_legacy" / "pytorch_model.bin").read_bytes()
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(data[:-1])
    assert_error(lambda: torch_pickle.load_file(path), path, "truncated")


def test_zip_member_crc_and_compression(formats_dir, tmp_path):
    source = formats_dir / "torch_zip" / "pytorch_model.bin"
    with zipfile.ZipFile(source) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
        offset = archive.getinfo("pytorch_model/data/3").header_offset
    corrupt = tmp_path / "corrupt.bin"
    data = bytearray(source.read_bytes())
    data[offset + 200] ^= 0xFF  # inside storage 3 (the local header is < 200 bytes long)
    corrupt.write_bytes(bytes(data))
    assert_error(lambda: torch_pickle.load_file(corrupt), corrupt, "CRC-32")
    deflated = tmp_path / "deflated.bin"
    with zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, raw in members.items():
            archive.writestr(name, raw)
    assert_error(lambda: torch_pickle.load_file(deflated), deflated, "compressed")


def test_zip_root_folder_varies_and_big_endian(tmp_path):
    values = np.array([1.5, -2.0, 3.25], dtype=">f8")
    pkl = state_dict_pickle({"w": ("0", "DoubleStorage", 3, 0, (3,), (1,))})
    path = write_torch_zip(tmp_path / "m.bin", pkl, {"0": values.tobytes()}, byteorder="big", root="my_weights")
    got = torch_pickle.load_file(path)["w"]
    assert got.dtype == np.float64 and got.dtype.isnative
    np.testing.assert_array_equal(got, values)


def test_zip_needs_exactly_one_data_pkl(tmp_path):
    path = tmp_path / "m.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a/data.pkl", b"\x80\x02}.")
        archive.writestr("b/data.pkl", b"\x80\x02}.")
    assert_error(lambda: torch_pickle.load_file(path), path, "data.pkl")


def test_not_a_torch_file(tmp_path):
    path = tmp_path / "m.bin"
    path.write_bytes(pickle.dumps({"w": 1}, protocol=2))  # a bare pickle: not torch.save's layout
    assert_error(lambda: torch_pickle.load_file(path), path, "not a torch.save file")
    assert_error(lambda: torch_pickle.load_file(tmp_path / "missing.bin"), tmp_path / "missing.bin", "not found")


# ----------------------------------------------------------------------------------------
# Fuzzing: every failure is a WeightsError, never a crash, a hang or a huge allocation
# ----------------------------------------------------------------------------------------
FUZZ = settings(max_examples=100, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])
TIME_LIMIT_S = 10
MEMORY_HEADROOM = 512 * 2**20  # the fuzzed files are < 110 KB: no read may need more memory than this


class ReaderHang(BaseException):
    """A read that ran too long. A BaseException, not an Exception, so that no reader's own
    ``except Exception`` (torch_pickle wraps its unpickler in one) can turn it into a
    WeightsError, which the fuzz tests would count as a clean failure."""


@contextlib.contextmanager
def time_limit(seconds):
    """Raise ReaderHang if the block runs longer than ``seconds`` (where signals allow)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def fail(signum, frame):
        raise ReaderHang(f"the reader ran for more than {seconds} s: a hang?")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def memory_limit(headroom):
    """Make any allocation beyond ``headroom`` more bytes of address space fail with MemoryError
    (Linux: RLIMIT_AS, restored afterwards; elsewhere no limit). Even an allocation that
    would never be touched, such as a 4 GB buffer for a forged length, is caught."""
    try:
        import resource  # noqa: PLC0415  (Unix only)

        with open("/proc/self/statm") as f:
            in_use = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (ImportError, OSError):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = in_use + headroom
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def read_or_weights_error(read, path):
    """``read(path)``: returns its result, or None after a WeightsError. Any other exception
    fails the test (a MemoryError included), and so does a read that takes too long."""
    try:
        with time_limit(TIME_LIMIT_S), memory_limit(MEMORY_HEADROOM):
            return read(path)
    except WeightsError:
        return None


def read_tf(path):
    return load_checkpoint(path, verify_crc=True)


# (format, folder, file to damage, reader, file to read)
FUZZ_TARGETS = {
    "safetensors": ("safetensors", "model.safetensors", safetensors.load_file, "model.safetensors"),
    "tf_index": (GOOGLE, INDEX, read_tf, INDEX),
    "tf_data": (GOOGLE, DATA, read_tf, INDEX),
    "tf_two_shards": ("dtypes", "tf.ckpt.data-00001-of-00002", read_tf, "tf.ckpt.index"),
    "torch_zip": ("torch_zip", "pytorch_model.bin", torch_pickle.load_file, "pytorch_model.bin"),
    "torch_legacy": ("torch_legacy", "pytorch_model.bin", torch_pickle.load_file, "pytorch_model.bin"),
    "torch_zip_dtypes": ("dtypes", "torch_zip.pt", torch_pickle.load_file, "torch_zip.pt"),
    "torch_legacy_dtypes": ("dtypes", "torch_legacy.pt", torch_pickle.load_file, "torch_legacy.pt"),
}


class FuzzTarget:
    """A copy of a fixture folder: the file to damage, its original bytes, how to read it."""

    def __init__(self, name, folder, damaged, read, entry):
        self.name, self.damaged, self.read, self.entry = name, folder / damaged, read, folder / entry
        self.original = self.damaged.read_bytes()

    def __repr__(self):  # what hypothesis prints for a failing example: not 100 KB of bytes
        return f"FuzzTarget({self.name!r})"


@pytest.fixture(params=list(FUZZ_TARGETS))
def fuzz_target(request, formats_dir, tmp_path_factory):
    folder, damaged, read, entry = FUZZ_TARGETS[request.param]
    copy = shutil.copytree(formats_dir / folder, tmp_path_factory.mktemp("fuzz") / folder)
    return FuzzTarget(request.param, copy, damaged, read, entry)


@FUZZ
@given(data=st.data())
def test_fuzz_truncated_files_always_fail_cleanly(fuzz_target, data):
    target = fuzz_target
    cut = data.draw(st.integers(0, len(target.original) - 1), label="cut")
    try:
        target.damaged.write_bytes(target.original[:cut])
        assert read_or_weights_error(target.read, target.entry) is None, f"a file cut at {cut} bytes was read"
    finally:
        target.damaged.write_bytes(target.original)


@FUZZ
@given(data=st.data())
def test_fuzz_flipped_bytes_read_or_fail_cleanly(fuzz_target, data):
    target = fuzz_target
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(target.original) - 1), st.integers(1, 255)),
                               min_size=1, max_size=4), label="flips")
    corrupt = bytearray(target.original)
    for position, mask in flips:
        corrupt[position] ^= mask
    try:
        target.damaged.write_bytes(bytes(corrupt))
        result = read_or_weights_error(target.read, target.entry)
        if ".data-" in target.damaged.name and corrupt != target.original:
            assert result is None, "a damaged TF data shard passed its CRC checks"  # every byte is in a tensor
    finally:
        target.damaged.write_bytes(target.original)


@FUZZ
@given(header=st.dictionaries(
    st.text(max_size=8),
    st.one_of(st.fixed_dictionaries({
        "dtype": st.sampled_from(["F32", "F64", "BF16", "I64", "BOOL", "X9", 5]),
        "shape": st.lists(st.one_of(st.integers(-2, 6), st.integers(2**40, 2**64)), max_size=3),
        "data_offsets": st.lists(st.one_of(st.integers(-4, 200), st.integers(2**32, 2**70)), min_size=1, max_size=3),
    }), st.text(max_size=5), st.integers()), max_size=4),
    buffer_size=st.integers(0, 300))
def test_fuzz_safetensors_random_headers(tmp_path_factory, header, buffer_size):
    raw = json.dumps(header).encode()
    path = tmp_path_factory.mktemp("st") / "x.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(buffer_size))
    read_or_weights_error(safetensors.load_file, path)


@FUZZ
@given(
    header=st.one_of(st.builds(bundle_header, st.integers(-2, 3)), st.binary(max_size=12)),
    entries=st.dictionaries(
        st.binary(min_size=1, max_size=6),
        st.one_of(st.builds(bundle_entry, st.sampled_from([1, 2, 3, 7, 9, 14, 19, 99]),
                            st.lists(st.one_of(st.integers(0, 5), st.integers(2**30, 2**64 - 1)), max_size=3),
                            st.integers(0, 2), st.one_of(st.integers(0, 64), st.integers(2**62, 2**64 - 1)),
                            st.one_of(st.integers(0, 64), st.integers(2**40, 2**64 - 1)), st.integers(0, 2**32 - 1),
                            st.sampled_from([b"", b"\x3a\x00", b"\x40\x01", b"\x0b", b"\x12\x05"])),
                  st.binary(max_size=24)),
        max_size=4))
def test_fuzz_tf_random_entries(tmp_path_factory, header, entries):
    folder = tmp_path_factory.mktemp("tf")
    (folder / "x.ckpt.index").write_bytes(sstable([(b"", header)] + sorted(entries.items())))
    (folder / "x.ckpt.data-00000-of-00001").write_bytes(bytes(range(64)))
    read_or_weights_error(read_tf, folder / "x.ckpt.index")


@FUZZ
@given(
    legacy=st.booleans(),
    storage_type=st.sampled_from(["FloatStorage", "BFloat16Storage", "LongStorage", "BoolStorage", "Bogus"]),
    numel=st.integers(-1, 8), stored=st.integers(0, 40),
    offset=st.integers(-2, 10),
    size=st.lists(st.one_of(st.integers(-1, 4), st.integers(2**20, 2**31 - 1)), max_size=3),
    stride=st.lists(st.one_of(st.integers(-1, 4), st.integers(2**20, 2**31 - 1)), max_size=3),
    key=st.sampled_from(["0", "1", "00", "x", "9" * 50]))
def test_fuzz_torch_random_views(tmp_path_factory, legacy, storage_type, numel, stored, offset,
                                 size, stride, key):
    pkl = state_dict_pickle({"w": (key, storage_type, numel, offset, tuple(size), tuple(stride))}, legacy=legacy)
    path = tmp_path_factory.mktemp("torch") / "m.bin"
    (write_torch_legacy if legacy else write_torch_zip)(path, pkl, {"0": bytes(range(stored))})
    result = read_or_weights_error(torch_pickle.load_file, path)
    if result is not None:
        assert result["w"].shape == tuple(size)


@FUZZ
@given(data=st.data())
def test_fuzz_torch_pickle_mutations(tmp_path_factory, formats_dir, data):
    """Mutated pickles in an otherwise valid zip (its CRCs rewritten): the unpickler itself is fuzzed."""
    with zipfile.ZipFile(formats_dir / "dtypes" / "torch_zip.pt") as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    name = next(n for n in members if n.endswith("/data.pkl"))
    pkl = bytearray(members[name])
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        position = data.draw(st.integers(0, len(pkl) - 1), label="position")
        kind = data.draw(st.sampled_from(["flip", "insert", "delete"]), label="kind")
        if kind == "flip":
            pkl[position] ^= data.draw(st.integers(1, 255), label="mask")
        elif kind == "insert":
            pkl[position:position] = data.draw(st.binary(min_size=1, max_size=8), label="inserted")
        else:
            del pkl[position:position + data.draw(st.integers(1, 8), label="deleted")]
    path = tmp_path_factory.mktemp("torch") / "m.bin"
    with zipfile.ZipFile(path, "w") as archive:
        for member, raw in members.items():
            archive.writestr(member, bytes(pkl) if member == name else raw)
    read_or_weights_error(torch_pickle.load_file, path)


# ----------------------------------------------------------------------------------------
# Cases found by fuzzing: huge ranks, huge integers, deep nesting
# ----------------------------------------------------------------------------------------
def test_safetensors_absurd_headers_fail_fast(tmp_path):
    """prod() of 200,000 dimensions took minutes; a 5000-digit integer or a deeply nested
    header made json/str raise ValueError or RecursionError instead of WeightsError."""
    for header in ('{"w": {"dtype": "F32", "shape": [%s], "data_offsets": [0, 4]}}' % ",".join(["4611686018427387904"] * 200_000),
                   '{"w": {"dtype": "F32", "shape": [1%s], "data_offsets": [0, 4]}}' % ("0" * 5000),
                   '{"w": %s}' % ("[" * 100_000 + "]" * 100_000)):
        raw = header.encode()
        path = tmp_path / "x.safetensors"
        path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(4))
        with time_limit(5):
            assert_error(lambda: safetensors.load_file(path), path)


def test_tf_absurd_rank_fails_fast(tmp_path):
    index = write_bundle(tmp_path, {"w": np.ones(3, np.float32)})
    entry = bundle_entry(1, [2**62] * 100_000, 0, 0, 12)
    (tmp_path / "x.ckpt.index").write_bytes(sstable([(b"", bundle_header()), (b"w", entry)]))
    with time_limit(5):
        assert_error(lambda: load_checkpoint(index), index, "dimensions")


def test_torch_absurd_rank_and_deep_nesting_fail_fast(tmp_path):
    path = simple_torch_file(tmp_path / "m.bin", False, size=(2**20,) * 100_000, stride=(1,) * 100_000)
    with time_limit(5):
        assert_error(lambda: torch_pickle.load_file(path), path, "malformed view")
    deep_key = b"N" + b"\x85" * 100_000  # ((((None,),),)...): a dict key nested 100,000 deep
    path = write_torch_zip(tmp_path / "d.bin", b"\x80\x02}" + deep_key + b"K\x01s.", {})
    with time_limit(5):
        assert_error(lambda: torch_pickle.load_file(path), path, "not a tensor")
