"""The checks of the exercise track: test cases, reference values, and how to call a student's code.

For every exercise ``exNN`` there are two functions:

    cases_exNN(rng) -> [Case, ...]     runs in the GRADER's process: builds randomised inputs
                                       (and the edge cases) and computes the reference values
                                       with the library's kernels, before any student code runs
    run_exNN(module, inputs) -> dict   runs in a separate WORKER process: calls the student's
                                       functions on (a pickled copy of) the inputs and returns
                                       what they gave, under the same names as the references

and :func:`compare` (grader's process) judges one case: the student's values against the
references and, for backward passes in float64, against finite differences of the
library's forward (:func:`minibert.gradcheck.numeric_gradient`), so the hint can show both.

Output names say which function gave a value: ``"layer_norm_backward: dx"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import functional as F
from ..gradcheck import numeric_gradient

# (rtol, atol as a fraction of the largest |expected|) by dtype. A correct float64 kernel
# differs from the library's by rounding only (~1e-15); float32 by ~1e-6 relative. A wrong
# formula (a missing term) is off by O(1): far outside either band.
TOLERANCES = {np.dtype(np.float64): (1e-6, 1e-8), np.dtype(np.float32): (1e-4, 1e-5)}
GRADCHECK_TOLERANCE = 1e-6  # relative, as in tests/test_gradients.py (a correct backward: ~1e-9)


class ExerciseError(Exception):
    """A student's function returned something of the wrong kind (raised in the worker)."""


@dataclass(frozen=True)
class Unsupported:
    """Stands for a value the worker could not send back (an object of the student's own class)."""

    type_name: str


@dataclass
class Case:
    """One test case of an exercise.

    Attributes:
        label: what the case is, as the hint prints it: ``"float32, x [2, 5, 16]"``.
        inputs: the arguments; the worker gets a pickled copy, never these arrays.
        expected: output name -> the library's value (computed when the case is built).
        numeric: output name -> finite-difference gradient (float64 backward cases only).
        dtype: the dtype whose tolerance applies.
        tip: what this case is about, printed when it is the first to fail.
    """

    label: str
    inputs: dict
    expected: dict
    numeric: dict = field(default_factory=dict)
    dtype: object = np.float64
    tip: str = ""


# ----------------------------------------------------------------------------------------
# Helpers: finite differences (grader), unpacking and describing results (worker)
# ----------------------------------------------------------------------------------------
def finite_differences(forward, inputs: dict, dy) -> dict:
    """dL/d(each input) for L = sum(forward(**inputs) * dy), every element, in float64.

    Uses minibert.gradcheck.numeric_gradient on private copies of the inputs.
    """
    arrays = {name: np.array(x, dtype=np.float64) for name, x in inputs.items()}

    def loss():  # numeric_gradient nudges one element of one array in place, then calls this
        return float((forward(**arrays) * dy).sum())

    return {name: numeric_gradient(loss, x, np.arange(x.size)).reshape(x.shape) for name, x in arrays.items()}


def describe(value) -> str:
    """A short description of any value: ``"a float64 array of shape (3, 4)"``, ``"None"``..."""
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} item(s)"
    if value is None:
        return "None"
    if isinstance(value, Unsupported):
        return f"an object of type {value.type_name}"
    return f"a {type(value).__name__}"


def unpack(result, func: str, names: tuple) -> tuple:
    """A student function's result as a tuple of ``len(names)`` values, or a clear ExerciseError."""
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        raise ExerciseError(f"{func} must return {len(names)} values ({', '.join(names)}), got {describe(result)}")
    return tuple(result)


def portable(value):
    """A value the worker can send back: arrays, numbers, strings, lists, tuples, dicts.

    Anything else (a student's own object) becomes an Unsupported naming its type, which
    the comparison then reports.
    """
    if isinstance(value, np.ndarray):
        return np.array(value)  # a plain array (also from a subclass)
    if value is None or isinstance(value, (bool, int, float, str, np.generic)):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(portable(v) for v in value)
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    return Unsupported(type(value).__name__)


# ----------------------------------------------------------------------------------------
# Comparing a student's values with the references (grader's process)
# ----------------------------------------------------------------------------------------
def compare(case: Case, got: dict) -> str | None:
    """None when every output of the case is right, else one line saying what is wrong and where."""
    rtol, atol = TOLERANCES[np.dtype(case.dtype)]
    for name, expected in case.expected.items():
        if name not in got:
            return f"{name}: nothing was returned"
        problem = _compare(name, expected, got[name], case.numeric.get(name), rtol, atol)
        if problem:
            return problem
    return None


def _compare(name, expected, got, numeric, rtol, atol) -> str | None:
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"{name}: expected a dict of {len(expected)} arrays, got {describe(got)}"
        for key, value in expected.items():
            if key not in got:
                return f"{name}: has no entry {key!r}"
            problem = _compare(f"{name}[{key!r}]", value, got[key], None, rtol, atol)
            if problem:
                return problem
        return None
    if isinstance(expected, list):
        return _compare_tokens(name, expected, got)
    return _compare_array(name, np.asarray(expected), got, numeric, rtol, atol)


def _shorten(tokens, limit: int = 12) -> str:
    text = repr(list(tokens[:limit]))
    return text[:-1] + ", ...]" if len(tokens) > limit else text


def _compare_tokens(name, expected: list, got) -> str | None:
    if not isinstance(got, (list, tuple)) or not all(isinstance(t, str) for t in got):
        return f"{name}: expected a list of str, got {describe(got)}"
    got = list(got)
    if got == expected:
        return None
    first = next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b), min(len(expected), len(got)))
    return (f"{name}: expected {_shorten(expected)}, got {_shorten(got)} "
            f"(first difference at position {first})")


def _compare_array(name, expected: np.ndarray, got, numeric, rtol, atol) -> str | None:
    """Type, shape, dtype, then values (and finite differences): the first problem found."""
    if expected.ndim and not isinstance(got, np.ndarray):
        return f"{name}: expected a NumPy array of shape {expected.shape}, got {describe(got)}"
    try:
        arr = np.asarray(got)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.dtype.kind not in "biuf":
        return f"{name}: expected numbers, got {describe(got)}"
    if arr.shape != expected.shape:
        return f"{name}: expected shape {expected.shape}, got shape {arr.shape}"
    if expected.dtype.kind == "f" and expected.ndim and arr.dtype != expected.dtype:
        why = ("a float64 array, e.g. np.zeros without dtype=, turns float32 into float64"
               if expected.dtype == np.float32 else "np.zeros(shape, dtype=x.dtype)")
        return f"{name}: dtype {arr.dtype}, expected {expected.dtype} (keep the inputs' dtype: {why})"
    where = f"{name} {list(expected.shape)} {expected.dtype}"
    return _wrong_values(where, expected, arr, numeric, rtol, atol) or _gradcheck(where, arr, numeric)


def _wrong_values(where, expected, arr, numeric, rtol, atol) -> str | None:
    """The first value outside |got - expected| <= atol * max|expected| + rtol * |expected|."""
    if expected.dtype.kind in "biu":
        bad = arr != expected
    else:
        a, e = arr.astype(np.float64), expected.astype(np.float64)
        scale = float(np.abs(e).max(initial=0.0)) or 1.0
        bad = ~(np.abs(a - e) <= atol * scale + rtol * np.abs(e))  # NaN counts as bad
    if not bad.any():
        return None
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    message = f"{where}: at index {index} expected {float(expected[index]):+.7g}, got {float(arr[index]):+.7g}"
    if numeric is not None:
        message += f" (finite differences: {float(numeric[index]):+.7g})"
    count = int(bad.sum())
    return message + (f"; {count} of {bad.size} values are wrong" if count > 1 else "")


def _gradcheck(where, arr, numeric) -> str | None:
    """A gradient against finite differences, with minibert.gradcheck's relative error (floor 1e-3 x the largest)."""
    if numeric is None:
        return None
    a = arr.astype(np.float64)
    floor = 1e-3 * max(float(np.abs(numeric).max(initial=0.0)), float(np.abs(a).max(initial=0.0)), 1e-300)
    rel = np.abs(a - numeric) / np.maximum(np.maximum(np.abs(a), np.abs(numeric)), floor)
    worst = np.unravel_index(int(np.argmax(rel)), rel.shape)
    if rel[worst] <= GRADCHECK_TOLERANCE:
        return None
    return (f"{where}: at index {tuple(int(i) for i in worst)} yours {float(a[worst]):+.7g} but finite "
            f"differences give {float(numeric[worst]):+.7g} (relative error {float(rel[worst]):.1e})")


# ----------------------------------------------------------------------------------------
# Exercise 1: WordPiece
# ----------------------------------------------------------------------------------------
WORDPIECE_VOCAB = frozenset([
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "a", "##a", "b", "##b", "e", "##e", "l", "##l", "p", "##p", "s", "##s", "y", "##y",
    "un", "una", "aff", "##ff", "##ffa", "##f", "##able", "##ble", "play", "##play", "re",
    "##ing", "##ed", "##er", "##ers", "token", "##iz", "##izer", "the", "café", "##é",
])
_WORD_PARTS = ("un", "a", "aff", "able", "ble", "play", "re", "ing", "ed", "er", "ers", "token", "izer",
               "s", "y", "l", "é", "x", "q")  # x and q are in no piece: words with them are [UNK]


def _random_string(rng, parts, low, high) -> str:
    """Between low and high - 1 random parts glued together (indices, not rng.choice: NumPy
    string arrays would drop a trailing NUL character)."""
    return "".join(parts[i] for i in rng.integers(0, len(parts), size=rng.integers(low, high)))


def _wordpiece_case(label, words, max_chars=100, tip=""):
    tokenizer = _library_tokenizer(WORDPIECE_VOCAB, True, max_chars)
    expected = {f"wordpiece({w!r})": tokenizer.wordpiece(w) for w in words}
    return Case(label, {"words": list(words), "vocab": set(WORDPIECE_VOCAB), "max_chars": max_chars}, expected, tip=tip)


def _library_tokenizer(tokens, do_lower_case, max_chars):
    from .vocab import tokenizer_from_tokens  # noqa: PLC0415 (the tokenizer is needed by exercises 1-2 only)

    return tokenizer_from_tokens(tokens, do_lower_case=do_lower_case, max_input_chars_per_word=max_chars)


def cases_ex01(rng) -> list:
    random_words = [_random_string(rng, _WORD_PARTS, 1, 5) for _ in range(25)]
    return [
        _wordpiece_case("words of the worked example", ["unaffable", "playing", "played", "players", "replay",
                                                        "the", "a", "aaa"],
                        tip="take the LONGEST piece that starts the rest of the word, then go on after it"),
        _wordpiece_case("words the vocabulary cannot spell", ["x", "playx", "xplay", "unaffablex", "q"],
                        tip="if some part of the word matches no piece, the WHOLE word is ['[UNK]']"),
        _wordpiece_case("words longer than max_input_chars_per_word (8 here)",
                        ["playing", "unaffable", "aaaaaaaa", "aaaaaaaaa"], max_chars=8,
                        tip="a word of more than max_input_chars_per_word characters is ['[UNK]'] at once"),
        _wordpiece_case("non-ASCII letters", ["café", "cafés", "éé", "playé"]),
        _wordpiece_case("25 random words", random_words),
    ]


def _as_list(value):
    """A tuple of tokens as a list (both are fine answers); anything else as it is, for the comparison to report."""
    return list(value) if isinstance(value, (list, tuple)) else value


def run_ex01(module, inputs) -> dict:
    out = {}
    for word in inputs["words"]:
        pieces = module.wordpiece(word, set(inputs["vocab"]), inputs["max_chars"])
        out[f"wordpiece({word!r})"] = _as_list(pieces)
    return out


# ----------------------------------------------------------------------------------------
# Exercise 2: BasicTokenizer
# ----------------------------------------------------------------------------------------
_TEXT_POOL = (list("abcXYZ019 ,.!?-'\"()[]$%&*+/:;<=>@\\^_`|~") + ["  ", "é", "É", "ñ", "ü", "ç", "ß", "ø", "œ",
              "e\u0301", "\u00a0", "\t", "\n", "\x00", "\x07", "\ufffd", "\u200b", "東", "京", "漢", "あ", "「",
              "」", "«", "—", "…", "¿", "€", "°", "Σ", "ς", "Hello", "WORLD", "naïve"])


def _basic_case(label, texts, do_lower_case=True, tip=""):
    tokenizer = _library_tokenizer((), do_lower_case, 100)
    expected = {f"basic_tokenize({t!r}, do_lower_case={do_lower_case})": tokenizer.basic_tokenize(t) for t in texts}
    return Case(label, {"texts": list(texts), "do_lower_case": do_lower_case}, expected, tip=tip)


def _random_texts(rng, count):
    texts = []
    while len(texts) < count:
        text = _random_string(rng, _TEXT_POOL, 1, 25)
        if not any(s in text for s in ("[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]")):  # stage 0 is not asked for
            texts.append(text)
    return texts


def cases_ex02(rng) -> list:
    accents = ["Héllo Crème Brûlée", "cafe\u0301 nai\u0308ve", "ÀÉÎÕÜ Ñandú", "Øresund Straße ΟΔΟΣ"]
    return [
        _basic_case("ASCII words, digits and punctuation", ["Hello, World! It's 3:45pm.", "don't stop-motion!!!",
                                                            "a+b=c; (x^2)*y $5 #tag @me `code` ~ok|"],
                    tip="every ASCII character that is not a letter or a digit is punctuation: a word of its own"),
        _basic_case("accents, composed and decomposed (uncased)", accents,
                    tip="lower-case, then NFD and drop the combining marks (category Mn)"),
        _basic_case("cased text (do_lower_case=False): case and accents stay", accents, do_lower_case=False,
                    tip="accents are stripped only together with lower-casing"),
        _basic_case("whitespace and control characters",
                    ["tab\there\nnew line\r\n", "no\u00a0break\u3000ideographic space",
                     "nul\x00 bell\x07 bad\ufffd zero\u200bwidth soft\u00adhyphen"],
                    tip="NUL, U+FFFD and control/format characters (category C*) are dropped; "
                        "any whitespace is a space"),
        _basic_case("CJK ideographs are words of their own; kana and Hangul are not",
                    ["東京に行きます", "日本語テキスト abc漢字def", "한국어 문장"],
                    tip="put spaces around each CJK ideograph (the ranges are in minibert/tokenizer.py)"),
        _basic_case("non-ASCII punctuation and symbols", ["¿Qué? ¡Sí!", "«quoted» — dash… end", "price: 5€ ± 2°",
                                                          "「括弧」"],
                    tip="Unicode punctuation (categories P*) splits; symbols such as € or ° (S*) do not"),
        _basic_case("15 random strings (uncased)", _random_texts(rng, 15)),
        _basic_case("15 random strings (cased)", _random_texts(rng, 15), do_lower_case=False),
    ]


def run_ex02(module, inputs) -> dict:
    out = {}
    lower = inputs["do_lower_case"]
    for text in inputs["texts"]:
        words = module.basic_tokenize(text, lower)
        out[f"basic_tokenize({text!r}, do_lower_case={lower})"] = _as_list(words)
    return out


# ----------------------------------------------------------------------------------------
# Exercise 3: softmax
# ----------------------------------------------------------------------------------------
def _softmax_case(label, x, axis, rng, numeric=True, tip=""):
    dy = rng.normal(size=x.shape).astype(x.dtype)
    y, _ = F.softmax(x, axis=axis)
    expected = {"softmax: y": y, "softmax_backward: dx": F.softmax_backward(dy, y, axis=axis)}
    grads = {}
    if numeric and x.dtype == np.float64:
        grads["softmax_backward: dx"] = finite_differences(lambda x: F.softmax(x, axis=axis)[0], {"x": x}, dy)["x"]
    return Case(label, {"x": x, "axis": axis, "dy": dy}, expected, grads, x.dtype, tip)


def cases_ex03(rng) -> list:
    padded = (rng.normal(size=(3, 6)) * 2).astype(np.float32)
    padded[:, 4:] = np.finfo(np.float32).min  # like attention's padding bias
    return [
        _softmax_case("float64, x [3, 5]", rng.normal(size=(3, 5)) * 2, -1, rng,
                      tip="the backward is y * (dy - sum(dy * y)) along the axis: do not forget the sum"),
        _softmax_case("float32, x [2, 3, 4]", (rng.normal(size=(2, 3, 4)) * 2).astype(np.float32), -1, rng),
        _softmax_case("float64, axis=0, x [4, 3]", rng.normal(size=(4, 3)), 0, rng,
                      tip="use the axis argument everywhere (max, sum, keepdims=True)"),
        _softmax_case("large scores (700 to 1000), float64, x [2, 5]", rng.uniform(700, 1000, size=(2, 5)), -1, rng,
                      numeric=False, tip="exp(1000) overflows: subtract each row's max before exp"),
        _softmax_case("padded entries (the most negative float32), x [3, 6]", padded, -1, rng,
                      tip="entries at np.finfo(dtype).min must get probability 0, never NaN"),
    ]


def run_ex03(module, inputs) -> dict:
    y, cache = unpack(module.softmax(inputs["x"], axis=inputs["axis"]), "softmax", ("y", "cache"))
    dx = module.softmax_backward(inputs["dy"], cache, axis=inputs["axis"])
    return {"softmax: y": y, "softmax_backward: dx": dx}


# ----------------------------------------------------------------------------------------
# Exercise 4: LayerNorm
# ----------------------------------------------------------------------------------------
def _layer_norm_case(label, x, eps, rng, numeric=True, tip=""):
    H = x.shape[-1]
    weight = (1.0 + 0.5 * rng.normal(size=H)).astype(x.dtype)
    bias = (0.5 * rng.normal(size=H)).astype(x.dtype)
    dy = rng.normal(size=x.shape).astype(x.dtype)
    y, cache = F.layer_norm(x, weight, bias, eps)
    dx, dweight, dbias = F.layer_norm_backward(dy, cache)
    expected = {"layer_norm: y": y, "layer_norm_backward: dx": dx, "layer_norm_backward: dweight": dweight,
                "layer_norm_backward: dbias": dbias}
    grads = {}
    if numeric and x.dtype == np.float64:
        fd = finite_differences(lambda x, weight, bias: F.layer_norm(x, weight, bias, eps)[0],
                                {"x": x, "weight": weight, "bias": bias}, dy)
        grads = {f"layer_norm_backward: d{name}": g for name, g in fd.items()}
    inputs = {"x": x, "weight": weight, "bias": bias, "eps": eps, "dy": dy}
    return Case(label, inputs, expected, grads, x.dtype, tip)


def cases_ex04(rng) -> list:
    constant = rng.normal(size=(3, 6))
    constant[1] = 2.5  # a row whose variance is 0
    return [
        _layer_norm_case("float64, x [4, 6], eps 1e-12", rng.normal(size=(4, 6)), 1e-12, rng,
                         tip="dx = rstd * (g - mean(g) - x_hat * mean(g * x_hat)), g = dy * weight: "
                             "the two means are the paths through the mean and the variance"),
        _layer_norm_case("float64, x [2, 3, 8] with mean 5 and spread 3, eps 1e-12",
                         5 + 3 * rng.normal(size=(2, 3, 8)), 1e-12, rng,
                         tip="dweight and dbias sum over EVERY axis but the last"),
        _layer_norm_case("float32, x [2, 5, 16], eps 1e-12", rng.normal(size=(2, 5, 16)).astype(np.float32),
                         1e-12, rng),
        _layer_norm_case("a constant row (variance 0), float64, x [3, 6], eps 1e-5", constant, 1e-5, rng,
                         numeric=False, tip="eps goes INSIDE the square root: 1 / sqrt(var + eps), var biased (/ H)"),
    ]


def run_ex04(module, inputs) -> dict:
    y, cache = unpack(module.layer_norm(inputs["x"], inputs["weight"], inputs["bias"], inputs["eps"]),
                      "layer_norm", ("y", "cache"))
    dx, dweight, dbias = unpack(module.layer_norm_backward(inputs["dy"], cache), "layer_norm_backward",
                                ("dx", "dweight", "dbias"))
    return {"layer_norm: y": y, "layer_norm_backward: dx": dx, "layer_norm_backward: dweight": dweight,
            "layer_norm_backward: dbias": dbias}


# ----------------------------------------------------------------------------------------
# Exercise 5: GELU
# ----------------------------------------------------------------------------------------
def _gelu_case(label, x, rng, tip=""):
    dy = rng.normal(size=x.shape).astype(x.dtype)
    y, cache = F.gelu(x)
    expected = {"gelu: y": y, "gelu_backward: dx": F.gelu_backward(dy, cache)}
    grads = {}
    if x.dtype == np.float64:
        grads["gelu_backward: dx"] = finite_differences(lambda x: F.gelu(x)[0], {"x": x}, dy)["x"]
    return Case(label, {"x": x, "dy": dy}, expected, grads, x.dtype, tip)


def cases_ex05(rng) -> list:
    return [
        _gelu_case("float64, x [3, 7]", 3 * rng.normal(size=(3, 7)), rng,
                   tip="d/dx [x Phi(x)] = Phi(x) + x phi(x): the product rule has two terms"),
        _gelu_case("float32, x [4, 5]", (3 * rng.normal(size=(4, 5))).astype(np.float32), rng),
        _gelu_case("large and tiny |x|, float64, x [7]", np.array([-10.0, -3.0, -1e-4, 0.0, 1e-4, 3.0, 10.0]), rng,
                   tip="this is the exact GELU, with erf (not the tanh approximation)"),
    ]


def run_ex05(module, inputs) -> dict:
    y, cache = unpack(module.gelu(inputs["x"]), "gelu", ("y", "cache"))
    return {"gelu: y": y, "gelu_backward: dx": module.gelu_backward(inputs["dy"], cache)}


# ----------------------------------------------------------------------------------------
# Exercises 6 and 7: attention, forward and backward
# ----------------------------------------------------------------------------------------
_PADDING_TIP = ("a padded key (attention_mask 0) gets weight exactly 0 in every row; padded QUERIES "
                "still attend to the real keys (their rows are not zeroed)")
_NO_TOKEN_TIP = "with every key masked, probs must be all 0 (not NaN, not uniform), so the context is 0"
# (label, shape [B, NH, T, HS], real tokens per sequence, dtype, tip)
_ATTENTION_SHAPES = (
    ("no padding, float64", (2, 2, 4, 3), (4, 4), np.float64, "probs = softmax(q k^T / sqrt(HS)) along the keys"),
    ("padded keys (real tokens 5, 3, 1), float64", (3, 2, 5, 4), (5, 3, 1), np.float64, _PADDING_TIP),
    ("a sequence with no real token (real tokens 4, 0), float64", (2, 2, 4, 3), (4, 0), np.float64, _NO_TOKEN_TIP),
    ("padded keys (real tokens 6, 2), float32", (2, 3, 6, 4), (6, 2), np.float32, _PADDING_TIP),
)


def padding_mask(lengths, T) -> np.ndarray:
    """[B, T] int64: 1 for the first lengths[b] tokens of row b, 0 after (padding)."""
    return (np.arange(T)[None, :] < np.array(lengths)[:, None]).astype(np.int64)


def _attention_inputs(rng, shape, lengths, dtype):
    q, k, v, d = (rng.normal(size=shape).astype(dtype) for _ in range(4))
    mask = padding_mask(lengths, shape[2])
    return q, k, v, d, mask


def cases_ex06(rng) -> list:
    cases = []
    for label, shape, lengths, dtype, tip in _ATTENTION_SHAPES:
        q, k, v, _, mask = _attention_inputs(rng, shape, lengths, dtype)
        context, probs, _ = F.scaled_dot_product_attention(q, k, v, F.attention_mask_bias(mask, dtype))
        cases.append(Case(f"{label}, q/k/v {list(shape)}", {"q": q, "k": k, "v": v, "attention_mask": mask},
                          {"attention: context": context, "attention: probs": probs}, dtype=dtype, tip=tip))
    return cases


def run_ex06(module, inputs) -> dict:
    context, probs = unpack(module.attention(inputs["q"], inputs["k"], inputs["v"], inputs["attention_mask"]),
                            "attention", ("context", "probs"))
    return {"attention: context": context, "attention: probs": probs}


def cases_ex07(rng) -> list:
    cases = []
    tips = {"no padding, float64": "dS = P * (dP - rowsum(dP * P)), then dq = dS k * scale, dk = dS^T q * scale"}
    for label, shape, lengths, dtype, tip in _ATTENTION_SHAPES:
        q, k, v, dcontext, mask = _attention_inputs(rng, shape, lengths, dtype)
        bias = F.attention_mask_bias(mask, dtype)
        _, probs, cache = F.scaled_dot_product_attention(q, k, v, bias)
        dq, dk, dv = F.scaled_dot_product_attention_backward(dcontext, cache)
        expected = {"attention_backward: dq": dq, "attention_backward: dk": dk, "attention_backward: dv": dv}
        grads = {}
        if dtype == np.float64:
            fd = finite_differences(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, bias)[0],
                                    {"q": q, "k": k, "v": v}, dcontext)
            grads = {f"attention_backward: d{name}": g for name, g in fd.items()}
        inputs = {"dcontext": dcontext, "q": q, "k": k, "v": v, "probs": probs}
        cases.append(Case(f"{label}, q/k/v {list(shape)}", inputs, expected, grads, dtype, tips.get(label, tip)))
    return cases


def run_ex07(module, inputs) -> dict:
    result = module.attention_backward(inputs["dcontext"], inputs["q"], inputs["k"], inputs["v"], inputs["probs"])
    dq, dk, dv = unpack(result, "attention_backward", ("dq", "dk", "dv"))
    return {"attention_backward: dq": dq, "attention_backward: dk": dk, "attention_backward: dv": dv}


# ----------------------------------------------------------------------------------------
# Exercise 8: embedding backward
# ----------------------------------------------------------------------------------------
_REPEAT_TIP = ("an id used at several positions must get the SUM of their dy rows: dtable[ids] += dy keeps "
               "only one of them (NumPy buffers the writes); use np.add.at")


def _embedding_case(label, ids, vocab_size, H, dtype, rng, tip=""):
    ids = np.asarray(ids, dtype=np.int64)
    dy = rng.normal(size=(*ids.shape, H)).astype(dtype)
    expected = {"embedding_backward: dtable": F.embedding_backward(dy, (ids, vocab_size))}
    grads = {}
    if dtype == np.float64:
        table = rng.normal(size=(vocab_size, H))
        fd = finite_differences(lambda table: F.embedding(ids, table)[0], {"table": table}, dy)
        grads = {"embedding_backward: dtable": fd["table"]}
    inputs = {"dy": dy, "ids": ids, "vocab_size": vocab_size}
    return Case(f"{label}, ids of shape {list(ids.shape)}, V {vocab_size}, H {H}", inputs, expected, grads, dtype, tip)


def cases_ex08(rng) -> list:
    return [
        _embedding_case("every id once, float64", rng.permutation(8)[:6].reshape(2, 3), 8, 4, np.float64, rng,
                        tip="dtable[v] is the dy row of the position that read row v; rows never read stay 0"),
        _embedding_case("repeated ids, float64", [[1, 4, 1, 1], [6, 4, 0, 1]], 7, 3, np.float64, rng, _REPEAT_TIP),
        _embedding_case("one id everywhere, float32", np.full((2, 3), 2), 4, 5, np.float32, rng, _REPEAT_TIP),
        _embedding_case("random ids with repeats, float32", rng.integers(0, 6, size=(3, 7)), 6, 5, np.float32, rng,
                        _REPEAT_TIP),
    ]


def run_ex08(module, inputs) -> dict:
    return {"embedding_backward: dtable": module.embedding_backward(inputs["dy"], inputs["ids"], inputs["vocab_size"])}


# ----------------------------------------------------------------------------------------
# Exercise 9: one AdamW step
# ----------------------------------------------------------------------------------------
_ADAMW_SHAPES = {
    "bert.embeddings.word_embeddings.weight": (6, 4),
    "bert.embeddings.LayerNorm.weight": (4,),
    "bert.embeddings.LayerNorm.bias": (4,),
    "bert.encoder.layer.0.attention.self.query.weight": (4, 4),
    "bert.encoder.layer.0.attention.self.query.bias": (4,),
    "classifier.weight": (2, 4),
    "classifier.bias": (2,),
}
_DECAY_TIP = ("biases (names ending in 'bias') and LayerNorm parameters (names containing 'LayerNorm') "
              "get NO weight decay; every other parameter does: w <- w - lr * weight_decay * w")


def _adamw_case(label, rng, dtype, step, weight_decay, lr=1e-2, tip=_DECAY_TIP):
    from .solutions.ex09_adamw import adamw_step  # noqa: PLC0415 (the library's AdamW on these arrays)

    def arrays(scale, positive=False):
        out = {n: (scale * rng.normal(size=s)).astype(dtype) for n, s in _ADAMW_SHAPES.items()}
        return {n: np.abs(a) for n, a in out.items()} if positive else out

    params, grads = arrays(1.0), arrays(0.5)
    m, v = (arrays(0.1), arrays(0.01, positive=True)) if step > 1 else (arrays(0.0), arrays(0.0))
    inputs = {"params": params, "grads": grads, "m": m, "v": v, "step": step, "lr": lr, "betas": (0.9, 0.999),
              "eps": 1e-8, "weight_decay": weight_decay}
    copies = {k: ({n: a.copy() for n, a in x.items()} if isinstance(x, dict) else x) for k, x in inputs.items()}
    new_params, new_m, new_v = adamw_step(**copies)
    expected = {"adamw_step: params": new_params, "adamw_step: m": new_m, "adamw_step: v": new_v}
    return Case(f"{label}, step {step}, weight_decay {weight_decay}, {np.dtype(dtype)}, 7 parameters",
                inputs, expected, dtype=dtype, tip=tip)


def cases_ex09(rng) -> list:
    return [
        _adamw_case("first step (moments 0)", rng, np.float64, 1, 0.01,
                    tip=_DECAY_TIP + "; m and v start at 0, and the bias correction divides by 1 - beta^step"),
        _adamw_case("a later step (moments from earlier steps)", rng, np.float64, 7, 0.01),
        _adamw_case("large weight decay", rng, np.float64, 3, 0.5),
        _adamw_case("no weight decay", rng, np.float64, 2, 0.0),
        _adamw_case("float32", rng, np.float32, 4, 0.5),
    ]


def run_ex09(module, inputs) -> dict:
    result = module.adamw_step(inputs["params"], inputs["grads"], inputs["m"], inputs["v"], inputs["step"],
                               inputs["lr"], inputs["betas"], inputs["eps"], inputs["weight_decay"])
    params, m, v = unpack(result, "adamw_step", ("params", "m", "v"))
    return {"adamw_step: params": params, "adamw_step: m": m, "adamw_step: v": v}


# ----------------------------------------------------------------------------------------
# Exercise 10: mean pooling and a softmax-regression head
# ----------------------------------------------------------------------------------------
def _pool_case(label, rng, shape, lengths, dtype, tip=""):
    hidden = rng.normal(size=shape).astype(dtype)
    mask = padding_mask(lengths, shape[1])
    expected = {"mean_pool: pooled": F.masked_mean(hidden, mask)[0]}
    return Case(f"mean_pool: {label}, hidden {list(shape)}, real tokens {list(lengths)}",
                {"call": "mean_pool", "hidden": hidden, "attention_mask": mask}, expected, dtype=dtype, tip=tip)


def _head_case(label, rng, N, D, C, dtype, tip=""):
    from .solutions.ex10_pooling_head import head_loss_and_grads  # noqa: PLC0415 (library kernels, chained)

    features = rng.normal(size=(N, D)).astype(dtype)
    labels = rng.integers(0, C, size=N)
    weight, bias = (0.5 * rng.normal(size=(C, D))).astype(dtype), (0.5 * rng.normal(size=C)).astype(dtype)
    loss, dweight, dbias = head_loss_and_grads(features, labels, weight, bias)
    expected = {"head_loss_and_grads: loss": loss, "head_loss_and_grads: dweight": dweight,
                "head_loss_and_grads: dbias": dbias}
    grads = {}
    if dtype == np.float64:
        def forward(weight, bias):
            return F.cross_entropy(F.linear(features, weight, bias)[0], labels)[0]
        fd = finite_differences(forward, {"weight": weight, "bias": bias}, 1.0)
        grads = {f"head_loss_and_grads: d{name}": g for name, g in fd.items()}
    inputs = {"call": "head", "features": features, "labels": labels, "weight": weight, "bias": bias}
    return Case(f"head_loss_and_grads: {label}, {N} examples, {D} features, {C} classes, {np.dtype(dtype)}",
                inputs, expected, grads, dtype, tip)


def _fit_case(rng, N, D, C, steps, lr):
    from .solutions.ex10_pooling_head import fit_head  # noqa: PLC0415

    centres = 2.0 * rng.normal(size=(C, D))
    labels = rng.integers(0, C, size=N)
    features = centres[labels] + rng.normal(size=(N, D))  # C clusters
    weight, bias = fit_head(features.copy(), labels.copy(), C, steps, lr)
    inputs = {"call": "fit", "features": features, "labels": labels, "num_classes": C, "steps": steps, "lr": lr}
    return Case(f"fit_head: {steps} steps of gradient descent from zeros, {N} examples, {C} classes, float64",
                inputs, {"fit_head: weight": weight, "fit_head: bias": bias},
                tip="start from weight = 0 and bias = 0; each step: w <- w - lr * dw on the WHOLE set")


def cases_ex10(rng) -> list:
    return [
        _pool_case("padded rows, float64", rng, (3, 5, 4), (5, 3, 1), np.float64,
                   tip="average only the real tokens: divide by their count, not by T"),
        _pool_case("a row with no real token, float32", rng, (2, 4, 3), (4, 0), np.float32,
                   tip="a row with no real token averages nothing: it must be 0 (not NaN): divide by max(count, 1)"),
        _head_case("random", rng, 6, 4, 3, np.float64,
                   tip="loss = mean over examples of logsumexp(logits) - logits[label]; "
                       "dlogits = (softmax(logits) - onehot(labels)) / N"),
        _head_case("random", rng, 8, 5, 2, np.float32),
        _fit_case(rng, 30, 4, 3, 40, 0.5),
    ]


def run_ex10(module, inputs) -> dict:
    if inputs["call"] == "mean_pool":
        return {"mean_pool: pooled": module.mean_pool(inputs["hidden"], inputs["attention_mask"])}
    if inputs["call"] == "head":
        result = module.head_loss_and_grads(inputs["features"], inputs["labels"], inputs["weight"], inputs["bias"])
        loss, dweight, dbias = unpack(result, "head_loss_and_grads", ("loss", "dweight", "dbias"))
        return {"head_loss_and_grads: loss": loss, "head_loss_and_grads: dweight": dweight,
                "head_loss_and_grads: dbias": dbias}
    result = module.fit_head(inputs["features"], inputs["labels"], inputs["num_classes"], inputs["steps"], inputs["lr"])
    weight, bias = unpack(result, "fit_head", ("weight", "bias"))
    return {"fit_head: weight": weight, "fit_head: bias": bias}


# ----------------------------------------------------------------------------------------
# Exercise 11: a fine-tuning loop
# ----------------------------------------------------------------------------------------
TINY_BERT = {"vocab_size": 30, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
             "intermediate_size": 16, "max_position_embeddings": 16, "hidden_dropout_prob": 0.0,
             "attention_probs_dropout_prob": 0.0, "initializer_range": 0.2, "num_labels": 2}
_LOOP_TIP = ("for every batch: model.zero_grad(), forward with labels, model.backward(), "
             "clip_grad_norm(model.parameters(), max_grad_norm), optimizer.step(); ONE AdamW for the whole run")


def tiny_model(dtype, seed):
    """The tiny random BERT classifier of exercise 11 (no dropout, so every run is exact)."""
    from ..config import BertConfig  # noqa: PLC0415 (the model is needed by exercise 11 only)
    from ..model import BertForSequenceClassification  # noqa: PLC0415

    return BertForSequenceClassification(BertConfig(**TINY_BERT), dtype=np.dtype(dtype), seed=seed)


def _loop_case(label, rng, dtype, max_grad_norm, lr=3e-2, epochs=2):
    from .solutions.ex11_finetune_loop import fine_tune  # noqa: PLC0415

    batches = []
    for T in (5, 7, 6):
        lengths = rng.integers(2, T + 1, size=4)
        mask = padding_mask(lengths, T)
        ids = rng.integers(1, TINY_BERT["vocab_size"], size=(4, T)) * mask  # 0 = [PAD] on padding
        batches.append({"input_ids": ids, "attention_mask": mask, "labels": rng.integers(0, 2, size=4)})
    seed = int(rng.integers(1000))
    model = tiny_model(dtype, seed)
    losses = fine_tune(model, [dict(b) for b in batches], epochs, lr, max_grad_norm)
    expected = {"fine_tune: losses": np.array(losses),
                "the model's parameters after fine_tune": {n: p.data for n, p in model.named_parameters()}}
    inputs = {"dtype": np.dtype(dtype).name, "seed": seed, "batches": batches, "epochs": epochs, "lr": lr,
              "max_grad_norm": max_grad_norm}
    return Case(f"{label}, tiny BERT (1 layer, H 8), 3 batches, {epochs} epochs, lr {lr}, "
                f"max_grad_norm {max_grad_norm}", inputs, expected, dtype=dtype, tip=_LOOP_TIP)


def cases_ex11(rng) -> list:
    return [
        _loop_case("float64", rng, np.float64, 1.0),
        _loop_case("float32, clipping active", rng, np.float32, 0.05),
    ]


def run_ex11(module, inputs) -> dict:
    model = tiny_model(inputs["dtype"], inputs["seed"])
    losses = module.fine_tune(model, inputs["batches"], inputs["epochs"], inputs["lr"], inputs["max_grad_norm"])
    if not isinstance(losses, (list, tuple, np.ndarray)):
        raise ExerciseError(f"fine_tune must return the list of the step losses, got {describe(losses)}")
    try:
        losses = np.array([float(loss) for loss in losses])
    except (TypeError, ValueError) as exc:
        raise ExerciseError(f"fine_tune must return a list of numbers (one loss per step): {exc}") from None
    return {"fine_tune: losses": losses,
            "the model's parameters after fine_tune": {n: p.data for n, p in model.named_parameters()}}


CASES = {f"ex{i:02d}": f for i, f in enumerate((cases_ex01, cases_ex02, cases_ex03, cases_ex04, cases_ex05, cases_ex06,
                                                cases_ex07, cases_ex08, cases_ex09, cases_ex10, cases_ex11), start=1)}
RUNNERS = {f"ex{i:02d}": f for i, f in enumerate((run_ex01, run_ex02, run_ex03, run_ex04, run_ex05, run_ex06,
                                                  run_ex07, run_ex08, run_ex09, run_ex10, run_ex11), start=1)}
# The exercises whose functions may change their inputs: AdamW updates in place, as the library's does.
MAY_CHANGE_INPUTS = frozenset({"ex09"})
