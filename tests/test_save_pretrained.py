"""save_pretrained: a model saved by minibert loads in transformers with the same logits
(fixture: tools/make_saved_model_fixture.py loaded minibert's files in transformers), and
loads back in minibert unchanged."""

import hashlib
import json

import numpy as np
import pytest

from minibert.config import BertConfig
from minibert.model import BertForSequenceClassification, BertModel
from minibert.pretrained import load_tokenizer


@pytest.fixture(scope="module")
def ref(fixtures_dir):
    return np.load(fixtures_dir / "saved_model_reference.npz")


def rebuild(ref):
    config = BertConfig(**json.loads(str(ref["config"])))
    return BertForSequenceClassification(config, seed=int(ref["seed"])).eval()


def test_saved_files_are_the_ones_transformers_read(ref, tmp_path):
    rebuild(ref).save_pretrained(tmp_path)
    for name, key in (("model.safetensors", "sha256_model"), ("config.json", "sha256_config")):
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == str(ref[key]), name


def test_transformers_logits_equal_minibert_logits(ref):
    out = rebuild(ref)(ref["input_ids"], attention_mask=ref["attention_mask"])
    err = np.abs(out.logits - ref["transformers_logits"]).max()
    print(f"minibert vs transformers on minibert's saved model: max abs logit difference {err:.1e}")
    assert np.abs(ref["transformers_logits"]).max() > 0.1  # a real signal, not near-zero logits
    assert err <= 1e-5


def test_round_trip_in_minibert(ref, tmp_path, minilm_dir):
    model = rebuild(ref)
    model.save_pretrained(tmp_path, tokenizer=load_tokenizer(minilm_dir))
    again = BertForSequenceClassification.from_pretrained(tmp_path, strict=True)
    for (n, p), (m, q) in zip(model.named_parameters(), again.named_parameters()):
        assert n == m
        np.testing.assert_array_equal(p.data, q.data)
    assert (tmp_path / "vocab.txt").read_text(encoding="utf-8") == (minilm_dir / "vocab.txt").read_text(encoding="utf-8")
    assert load_tokenizer(tmp_path).encode("A fine film.") == load_tokenizer(minilm_dir).encode("A fine film.")


def test_bert_model_saves_bare_keys(tmp_path):
    cfg = BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                     max_position_embeddings=16)
    BertModel(cfg, dtype=np.float64).save_pretrained(tmp_path)
    from minibert.formats.safetensors import read_header

    entries, metadata, _ = read_header(tmp_path / "model.safetensors")
    assert metadata == {"format": "pt"}
    assert "embeddings.word_embeddings.weight" in entries and not any(k.startswith("bert.") for k in entries)
    assert json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))["architectures"] == ["BertModel"]
    loaded = BertModel.from_pretrained(tmp_path, dtype=np.float64, strict=True)
    assert loaded.dtype == np.float64
