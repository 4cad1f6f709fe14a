"""Forward kernels against their definitions (math.erf for erf; plain formulas elsewhere)."""

import math

import numpy as np
import pytest

from minibert import functional as F


@pytest.fixture(scope="module")
def grid():
    x = np.concatenate([np.linspace(-8, 8, 200001), [0.0, -0.0, 1e-300, -1e-300, 5.9999, 6.0, 6.0001]])
    return x, np.array([math.erf(v) for v in x])


def test_erf_float64_to_2e15(grid):
    x, expected = grid
    err = np.abs(F.erf(x) - expected).max()
    print(f"erf float64: max abs error {err:.1e}")
    assert err <= 2e-15


def test_erf_float32(grid):
    x, expected = grid
    got = F.erf(x.astype(np.float32))
    assert got.dtype == np.float32  # no promotion
    err = np.abs(got.astype(np.float64) - expected).max()
    print(f"erf float32: max abs error {err:.1e}")
    assert err <= 3e-7


def test_erf_special_values_and_inputs():
    np.testing.assert_array_equal(F.erf(np.array([np.inf, -np.inf, 0.0])), [1.0, -1.0, 0.0])
    assert np.isnan(F.erf(np.array([np.nan])))[0]
    np.testing.assert_allclose(F.erf(np.array([1, 2])), [math.erf(1), math.erf(2)], atol=2e-15)  # ints
    assert abs(float(F.erf(0.5)) - math.erf(0.5)) < 2e-15  # a Python float
    assert F.erf(np.zeros((2, 3, 4))).shape == (2, 3, 4)


def test_gelu_exact_and_tanh_forms():
    x = np.linspace(-6, 6, 1001)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x])
    np.testing.assert_allclose(F.gelu(x)[0], exact, atol=1e-15)
    tanh_form = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(F.gelu_tanh(x)[0], tanh_form, atol=1e-15)
    assert np.abs(F.gelu(x)[0] - F.gelu_tanh(x)[0]).max() > 1e-4  # the two forms are different functions


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gelu_without_cache_gives_the_same_bits(dtype):
    """Inference's GELU (cache=False: Phi(x) computed in y's memory) equals the training one."""
    x = np.random.default_rng(3).normal(size=(700, 1000)).astype(dtype) * 3  # several blocks
    y, cache = F.gelu(x)
    y_inference, no_cache = F.gelu(x, cache=False)
    assert no_cache is None and cache[0] is x and y_inference.dtype == dtype
    np.testing.assert_array_equal(y_inference, y)


def test_layer_norm_formula_and_eps():
    x = np.random.default_rng(0).normal(size=(3, 8)) * 5 + 2
    w, b = np.arange(8.0), np.ones(8)
    y, _ = F.layer_norm(x, w, b, 1e-12)
    expected = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-12) * w + b
    np.testing.assert_allclose(y, expected, atol=1e-12)
    # eps matters for a constant row: 0 / sqrt(0 + eps) stays finite
    y, _ = F.layer_norm(np.full((1, 4), 3.0), np.ones(4), np.zeros(4), 1e-12)
    assert np.all(y == 0)


def test_softmax_rows_and_stability():
    x = np.array([[1000.0, 1000.0, -1000.0], [1.0, 2.0, 3.0]])
    y, _ = F.softmax(x)
    np.testing.assert_allclose(y.sum(-1), 1.0)
    np.testing.assert_allclose(y[0], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(y[1], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())


def test_softmax_in_place_and_on_transposed_views():
    x = np.random.default_rng(4).normal(size=(3, 5, 300, 7)) * 4  # several row blocks
    expected = np.exp(x - x.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(F.softmax(x)[0], expected, atol=1e-15)
    view = x.transpose(0, 1, 3, 2)  # not C-contiguous: rows must still come back in place
    np.testing.assert_allclose(F.softmax(view)[0], F.softmax(np.ascontiguousarray(view))[0], atol=1e-15)
    np.testing.assert_allclose(F.softmax(x, axis=1)[0], np.exp(x) / np.exp(x).sum(1, keepdims=True), atol=1e-14)
    same = x.copy()
    y, _ = F.softmax(same, out=same)  # overwrites the input: attention does this with its scores
    assert y is same
    np.testing.assert_array_equal(same, F.softmax(x)[0])
    with pytest.raises(ValueError, match="C-contiguous"):
        F.softmax(x, out=np.empty_like(x).transpose(0, 1, 3, 2).copy().transpose(0, 1, 3, 2))


def test_float32_stays_float32():
    r = np.random.default_rng(0)
    x = r.normal(size=(2, 3, 8)).astype(np.float32)
    W = r.normal(size=(4, 8)).astype(np.float32)
    assert F.linear(x, W, np.zeros(4, np.float32))[0].dtype == np.float32
    assert F.layer_norm(x, np.ones(8, np.float32), np.zeros(8, np.float32), 1e-12)[0].dtype == np.float32
    assert F.gelu(x)[0].dtype == np.float32 and F.gelu_tanh(x)[0].dtype == np.float32
    q = r.normal(size=(2, 2, 3, 4)).astype(np.float32)
    bias = F.attention_mask_bias(np.array([[1, 1, 0], [1, 1, 1]]), np.float32)
    ctx, probs, _ = F.scaled_dot_product_attention(q, q, q, bias)
    assert ctx.dtype == probs.dtype == np.float32
    assert F.masked_mean(x, np.ones((2, 3)))[0].dtype == np.float32


def test_attention_ignores_padded_keys():
    r = np.random.default_rng(1)
    q, k, v = (r.normal(size=(1, 2, 4, 3)) for _ in range(3))
    bias = F.attention_mask_bias(np.array([[1, 1, 0, 0]]), np.float64)
    ctx, probs, _ = F.scaled_dot_product_attention(q, k, v, bias)
    assert np.all(probs[..., 2:] == 0)
    # the same as attending over the first two keys only
    ctx2, _, _ = F.scaled_dot_product_attention(q, k[:, :, :2], v[:, :, :2])
    np.testing.assert_allclose(ctx, ctx2, atol=1e-15)


def test_masked_mean_ignores_padding():
    h = np.arange(24.0).reshape(2, 3, 4)
    y, _ = F.masked_mean(h, np.array([[1, 0, 0], [1, 1, 1]]))
    np.testing.assert_allclose(y, [h[0, 0], h[1].mean(0)])


def test_fully_masked_rows_give_zeros_not_nan():
    r = np.random.default_rng(2)
    q = r.normal(size=(2, 1, 3, 4))
    mask = np.array([[0, 0, 0], [1, 1, 0]])  # the first sequence has no real token
    ctx, probs, cache = F.scaled_dot_product_attention(q, q, q, F.attention_mask_bias(mask, np.float64))
    assert np.all(probs[0] == 0) and np.all(ctx[0] == 0)
    np.testing.assert_allclose(probs[1].sum(-1), 1.0)
    dq, dk, dv = F.scaled_dot_product_attention_backward(np.ones_like(ctx), cache)
    assert np.all(np.isfinite(dq)) and np.all(dq[0] == 0)
