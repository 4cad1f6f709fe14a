"""The NumPy/CuPy switch (minibert/backend.py) as seen on a machine without a GPU.

The CuPy side itself is tested in tests/test_cupy.py, which runs only where CuPy and a
CUDA GPU are present. Here: device names, the MINIBERT_DEVICE variable, and a clear
DeviceError (not an ImportError traceback) when "cuda" is asked for without CuPy.
"""

import importlib.util

import numpy as np
import pytest

from minibert import backend
from minibert.errors import DeviceError
from minibert.model import BertModel

HAS_CUPY = importlib.util.find_spec("cupy") is not None
needs_no_cupy = pytest.mark.skipif(HAS_CUPY, reason="checks the error raised where CuPy is not installed")


@pytest.fixture(autouse=True)
def no_device_variable(monkeypatch):
    """Every test starts without MINIBERT_DEVICE, whatever the shell running pytest has."""
    monkeypatch.delenv("MINIBERT_DEVICE", raising=False)


def test_get_xp_of_numpy_arrays_and_plain_values():
    a = np.ones(3)
    assert backend.get_xp(a) is np
    assert backend.get_xp(a, np.zeros((2, 2), np.float32)) is np
    assert backend.get_xp(a, None, 2.0, 3) is np  # numbers and None are ignored
    assert backend.get_xp([1, 2]) is np
    assert backend.device_of(a) == "cpu"


def test_to_numpy():
    a = np.arange(4.0)
    assert backend.to_numpy(a) is a  # no copy when already NumPy
    from_list = backend.to_numpy([[1, 2], [3, 4]])
    assert isinstance(from_list, np.ndarray) and from_list.shape == (2, 2)
    np.testing.assert_array_equal(from_list, [[1, 2], [3, 4]])
    assert backend.to_numpy(2.5).shape == ()


def test_to_device_cpu_is_numpy():
    a = np.arange(3)
    assert backend.to_device(a, "cpu") is a
    moved = backend.to_device([1.0, 2.0], "CPU")
    assert isinstance(moved, np.ndarray) and moved.dtype == np.float64


@pytest.mark.parametrize("name, expected", [
    ("cpu", "cpu"), ("CPU", "cpu"), (" cpu ", "cpu"), ("numpy", "cpu"),
    ("cuda", "cuda"), ("CUDA", "cuda"), ("gpu", "cuda"), ("GPU", "cuda"), ("cupy", "cuda"),
    ("cuda:0", "cuda"), ("CUDA:1", "cuda"),
])
def test_normalize_device(name, expected):
    assert backend.normalize_device(name) == expected


@pytest.mark.parametrize("name", ["tpu", "mps", "", "cpu0", "cu da", "gpu:0"])
def test_unknown_devices(name):
    with pytest.raises(DeviceError, match="unknown device") as info:
        backend.normalize_device(name)
    assert repr(name) in str(info.value) and "'cpu' or 'cuda'" in str(info.value)


def test_default_device_is_cpu():
    assert backend.normalize_device(None) == "cpu"
    assert backend.default_device() == "cpu"


def test_minibert_device_variable_is_respected(monkeypatch):
    monkeypatch.setenv("MINIBERT_DEVICE", "GPU")
    assert backend.default_device() == "cuda"
    assert backend.normalize_device(None) == "cuda"
    assert backend.normalize_device("cpu") == "cpu"  # an explicit device wins
    monkeypatch.setenv("MINIBERT_DEVICE", "cpu")
    assert backend.default_device() == "cpu"
    monkeypatch.setenv("MINIBERT_DEVICE", "")  # set but empty: the default
    assert backend.default_device() == "cpu"


def test_a_bad_minibert_device_names_the_variable(monkeypatch):
    monkeypatch.setenv("MINIBERT_DEVICE", "tpu")
    with pytest.raises(DeviceError, match="MINIBERT_DEVICE") as info:
        backend.default_device()
    assert "'tpu'" in str(info.value)


def test_device_error_is_a_runtime_error():
    with pytest.raises(RuntimeError):
        backend.normalize_device("tpu")


def test_scatter_add_adds_up_repeated_ids():
    table = np.zeros((4, 2))
    backend.scatter_add(table, np.array([1, 3, 1]), np.array([[1.0, 2.0], [5.0, 5.0], [10.0, 20.0]]))
    np.testing.assert_array_equal(table, [[0, 0], [11, 22], [0, 0], [5, 5]])  # id 1 twice: both added


# ----------------------------------------------------------------------------------------
# "cuda" on a machine without CuPy: one clear DeviceError
# ----------------------------------------------------------------------------------------
@needs_no_cupy
def test_cuda_available_is_false_without_cupy():
    assert backend.cuda_available() is False


@needs_no_cupy
def test_to_device_cuda_without_cupy():
    with pytest.raises(DeviceError) as info:
        backend.to_device(np.ones(2), "cuda")
    message = str(info.value)
    assert "CuPy" in message and "pip install" in message and "-e '.[cuda12]'" in message and "-e '.[cuda13]'" in message


@needs_no_cupy
def test_model_to_cuda_without_cupy(fixtures_dir):
    model = BertModel.from_pretrained(fixtures_dir / "tiny_bert")
    with pytest.raises(DeviceError, match="pip install"):
        model.to("cuda")
    assert model.device == "cpu"  # nothing was moved
    assert model([[1, 2, 3]]).last_hidden_state.shape == (1, 3, 32)  # and it still works


@needs_no_cupy
def test_from_pretrained_on_cuda_without_cupy(fixtures_dir):
    with pytest.raises(DeviceError, match="CuPy"):
        BertModel.from_pretrained(fixtures_dir / "tiny_bert", device="gpu")


@needs_no_cupy
def test_from_pretrained_follows_minibert_device(fixtures_dir, monkeypatch):
    """MINIBERT_DEVICE=cuda is the default device of from_pretrained, as the README says."""
    monkeypatch.setenv("MINIBERT_DEVICE", "cuda")
    with pytest.raises(DeviceError, match="CuPy"):
        BertModel.from_pretrained(fixtures_dir / "tiny_bert")
    monkeypatch.setenv("MINIBERT_DEVICE", "cpu")
    assert BertModel.from_pretrained(fixtures_dir / "tiny_bert").device == "cpu"


def test_from_pretrained_with_an_unknown_device(fixtures_dir, monkeypatch):
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        BertModel.from_pretrained(fixtures_dir / "tiny_bert", device="tpu")
    monkeypatch.setenv("MINIBERT_DEVICE", "tpu")
    with pytest.raises(DeviceError, match="MINIBERT_DEVICE"):
        BertModel.from_pretrained(fixtures_dir / "tiny_bert")


def test_model_to_cpu_is_a_no_op_on_numpy(fixtures_dir):
    model = BertModel.from_pretrained(fixtures_dir / "tiny_bert", device="cpu")
    before = model.embeddings.word_embeddings.weight.data
    assert model.to("cpu") is model and model.device == "cpu"
    assert model.embeddings.word_embeddings.weight.data is before


# ---- element-wise work on several cores ----------------------------------------------------
def test_cpu_threads_follows_the_environment(monkeypatch):
    monkeypatch.delenv("MINIBERT_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert backend.cpu_threads() == 3
    monkeypatch.setenv("MINIBERT_THREADS", "1")  # minibert's own setting wins
    assert backend.cpu_threads() == 1
    monkeypatch.setenv("MINIBERT_THREADS", "two")
    with pytest.raises(DeviceError, match="MINIBERT_THREADS must be a whole number"):
        backend.cpu_threads()
    monkeypatch.delenv("MINIBERT_THREADS")
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert backend.cpu_threads() >= 1


@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_map_blocks_visits_every_row_once(monkeypatch, threads):
    monkeypatch.setenv("MINIBERT_THREADS", threads)
    x = np.arange(1000.0).reshape(250, 4)
    y = np.arange(250.0)

    def fn(a, b, out):  # writes only into its own block
        out[:] = a.sum(axis=1) * 10 + b

    out = backend.map_blocks(fn, (x, y), np.full(250, np.nan), block=7)  # 36 blocks, the last one short
    np.testing.assert_array_equal(out, x.sum(axis=1) * 10 + y)


def test_map_blocks_keeps_one_pool_whatever_the_number_of_blocks(monkeypatch):
    """Arrays of 2, 3 or 40 blocks on 4 threads share one pool: making threads per call
    would cost more than small blocks save."""
    monkeypatch.setenv("MINIBERT_THREADS", "4")

    def copy(a, out):
        out[:] = a

    pools = []
    for n in (20, 30, 400, 20):  # 2, 3, 40 and 2 blocks of 10
        x = np.arange(float(n))
        np.testing.assert_array_equal(backend.map_blocks(copy, (x,), np.empty(n), block=10), x)
        pools.append(backend._pool[1])
    assert all(p is pools[0] for p in pools)


def test_map_blocks_passes_errors_on(monkeypatch):
    monkeypatch.setenv("MINIBERT_THREADS", "2")

    def fn(a, out):
        if a[0] >= 50:
            raise ZeroDivisionError("block failed")
        out[:] = a

    with pytest.raises(ZeroDivisionError, match="block failed"):
        backend.map_blocks(fn, (np.arange(100.0),), np.empty(100), block=10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_give_the_same_bits_on_any_number_of_threads(monkeypatch, dtype):
    """erf, GELU, softmax, LayerNorm and the GELU and softmax backwards share blocks among
    threads: each element (row) is computed exactly as alone, so results cannot depend on
    the thread count."""
    from minibert import functional as F

    rng = np.random.default_rng(0)
    block = F._BLOCK
    x = (3 * rng.standard_normal((8, 12, 70, 70))).astype(dtype)  # 6,720 rows of 70: two row blocks
    dy = rng.standard_normal(x.shape).astype(dtype)
    h = (3 * rng.standard_normal((2, 300, 1000))).astype(dtype)  # 600,000 numbers: three blocks
    assert x.size // 70 > block // 70 and h.size > 2 * block  # so that the threads really share work
    dh = rng.standard_normal(h.shape).astype(dtype)
    results = {}
    for threads in ("1", "2", "4"):
        monkeypatch.setenv("MINIBERT_THREADS", threads)
        probs, _ = F.softmax(x)
        y, cache = F.gelu(h)
        normed, (x_hat, rstd, _) = F.layer_norm(h, np.linspace(0.5, 1.5, 1000, dtype=dtype), np.zeros(1000, dtype), 1e-12)
        results[threads] = [F.erf(h), probs, F.softmax_backward(dy, probs), y, cache[1], F.gelu_backward(dh, cache),
                            normed, x_hat, rstd]
    for threads in ("2", "4"):
        for a, b in zip(results["1"], results[threads]):
            assert a.dtype == dtype
            np.testing.assert_array_equal(a, b)
