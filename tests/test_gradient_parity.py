"""Gradients of every parameter against PyTorch autograd (tests/fixtures/gradient_reference.npz,
written by tools/make_training_fixtures.py): one padded batch with labels through a small
random BertForSequenceClassification.

float64: relative error <= 1e-6 for every parameter (achieved: ~1e-12).
float32: relative error <= 1e-3. Why that bar: both sides round every product to
float32 (unit roundoff 6e-8) and sum in different orders; through ~40 chained operations
(2 layers: LayerNorm, softmax, GELU, the matrix products) the errors of the forward and
the backward compound to ~1e-5 relative, more for the small gradients of attention
query/key. 1e-3 is well above that and far below what a wrong term gives (>1e-1).
Relative error of a parameter: max |minibert - torch| / max |torch| over its elements,
the denominator never below 1e-3 x the largest gradient of the model: the attention key
bias has an exactly zero gradient (softmax ignores a constant shift), so both sides hold
only rounding noise there (~1e-17), which no relative measure can compare.
"""

import numpy as np
import pytest

from minibert.model import BertForSequenceClassification


@pytest.fixture(scope="module")
def ref(fixtures_dir):
    return np.load(fixtures_dir / "gradient_reference.npz")


def grads_and_loss(fixtures_dir, ref, dtype):
    model = BertForSequenceClassification.from_pretrained(fixtures_dir / "tiny_grad_cls", dtype=dtype, strict=True)
    model.train()  # the fixture's dropout probabilities are 0: train mode must still be exact
    out = model(ref["input_ids"], attention_mask=ref["attention_mask"], token_type_ids=ref["token_type_ids"],
                labels=ref["labels"])
    model.backward()
    return model, out


def compare(model, ref, tag):
    worst_name, worst = None, 0.0
    names = [k[len(f"{tag}/grad/"):] for k in ref.files if k.startswith(f"{tag}/grad/")]
    params = dict(model.named_parameters())
    assert sorted(names) == sorted(params), "parameter names differ from Hugging Face's"
    floor = 1e-3 * max(np.abs(ref[f"{tag}/grad/{n}"]).max() for n in names)
    for name in names:
        expected = ref[f"{tag}/grad/{name}"]
        rel = float(np.abs(params[name].grad - expected).max() / max(np.abs(expected).max(), floor))
        if rel > worst:
            worst_name, worst = name, rel
    return worst_name, worst


def test_float64_gradients_match_pytorch(fixtures_dir, ref):
    model, out = grads_and_loss(fixtures_dir, ref, np.float64)
    assert abs(float(out.loss) - float(ref["f64/loss"])) <= 1e-12
    np.testing.assert_allclose(out.logits, ref["f64/logits"], atol=1e-12)
    name, worst = compare(model, ref, "f64")
    print(f"float64 gradients vs PyTorch: worst relative error {worst:.1e} ({name})")
    assert worst <= 1e-6


def test_float32_gradients_match_pytorch(fixtures_dir, ref):
    model, out = grads_and_loss(fixtures_dir, ref, np.float32)
    assert all(p.grad.dtype == np.float32 for p in model.parameters()), "float32 run promoted to float64"
    assert abs(float(out.loss) - float(ref["f32/loss"])) <= 1e-5
    name, worst = compare(model, ref, "f32")
    print(f"float32 gradients vs PyTorch: worst relative error {worst:.1e} ({name})")
    assert worst <= 1e-3
