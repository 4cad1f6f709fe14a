"""The benchmark (benchmarks/bench.py) in its quickest form: a tiny random model, a few texts.

No timing is asserted (this machine's speed is not the test's business): only that every
workload ran in its worker and reported the keys docs/performance.md reads, with positive
numbers, and that the JSON and markdown files were written.
"""

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("minibert_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return load_bench()


@pytest.fixture(scope="module")
def results(bench, tmp_path_factory, minilm_dir):
    out = tmp_path_factory.mktemp("bench")
    res = bench.run_benchmark(out, quick=True, models=("tiny",), reference=False, repeats=1, warmup=0,
                              batch=2, tokens=8, sweep_batch=2, lengths=(8, 16), feature_texts=20,
                              tokenizer_texts=50, square=64, log=lambda *args, **kwargs: None)
    return out, res


def test_files_written(results):
    out, res = results
    assert json.loads((out / "results.json").read_text(encoding="utf-8")) == json.loads(json.dumps(res))
    text = (out / "results.md").read_text(encoding="utf-8")
    assert "## Inference and training step" in text and "## Feature extraction and tokenizer" in text


def test_meta_and_reference(results):
    _, res = results
    meta = res["meta"]
    for key in ("date", "cpu", "cpus", "threads", "numpy", "load_start", "load_end", "total_s"):
        assert key in meta, key
    assert meta["reference"] == {"available": False, "reason": "--no-reference"}
    assert res["ratios"] == [] and res["targets"] == []  # nothing to compare against


def test_matmul_peak(results):
    _, res = results
    assert res["matmul"]["numpy_peak_gflops"] > 0
    rows = res["matmul"]["numpy"]
    assert len(rows) == 1 + 8  # the square product, then the tiny model's eight shapes
    assert all(r["gflops"] > 0 and r["seconds"] > 0 for r in rows)


def test_every_workload_reports_positive_numbers(results):
    _, res = results
    by_kind = {}
    for w in res["workloads"]:
        assert "error" not in w, w
        assert w["median_s"] > 0 and w["min_s"] > 0 and w["peak_rss_mb"] > 0
        by_kind.setdefault(w["kind"], []).append(w)
    assert set(by_kind) == {"infer", "train", "sweep", "features", "tokenizer"}
    assert sorted(w["tokens"] for w in by_kind["sweep"]) == [8, 16]
    for w in by_kind["infer"] + by_kind["train"] + by_kind["sweep"]:
        assert w["tokens_per_s"] > 0 and w["gflops"] > 0 and w["share_of_numpy_peak"] > 0
    for w in by_kind["infer"] + by_kind["train"]:
        assert w["tracemalloc_peak_mb"] > 0
    assert by_kind["features"][0]["texts"] == 20 and by_kind["features"][0]["texts_per_s"] > 0
    tok = by_kind["tokenizer"][0]
    assert tok["texts"] == 50 and tok["sentences_per_s"] > 0 and tok["warm_cache_seconds"] > 0


def test_flop_count(bench):
    """The analytic count: MiniLM costs about 22.4 MFLOP per token forward at 128 tokens."""
    per_token = bench.forward_flops("minilm", 1, 128) / 128
    assert per_token == pytest.approx(22.4e6, rel=0.01)
    assert bench.train_flops("base", 2, 64) == 3 * bench.forward_flops("base", 2, 64)


def test_ratios_and_targets(bench):
    """Ratios are minibert / reference: speed from seconds, memory from peak RSS."""
    def row(side, seconds, peak):
        return {"kind": "train", "model": "minilm", "side": side, "tokens": 128, "batch": 32,
                "median_s": seconds, "min_s": seconds, "peak_rss_mb": peak, "rss_before_mb": 100.0}

    workloads = [row("minibert", 2.0, 900.0), row("torch-eager", 1.0, 1000.0)]
    (r,) = bench.ratios(workloads)
    assert r["vs"] == "torch-eager"
    assert r["throughput_ratio"] == pytest.approx(0.5) and r["memory_ratio"] == pytest.approx(0.9)
    met = {t["target"]: t["met"] for t in bench.targets(workloads)}
    assert met == {"training-step throughput >= 0.8x PyTorch eager": False,
                   "training peak memory <= 1.0x PyTorch eager": True}


def test_cli_has_bench():
    from minibert.cli import build_parser, cmd_bench

    args = build_parser().parse_args(["bench", "--quick", "--out", "somewhere"])
    assert args.func is cmd_bench and args.quick and args.out == "somewhere" and args.device is None
    assert build_parser().parse_args(["bench", "--device", "cuda"]).device == "cuda"


def test_a_failed_worker_makes_the_exit_status_1(bench, tmp_path, capsys):
    """A worker that fails (here: stopped by --worker-timeout) is reported, and the run's exit
    status says so, so tools/gpu_check.sh cannot pass with a benchmark that did not run."""
    argv = ["--models", "tiny", "--no-reference", "--only", "infer", "--worker-timeout", "0.01", "--out", str(tmp_path)]
    assert bench.main(argv) == 1
    captured = capsys.readouterr()
    assert "timed out after 0.01 s" in captured.out
    assert "1 of 1 workers failed: infer tiny minibert" in captured.err
    assert json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))["runs"][0]["result"]["error"]


def test_cuda_without_a_gpu_is_refused(bench, capsys):
    from minibert.backend import cuda_available

    if cuda_available():
        pytest.skip("this machine has a GPU: the refusal is for machines without one")
    assert bench.main(["--device", "cuda", "--models", "tiny", "--no-reference"]) == 2
    assert "--device cuda needs CuPy and a CUDA GPU" in capsys.readouterr().err


def test_gpu_check_script_skips_cleanly_without_a_gpu(tmp_path):
    import os
    import subprocess
    import sys

    from minibert.backend import cuda_available

    if cuda_available():
        pytest.skip("this machine has a GPU: tools/gpu_check.sh would really run")
    script = BENCH.parent.parent / "tools" / "gpu_check.sh"
    env = dict(os.environ, OUT=str(tmp_path / "gpu"), PYTHON=sys.executable)
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "skipped" in done.stdout and not (tmp_path / "gpu").exists()
    # where nvidia-smi lists a GPU that minibert cannot use (CuPy missing or broken), it fails instead
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\necho 'GPU 0: a GPU (UUID: GPU-0)'\n")
    (bin_dir / "nvidia-smi").chmod(0o755)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1 and "has a GPU but minibert cannot use it" in done.stdout, done.stdout
    assert "device 'cuda'" in done.stdout  # the DeviceError that says why
