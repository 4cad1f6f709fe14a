"""Loading model folders (minibert/pretrained.py), BertConfig (minibert/config.py) and the
checks on what the model is handed (InputError).

The model folders are real: the transformers fixtures in tests/fixtures, and copies of
them written into tmp_path with renamed keys, edited configs or missing files. Every
mistake must end in minibert's own exception, whose message names the file, key or shape.
"""

import json
import shutil
import warnings

import numpy as np
import pytest

from minibert.config import BertConfig
from minibert.errors import ConfigError, InputError, MinibertWarning, WeightsError
from minibert.formats.safetensors import load_file, save_file
from minibert.model import BertForSequenceClassification, BertModel
from minibert.pretrained import load_config, resolve_model_dir


@pytest.fixture(scope="module")
def tiny_dir(fixtures_dir):
    return fixtures_dir / "tiny_bert"  # BertModel, bare keys, exact GELU


@pytest.fixture(scope="module")
def cls_dir(fixtures_dir):
    return fixtures_dir / "tiny_bert_tanh_cls"  # BertForSequenceClassification, bert.* keys, 3 labels


@pytest.fixture(scope="module")
def ref(fixtures_dir):
    return np.load(fixtures_dir / "tiny_reference.npz")


def read_config(folder):
    return json.loads((folder / "config.json").read_text())


def make_folder(path, tensors, config, config_name="config.json"):
    """A model folder in ``path`` holding ``config`` (a dict) and ``tensors``."""
    path.mkdir(parents=True, exist_ok=True)
    (path / config_name).write_text(json.dumps(config, indent=2))
    save_file(tensors, path / "model.safetensors", metadata={"format": "pt"})
    return path


def run(model, ref):
    return model(ref["input_ids"], attention_mask=ref["attention_mask"], token_type_ids=ref["token_type_ids"])


def assert_params_equal_file(params, tensors, prefix=""):
    """Every file tensor is the model parameter of the same name, bit for bit."""
    for key, array in tensors.items():
        name = prefix + key
        assert name in params, name
        np.testing.assert_array_equal(params[name].data, array, err_msg=name)


# ----------------------------------------------------------------------------------------
# The fixture folders
# ----------------------------------------------------------------------------------------
def test_bert_model_loads_every_tensor_strictly_without_warnings(tiny_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        model = BertModel.from_pretrained(tiny_dir, dtype=np.float64, strict=True)
    params = dict(model.named_parameters())
    tensors = load_file(tiny_dir / "model.safetensors")
    assert len(params) == len(tensors) == 39
    assert_params_equal_file(params, tensors)
    assert model.training is False  # a loaded model is in evaluation mode
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 32


def test_classifier_loads_bert_prefixed_keys(cls_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = BertForSequenceClassification.from_pretrained(cls_dir, dtype=np.float64, strict=True)
    tensors = load_file(cls_dir / "model.safetensors")
    assert any(k.startswith("bert.") for k in tensors) and "classifier.weight" in tensors
    assert_params_equal_file(dict(model.named_parameters()), tensors)
    assert model.config.num_labels == 3 and model.classifier.weight.shape == (3, 32)


def test_bare_file_into_classifier_warns_about_the_new_head(tiny_dir, ref):
    with pytest.warns(MinibertWarning, match="newly initialised") as record:
        model = BertForSequenceClassification.from_pretrained(tiny_dir, dtype=np.float64)
    message = " ".join(str(w.message) for w in record)
    assert "classifier.weight" in message and "classifier.bias" in message
    assert str(tiny_dir / "model.safetensors") in message
    # the encoder is the file's, under the bert. prefix
    assert_params_equal_file(dict(model.named_parameters()), load_file(tiny_dir / "model.safetensors"), prefix="bert.")
    assert model.config.num_labels == 2  # no id2label in that config: the default
    assert run(model, ref).logits.shape == (4, 2)


def test_bare_file_into_classifier_with_strict_raises(tiny_dir):
    with pytest.raises(WeightsError, match="strict") as info:
        BertForSequenceClassification.from_pretrained(tiny_dir, strict=True)
    assert "classifier.weight" in str(info.value) and "model.safetensors" in str(info.value)


def test_classifier_file_into_bert_model_warns_about_unused_keys(cls_dir, ref):
    with pytest.warns(MinibertWarning, match="not used by BertModel") as record:
        model = BertModel.from_pretrained(cls_dir, dtype=np.float64)
    message = " ".join(str(w.message) for w in record)
    assert "classifier.weight" in message and "classifier.bias" in message
    assert "newly initialised" not in message  # every encoder weight was found
    tensors = load_file(cls_dir / "model.safetensors")
    np.testing.assert_array_equal(model.pooler.dense.weight.data, tensors["bert.pooler.dense.weight"])
    # same encoder as inside the classifier: same hidden states
    out = run(model, ref)
    mask = ref["attention_mask"].astype(bool)
    assert np.abs(out.last_hidden_state[mask] - ref["cls_last_hidden_state"][mask]).max() <= 1e-10

    with pytest.raises(WeightsError, match="classifier.weight"):
        BertModel.from_pretrained(cls_dir, strict=True)


def test_old_layernorm_gamma_beta_names_load_identically(tiny_dir, tmp_path, ref):
    tensors = load_file(tiny_dir / "model.safetensors")
    renamed = {}
    for key, array in tensors.items():
        key = key.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        renamed["bert." + key] = array
    assert sum(".gamma" in k for k in renamed) == 5  # embeddings + 2 per layer
    folder = make_folder(tmp_path / "old_names", renamed, read_config(tiny_dir))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        old = BertModel.from_pretrained(folder, dtype=np.float64, strict=True)
    new = BertModel.from_pretrained(tiny_dir, dtype=np.float64)
    np.testing.assert_array_equal(run(old, ref).last_hidden_state, run(new, ref).last_hidden_state)
    np.testing.assert_array_equal(old.encoder.layer[1].output.LayerNorm.bias.data,
                                  tensors["encoder.layer.1.output.LayerNorm.bias"])


def test_position_ids_buffer_is_ignored(tiny_dir, tmp_path):
    tensors = load_file(tiny_dir / "model.safetensors")
    tensors["embeddings.position_ids"] = np.arange(64, dtype=np.int64)[None, :]
    folder = make_folder(tmp_path / "with_buffer", tensors, read_config(tiny_dir))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = BertModel.from_pretrained(folder, dtype=np.float64, strict=True)
    assert "embeddings.position_ids" not in dict(model.named_parameters())


def copy_with_config(src, dst, **changes):
    shutil.copytree(src, dst)
    config = read_config(src)
    config.update(changes)
    (dst / "config.json").write_text(json.dumps(config))
    return dst


def test_intermediate_size_mismatch_names_key_and_shapes(tiny_dir, tmp_path):
    folder = copy_with_config(tiny_dir, tmp_path / "m", intermediate_size=40)
    with pytest.raises(WeightsError) as info:
        BertModel.from_pretrained(folder)
    message = str(info.value)
    assert str(folder / "model.safetensors") in message
    assert "'encoder.layer.0.intermediate.dense.bias'" in message
    assert "(37,)" in message and "(40,)" in message  # found, expected


def test_hidden_size_mismatch_names_key_and_shapes(tiny_dir, tmp_path):
    folder = copy_with_config(tiny_dir, tmp_path / "m", hidden_size=40)
    with pytest.raises(WeightsError, match=r"has shape \(32,\), but the config needs \(40,\)") as info:
        BertModel.from_pretrained(folder)
    assert "'embeddings.LayerNorm.bias'" in str(info.value)


def test_config_with_more_layers_than_the_file(tiny_dir, tmp_path):
    folder = copy_with_config(tiny_dir, tmp_path / "m", num_hidden_layers=3)
    with pytest.raises(WeightsError, match="num_hidden_layers=3") as info:
        BertModel.from_pretrained(folder)
    message = str(info.value)
    assert "the file has 2 layers" in message and "encoder.layer.2." in message


def test_config_with_fewer_layers_than_the_file(tiny_dir, tmp_path):
    """Not a warning about unused tensors: the model would silently drop layers."""
    folder = copy_with_config(tiny_dir, tmp_path / "m", num_hidden_layers=1)
    with pytest.raises(WeightsError, match="num_hidden_layers=1") as info:
        BertModel.from_pretrained(folder)
    assert "2 encoder layers" in str(info.value)


def test_num_labels_override(tiny_dir, cls_dir):
    with pytest.warns(MinibertWarning, match="classifier"):
        model = BertForSequenceClassification.from_pretrained(tiny_dir, num_labels=5)
    assert model.config.num_labels == 5 and model.classifier.weight.shape == (5, 32)
    # a head that is in the file cannot change size
    with pytest.raises(WeightsError, match=r"'classifier.bias' has shape \(3,\), but the config needs \(5,\)"):
        BertForSequenceClassification.from_pretrained(cls_dir, num_labels=5)
    model = BertForSequenceClassification.from_pretrained(cls_dir, num_labels=3, strict=True)
    assert model.classifier.weight.shape == (3, 32)
    for bad in (0, -2, "3", 2.5, True):
        with pytest.raises(ConfigError, match="num_labels"):
            BertForSequenceClassification.from_pretrained(tiny_dir, num_labels=bad)


def test_float64_and_float32(tiny_dir, ref):
    m64 = BertModel.from_pretrained(tiny_dir, dtype=np.float64)
    m32 = BertModel.from_pretrained(tiny_dir)  # float32 by default
    assert m64.dtype == np.float64 and m32.dtype == np.float32
    assert all(p.data.dtype == np.float32 for p in m32.parameters())
    out64, out32 = run(m64, ref), run(m32, ref)
    assert out64.last_hidden_state.dtype == np.float64 and out32.last_hidden_state.dtype == np.float32
    assert out32.pooler_output.dtype == np.float32
    mask = ref["attention_mask"].astype(bool)
    err = np.abs(out32.last_hidden_state[mask] - out64.last_hidden_state[mask]).max()
    assert 0 < err < 1e-4  # float32 rounding, nothing more


def test_float16_weights_load_into_float32(tiny_dir, tmp_path, ref):
    """A checkpoint published in half precision: read as float16, widened to float32 (never
    overflows: every float16 is a float32), so the model runs in float32 as usual."""
    tensors = load_file(tiny_dir / "model.safetensors")
    half = {k: v.astype(np.float16) for k, v in tensors.items()}
    key = "embeddings.word_embeddings.weight"
    half[key][0, 0] = np.float16(65504.0)  # float16's largest value survives the widening exactly
    folder = make_folder(tmp_path / "half", half, read_config(tiny_dir))
    model = BertModel.from_pretrained(folder)
    params = dict(model.named_parameters())
    assert all(p.data.dtype == np.float32 for p in params.values())
    assert params[key].data[0, 0] == 65504.0
    for name, array in half.items():
        np.testing.assert_array_equal(params[name].data, array.astype(np.float32), err_msg=name)
    out = run(model, ref)
    mask = ref["attention_mask"].astype(bool)
    assert np.isfinite(out.last_hidden_state).all()
    full = run(BertModel.from_pretrained(tiny_dir), ref)
    # float16 weights keep ~3 significant digits: the outputs move by about that much
    assert np.abs(out.last_hidden_state[mask] - full.last_hidden_state[mask]).max() < 3e-2


# ----------------------------------------------------------------------------------------
# Folders that are missing things
# ----------------------------------------------------------------------------------------
def test_missing_folder(tmp_path):
    path = tmp_path / "no_such_model"
    with pytest.raises(WeightsError, match="no model folder") as info:
        BertModel.from_pretrained(path)
    assert str(path) in str(info.value)


def test_folder_without_config(tiny_dir, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(tiny_dir / "model.safetensors", folder)
    with pytest.raises(WeightsError, match="no config.json or bert_config.json") as info:
        BertModel.from_pretrained(folder)
    assert str(folder) in str(info.value)


def test_folder_without_weights(tiny_dir, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(tiny_dir / "config.json", folder)
    with pytest.raises(WeightsError, match=r"no weights file \(model.safetensors\)") as info:
        BertModel.from_pretrained(folder)
    assert str(folder) in str(info.value)


def test_folder_with_only_a_broken_pytorch_model_bin(tiny_dir, tmp_path):
    """pytorch_model.bin is read (tests/test_formats.py); a broken one names the file."""
    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(tiny_dir / "config.json", folder)
    (folder / "pytorch_model.bin").write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(WeightsError, match="truncated") as info:
        BertModel.from_pretrained(folder)
    assert str(folder / "pytorch_model.bin") in str(info.value)


def test_corrupt_weights_file_in_a_folder(tiny_dir, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(tiny_dir, folder)
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="truncated") as info:
        BertModel.from_pretrained(folder)
    assert str(folder / "model.safetensors") in str(info.value)


def test_a_file_inside_the_folder_names_the_folder(tiny_dir):
    assert resolve_model_dir(tiny_dir / "config.json") == tiny_dir
    model = BertModel.from_pretrained(tiny_dir / "model.safetensors")
    assert model.config.intermediate_size == 37


def test_google_bert_config_json(tiny_dir, tmp_path, ref):
    """Google's bert_config.json: the same keys, without Hugging Face's extras."""
    hf = read_config(tiny_dir)
    google_keys = ("attention_probs_dropout_prob", "hidden_act", "hidden_dropout_prob", "hidden_size",
                   "initializer_range", "intermediate_size", "max_position_embeddings", "num_attention_heads",
                   "num_hidden_layers", "type_vocab_size", "vocab_size")
    folder = make_folder(tmp_path / "google", load_file(tiny_dir / "model.safetensors"),
                         {k: hf[k] for k in google_keys}, config_name="bert_config.json")
    assert not (folder / "config.json").exists()
    model = BertModel.from_pretrained(folder, dtype=np.float64, strict=True)
    assert load_config(folder).intermediate_size == 37
    expected = run(BertModel.from_pretrained(tiny_dir, dtype=np.float64), ref).last_hidden_state
    np.testing.assert_array_equal(run(model, ref).last_hidden_state, expected)


def test_bad_config_in_a_model_folder_names_the_file(tiny_dir, tmp_path):
    folder = copy_with_config(tiny_dir, tmp_path / "m", hidden_act="swish")
    with pytest.raises(ConfigError, match="hidden_act 'swish'") as info:
        BertModel.from_pretrained(folder)
    assert str(folder / "config.json") in str(info.value)


def test_minilm_alias_resolves_to_the_default_folder(minilm_dir):
    for alias in ("minilm", "MiniLM", " default ", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", None):
        assert resolve_model_dir(alias) == minilm_dir, alias
    config = load_config("minilm")
    assert (config.hidden_size, config.num_hidden_layers, config.vocab_size) == (384, 6, 30522)


# ----------------------------------------------------------------------------------------
# BertConfig
# ----------------------------------------------------------------------------------------
def write_config(tmp_path, text_or_dict, name="config.json"):
    path = tmp_path / name
    path.write_text(text_or_dict if isinstance(text_or_dict, str) else json.dumps(text_or_dict))
    return path


def test_config_bad_json(tmp_path):
    path = write_config(tmp_path, '{"hidden_size": 32,')
    with pytest.raises(ConfigError, match="not valid JSON") as info:
        BertConfig.from_json_file(path)
    assert str(path) in str(info.value)


def test_config_not_an_object(tmp_path):
    path = write_config(tmp_path, "[32, 4]")
    with pytest.raises(ConfigError, match="JSON object, found list") as info:
        BertConfig.from_json_file(path)
    assert str(path) in str(info.value)


def test_config_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        BertConfig.from_json_file(tmp_path / "config.json")


def test_config_hidden_size_not_divisible_by_heads(tmp_path):
    path = write_config(tmp_path, {"hidden_size": 30, "num_attention_heads": 4})
    with pytest.raises(ConfigError) as info:
        BertConfig.from_json_file(path)
    message = str(info.value)
    assert str(path) in message and "hidden_size 30" in message and "num_attention_heads 4" in message


def test_config_unsupported_hidden_act(tmp_path):
    path = write_config(tmp_path, {"hidden_act": "relu"})
    with pytest.raises(ConfigError, match="hidden_act 'relu'") as info:
        BertConfig.from_json_file(path)
    assert str(path) in str(info.value) and "gelu" in str(info.value)


@pytest.mark.parametrize("key, value", [
    ("vocab_size", -1), ("hidden_size", 0), ("num_hidden_layers", -3), ("num_attention_heads", 0),
    ("intermediate_size", -1), ("max_position_embeddings", 0), ("type_vocab_size", -1), ("num_labels", 0),
    ("vocab_size", "30522"), ("hidden_size", 32.0), ("num_hidden_layers", True), ("vocab_size", None),
    ("hidden_dropout_prob", -0.1), ("attention_probs_dropout_prob", 1.0), ("classifier_dropout", 1.5),
    ("classifier_dropout", "0.1"), ("hidden_dropout_prob", "0.1"), ("layer_norm_eps", -1e-12),
    ("layer_norm_eps", 0), ("initializer_range", -0.02),
])
def test_config_bad_values_name_file_and_key(tmp_path, key, value):
    path = write_config(tmp_path, {"hidden_size": 32, "num_attention_heads": 4, key: value})
    with pytest.raises(ConfigError) as info:
        BertConfig.from_json_file(path)
    message = str(info.value)
    assert str(path) in message and key in message and repr(value) in message


def test_config_relative_positions_are_refused(tmp_path):
    path = write_config(tmp_path, {"position_embedding_type": "relative_key"})
    with pytest.raises(ConfigError, match="position_embedding_type 'relative_key'") as info:
        BertConfig.from_json_file(path)
    assert str(path) in str(info.value)
    assert BertConfig.from_dict({"position_embedding_type": "absolute"}).hidden_size == 768


def test_config_id2label_gives_num_labels(tmp_path):
    labels = {"0": "neg", "1": "neutral", "2": "pos", "3": "mixed"}
    assert BertConfig.from_json_file(write_config(tmp_path, {"id2label": labels})).num_labels == 4
    assert BertConfig.from_dict({"id2label": labels, "num_labels": 2}).num_labels == 2  # explicit wins
    assert BertConfig.from_dict({}).num_labels == 2


def test_config_ignores_unknown_keys_and_round_trips(tmp_path):
    config = BertConfig.from_dict({"hidden_size": 64, "num_attention_heads": 2, "architectures": ["BertModel"],
                                   "classifier_dropout": 0.2, "hidden_act": "gelu_new"})
    assert config.head_size == 32
    path = tmp_path / "config.json"
    config.save(path)
    assert json.loads(path.read_text())["model_type"] == "bert"
    assert BertConfig.from_json_file(path) == config


def test_config_error_is_a_value_error(tmp_path):
    with pytest.raises(ValueError):
        BertConfig(hidden_size=-1)


# ----------------------------------------------------------------------------------------
# What the model is handed: InputError with a clear message
# ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model(tiny_dir):
    return BertModel.from_pretrained(tiny_dir, dtype=np.float64)


def test_one_dimensional_input_is_a_batch_of_one(tiny_model, ref):
    ids = ref["input_ids"][0]
    one = tiny_model(ids, token_type_ids=ref["token_type_ids"][0])
    batch = tiny_model(ids[None, :], token_type_ids=ref["token_type_ids"][:1])
    assert one.last_hidden_state.shape == (1, 11, 32) and one.pooler_output.shape == (1, 32)
    np.testing.assert_array_equal(one.last_hidden_state, batch.last_hidden_state)
    assert tiny_model(list(ids)).last_hidden_state.shape == (1, 11, 32)  # a plain list too


def test_list_of_lists_is_accepted(tiny_model, ref):
    out = tiny_model(ref["input_ids"].tolist(), attention_mask=ref["attention_mask"].tolist())
    assert out.last_hidden_state.shape == (4, 11, 32)


def test_ragged_list(tiny_model):
    with pytest.raises(InputError, match="rectangular"):
        tiny_model([[1, 2, 3], [4, 5]])


def test_three_dimensional_input(tiny_model):
    with pytest.raises(InputError, match=r"input_ids must have shape \[batch, tokens\], got shape \(2, 3, 4\)"):
        tiny_model(np.ones((2, 3, 4), dtype=np.int64))


def test_float_ids(tiny_model):
    with pytest.raises(InputError, match="input_ids must hold integers, got dtype float64"):
        tiny_model(np.array([[1.0, 2.0, 3.0]]))


def test_id_beyond_the_vocabulary(tiny_model):
    with pytest.raises(InputError, match=r"id 99, outside the vocabulary \[0, 99\)"):
        tiny_model([[1, 2, 99]])


def test_negative_id(tiny_model):
    with pytest.raises(InputError, match=r"id -1, outside the vocabulary \[0, 99\)"):
        tiny_model([[1, -1, 3]])


def test_more_tokens_than_positions(tiny_model):
    with pytest.raises(InputError, match="65 tokens but the model has only 64 positions"):
        tiny_model(np.ones((1, 65), dtype=np.int64))
    assert tiny_model(np.ones((1, 64), dtype=np.int64)).last_hidden_state.shape == (1, 64, 32)


def test_attention_mask_shape_mismatch(tiny_model):
    with pytest.raises(InputError, match=r"attention_mask has shape \(1, 3\), but input_ids has shape \(1, 4\)"):
        tiny_model([[1, 2, 3, 4]], attention_mask=[[1, 1, 1]])


def test_token_type_ids_shape_mismatch(tiny_model):
    with pytest.raises(InputError, match=r"token_type_ids has shape \(2, 2\), but input_ids has shape \(1, 2\)"):
        tiny_model([[1, 2]], token_type_ids=[[0, 0], [0, 0]])


def test_token_type_id_too_large(tiny_model):
    with pytest.raises(InputError, match=r"token_type_ids must be in \[0, 2\), found 2"):
        tiny_model([[1, 2, 3]], token_type_ids=[[0, 1, 2]])


def test_negative_token_type_id(tiny_model):
    with pytest.raises(InputError, match=r"token_type_ids must be in \[0, 2\), found -1"):
        tiny_model([[1, 2, 3]], token_type_ids=[[0, -1, 1]])


def test_empty_batch(tiny_model):
    with pytest.raises(InputError, match="input_ids"):
        tiny_model(np.zeros((0, 5), dtype=np.int64))


def test_attention_mask_values(tiny_model):
    with pytest.raises(InputError, match="attention_mask must hold only 0 .padding. and 1 .token., found 2"):
        tiny_model([[1, 2, 3]], attention_mask=[[1, 2, 1]])


def test_no_tokens(tiny_model):
    with pytest.raises(InputError, match="at least one token"):
        tiny_model(np.zeros((2, 0), dtype=np.int64))


def test_input_error_is_a_value_error(tiny_model):
    with pytest.raises(ValueError):
        tiny_model([[1, 2, 500]])
