"""Dev tool: PyTorch references for minibert's backward pass and optimizer.

Run it in a throwaway environment with PyTorch and transformers (see
tools/make_model_fixtures.py):

    /tmp/refenv/bin/python tools/make_training_fixtures.py

It writes to tests/fixtures/:
  tiny_grad_cls/          a small random BertForSequenceClassification (2 labels, float64,
                          exact GELU), saved by transformers as safetensors
  gradient_reference.npz  one padded batch with labels; the loss, the logits and every
                          parameter's gradient from PyTorch autograd, in float64 and (same
                          weights cast down) in float32; names are Hugging Face's
  adamw_reference.npz     a 12-step trajectory of torch.optim.AdamW (weight decay 0.01 on
                          weights, none on biases and LayerNorm weights) with
                          get_linear_schedule_with_warmup (3 warm-up steps) and
                          clip_grad_norm_(1.0), on fixed random gradients, in float64
"""

import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import BertConfig, BertForSequenceClassification, get_linear_schedule_with_warmup

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
VERSIONS = f"torch {torch.__version__}, transformers {transformers.__version__}"


def gradient_fixture():
    torch.manual_seed(7)
    config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=64, num_labels=2, hidden_act="gelu",
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, attn_implementation="eager")
    model = BertForSequenceClassification(config).double()
    with torch.no_grad():  # non-trivial weights: larger gradients, LayerNorms not at 1/0
        for name, p in model.named_parameters():
            p.add_(torch.randn_like(p) * (0.1 if ("LayerNorm" in name or name.endswith("bias")) else 0.2))
    model.save_pretrained(FIXTURES / "tiny_grad_cls", safe_serialization=True)

    rng = np.random.default_rng(3)
    B, T = 5, 9
    lengths = np.array([9, 4, 7, 2, 9])
    mask = (np.arange(T)[None, :] < lengths[:, None]).astype(np.int64)
    ids = rng.integers(1, 99, (B, T)) * mask
    ids[0, 3] = ids[0, 5] = ids[2, 1]  # repeated ids
    types = ((np.arange(T)[None, :] >= lengths[:, None] // 2).astype(np.int64)) * mask
    labels = np.array([0, 1, 1, 0, 1])
    out = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types, "labels": labels,
           "versions": np.array(VERSIONS)}
    for dtype, tag in ((torch.float64, "f64"), (torch.float32, "f32")):
        m = model.to(dtype).train()  # train mode: dropout is 0 anyway, as minibert's will be
        m.zero_grad()
        res = m(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                token_type_ids=torch.tensor(types), labels=torch.tensor(labels))
        res.loss.backward()
        out[f"{tag}/loss"] = res.loss.detach().numpy()
        out[f"{tag}/logits"] = res.logits.detach().numpy()
        for name, p in m.named_parameters():
            out[f"{tag}/grad/{name}"] = p.grad.numpy().copy()
    np.savez_compressed(FIXTURES / "gradient_reference.npz", **out)
    print("gradients:", len([k for k in out if k.startswith("f64/grad/")]), "parameters")


def adamw_fixture():
    rng = np.random.default_rng(11)
    shapes = {"encoder.dense.weight": (4, 3), "encoder.dense.bias": (4,), "encoder.LayerNorm.weight": (3,),
              "encoder.LayerNorm.bias": (3,), "classifier.weight": (2, 4)}
    init = {n: rng.normal(size=s) for n, s in shapes.items()}
    steps, warmup, lr = 12, 3, 1e-2
    grads = {n: rng.normal(size=(steps, *s)) * (3.0 if n == "classifier.weight" else 0.5) for n, s in shapes.items()}
    params = {n: torch.tensor(v.copy(), requires_grad=True) for n, v in init.items()}
    no_decay = [p for n, p in params.items() if n.endswith("bias") or "LayerNorm.weight" in n]
    decay = [p for n, p in params.items() if not (n.endswith("bias") or "LayerNorm.weight" in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.999), eps=1e-8, foreach=False)
    sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=warmup, num_training_steps=steps)
    out = {f"init/{n}": v for n, v in init.items()}
    out.update({f"grads/{n}": g for n, g in grads.items()})
    lrs, norms = [], []
    for step in range(steps):
        for n, p in params.items():
            p.grad = torch.tensor(grads[n][step].copy())
        norms.append(float(torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)))
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        for n, p in params.items():
            out[f"after/{step}/{n}"] = p.detach().numpy().copy()
    out.update(lrs=np.array(lrs), grad_norms=np.array(norms), lr=lr, warmup=warmup, steps=steps,
               versions=np.array(VERSIONS))
    np.savez_compressed(FIXTURES / "adamw_reference.npz", **out)
    print("adamw: lrs", np.round(lrs, 5))


if __name__ == "__main__":
    FIXTURES.mkdir(parents=True, exist_ok=True)
    gradient_fixture()
    adamw_fixture()
    sys.exit(0)
