"""AdamW, the warm-up/decay schedule and gradient clipping against a stored PyTorch
trajectory (tools/make_training_fixtures.py: torch.optim.AdamW +
get_linear_schedule_with_warmup + clip_grad_norm_), float64."""

import numpy as np
import pytest

from minibert.layers import Parameter
from minibert.optim import AdamW, LinearWarmupDecay, clip_grad_norm, no_weight_decay


@pytest.fixture(scope="module")
def ref(fixtures_dir):
    return np.load(fixtures_dir / "adamw_reference.npz")


def names_of(ref):
    return [k[len("init/"):] for k in ref.files if k.startswith("init/")]


def test_weight_decay_rule():
    assert no_weight_decay("bert.encoder.layer.0.output.dense.bias")
    assert no_weight_decay("bert.embeddings.LayerNorm.weight")
    assert not no_weight_decay("bert.encoder.layer.0.output.dense.weight")
    assert not no_weight_decay("classifier.weight")


def test_adamw_trajectory_matches_pytorch(ref):
    names = names_of(ref)
    params = {n: Parameter(ref[f"init/{n}"].copy()) for n in names}
    opt = AdamW(params.items(), lr=float(ref["lr"]), weight_decay=0.01)
    sched = LinearWarmupDecay(opt, int(ref["warmup"]), int(ref["steps"]))
    worst = 0.0
    for step in range(int(ref["steps"])):
        for n, p in params.items():
            p.grad = ref[f"grads/{n}"][step].copy()
        norm = clip_grad_norm(params.values(), 1.0)
        assert norm == pytest.approx(float(ref["grad_norms"][step]), rel=1e-12)
        assert opt.lr == pytest.approx(float(ref["lrs"][step]), rel=1e-12, abs=1e-15)
        opt.step()
        sched.step()
        for n, p in params.items():
            expected = ref[f"after/{step}/{n}"]
            worst = max(worst, float(np.abs(p.data - expected).max()))
    print(f"AdamW vs PyTorch over {int(ref['steps'])} steps: max abs difference {worst:.1e}")
    assert worst <= 1e-12


def test_no_decay_parameters_really_are_not_decayed(ref, monkeypatch):
    """Without the exclusion the trajectory leaves PyTorch's: the test can fail."""
    import minibert.optim as optim_module

    monkeypatch.setattr(optim_module, "no_weight_decay", lambda name: False)
    names = names_of(ref)
    params = {n: Parameter(ref[f"init/{n}"].copy()) for n in names}
    opt = AdamW(params.items(), lr=float(ref["lr"]), weight_decay=0.01)
    sched = LinearWarmupDecay(opt, int(ref["warmup"]), int(ref["steps"]))
    for step in range(6):
        for n, p in params.items():
            p.grad = ref[f"grads/{n}"][step].copy()
        clip_grad_norm(params.values(), 1.0)
        opt.step()
        sched.step()
    diff = np.abs(params["encoder.dense.bias"].data - ref["after/5/encoder.dense.bias"]).max()
    assert diff > 1e-9


def test_frozen_parameters_are_left_alone():
    a, b = Parameter(np.ones(3)), Parameter(np.ones(3), requires_grad=False)
    opt = AdamW([("a.weight", a), ("b.weight", b)], lr=0.1)
    a.grad, b.grad = np.ones(3), np.ones(3)
    opt.step()
    assert np.all(b.data == 1) and np.all(a.data < 1)


def test_without_bias_correction_as_in_googles_bert():
    """correct_bias=False (Google's AdamWeightDecayOptimizer): the first step moves by
    lr * m / (sqrt(v) + eps) with m = (1 - b1) g and v = (1 - b2) g^2 uncorrected, i.e.
    about lr * 0.1 / sqrt(0.001) = 3.16 lr, not the corrected step's lr."""
    g = np.array([0.5, -2.0, 1e-3])
    for correct, factor in ((True, 1.0), (False, 0.1 / np.sqrt(0.001))):
        p = Parameter(np.zeros(3))
        p.grad = g.copy()
        AdamW([("w", p)], lr=0.01, weight_decay=0.0, correct_bias=correct).step()
        m, v = (1 - 0.9) * g, (1 - 0.999) * g * g
        if correct:  # m / (1 - b1^1), sqrt(v / (1 - b2^1))
            expected = -0.01 * (m / 0.1) / (np.sqrt(v) / np.sqrt(0.001) + 1e-8)
        else:
            expected = -0.01 * m / (np.sqrt(v) + 1e-8)
        np.testing.assert_allclose(p.data, expected, rtol=1e-12)
        np.testing.assert_allclose(np.abs(p.data[:2]), 0.01 * factor, rtol=1e-6)  # where |g| >> eps


def test_state_dict_round_trip_continues_identically(ref):
    names = names_of(ref)

    def run(split):
        params = {n: Parameter(ref[f"init/{n}"].copy()) for n in names}
        opt = AdamW(params.items(), lr=0.01)
        sched = LinearWarmupDecay(opt, 3, 12)
        for step in range(12):
            if step == split:  # rebuild everything from saved state
                saved_p = {n: p.data.copy() for n, p in params.items()}
                saved_o, saved_s = opt.state_dict(), sched.state_dict()
                params = {n: Parameter(saved_p[n]) for n in names}
                opt = AdamW(params.items(), lr=0.01)
                opt.load_state_dict(saved_o)
                sched = LinearWarmupDecay(opt, 3, 12)
                sched.load_state_dict(saved_s)
            for n, p in params.items():
                p.grad = ref[f"grads/{n}"][step].copy()
            opt.step()
            sched.step()
        return params

    full, resumed = run(split=-1), run(split=5)
    for n in names:
        np.testing.assert_array_equal(full[n].data, resumed[n].data)


def test_schedule_shape():
    opt = AdamW([("w", Parameter(np.zeros(1)))], lr=1.0)
    sched = LinearWarmupDecay(opt, warmup_steps=2, total_steps=6)
    lrs = [opt.lr]
    for _ in range(6):
        sched.step()
        lrs.append(opt.lr)
    assert lrs == pytest.approx([0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0])


def test_clipping_scales_all_gradients_together():
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(1))
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([4.0])
    assert clip_grad_norm([a, b], 1.0) == pytest.approx(5.0)
    assert np.sqrt((a.grad ** 2).sum() + (b.grad ** 2).sum()) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(a.grad[0] / b.grad[0], 0.75)


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match="no trainable"):
        AdamW([("w", Parameter(np.zeros(1), requires_grad=False))])
    with pytest.raises(ValueError, match="invalid"):
        AdamW([("w", Parameter(np.zeros(1)))], lr=-1)
    with pytest.raises(ValueError, match="warmup"):
        LinearWarmupDecay(AdamW([("w", Parameter(np.zeros(1)))]), 5, 3)
