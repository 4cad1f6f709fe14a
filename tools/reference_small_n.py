"""Dev tool: the reference implementation (PyTorch + transformers) trained on minibert's small subsets.

The data-efficiency table of the reference figures (docs/reference-figures.md) drew
its small training sets with its own permutation, so at n = 100, where a point moves by several
points with the reviews drawn (docs/results/small-n-100.md), minibert's figure and the
reference's were measured on different reviews. This tool trains the reference on exactly the
reviews minibert drew (`compare.data_efficiency_point`: the first n of a permutation with seed
s), with the reference figures' recipe, so the two can be compared draw by draw:

- fine-tuning: transformers' BertForSequenceClassification from the default weights (eager
  attention, dropout 0.1), AdamW lr 5e-5 (betas 0.9/0.999, eps 1e-8, weight decay 0.01 except
  biases and LayerNorm weights), linear warm-up over 10% of the steps then linear decay, gradient
  norm clipped at 1.0, batches of 32 in a fresh random order every epoch, for
  max(3 epochs, 150 steps), as minibert's data-efficiency runs;
- frozen features: transformers' BertModel, last layer mean-pooled over the real tokens, then
  scikit-learn's logistic regression with C in {0.1, 1, 10} picked on dev.

Token ids come from minibert's tokenizer (identical to transformers' on the whole corpus:
tests/test_tokenizer.py). Run it with a Python that has torch, transformers and scikit-learn:

    /tmp/refenv/bin/python tools/reference_small_n.py --subsets 0,1,2,3,4 --train-seeds 0,1,2,3

About three minutes per fine-tuning run on a 2-core machine. Rows are kept across invocations in
OUT/reference_small_n.json (an interrupted study resumes); OUT/reference_small_n.md holds the
table, beside minibert's figures from --minibert (a small_n.json of tools/small_n_study.py).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import transformers
from sklearn.linear_model import LogisticRegression
from transformers import BertForSequenceClassification, BertModel, get_linear_schedule_with_warmup

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # minibert from this checkout

from minibert.compare import FULL, data_efficiency_point  # noqa: E402
from minibert.data import batches_by_length, collate, encode_texts  # noqa: E402
from minibert.pretrained import load_tokenizer, resolve_model_dir  # noqa: E402
from minibert.transfer import load_splits  # noqa: E402
from small_n_study import seed_list  # noqa: E402  (tools/ is on sys.path when this file runs)

C_GRID = (0.1, 1.0, 10.0)


def batches(encoded: list, labels: list, index_batches):
    """Padded torch batches (ids, mask, labels), one per list of example indices."""
    for part in index_batches:
        b = collate([encoded[i] for i in part], [labels[i] for i in part])
        yield torch.from_numpy(b.input_ids), torch.from_numpy(b.attention_mask), torch.from_numpy(b.labels)


def accuracy(model, encoded: list, labels: list) -> float:
    model.eval()
    right = 0
    with torch.no_grad():  # texts sorted by token count: little padding
        for ids, mask, y in batches(encoded, labels, batches_by_length([len(e) for e in encoded], 64)):
            right += int((model(input_ids=ids, attention_mask=mask).logits.argmax(-1) == y).sum())
    return right / len(labels)


def fine_tune(folder: Path, train, dev, test, epochs: int, seed: int) -> dict:
    """The reference recipe on one training set; dev and test accuracy after the last epoch."""
    cfg = FULL["fine_tune"]
    torch.manual_seed(seed)  # the classifier's initialisation, dropout and the batch order
    model = BertForSequenceClassification.from_pretrained(folder, num_labels=2, attn_implementation="eager")
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=cfg["lr"], betas=(0.9, 0.999), eps=1e-8)
    batch_size = FULL["batch_size"]
    total = epochs * math.ceil(len(train[0]) / batch_size)  # optimizer steps
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * total), total)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(train[0])).tolist()  # random batches, as the reference draws them
        for ids, mask, y in batches(*train, [order[i:i + batch_size] for i in range(0, len(order), batch_size)]):
            loss = model(input_ids=ids, attention_mask=mask, labels=y).loss
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
    return {"dev_accuracy": accuracy(model, *dev), "test_accuracy": accuracy(model, *test),
            "wall_s": time.perf_counter() - start}


def mean_features(encoder, encoded: list) -> np.ndarray:
    """Last layer, mean over the real tokens: [N, H] float64."""
    out = np.zeros((len(encoded), encoder.config.hidden_size))
    with torch.no_grad():
        for part in batches_by_length([len(e) for e in encoded], 64):
            b = collate([encoded[i] for i in part], np.zeros(len(part)))
            mask = torch.from_numpy(b.attention_mask)
            hidden = encoder(input_ids=torch.from_numpy(b.input_ids), attention_mask=mask).last_hidden_state
            m = mask.unsqueeze(-1).to(hidden.dtype)
            out[part] = ((hidden * m).sum(1) / m.sum(1)).double().numpy()
    return out


def features_point(train_x, train_y, dev, test) -> dict:
    """scikit-learn's logistic regression on frozen features, C picked on dev."""
    best = None
    for C in C_GRID:
        model = LogisticRegression(C=C, max_iter=10_000).fit(train_x, train_y)
        dev_acc, test_acc = model.score(*dev), model.score(*test)
        if best is None or dev_acc > best["dev_accuracy"]:
            best = {"dev_accuracy": dev_acc, "test_accuracy": test_acc, "C": C}
    return best


def markdown(rows: list, ours: list, n: int) -> str:
    """Per draw: the reference's and minibert's test accuracy (%), then means."""
    ref = {(r["strategy"], r["subset_seed"], r["train_seed"]): 100 * r["test_accuracy"] for r in rows if r["n"] == n}
    mine = {(r["strategy"], r["subset_seed"], r["train_seed"]): 100 * r["test_accuracy"] for r in ours if r["n"] == n}
    runs = sorted({key[1:] for key in ref})
    columns = [("fine_tune", ref, "fine-tune, PyTorch"), ("fine_tune", mine, "fine-tune, minibert"),
               ("feature_extraction", ref, "features + logistic regression, PyTorch"),
               ("feature_extraction", mine, "features + softmax head, minibert")]
    lines = [f"# Test accuracy (%) with {n} training reviews: the reference and minibert on the same reviews", "",
             "| subset | training seed | " + " | ".join(c[2] for c in columns) + " |", "|---" * (len(columns) + 2) + "|"]
    for run in runs:
        cells = [f"{table[(strategy, *run)]:.1f}" if (strategy, *run) in table else "-" for strategy, table, _ in columns]
        lines.append(f"| {run[0]} | {run[1]} | " + " | ".join(cells) + " |")
    means = []
    for strategy, table, _ in columns:
        done = [table[(strategy, *run)] for run in runs if (strategy, *run) in table]
        means.append(f"{statistics.mean(done):.1f}" if done else "-")
    lines.append("| mean | | " + " | ".join(means) + " |")
    wins = [run for run in runs if ("fine_tune", *run) in ref and ("feature_extraction", *run) in ref]
    ahead = sum(ref[("fine_tune", *run)] > ref[("feature_extraction", *run)] for run in wins)
    lines += ["", f"PyTorch: fine-tuning ahead of frozen features in {ahead} of {len(wins)} runs."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="training reviews per run (default 100)")
    parser.add_argument("--subsets", type=seed_list, default="0,1,2,3,4", help="permutation seeds that draw the reviews")
    parser.add_argument("--train-seeds", type=seed_list, default="0", help="training seeds, run on the first subset")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--minibert", default="docs/results/small-n-100.json",
                        help="minibert's rows (small_n.json of tools/small_n_study.py) for the table")
    parser.add_argument("--out", default="runs/reference-small-n", help="output folder")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    plan = [(s, 0) for s in args.subsets] + [(args.subsets[0], t) for t in args.train_seeds if t != 0]

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "reference_small_n.json"
    rows = json.loads(path.read_text()) if path.exists() else []
    done = {(r["strategy"], r["n"], r["subset_seed"], r["train_seed"]) for r in rows}

    folder = resolve_model_dir(None)
    tokenizer = load_tokenizer(None)
    splits = load_splits()
    max_length = FULL["max_length"]
    dev = (encode_texts(tokenizer, splits.dev.texts, max_length), list(splits.dev.labels))
    test = (encode_texts(tokenizer, splits.test.texts, max_length), list(splits.test.labels))
    encoder, dev_x, test_x = None, None, None
    for subset_seed, train_seed in plan:
        for strategy in ("fine_tune", "feature_extraction"):
            if (strategy, args.n, subset_seed, train_seed) in done:
                continue
            sub, epochs = data_efficiency_point(strategy, splits, args.n, {**FULL, "seed": train_seed}, subset_seed)
            train = (encode_texts(tokenizer, sub.train.texts, max_length), list(sub.train.labels))
            if strategy == "fine_tune":
                result = fine_tune(folder, train, dev, test, epochs, train_seed)
            else:
                if encoder is None:  # dev and test features once per invocation
                    encoder = BertModel.from_pretrained(folder, attn_implementation="eager").eval()
                    dev_x, test_x = mean_features(encoder, dev[0]), mean_features(encoder, test[0])
                result = features_point(mean_features(encoder, train[0]), np.array(train[1]),
                                        (dev_x, np.array(dev[1])), (test_x, np.array(test[1])))
            row = {"strategy": strategy, "n": args.n, "subset_seed": subset_seed, "train_seed": train_seed,
                   "versions": f"torch {torch.__version__}, transformers {transformers.__version__}", **result}
            print(f"PyTorch {strategy}, n={args.n}, subset {subset_seed}, training seed {train_seed}: "
                  f"test {100 * row['test_accuracy']:.1f}%", flush=True)
            rows.append(row)
            path.write_text(json.dumps(rows, indent=1))
    ours = json.loads(Path(args.minibert).read_text()) if Path(args.minibert).is_file() else []
    text = markdown(rows, ours, args.n)
    (out / "reference_small_n.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
