"""A training run killed with SIGKILL at a random moment and resumed from its last
checkpoint ends with exactly the weights and loss history of a run never interrupted
(real subprocesses, a real kill)."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parent / "helpers" / "train_tiny.py"


def run(*args, wait=True):
    cmd = [sys.executable, str(SCRIPT), *map(str, args)]
    if wait:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return done
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX-only")
def test_sigkill_then_resume_is_bit_identical(tmp_path):
    run(tmp_path / "uninterrupted.npz")
    expected = np.load(tmp_path / "uninterrupted.npz")

    checkpoints = tmp_path / "ckpt"
    proc = run(tmp_path / "killed.npz", checkpoints, "--slow", wait=False)
    deadline = time.time() + 240
    while not (checkpoints / "latest").exists():  # wait for the first checkpoint
        assert proc.poll() is None, f"the run ended before its first checkpoint: {proc.stderr.read()[-2000:]}"
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    time.sleep(random.Random(os.getpid()).uniform(0.0, 1.0))  # somewhere in the middle of training
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed.npz").exists(), "the run finished before the kill: nothing was tested"
    steps_done = int((checkpoints / "latest").read_text().strip().split("-")[1])
    print(f"killed after step {steps_done} of {len(expected['losses'])}")

    done = run(tmp_path / "resumed.npz", checkpoints, "--resume")  # (from other random weights: see the helper)
    assert f"steps run: {len(expected['losses']) - steps_done}" in done.stdout  # only the rest of the run
    resumed = np.load(tmp_path / "resumed.npz")
    assert set(resumed.files) == set(expected.files)
    for name in expected.files:
        np.testing.assert_array_equal(resumed[name], expected[name], err_msg=name)
