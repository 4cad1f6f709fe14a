"""Solution of exercise 9: one step of minibert.optim.AdamW on the given parameters and moments."""

from minibert.layers import Parameter
from minibert.optim import AdamW


def adamw_step(params, grads, m, v, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
    named = [(name, Parameter(w.copy())) for name, w in params.items()]
    for name, p in named:
        p.grad = grads[name]
    optimizer = AdamW(named, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    optimizer.step_count = step - 1  # the step about to be taken is number `step`
    for name, _ in named:  # the moments left by the earlier steps
        optimizer.m[name], optimizer.v[name] = m[name].copy(), v[name].copy()
    optimizer.step()
    return {name: p.data for name, p in named}, optimizer.m, optimizer.v
