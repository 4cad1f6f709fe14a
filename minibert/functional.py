"""Pure kernels: the math of BERT, one function per operation.

Each kernel is a pure function of arrays: it takes its array module from its input
(``xp = get_xp(x)``), so the same code runs on NumPy (CPU) and CuPy (GPU). A kernel
returns ``(y, cache)``: ``cache`` holds what its backward needs (written beside it as
``op_backward(dy, cache)``); a forward-only caller simply ignores it.

Shape legend, used in every comment below:
    B  batch size          T  tokens per sequence     H  hidden size
    NH attention heads     HS head size (H // NH)     I  intermediate (feed-forward) size
    V  vocabulary size     C  classes                 L  layers

dtype rule: a kernel never promotes. float32 in, float32 out: Python floats are cast to
the input's dtype before they touch an array, so a float64 scalar never turns a
float32 tensor into float64.
"""

from __future__ import annotations

import math

import numpy as np

from .backend import get_xp, map_blocks, scatter_add

# ----------------------------------------------------------------------------------------
# erf: NumPy has none, so we write one.
#
# For z >= 0:  erfc(z) = t * exp(-z^2 + f(t)),  t = 2 / (2 + z),
# and f is a smooth function of t that a short Chebyshev series fits closely
# (coefficients fitted by tools/fit_erf.py against Python's math.erfc):
#   float64: degree 18 on z in [0, 6]; past 6, erfc(z) < 2.2e-17, so erf = 1 there.
#            |erf(x) - math.erf(x)| <= 2e-15 for every x (tested).
#   float32: degree 8 on z in [0, 4]; past 4, erfc(z) < 1.6e-8, below float32's
#            resolution near 1. Error <= 3e-8 before float32 rounding (tested <= 3e-7 after).
# The float32 series is shorter because float32 cannot use more: half the work.
# ----------------------------------------------------------------------------------------
_ERF_SERIES = {
    # dtype: (z_max, Chebyshev coefficients c_0 ... c_n of f on t in [2/(2+z_max), 1])
    np.dtype(np.float64): (6.0, (
        -0.4985502230126519,
        0.5003364655513494,
        0.0029079543748730305,
        -0.004807433804460497,
        1.4741810740762109e-05,
        0.00010698213450332672,
        -6.275656652588129e-06,
        -2.6555862049035503e-06,
        4.1461636428973507e-07,
        4.7388983780279776e-08,
        -1.8774034356969675e-08,
        4.5312045689153013e-10,
        5.993489269876242e-10,
        -8.983791092691212e-11,
        -9.488590204835446e-12,
        4.4069518138342885e-12,
        -2.727555149288413e-13,
        -1.1339207736614229e-13,
        2.5404095981503492e-14,
    )),
    np.dtype(np.float32): (4.0, (
        -0.4444474560191587,
        0.44793857782777696,
        -0.0002160898388130687,
        -0.0034100587087994953,
        8.55515298162931e-05,
        5.532830637284708e-05,
        -5.209838366791132e-06,
        -8.380063247678735e-07,
        1.9764068428429073e-07,
    )),
}


# Evaluating the series: the Chebyshev coefficients above are what tools/fit_erf.py fits
# (a stable basis to fit in). To evaluate, we rewrite the series as an ordinary polynomial
# in u, a_0 + a_1 u + ... + a_n u^n (numpy.polynomial.chebyshev.cheb2poly does the algebra
# once, here), and use Horner's rule: 2 passes over the data per coefficient instead of
# Clenshaw's 3. On u in [-1, 1] this is as accurate: the a_k sum to about 1 in size.
_ERF_POLY = {dtype: (z_max, tuple(float(a) for a in np.polynomial.chebyshev.cheb2poly(coefs)))
             for dtype, (z_max, coefs) in _ERF_SERIES.items()}

_BLOCK = 262144  # numbers per block of the element-wise kernels on the CPU (1 MB of float32): measured best on the 2-core VM


def erf(x):
    """The error function erf(x) = 2/sqrt(pi) * integral_0^x exp(-s^2) ds, elementwise.

    Evaluated through erfc on |x| (see the comment above) and the symmetry
    erf(-x) = -erf(x). On the CPU the work goes in blocks of 256K numbers: the series
    makes ~30 passes over its temporaries in float32 (~50 in float64), and on a block they stay in the CPU's cache
    instead of streaming through main memory (2x faster on a [4096, 1536] array than
    in one piece, measured); the blocks are shared among the CPU's cores
    (backend.map_blocks). On a GPU the whole array is one block.
    """
    xp = get_xp(x)
    x = xp.asarray(x)
    if x.dtype not in _ERF_POLY:  # ints, bools, float16, Python numbers: compute in float64
        x = x.astype(np.float64)
    flat = x.reshape(-1)  # 1-D inside (0-d arrays would become scalars)
    out = xp.empty_like(flat)
    map_blocks(_erf_series, (flat,), out, _BLOCK)
    return out.reshape(x.shape)


def _erf_series(x, out):
    """out[:] = erf(x) for a 1-D float32/float64 array, with three temporaries (z, t, f)."""
    xp = get_xp(x)
    dtype = x.dtype
    one, two = dtype.type(1.0), dtype.type(2.0)
    z_max, poly = _ERF_POLY[dtype]
    t_min = 2.0 / (2.0 + z_max)
    z = xp.abs(x)
    xp.minimum(z, dtype.type(z_max), out=z)  # |x|, capped where erf is already 1
    t = z + two
    xp.divide(two, t, out=t)  # t = 2 / (2 + z), in [t_min, 1]
    u = out  # the output array holds u for now
    xp.multiply(t, dtype.type(2.0 / (1.0 - t_min)), out=u)
    u -= dtype.type(1.0 + 2.0 * t_min / (1.0 - t_min))  # t mapped onto [-1, 1]
    z *= z  # z^2, for the exponent below
    # f(u) by Horner's rule: a_n u^n + ... + a_0 = (((a_n u + a_{n-1}) u + ...) u + a_0)
    f = xp.multiply(u, dtype.type(poly[-1]))
    f += dtype.type(poly[-2])
    for a in poly[-3::-1]:
        f *= u
        f += dtype.type(a)
    f -= z  # -z^2 + f(t)
    xp.exp(f, out=f)
    f *= t  # erfc(|x|) = t exp(-z^2 + f)
    xp.subtract(one, f, out=out)  # erf(|x|) = 1 - erfc(|x|)
    out *= xp.sign(x, out=t)  # erf(-x) = -erf(x); and erf(0) = 0 exactly (the fit leaves ~1e-16 there)
    return out


# ----------------------------------------------------------------------------------------
# Activations
# ----------------------------------------------------------------------------------------
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def gelu(x, cache=True):
    """GELU, exact form (Hugging Face's "gelu"):  y = x * Phi(x),  Phi(x) = 0.5 (1 + erf(x / sqrt 2)).

    Cache: (x, Phi(x)). erf is the costliest element-wise step of the model, so its
    value is kept for the backward instead of being computed twice. With
    ``cache=False`` (inference: nothing will call the backward) Phi(x) is computed into
    y's own memory and multiplied by x there, so the call allocates one array, not two,
    and returns (y, None).
    """
    xp = get_xp(x)
    if x.dtype not in _ERF_POLY:  # ints, float16...: compute in float64, as erf does
        x = x.astype(np.float64)
    y = xp.empty_like(x)
    # in cache-sized blocks, shared among the CPU's cores (one block on a GPU)
    if not cache:
        map_blocks(_gelu_in_place_block, (x.reshape(-1),), y.reshape(-1), _BLOCK)
        return y, None
    cdf = xp.empty_like(x)
    map_blocks(_gelu_block, (x.reshape(-1),), (y.reshape(-1), cdf.reshape(-1)), _BLOCK)
    return y, (x, cdf)


def _gelu_block(x, y, cdf):
    """y[:] = x Phi(x) and cdf[:] = Phi(x) for a block of x."""
    dtype = x.dtype
    _erf_series(x * dtype.type(_INV_SQRT2), cdf)  # erf(x / sqrt 2), the series straight into cdf
    cdf += dtype.type(1.0)
    cdf *= dtype.type(0.5)  # Phi(x)
    get_xp(x).multiply(x, cdf, out=y)


def _gelu_in_place_block(x, y):
    """y[:] = x Phi(x), with y holding Phi(x) on the way."""
    _gelu_block(x, y, y)


def gelu_backward(dy, cache):
    """dy/dx of x Phi(x) is Phi(x) + x phi(x), phi the standard normal density."""
    x, cdf = cache
    xp = get_xp(x)
    dx = xp.empty_like(x)
    flat = (dy.reshape(-1), x.reshape(-1), cdf.reshape(-1))
    map_blocks(_gelu_backward_block, flat, dx.reshape(-1), _BLOCK)  # in blocks, as the forward
    return dx


def _gelu_backward_block(dy, x, cdf, out):
    """out[:] = dy * (Phi(x) + x phi(x)), using out as the only temporary."""
    xp = get_xp(x)
    dtype = x.dtype
    xp.multiply(x, x, out=out)
    out *= dtype.type(-0.5)
    xp.exp(out, out=out)
    out *= dtype.type(_INV_SQRT_2PI)  # phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
    out *= x
    out += cdf
    out *= dy


_TANH_K = math.sqrt(2.0 / math.pi)
_TANH_C = 0.044715


def gelu_tanh(x):
    """GELU, tanh approximation ("gelu_new", "gelu_pytorch_tanh"; Google's 2019 BERT code):

        y = 0.5 x (1 + tanh(u)),   u = sqrt(2/pi) (x + 0.044715 x^3)

    Cache: (x, tanh(u)).
    """
    xp = get_xp(x)
    dtype = x.dtype
    t = xp.tanh(dtype.type(_TANH_K) * (x + dtype.type(_TANH_C) * x * x * x))
    return dtype.type(0.5) * x * (dtype.type(1.0) + t), (x, t)


def gelu_tanh_backward(dy, cache):
    """dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) du/dx,  du/dx = sqrt(2/pi) (1 + 3 * 0.044715 x^2)."""
    x, t = cache
    dtype = x.dtype
    du = dtype.type(_TANH_K) * (dtype.type(1.0) + dtype.type(3.0 * _TANH_C) * x * x)
    half = dtype.type(0.5)
    return dy * (half * (dtype.type(1.0) + t) + half * x * (dtype.type(1.0) - t * t) * du)


def tanh(x):
    """y = tanh(x) (the pooler's activation). Cache: y, since d tanh(x)/dx = 1 - y^2."""
    y = get_xp(x).tanh(x)
    return y, y


def tanh_backward(dy, y):
    return dy * (y.dtype.type(1.0) - y * y)


def softmax(x, axis=-1, out=None):
    """Softmax along ``axis``, computed stably as exp(x - max) / sum.

    Cache: y (the backward needs only the output). ``out``: an array of x's shape and dtype
    to write y into; ``out=x`` overwrites x (attention does so: its scores are not needed
    once they are probabilities, and the biggest arrays of the model then exist once, not
    twice). On the CPU, a softmax over the last axis shares its rows among the cores
    (backend.map_blocks).
    """
    xp = get_xp(x)
    if out is not None and not (out.shape == x.shape and out.dtype == x.dtype and out.flags.c_contiguous):
        raise ValueError(f"softmax: out must be a C-contiguous {x.dtype} array of shape {x.shape}")
    y = xp.empty(x.shape, dtype=x.dtype) if out is None else out  # C order: its rows reshape as views
    if axis in (-1, x.ndim - 1) and x.ndim > 1:
        rows = x.reshape(-1, x.shape[-1])  # [N, last]: every row on its own
        map_blocks(_softmax_rows, (rows,), y.reshape(rows.shape), _rows_per_block(rows))
    else:
        _softmax_rows(x, y, axis)
    return y, y


def _softmax_rows(x, out, axis=-1):
    """out[:] = softmax(x) along axis, with no temporary the size of x (out may be x itself)."""
    xp = get_xp(x)
    xp.subtract(x, x.max(axis=axis, keepdims=True), out=out)  # the largest becomes 0: exp never overflows
    xp.exp(out, out=out)
    out /= out.sum(axis=axis, keepdims=True)


def softmax_backward(dy, y, axis=-1):
    """dx_i = y_i (dy_i - sum_j dy_j y_j): the Jacobian diag(y) - y y^T applied to dy."""
    xp = get_xp(y)
    if axis in (-1, y.ndim - 1) and y.ndim > 1:
        shape = (-1, y.shape[-1])
        dx = xp.empty(y.shape, dtype=y.dtype).reshape(shape)
        map_blocks(_softmax_backward_rows, (dy.reshape(shape), y.reshape(shape)), dx, _rows_per_block(dx))
        return dx.reshape(y.shape)
    dx = xp.empty_like(y)
    _softmax_backward_rows(dy, y, dx, axis)
    return dx


def _softmax_backward_rows(dy, y, out, axis=-1):
    xp = get_xp(y)
    xp.multiply(dy, y, out=out)
    dot = out.sum(axis=axis, keepdims=True)  # sum_j dy_j y_j, one number per row
    xp.subtract(dy, dot, out=out)
    out *= y


def _rows_per_block(rows) -> int:
    """Rows of a [N, n] array that make a block of about _BLOCK numbers (at least 1)."""
    return max(1, _BLOCK // max(rows.shape[1], 1))


# ----------------------------------------------------------------------------------------
# Layers' math
# ----------------------------------------------------------------------------------------
def linear(x, weight, bias=None):
    """y = x W^T + b, with W stored [out, in] as in PyTorch and Hugging Face.

    x: [..., in]   weight: [out, in]   bias: [out]   ->   y: [..., out]
    All leading dimensions are folded into one, so the product is a single matrix
    multiplication (one BLAS call) whatever the batch shape.
    Cache: (x, weight): dW = dy^T x needs x, dx = dy W needs W.
    """
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])  # [N, in], N = prod(lead)
    y = x2 @ weight.T  # [N, out]  (weight.T is a view: no copy)
    if bias is not None:
        y += bias
    return y.reshape(*lead, weight.shape[0]), (x, weight)


def linear_backward(dy, cache, need_dx=True, need_dweight=True):
    """Gradients of y = x W^T + b.

    dy: [..., out]  ->  dx: [..., in] (None unless need_dx), dW: [out, in], db: [out]
    (dW and db are None unless need_dweight: a frozen layer skips that product).
    """
    x, weight = cache
    dy2 = dy.reshape(-1, dy.shape[-1])  # [N, out]
    dx = (dy2 @ weight).reshape(x.shape) if need_dx else None  # [N, out] @ [out, in]
    if not need_dweight:
        return dx, None, None
    dweight = dy2.T @ x.reshape(-1, x.shape[-1])  # [out, N] @ [N, in] -> [out, in]
    dbias = dy2.sum(axis=0)  # [out]
    return dx, dweight, dbias


def embedding(ids, table):
    """Row lookup: y[b, t] = table[ids[b, t]].

    ids: [B, T] integers   table: [V, H]   ->   y: [B, T, H]
    Cache: (ids, V): the backward scatters dy back into the rows that were read.
    """
    return table[ids], (ids, table.shape[0])


def embedding_backward(dy, cache):
    """dtable[v] = sum of dy over every position whose id is v.

    dy: [B, T, H] -> dtable: [V, H]. An id that appears twice gets both gradients:
    a plain ``dtable[ids] += dy`` would keep only one of them, so we use an unbuffered
    scatter-add (backend.scatter_add: NumPy's ``add.at``, CuPy's ``cupyx.scatter_add``).
    """
    ids, vocab_size = cache
    xp = get_xp(dy)
    H = dy.shape[-1]
    dtable = xp.zeros((vocab_size, H), dtype=dy.dtype)
    scatter_add(dtable, ids.reshape(-1), dy.reshape(-1, H))  # ids [B*T], dy [B*T, H]
    return dtable


def layer_norm(x, weight, bias, eps):
    """LayerNorm over the last axis:  y = (x - mean) / sqrt(var + eps) * weight + bias.

    var is the biased variance (divide by H), as in BERT. x: [..., H] -> y: [..., H]
    Cache: (x_hat, rstd, weight): the normalised input and 1/sqrt(var + eps) are
    exactly what the backward needs, so it never recomputes mean and variance.
    On the CPU the rows go in blocks shared among the cores (backend.map_blocks).
    """
    xp = get_xp(x)
    rows = x.reshape(-1, x.shape[-1])  # [N, H]: every token on its own
    y, x_hat = xp.empty_like(rows), xp.empty_like(rows)
    rstd = xp.empty((rows.shape[0], 1), dtype=x.dtype)  # [N, 1]

    def normalise(x_rows, y_rows, x_hat_rows, rstd_rows):
        _layer_norm_rows(x_rows, weight, bias, x.dtype.type(eps), y_rows, x_hat_rows, rstd_rows)

    map_blocks(normalise, (rows,), (y, x_hat, rstd), _rows_per_block(rows))
    return y.reshape(x.shape), (x_hat.reshape(x.shape), rstd.reshape(*x.shape[:-1], 1), weight)


def _layer_norm_rows(x, weight, bias, eps, y, x_hat, rstd):
    """LayerNorm of the rows of x [n, H], written into y and x_hat [n, H] and rstd [n, 1]."""
    xp = get_xp(x)
    xp.subtract(x, x.mean(axis=-1, keepdims=True), out=x_hat)  # centred: x - mean
    xp.multiply(x_hat, x_hat, out=y)  # (y is free until the end: it holds the squares)
    xp.mean(y, axis=-1, keepdims=True, out=rstd)  # the variance ...
    rstd += eps
    xp.sqrt(rstd, out=rstd)
    xp.divide(1, rstd, out=rstd)  # ... becomes 1 / sqrt(var + eps)
    x_hat *= rstd  # normalised: mean 0, variance 1
    xp.multiply(x_hat, weight, out=y)
    y += bias


def layer_norm_backward(dy, cache):
    """Gradients of LayerNorm.

    With g = dy * weight (the gradient reaching x_hat):
        dx = rstd * (g - mean(g) - x_hat * mean(g * x_hat))
    the two means being the paths through the mean and the variance of x.
    dweight = sum over tokens of dy * x_hat;  dbias = sum over tokens of dy.
    dy: [..., H] -> dx: [..., H], dweight: [H], dbias: [H]
    """
    x_hat, rstd, weight = cache
    H = x_hat.shape[-1]
    dweight = (dy * x_hat).reshape(-1, H).sum(axis=0)
    dbias = dy.reshape(-1, H).sum(axis=0)
    g = dy * weight  # [..., H]
    dx = rstd * (g - g.mean(axis=-1, keepdims=True) - x_hat * (g * x_hat).mean(axis=-1, keepdims=True))
    return dx, dweight, dbias


def dropout(x, p, rng=None, training=True):
    """Inverted dropout: zero each element with probability p, scale the rest by 1/(1-p).

    Identity (and no cache) when not training or p == 0. ``rng`` is a random generator
    of x's backend (``numpy.random.Generator`` or ``cupy.random.Generator``).
    Cache: the mask, ``(keep, scale)``: which elements survived (booleans, one byte each:
    a quarter of a float32 mask's memory) and 1/(1-p). The backward reuses it.
    """
    if not training or p == 0.0:
        return x, None
    if rng is None:
        raise ValueError("dropout in training mode needs a random generator (rng)")
    keep = rng.random(x.shape, dtype=x.dtype) >= x.dtype.type(p)  # True: the element survives
    mask = (keep, x.dtype.type(1.0 / (1.0 - p)))
    return apply_dropout_mask(x, mask), mask


def apply_dropout_mask(x, mask):
    """x with the dropped elements zeroed and the kept ones scaled by 1/(1-p)."""
    keep, scale = mask
    y = x * keep  # bool * float: 0 where dropped, x where kept
    y *= scale
    return y


def dropout_backward(dy, mask):
    """The same mask scales the gradient: dropped elements pass no gradient."""
    return dy if mask is None else apply_dropout_mask(dy, mask)


# ----------------------------------------------------------------------------------------
# Attention
# ----------------------------------------------------------------------------------------
def split_heads(x, num_heads):
    """[B, T, H] -> [B, NH, T, HS]: each head sees its own HS-wide slice of H."""
    B, T, H = x.shape
    return x.reshape(B, T, num_heads, H // num_heads).transpose(0, 2, 1, 3)


def merge_heads(x):
    """[B, NH, T, HS] -> [B, T, H]: the inverse of split_heads (so also its backward)."""
    B, NH, T, HS = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, NH * HS)


def attention_mask_bias(attention_mask, dtype):
    """Turn a [B, T] 0/1 padding mask into an additive bias [B, 1, 1, T].

    Kept keys get 0; padded keys get the most negative finite number of ``dtype``, so
    after the softmax they weigh exactly 0 (exp underflows), like Hugging Face's
    mask. (Google's TF code adds -10000, which gives the same result in practice.)
    """
    dtype = np.dtype(dtype)
    mask = attention_mask.astype(dtype)
    bias = (dtype.type(1.0) - mask) * np.finfo(dtype).min  # [B, T]
    return bias[:, None, None, :]  # [B, 1, 1, T]: broadcasts over heads and queries


def scaled_dot_product_attention(q, k, v, mask_bias=None, dropout_p=0.0, rng=None, training=False):
    """softmax(q k^T / sqrt(HS) + mask) v, for every head at once.

    q, k, v: [B, NH, T, HS]   mask_bias: [B, 1, 1, T] additive (see attention_mask_bias)
    Returns (context [B, NH, T, HS], probs [B, NH, T, T], cache).
    Cache: (q / sqrt(HS), k, v, probs, dropout mask, scale): the backward of the two
    products needs their inputs, and the softmax backward needs its output probs.
    """
    HS = q.shape[-1]
    scale = q.dtype.type(1.0 / math.sqrt(HS))
    q_scaled = q * scale  # scaling q [.., T, HS] costs less than scaling the scores [.., T, T]
    scores = q_scaled @ k.transpose(0, 1, 3, 2)  # [B, NH, T, HS] @ [B, NH, HS, T] -> [B, NH, T, T]
    if mask_bias is not None:  # (BertModel passes None for a batch without padding)
        scores += mask_bias
    probs, _ = softmax(scores, axis=-1, out=scores)  # [B, NH, T, T], each row sums to 1 (in the scores' memory)
    if mask_bias is not None:
        # Padded keys already weigh exactly 0 (exp underflowed). A sequence with no real
        # token at all would get a uniform row over padding instead: zero it, so such a
        # sequence's context is 0 (and never NaN).
        empty = (mask_bias != 0).all(axis=-1)[:, 0, 0]  # [B]: True for a sequence of padding only
        if empty.any():
            probs[empty] = 0
    probs_dropped, drop_mask = dropout(probs, dropout_p, rng, training)
    context = probs_dropped @ v  # [B, NH, T, T] @ [B, NH, T, HS] -> [B, NH, T, HS]
    return context, probs, (q_scaled, k, v, probs, drop_mask, scale)


def scaled_dot_product_attention_backward(dcontext, cache):
    """Gradients of attention with respect to q, k and v (each [B, NH, T, HS]).

    Backwards through the forward's steps, last first (q' = q * scale):
        context = P' v          ->  dv = P'^T dcontext,  dP' = dcontext v^T
        P' = dropout(P)         ->  dP = dP' * mask
        P = softmax(S)          ->  dS = P (dP - rowsum(dP * P))
        S = q' k^T + m          ->  dq = dS k * scale,  dk = dS^T q'
    The mask m is a constant: padded keys have P = 0, hence dS = 0 there too.
    """
    q_scaled, k, v, probs, drop_mask, scale = cache
    probs_dropped = probs if drop_mask is None else apply_dropout_mask(probs, drop_mask)
    dv = probs_dropped.transpose(0, 1, 3, 2) @ dcontext  # [B, NH, T, T] @ [B, NH, T, HS]
    dprobs = dropout_backward(dcontext @ v.transpose(0, 1, 3, 2), drop_mask)  # [B, NH, T, T]
    dscores = softmax_backward(dprobs, probs)  # [B, NH, T, T]
    dq = dscores @ k  # [B, NH, T, T] @ [B, NH, T, HS] -> [B, NH, T, HS]
    dq *= scale
    dk = dscores.transpose(0, 1, 3, 2) @ q_scaled  # [B, NH, T, HS]
    return dq, dk, dv


# ----------------------------------------------------------------------------------------
# Pooling: one vector per sequence
# ----------------------------------------------------------------------------------------
def masked_mean(hidden, attention_mask):
    """Mean of the real (non-padding) token vectors of each sequence.

    hidden: [B, T, H]   attention_mask: [B, T] of 0/1   ->   y: [B, H]
    Cache: the weights [B, T, 1] (1/n_real for real tokens, 0 for padding): all the
    backward needs to spread dy back over the tokens.
    """
    xp = get_xp(hidden)
    mask = attention_mask.astype(hidden.dtype)[:, :, None]  # [B, T, 1]
    counts = xp.maximum(mask.sum(axis=1, keepdims=True), hidden.dtype.type(1.0))  # [B, 1, 1]; no 0/0
    weights = mask / counts  # [B, T, 1]
    y = (hidden * weights).sum(axis=1)  # [B, H]
    return y, weights


def masked_mean_backward(dy, weights):
    """dy: [B, H] -> dhidden: [B, T, H] = dy spread over the real tokens by their weights."""
    return dy[:, None, :] * weights


# ----------------------------------------------------------------------------------------
# Loss
# ----------------------------------------------------------------------------------------
def cross_entropy(logits, labels):
    """Mean cross-entropy of integer labels under softmax(logits).

    logits: [B, C]   labels: [B] integers in [0, C)   ->   loss: a 0-d array
    loss = mean_b( logsumexp(logits_b) - logits_b[label_b] ), computed stably.
    Cache: (probs [B, C], labels): the backward is (probs - onehot(labels)) / B.
    """
    xp = get_xp(logits)
    B = logits.shape[0]
    shifted = logits - logits.max(axis=-1, keepdims=True)  # [B, C]; the max cancels out
    log_norm = xp.log(xp.exp(shifted).sum(axis=-1))  # [B]
    picked = shifted[xp.arange(B), labels]  # [B]: the logit of the right class
    loss = (log_norm - picked).mean()
    probs = xp.exp(shifted - log_norm[:, None])  # [B, C]
    return loss, (probs, labels)


def cross_entropy_backward(dloss, cache):
    """dlogits = dloss * (probs - onehot(labels)) / B."""
    probs, labels = cache
    xp = get_xp(probs)
    B = probs.shape[0]
    dlogits = probs.copy()
    dlogits[xp.arange(B), labels] -= probs.dtype.type(1.0)
    dlogits *= probs.dtype.type(float(dloss) / B)
    return dlogits
