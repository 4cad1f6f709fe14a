"""Forward-pass parity with Hugging Face transformers (reference outputs in tests/fixtures,
written by tools/make_model_fixtures.py).

- The embedded default (all-MiniLM-L6-v2) in float32: every layer within 1e-4 (max abs
  difference, non-padding tokens) of transformers on 16 real sentences in one padded batch.
- Tiny random models in float64, exact-erf and tanh GELU, bare and ``bert.``-prefixed
  keys, with a classification head: within 1e-10.
"""

import numpy as np
import pytest

from minibert.model import BertForSequenceClassification, BertModel

FLOAT32_TOL = 1e-4
FLOAT64_TOL = 1e-10


@pytest.fixture(scope="module")
def minilm_reference(fixtures_dir):
    return np.load(fixtures_dir / "minilm_reference.npz")


@pytest.fixture(scope="module")
def minilm_output(minilm_dir, minilm_reference):
    ref = minilm_reference
    model = BertModel.from_pretrained(minilm_dir)
    return model(ref["input_ids"], attention_mask=ref["attention_mask"],
                 token_type_ids=ref["token_type_ids"], output_hidden_states=True)


def test_minilm_last_hidden_state_matches_transformers(minilm_reference, minilm_output):
    ref = minilm_reference
    mask = ref["attention_mask"].astype(bool)
    got = minilm_output.last_hidden_state[mask]  # [n_real, H]
    assert got.dtype == np.float32
    err = np.abs(got - ref["last_hidden_state_real_tokens"]).max()
    print(f"MiniLM float32 last hidden state: max abs difference {err:.2e} over {mask.sum()} tokens")
    assert err <= FLOAT32_TOL


def test_minilm_every_layer_matches_transformers(minilm_reference, minilm_output):
    ref = minilm_reference
    rows, cols = ref["sample_positions"].T
    lower = ref["lower_hidden_states_sample"]  # [L, 64, H]: embeddings, layers 1..L-1
    assert len(minilm_output.hidden_states) == len(lower) + 1
    for layer, expected in enumerate(lower):
        err = np.abs(minilm_output.hidden_states[layer][rows, cols] - expected).max()
        print(f"MiniLM float32 hidden state {layer}: max abs difference {err:.2e}")
        assert err <= FLOAT32_TOL, f"hidden state {layer} differs by {err}"


def test_minilm_pooler_matches_transformers(minilm_reference, minilm_output):
    err = np.abs(minilm_output.pooler_output - minilm_reference["pooler_output"]).max()
    print(f"MiniLM float32 pooler output: max abs difference {err:.2e}")
    assert err <= FLOAT32_TOL


def test_padding_does_not_change_real_tokens(minilm_dir, minilm_reference):
    """A sentence alone (no padding) gives the same vectors as inside the padded batch."""
    ref = minilm_reference
    model = BertModel.from_pretrained(minilm_dir)
    row = int(np.argmin(ref["attention_mask"].sum(1)))  # the shortest: the most padding
    n = int(ref["attention_mask"][row].sum())
    alone = model(ref["input_ids"][row:row + 1, :n]).last_hidden_state[0]
    batched = model(ref["input_ids"], attention_mask=ref["attention_mask"]).last_hidden_state[row, :n]
    assert np.abs(alone - batched).max() <= 1e-5


@pytest.fixture(scope="module")
def tiny_reference(fixtures_dir):
    return np.load(fixtures_dir / "tiny_reference.npz")


def test_tiny_float64_exact_gelu_matches_to_1e10(fixtures_dir, tiny_reference):
    ref = tiny_reference
    model = BertModel.from_pretrained(fixtures_dir / "tiny_bert", dtype=np.float64, strict=True)
    out = model(ref["input_ids"], attention_mask=ref["attention_mask"], token_type_ids=ref["token_type_ids"],
                output_hidden_states=True, output_attentions=True)
    mask = ref["attention_mask"].astype(bool)
    worst = 0.0
    for layer, expected in enumerate(ref["tiny_hidden_states"]):
        err = np.abs(out.hidden_states[layer][mask] - expected[mask]).max()
        worst = max(worst, err)
        assert err <= FLOAT64_TOL, f"hidden state {layer}: {err}"
    for layer, expected in enumerate(ref["tiny_attentions"]):
        diff = np.abs(out.attentions[layer] - expected)  # [B, NH, T, T]
        err = diff.transpose(0, 2, 1, 3)[mask].max()  # every query that is a real token
        assert err <= FLOAT64_TOL, f"attention {layer}: {err}"
    err = np.abs(out.pooler_output - ref["tiny_pooler_output"]).max()
    assert err <= FLOAT64_TOL
    print(f"tiny float64 (erf GELU): worst hidden-state difference {worst:.1e}, pooler {err:.1e}")


def test_attention_probabilities_are_kept_only_when_asked(fixtures_dir, tiny_reference):
    """output_attentions returns them; otherwise no layer holds its [B, NH, T, T] probabilities
    after the forward (under no_grad() nothing else needs them: one array per layer saved)."""
    from minibert.layers import no_grad

    ref = tiny_reference
    model = BertModel.from_pretrained(fixtures_dir / "tiny_bert", dtype=np.float64, strict=True)
    inputs = dict(attention_mask=ref["attention_mask"], token_type_ids=ref["token_type_ids"])
    asked = model(ref["input_ids"], output_attentions=True, **inputs)
    with no_grad():
        plain = model(ref["input_ids"], **inputs)
    assert plain.attentions is None
    assert all(layer.attention.self.probs is None for layer in model.encoder.layer)
    np.testing.assert_array_equal(plain.last_hidden_state, asked.last_hidden_state)
    assert len(asked.attentions) == len(model.encoder.layer)


def test_tiny_classifier_tanh_gelu_matches_to_1e10(fixtures_dir, tiny_reference):
    ref = tiny_reference
    model = BertForSequenceClassification.from_pretrained(fixtures_dir / "tiny_bert_tanh_cls", dtype=np.float64, strict=True)
    assert model.config.num_labels == 3 and model.config.hidden_act == "gelu_new"
    out = model(ref["input_ids"], attention_mask=ref["attention_mask"], token_type_ids=ref["token_type_ids"],
                output_hidden_states=True)
    mask = ref["attention_mask"].astype(bool)
    err_h = np.abs(out.hidden_states[-1][mask] - ref["cls_last_hidden_state"][mask]).max()
    err_logits = np.abs(out.logits - ref["cls_logits"]).max()
    print(f"tiny float64 classifier (tanh GELU): hidden {err_h:.1e}, logits {err_logits:.1e}")
    assert err_h <= FLOAT64_TOL and err_logits <= FLOAT64_TOL


def test_wrong_gelu_form_is_detected(fixtures_dir, tiny_reference):
    """The parity test can fail: the tanh GELU on the erf model misses the 1e-10 bar by far."""
    ref = tiny_reference
    model = BertModel.from_pretrained(fixtures_dir / "tiny_bert", dtype=np.float64)
    for layer in model.encoder.layer:
        layer.intermediate.exact_gelu = False
    out = model(ref["input_ids"], attention_mask=ref["attention_mask"], token_type_ids=ref["token_type_ids"])
    mask = ref["attention_mask"].astype(bool)
    assert np.abs(out.last_hidden_state[mask] - ref["tiny_hidden_states"][-1][mask]).max() > 100 * FLOAT64_TOL
