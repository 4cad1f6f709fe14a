"""The safetensors reader and writer (minibert/formats/safetensors.py), from the bytes.

A safetensors file is

    8 bytes   N, the header length (unsigned 64-bit little-endian)
    N bytes   a JSON object: {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...}
    the rest  the byte buffer; tensor "name" is buffer[begin:end]

- Round trips for every dtype the writer knows, scalars, zero-size tensors, metadata.
- The writer's layout is the reference writer's, byte for byte (the transformers
  fixtures are rewritten identically).
- BF16, which the writer never produces, is read from a file built by hand here.
- Every corrupt or wrong file raises WeightsError, and the message names the file.
"""

import json
import struct

import numpy as np
import pytest

from minibert.errors import WeightsError
from minibert.formats.safetensors import load_file, read_header, save_file

FIXTURE_FILES = ["tiny_bert/model.safetensors", "tiny_bert_tanh_cls/model.safetensors"]


# ----------------------------------------------------------------------------------------
# Helpers: files written from raw parts, so the tests do not trust the writer under test
# ----------------------------------------------------------------------------------------
def write_raw(path, header, buffer=b"", pad=True):
    """Write a safetensors file by hand: header (a dict, or raw bytes) then the buffer."""
    header_bytes = header if isinstance(header, bytes) else json.dumps(header).encode("utf-8")
    if pad:
        header_bytes += b" " * (-len(header_bytes) % 8)
    path.write_bytes(struct.pack("<Q", len(header_bytes)) + header_bytes + buffer)
    return path


def raw_header(path):
    """The parsed JSON header of a file, read by hand (not with read_header)."""
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), n


def assert_weights_error(path, match=None):
    """Loading ``path`` raises WeightsError naming the file (and ``match`` when given)."""
    with pytest.raises(WeightsError) as info:
        load_file(path)
    message = str(info.value)
    assert str(path) in message, message
    if match is not None:
        assert match in message, message
    return message


def f32(values):
    return np.array(values, dtype=np.float32)


# ----------------------------------------------------------------------------------------
# Round trips
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, name", [
    (np.float32, "F32"), (np.float64, "F64"), (np.float16, "F16"), (np.int64, "I64"),
    (np.int32, "I32"), (np.int16, "I16"), (np.int8, "I8"), (np.uint8, "U8"), (np.uint16, "U16"),
    (np.uint32, "U32"), (np.uint64, "U64"), (np.bool_, "BOOL"),
])
def test_round_trip_every_dtype(tmp_path, dtype, name):
    rng = np.random.default_rng(0)
    if dtype == np.bool_:
        original = rng.random((3, 5)) > 0.5
    elif np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        original = rng.integers(info.min, info.max, size=(3, 5), dtype=dtype, endpoint=True)
        original[0, 0], original[0, 1] = info.min, info.max  # the extremes survive
    else:
        original = rng.standard_normal((3, 5)).astype(dtype)
    path = tmp_path / "t.safetensors"
    save_file({"x": original}, path)
    header, _ = raw_header(path)
    assert header["x"] == {"dtype": name, "shape": [3, 5], "data_offsets": [0, original.nbytes]}
    loaded = load_file(path)["x"]
    assert loaded.dtype == original.dtype and loaded.shape == (3, 5)
    np.testing.assert_array_equal(loaded, original)
    # the buffer is the raw little-endian bytes, C order
    assert path.read_bytes()[-original.nbytes:] == original.astype(original.dtype.newbyteorder("<")).tobytes()


def test_round_trip_scalar_zero_size_and_metadata(tmp_path):
    tensors = {
        "scalar": np.array(3.5, dtype=np.float64),  # shape []
        "empty": np.zeros((0, 4), dtype=np.float32),  # zero bytes
        "also_empty": np.zeros((2, 0, 3), dtype=np.int64),
        "matrix": np.arange(6, dtype=np.float32).reshape(2, 3),
    }
    path = tmp_path / "t.safetensors"
    save_file(tensors, path, metadata={"format": "np", "step": 7})
    entries, metadata, _ = read_header(path)
    assert metadata == {"format": "np", "step": "7"}  # metadata values are stored as strings
    assert entries["scalar"][1] == () and entries["empty"][1] == (0, 4)
    loaded = load_file(path)
    assert set(loaded) == set(tensors)
    for name, array in tensors.items():
        assert loaded[name].shape == array.shape and loaded[name].dtype == array.dtype, name
        np.testing.assert_array_equal(loaded[name], array)
    assert float(loaded["scalar"]) == 3.5


def test_only_zero_size_tensors_and_an_empty_file_of_tensors(tmp_path):
    path = tmp_path / "t.safetensors"
    save_file({"a": np.zeros(0, np.float32), "b": np.zeros((0, 2), np.float64)}, path)
    loaded = load_file(path)
    assert loaded["a"].shape == (0,) and loaded["b"].shape == (0, 2)
    save_file({}, path)
    assert load_file(path) == {}


def test_names_argument_reads_a_subset(tmp_path):
    path = tmp_path / "t.safetensors"
    save_file({"a": f32([1, 2]), "b": f32([3]), "c": f32([4, 5, 6])}, path)
    loaded = load_file(path, names=["c", "a"])
    assert sorted(loaded) == ["a", "c"]
    np.testing.assert_array_equal(loaded["c"], f32([4, 5, 6]))


def test_non_contiguous_and_big_endian_arrays_are_saved_by_value(tmp_path):
    base = np.arange(12, dtype=np.float64).reshape(3, 4)
    big = np.arange(5, dtype=">i4")  # big-endian: must be stored little-endian
    path = tmp_path / "t.safetensors"
    save_file({"transposed": base.T, "every_other": base[:, ::2], "big": big}, path)
    loaded = load_file(path)
    np.testing.assert_array_equal(loaded["transposed"], base.T)
    np.testing.assert_array_equal(loaded["every_other"], base[:, ::2])
    np.testing.assert_array_equal(loaded["big"], [0, 1, 2, 3, 4])
    assert raw_header(path)[0]["big"]["dtype"] == "I32"


def test_header_is_padded_with_spaces_to_a_multiple_of_8(tmp_path):
    path = tmp_path / "t.safetensors"
    for name in ("a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh"):
        save_file({name: f32([1.0])}, path)
        data = path.read_bytes()
        (n,) = struct.unpack("<Q", data[:8])
        assert n % 8 == 0, name
        text = data[8:8 + n].decode("utf-8")
        json_part = text.rstrip(" ")
        assert json_part.endswith("}") and json.loads(json_part) == json.loads(text)
        assert len(text) - len(json_part) < 8  # spaces only, and no more than needed
        assert len(data) == 8 + n + 4


def test_writer_is_byte_identical_to_the_reference_writer(tmp_path):
    """Bytes written by safetensors 0.8.0 (``safetensors.numpy.save``) for the same tensors."""
    path = tmp_path / "t.safetensors"
    save_file({"z": np.zeros((0, 3), np.float32), "s": np.array(3.0, np.float32)}, path)
    header = b'{"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"z":{"dtype":"F32","shape":[0,3],"data_offsets":[4,4]}}    '
    assert path.read_bytes() == struct.pack("<Q", 112) + header + struct.pack("<f", 3.0)


def test_layout_is_largest_items_first_then_reference_dtype_order_then_name(tmp_path):
    """The reference writer sorts by dtype (its enum order, descending), then name."""
    tensors = {
        "a": np.zeros(2, np.float64), "b": np.zeros(2, np.int64), "c": np.zeros(2, np.uint64),
        "d": np.zeros(3, np.float32), "e": np.zeros(3, np.int32), "f": np.zeros(2, np.float16),
        "g": np.zeros(2, np.int16), "h": np.zeros(1, np.bool_), "i": np.zeros(1, np.uint8),
        "j": np.zeros(1, np.int8), "k": np.zeros(2, np.uint32), "l": np.zeros(2, np.uint16),
        "a2": np.zeros(1, np.float64), "d0": np.zeros(1, np.float32),
    }
    path = tmp_path / "t.safetensors"
    save_file(tensors, path)
    header, _ = raw_header(path)
    layout = sorted(header, key=lambda n: header[n]["data_offsets"][0])
    # what safetensors 0.8.0 writes for the same dict
    assert layout == ["c", "b", "a", "a2", "d", "d0", "k", "e", "f", "l", "g", "j", "i", "h"]
    itemsizes = [tensors[n].dtype.itemsize for n in layout]
    assert itemsizes == sorted(itemsizes, reverse=True)
    assert list(header) == layout  # the JSON lists them in the same order


def test_save_rejects_what_safetensors_cannot_hold(tmp_path):
    path = tmp_path / "t.safetensors"
    with pytest.raises(WeightsError, match=r"'cplx'.*complex128"):
        save_file({"cplx": np.zeros(2, np.complex128)}, path)
    with pytest.raises(WeightsError, match="'text'"):
        save_file({"text": np.array(["a", "b"])}, path)
    with pytest.raises(WeightsError, match="__metadata__"):
        save_file({"__metadata__": f32([1])}, path)
    with pytest.raises(WeightsError, match="'ragged'"):
        save_file({"ragged": [[1.0, 2.0], [3.0]]}, path)
    assert not path.exists()


def test_save_into_a_missing_folder_is_a_weights_error_and_leaves_nothing(tmp_path):
    path = tmp_path / "no" / "such" / "folder" / "t.safetensors"
    with pytest.raises(WeightsError) as info:
        save_file({"a": f32([1])}, path)
    assert str(path) in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_save_replaces_an_existing_file_without_leaving_a_temp_file(tmp_path):
    path = tmp_path / "t.safetensors"
    save_file({"old": f32([1, 2, 3])}, path)
    save_file({"new": f32([4])}, path)
    assert list(load_file(path)) == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["t.safetensors"]


# ----------------------------------------------------------------------------------------
# BF16: only read, widened to float32
# ----------------------------------------------------------------------------------------
def test_bf16_is_read_and_widened_to_float32(tmp_path):
    # bfloat16 = the top 16 bits of a float32. These values have all-zero low bits, so
    # they are exact in bf16; 1/3 is not, and reads back as its float32 cut to 16 bits.
    values = f32([[1.0, -2.5], [0.15625, 3.0e38], [np.inf, -0.0], [1.0 / 3.0, 65280.0]])
    bits = values.view(np.uint32)
    bf16 = (bits >> 16).astype("<u2")  # what a bf16 writer stores
    path = write_raw(tmp_path / "bf16.safetensors",
                     {"w": {"dtype": "BF16", "shape": [4, 2], "data_offsets": [0, bf16.nbytes]}},
                     bf16.tobytes())
    loaded = load_file(path)["w"]
    assert loaded.dtype == np.float32 and loaded.shape == (4, 2)
    expected = (bits & np.uint32(0xFFFF0000)).view(np.float32)
    np.testing.assert_array_equal(loaded, expected)
    assert loaded[0, 1] == -2.5 and loaded[1, 0] == 0.15625 and np.isinf(loaded[2, 0])
    assert np.signbit(loaded[2, 1])  # -0.0 keeps its sign
    assert loaded[3, 0] != np.float32(1.0 / 3.0) and abs(loaded[3, 0] - 1.0 / 3.0) < 2e-3
    # hand-checked bit pattern: 0x3F80 is 1.0
    path2 = write_raw(tmp_path / "one.safetensors", {"one": {"dtype": "BF16", "shape": [], "data_offsets": [0, 2]}},
                      bytes([0x80, 0x3F]))
    assert load_file(path2)["one"] == np.float32(1.0)


def test_bf16_among_other_tensors(tmp_path):
    bf16 = np.array([0x4000, 0xC040], dtype="<u2")  # 2.0, -3.0
    f64 = np.array([1.5, 2.5])
    header = {
        "__metadata__": {"format": "pt"},
        "a": {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]},
        "b": {"dtype": "BF16", "shape": [2], "data_offsets": [16, 20]},
    }
    loaded = load_file(write_raw(tmp_path / "m.safetensors", header, f64.tobytes() + bf16.tobytes()))
    np.testing.assert_array_equal(loaded["a"], f64)
    np.testing.assert_array_equal(loaded["b"], f32([2.0, -3.0]))


def test_unpadded_header_and_unsorted_json_entries_are_read(tmp_path):
    """The reader does not need padding or entries listed in buffer order."""
    header = {
        "second": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]},
        "first": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
    }
    path = write_raw(tmp_path / "t.safetensors", header, f32([1, 2, 3]).tobytes(), pad=False)
    loaded = load_file(path)
    np.testing.assert_array_equal(loaded["first"], f32([1, 2]))
    np.testing.assert_array_equal(loaded["second"], f32([3]))


# ----------------------------------------------------------------------------------------
# The reference files written by transformers
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", FIXTURE_FILES)
def test_transformers_files_load_and_rewrite_identically(fixtures_dir, tmp_path, name):
    source = fixtures_dir / name
    tensors = load_file(source)
    _, metadata, _ = read_header(source)
    assert metadata == {"format": "pt"}
    assert "embeddings.word_embeddings.weight" in tensors or "bert.embeddings.word_embeddings.weight" in tensors
    assert all(a.dtype == np.float64 for a in tensors.values())
    copy = tmp_path / "copy.safetensors"
    save_file(tensors, copy, metadata=metadata)
    again = load_file(copy)
    assert sorted(again) == sorted(tensors)
    for key, array in tensors.items():
        assert again[key].shape == array.shape
        assert again[key].tobytes() == array.tobytes(), key  # equal to the last bit
    # and the whole file is the one transformers wrote, byte for byte
    assert copy.read_bytes() == source.read_bytes()


# ----------------------------------------------------------------------------------------
# Bad files: WeightsError naming the file
# ----------------------------------------------------------------------------------------
def valid_parts():
    """Header and buffer of a small valid file: a [2] F32 then a [3] F32."""
    header = {
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [3], "data_offsets": [8, 20]},
    }
    return header, f32([1, 2, 3, 4, 5]).tobytes()


def test_the_hand_written_valid_file_loads(tmp_path):
    """The base the corruptions below start from is itself valid."""
    header, buffer = valid_parts()
    loaded = load_file(write_raw(tmp_path / "ok.safetensors", header, buffer))
    np.testing.assert_array_equal(loaded["b"], f32([3, 4, 5]))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.safetensors"
    path.write_bytes(b"")
    assert_weights_error(path, "0 bytes")


def test_five_byte_file(tmp_path):
    path = tmp_path / "five.safetensors"
    path.write_bytes(b"\x01\x02\x03\x04\x05")
    assert_weights_error(path, "5 bytes")


def test_header_length_larger_than_the_file(tmp_path):
    path = tmp_path / "long.safetensors"
    path.write_bytes(struct.pack("<Q", 1000) + b'{"a": 1}')
    assert_weights_error(path, "header length 1000")


def test_absurd_header_length(tmp_path):
    path = tmp_path / "absurd.safetensors"
    path.write_bytes(struct.pack("<Q", 2**63) + b"{}      ")
    assert_weights_error(path, f"header length {2**63}")


def test_another_format_is_not_mistaken_for_safetensors(tmp_path):
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(b"PK\x03\x04" + bytes(200))  # a zip, as torch.save writes
    assert_weights_error(path, "not a valid safetensors file")


def test_header_not_json(tmp_path):
    path = write_raw(tmp_path / "nojson.safetensors", b"this is not json")
    assert_weights_error(path, "not valid UTF-8 JSON")


def test_header_not_utf8(tmp_path):
    path = write_raw(tmp_path / "latin.safetensors", b'{"\xe9": 1}')
    assert_weights_error(path, "not valid UTF-8 JSON")


def test_header_not_an_object(tmp_path):
    path = write_raw(tmp_path / "list.safetensors", b"[1, 2, 3]")
    assert_weights_error(path, "JSON object")


def test_entry_not_an_object(tmp_path):
    path = write_raw(tmp_path / "entry.safetensors", {"a": [0, 4]}, bytes(4))
    assert_weights_error(path, "'a'")


def test_metadata_not_strings(tmp_path):
    header, buffer = valid_parts()
    header["__metadata__"] = {"epoch": 3}
    path = write_raw(tmp_path / "meta.safetensors", header, buffer)
    assert_weights_error(path, "__metadata__")


def test_unknown_dtype(tmp_path):
    header, buffer = valid_parts()
    header["b"]["dtype"] = "F8_E4M3"
    message = assert_weights_error(write_raw(tmp_path / "dtype.safetensors", header, buffer), "'F8_E4M3'")
    assert "'b'" in message


@pytest.mark.parametrize("shape", [[-1], [1.5], "3", [True, 2], None])
def test_bad_shape(tmp_path, shape):
    header, buffer = valid_parts()
    header["b"]["shape"] = shape
    message = assert_weights_error(write_raw(tmp_path / "shape.safetensors", header, buffer), "shape")
    assert "'b'" in message


def test_shape_does_not_match_offsets(tmp_path):
    header, buffer = valid_parts()
    header["b"]["shape"] = [4]  # 16 bytes, but the span holds 12
    message = assert_weights_error(write_raw(tmp_path / "size.safetensors", header, buffer), "'b'")
    assert "12 bytes" in message and "need 16" in message and "[4]" in message


def test_overlapping_spans(tmp_path):
    header = {
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
    }
    path = write_raw(tmp_path / "overlap.safetensors", header, bytes(12))
    message = assert_weights_error(path, "overlaps")
    assert "'b'" in message


def test_gap_between_spans(tmp_path):
    header = {
        "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
        "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]},
    }
    path = write_raw(tmp_path / "gap.safetensors", header, bytes(12))
    message = assert_weights_error(path, "gap of 4 bytes")
    assert "'b'" in message


def test_buffer_not_starting_at_zero(tmp_path):
    header = {"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}
    assert_weights_error(write_raw(tmp_path / "start.safetensors", header, bytes(8)), "gap of 4 bytes")


def test_truncated_real_file(fixtures_dir, tmp_path):
    data = (fixtures_dir / "tiny_bert" / "model.safetensors").read_bytes()
    path = tmp_path / "model.safetensors"
    path.write_bytes(data[:-10])
    message = assert_weights_error(path, "truncated")
    assert str(len(data) - 10 - 8 - struct.unpack("<Q", data[:8])[0]) in message  # the bytes that are there


def test_file_cut_inside_the_header(fixtures_dir, tmp_path):
    data = (fixtures_dir / "tiny_bert" / "model.safetensors").read_bytes()
    path = tmp_path / "model.safetensors"
    path.write_bytes(data[:100])
    assert_weights_error(path, "does not fit")


def test_extra_trailing_bytes(fixtures_dir, tmp_path):
    data = (fixtures_dir / "tiny_bert" / "model.safetensors").read_bytes()
    path = tmp_path / "model.safetensors"
    path.write_bytes(data + b"\x00" * 3)
    assert_weights_error(path, "3 bytes after the last tensor")


@pytest.mark.parametrize("offsets", [[-4, 4], [0, -4], [8, 4], [0.0, 8.0], ["0", "8"], [0], [0, 8, 8], None, [False, 8]])
def test_bad_offsets(tmp_path, offsets):
    header, buffer = valid_parts()
    header["a"]["data_offsets"] = offsets
    message = assert_weights_error(write_raw(tmp_path / "offsets.safetensors", header, buffer), "data_offsets")
    assert "'a'" in message


def test_missing_file(tmp_path):
    path = tmp_path / "nothing_here.safetensors"
    with pytest.raises(WeightsError, match="not found") as info:
        load_file(path)
    assert str(path) in str(info.value)


def test_a_folder_is_not_a_file(tmp_path):
    folder = tmp_path / "model.safetensors"
    folder.mkdir()
    assert_weights_error(folder, "folder")


def test_a_path_through_a_file(tmp_path):
    header, buffer = valid_parts()
    file = write_raw(tmp_path / "model.safetensors", header, buffer)
    assert_weights_error(file / "inner.safetensors")


def test_weights_error_is_also_a_value_error(tmp_path):
    path = tmp_path / "empty.safetensors"
    path.write_bytes(b"")
    with pytest.raises(ValueError):
        load_file(path)
