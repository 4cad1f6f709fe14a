"""AdamW as BERT is fine-tuned with it, a warm-up/decay schedule, and gradient clipping.

AdamW (Loshchilov & Hutter) keeps for every parameter a running mean m of its
gradients and a running mean v of their squares, and steps along m / sqrt(v):

    m <- beta1 m + (1 - beta1) g              v <- beta2 v + (1 - beta2) g^2
    m_hat = m / (1 - beta1^t)                 v_hat = v / (1 - beta2^t)      (bias correction)
    w <- w - lr * wd * w                      (decoupled weight decay: not part of g)
    w <- w - lr * m_hat / (sqrt(v_hat) + eps)

This is PyTorch's ``torch.optim.AdamW`` step for step (tested against a stored
trajectory). Google's original BERT optimizer skipped the bias correction
(``correct_bias=False`` here). As in BERT, biases and LayerNorm weights get no weight decay.
"""

from __future__ import annotations

import math

import numpy as np

from . import backend
from .errors import ConfigError


def no_weight_decay(name: str) -> bool:
    """BERT's rule: no decay on biases and LayerNorm parameters."""
    return name.endswith("bias") or "LayerNorm" in name


class AdamW:
    """AdamW over named parameters.

    Args:
        named_parameters: ``model.named_parameters()`` (frozen ones are skipped).
        lr: the peak learning rate (a schedule scales it: see LinearWarmupDecay).
        betas, eps: Adam's constants.
        weight_decay: decoupled decay for every parameter but biases and LayerNorm.
        correct_bias: divide by (1 - beta^t) as PyTorch does; False is Google's BERT.
    """

    def __init__(self, named_parameters, lr: float = 5e-5, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01, correct_bias: bool = True):
        if lr < 0 or eps < 0 or weight_decay < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ConfigError(f"invalid AdamW settings: lr={lr}, betas={betas}, eps={eps}, weight_decay={weight_decay}")
        self.named = [(n, p) for n, p in named_parameters if p.requires_grad]
        if not self.named:
            raise ConfigError("AdamW got no trainable parameters (is everything frozen?)")
        self.base_lr = lr
        self.lr = lr
        self.betas = betas
        self.eps = eps
        self.weight_decay = weight_decay
        self.correct_bias = correct_bias
        self.step_count = 0
        self.m = {n: None for n, _ in self.named}  # first moments, created at the first step
        self.v = {n: None for n, _ in self.named}  # second moments

    def zero_grad(self) -> None:
        for _, p in self.named:
            p.grad = None

    def step(self) -> None:
        """One update of every trainable parameter that has a gradient."""
        self.step_count += 1
        beta1, beta2 = self.betas
        t = self.step_count
        for name, p in self.named:
            g = p.grad
            if g is None:
                continue
            dtype = p.data.dtype.type
            if self.m[name] is None:
                xp = backend.get_xp(p.data)
                self.m[name] = xp.zeros_like(p.data)
                self.v[name] = xp.zeros_like(p.data)
            elif backend.device_of(self.m[name]) != backend.device_of(p.data):
                # the model was moved (Module.to) since the last step: its moments follow it
                device = backend.device_of(p.data)
                self.m[name] = backend.to_device(self.m[name], device)
                self.v[name] = backend.to_device(self.v[name], device)
            m, v = self.m[name], self.v[name]
            if self.weight_decay and not no_weight_decay(name):
                p.data *= dtype(1.0 - self.lr * self.weight_decay)  # decoupled: w <- w - lr wd w
            m *= dtype(beta1)
            m += dtype(1.0 - beta1) * g
            v *= dtype(beta2)
            v += dtype(1.0 - beta2) * g * g
            if self.correct_bias:
                step_size = self.lr / (1.0 - beta1 ** t)
                denom = backend.get_xp(v).sqrt(v) / dtype(math.sqrt(1.0 - beta2 ** t)) + dtype(self.eps)
            else:
                step_size = self.lr
                denom = backend.get_xp(v).sqrt(v) + dtype(self.eps)
            p.data -= dtype(step_size) * m / denom

    # -- saving and restoring (checkpoints) ------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue exactly: step count, lr, and the moments (NumPy)."""
        state = {"step_count": self.step_count, "lr": self.lr, "base_lr": self.base_lr}
        for name, _ in self.named:
            if self.m[name] is not None:
                state[f"m/{name}"] = backend.to_numpy(self.m[name])
                state[f"v/{name}"] = backend.to_numpy(self.v[name])
        return state

    def load_state_dict(self, state: dict) -> None:
        self.step_count = int(state["step_count"])
        self.lr = float(state["lr"])
        self.base_lr = float(state["base_lr"])
        for name, p in self.named:
            if f"m/{name}" in state:
                device = backend.device_of(p.data)
                self.m[name] = backend.to_device(np.asarray(state[f"m/{name}"], dtype=p.data.dtype), device)
                self.v[name] = backend.to_device(np.asarray(state[f"v/{name}"], dtype=p.data.dtype), device)


class LinearWarmupDecay:
    """lr rises linearly from 0 to the peak over ``warmup_steps``, then falls linearly to 0
    at ``total_steps`` (Hugging Face's get_linear_schedule_with_warmup).

    Call ``step()`` after each ``optimizer.step()``. As in PyTorch, the first update runs
    at factor(0) (0 when there is a warm-up).
    """

    def __init__(self, optimizer: AdamW, warmup_steps: int, total_steps: int):
        if total_steps < 1 or not 0 <= warmup_steps <= total_steps:
            raise ConfigError(f"need 0 <= warmup_steps ({warmup_steps}) <= total_steps ({total_steps}), total >= 1")
        self.optimizer = optimizer
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.last_step = 0
        optimizer.lr = optimizer.base_lr * self.factor(0)

    def factor(self, step: int) -> float:
        if step < self.warmup_steps:
            return step / max(1, self.warmup_steps)
        return max(0.0, (self.total_steps - step) / max(1, self.total_steps - self.warmup_steps))

    def step(self) -> None:
        self.last_step += 1
        self.optimizer.lr = self.optimizer.base_lr * self.factor(self.last_step)

    def state_dict(self) -> dict:
        return {"last_step": self.last_step, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps}

    def load_state_dict(self, state: dict) -> None:
        self.last_step = int(state["last_step"])
        self.optimizer.lr = self.optimizer.base_lr * self.factor(self.last_step)


def clip_grad_norm(parameters, max_norm: float) -> float:
    """Scale all gradients together so their global L2 norm is at most max_norm.

    Returns the norm before clipping (useful to log; inf or nan means a blow-up).
    Same rule as PyTorch: scale by max_norm / (norm + 1e-6) when that is below 1.
    """
    grads = [p.grad for p in parameters if p.requires_grad and p.grad is not None]
    if not grads:
        return 0.0
    xp = backend.get_xp(grads[0])
    squares = xp.stack([(g * g).sum() for g in grads])  # [number of gradients], on their device
    total = math.sqrt(float(squares.astype(xp.float64).sum()))  # one copy to the host, not one per gradient
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            g *= g.dtype.type(coef)
    return total
