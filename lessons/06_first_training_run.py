"""Lesson 6: a first fine-tuning run.

What it teaches
    How a pretrained BERT becomes a classifier: we put a new, random classification head
    on the default model (all-MiniLM-L6-v2) and fine-tune the whole network on movie
    reviews labelled fresh (positive) or rotten (negative):

      1. the data: Rotten Tomatoes snippets, a fixed train/dev split, a small seeded slice
      2. the model: the pretrained encoder + a new head, and the warning that says so
      3. before training: what a random head scores on the dev set (about chance)
      4. training with minibert.train.Trainer: batches, loss, backward, AdamW
      5. the loss falling, step by step, and the dev accuracy after each epoch
      6. a few dev reviews with the model's predictions, before and after

    Everything runs on the CPU. A training step on a batch of 32 reviews (forward,
    backward, AdamW update of 22.7M numbers) takes about 1.2 seconds on 2 idle cores (up to
    about 3 when other programs share them), so
    the default run (640 reviews, 2 epochs: 40 steps) takes 1 to 2 minutes (up to about 5
    when other programs keep the cores busy). It prints the time it took at the end.

What you should see (default run, idle 2-core development machine): dev accuracy 41.5%
    before training (a random head: about chance), 78.5% after the 40 steps;
    a mean training loss of 0.66 in epoch 1 and 0.39 in epoch 2; 56 s in all, 1.3 s per step.

How to run it (from any folder; the model and the reviews are downloaded on first use)
    python lessons/06_first_training_run.py                    the default run (1-2 minutes)
    python lessons/06_first_training_run.py --quick            64 reviews, 1 epoch (~20 s): does it run?
    python lessons/06_first_training_run.py --train-size 2000 --epochs 3 --lr 1e-4
Other flags: --dev-size (reviews to evaluate on), --seed (which slice, which shuffles).
More data and more epochs give better accuracy, at about 2 seconds per 32 reviews per epoch.
"""

import argparse
import textwrap
import time
import warnings

from lesson_support import positive_float, positive_int, section  # first: it also makes minibert importable from this checkout

import numpy as np

from minibert.data import TextDataset, load_movie_reviews
from minibert.metrics import accuracy, macro_f1
from minibert.model import BertForSequenceClassification
from minibert.pretrained import load_tokenizer
from minibert.train import TrainConfig, Trainer, predict

BATCH_SIZE = 32
MAX_LENGTH = 64  # tokens per review, [CLS] and [SEP] included; longer reviews are cut
SHOWN_REVIEWS = 8  # how many dev reviews section 6 shows


def parse_args():
    parser = argparse.ArgumentParser(description="Fine-tune all-MiniLM-L6-v2 on movie reviews (lesson 6).")
    parser.add_argument("--train-size", type=positive_int, default=640, help="training reviews (default 640)")
    parser.add_argument("--dev-size", type=positive_int, default=200, help="dev reviews to evaluate on (default 200)")
    parser.add_argument("--epochs", type=positive_int, default=2, help="passes over the training reviews (default 2)")
    parser.add_argument("--lr", type=positive_float, default=2e-4, help="peak learning rate of AdamW (default 2e-4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the slices and the shuffling (default 0)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: 64 training and 64 dev reviews, 1 epoch (about 20 s)")
    args = parser.parse_args()
    if args.quick:
        args.train_size, args.dev_size, args.epochs = 64, 64, 1
    return args


def seeded_slice(data, size, rng):
    """`size` examples of a TextDataset, drawn at random (without repeats) by `rng`."""
    if size > len(data):
        raise SystemExit(f"asked for {size} examples, but this split has only {len(data)}")
    picked = rng.choice(len(data), size, replace=False)
    return TextDataset([data.texts[i] for i in picked], [data.labels[i] for i in picked], data.label_names)


def softmax(logits):
    """Class probabilities [N, C] from logits [N, C]."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def main():
    args = parse_args()
    start = time.perf_counter()

    # ------------------------------------------------------------------------------------
    section("1. The data: movie reviews, fresh or rotten")
    train_all = load_movie_reviews("train")  # downloads the corpus on first use
    dev_all = load_movie_reviews("dev")
    names = train_all.label_names  # ["rotten", "fresh"]: label 0 and label 1
    print(f"Rotten Tomatoes review snippets: {len(train_all):,} for training, {len(dev_all):,} for dev")
    print("(and a test split we leave alone). Each review sits in one split, fixed by a hash of its")
    print("text, so the dev reviews are never trained on: they measure what the model learned.")
    rng = np.random.default_rng(args.seed)
    train = seeded_slice(train_all, args.train_size, rng)
    dev = seeded_slice(dev_all, args.dev_size, rng)
    print(f"\nThis run uses a random slice (seed {args.seed}): {len(train)} training reviews, "
          f"{len(dev)} dev reviews.")
    for name, data in (("train", train), ("dev", dev)):
        fresh = sum(data.labels)
        print(f"  {name:<5} {fresh:4d} fresh (label 1), {len(data) - fresh:4d} rotten (label 0)")
    print("Two examples:")
    for i in range(2):
        print(f"  [{names[train.labels[i]]}] {textwrap.shorten(train.texts[i], 90)}")

    # ------------------------------------------------------------------------------------
    section("2. The model: a pretrained encoder and a new head")
    # device="cpu": the lesson's timings are for the CPU, even if MINIBERT_DEVICE says "cuda".
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = BertForSequenceClassification.from_pretrained("minilm", num_labels=2, device="cpu")
    tok = load_tokenizer("minilm")
    for w in caught:
        print(f"from_pretrained warned: {w.message}")
    print(f"""
That warning is expected. The file holds the encoder all-MiniLM-L6-v2 was trained with
(embeddings, {model.config.num_hidden_layers} layers) and a pooler, but no classifier: the head, logits = pooled W^T + b
with W [2, {model.config.hidden_size}] and b [2], is new, its weights drawn at random. (The pooler in this file was
never trained either: its bias is exactly 0, its weights a random draw. A sentence-embedding
model has no use for it.) Fine-tuning trains the head and the pooler AND adjusts every
pretrained weight a little: {model.num_parameters():,} numbers in all.""")

    # ------------------------------------------------------------------------------------
    section("3. Before training: what does a random head score?")
    t = time.perf_counter()
    logits_before = predict(model, tok, dev.texts, max_length=MAX_LENGTH)  # [N, 2], eval mode
    preds = logits_before.argmax(axis=1)
    acc_before = accuracy(dev.labels, preds)
    f1_before = macro_f1(dev.labels, preds, 2)
    loss_before = -np.log(softmax(logits_before)[np.arange(len(dev)), dev.labels]).mean()  # cross-entropy
    majority = max(np.mean(dev.labels), 1 - np.mean(dev.labels))
    print(f"dev accuracy before training: {100 * acc_before:.1f}%   "
          f"(macro-F1 {f1_before:.3f}; {time.perf_counter() - t:.1f} s for {len(dev)} reviews)")
    print(f"it predicts 'fresh' for {int(preds.sum())} of the {len(dev)} reviews; "
          f"always guessing the larger class would score {100 * majority:.1f}%")
    print("""
The head knows nothing yet: its output is a random linear function of the pooled vector,
which tends to fall on the same side for most reviews. So it scores about what guessing
scores: near 50%, or the share of whichever class it happens to favour.""")

    # ------------------------------------------------------------------------------------
    section("4. Training")
    config = TrainConfig(epochs=args.epochs, batch_size=BATCH_SIZE, lr=args.lr, max_length=MAX_LENGTH,
                         seed=args.seed, progress=True)
    trainer = Trainer(model, tok, train, dev, config)
    print(f"""Trainer: {len(train)} reviews in batches of {BATCH_SIZE} = {trainer.steps_per_epoch} steps per epoch; \
{args.epochs} epoch(s) = {trainer.total_steps} steps. Each step:
  1. a batch of reviews, tokenised and padded to its longest review (at most {MAX_LENGTH} tokens)
  2. forward with labels: logits and the loss (mean cross-entropy); dropout is on (p = 0.1)
  3. model.zero_grad() before, model.backward() after: every weight's gradient (lesson 5)
  4. clip the gradients' overall length to {config.max_grad_norm} (a rare huge gradient cannot wreck
     the model)
  5. AdamW update: each weight moves by lr x (its running mean gradient / running RMS gradient),
     with weight decay {config.weight_decay}. The learning rate lr rises from 0 over the first
     {config.warmup_ratio:.0%} of the steps (warm-up), then falls linearly to 0. Peak lr {args.lr:g}: BERT-base
     usually takes 2e-5 to 5e-5; a small model like MiniLM, on a short run, learns faster with
     a larger one (try --lr 5e-5 and compare).
After each epoch, the Trainer measures the dev set. A progress bar shows each step.
""")
    t = time.perf_counter()
    history = trainer.train()
    train_seconds = time.perf_counter() - t

    # ------------------------------------------------------------------------------------
    section("5. The training loss, step by step, and the dev accuracy after each epoch")
    steps = history.steps
    every = max(1, len(steps) // 10)  # about ten lines, whatever the number of steps
    print("A loss of ln 2 = 0.693 is a coin flip; lower means more confident and right.")
    print(f"Each batch's loss is noisy (only {BATCH_SIZE} reviews), so the last column averages the last {every}.\n")
    print(f"  {'step':>5} {'lr used':>9} {'batch loss':>11} {'mean loss':>10}")
    for i in range(every - 1, len(steps), every):
        step = steps[i]["step"]
        lr_used = steps[i]["lr"]  # the learning rate this step ran at (warm-up, then linear decay)
        recent = np.mean([record["loss"] for record in steps[i - every + 1:i + 1]])
        print(f"  {step:>5} {lr_used:>9.2e} {steps[i]['loss']:>11.4f} {recent:>10.4f}")
    print("\nAfter each epoch (seconds: the epoch's training time, evaluation not included):")
    print(f"  {'epoch':>6} {'train loss':>10} {'dev loss':>9} {'dev accuracy':>13} "
          f"{'dev macro-F1':>13} {'seconds':>8}")
    print(f"  {'before':>6} {'-':>10} {loss_before:>9.4f} {100 * acc_before:>12.1f}% {f1_before:>13.3f}")
    for e in history.epochs:
        print(f"  {e['epoch']:>6} {e['train_loss']:>10.4f} {e['dev_loss']:>9.4f} {100 * e['dev_accuracy']:>12.1f}% "
              f"{e['dev_macro_f1']:>13.3f} {e['seconds']:>8.1f}")
    acc_after = history.epochs[-1]["dev_accuracy"]
    print(f"\ndev accuracy: {100 * acc_before:.1f}% before training -> {100 * acc_after:.1f}% after "
          f"{len(steps)} steps ({train_seconds / len(steps):.1f} s per step, evaluation included)")
    if args.quick:
        print("(--quick trains on 64 reviews for 2 steps: enough to see it run, too little to learn much.)")

    # ------------------------------------------------------------------------------------
    section("6. A few dev reviews: the model's verdict, before and after")
    shown = list(range(min(SHOWN_REVIEWS, len(dev))))
    probs_before = softmax(logits_before[shown])
    probs_after = softmax(predict(model, tok, [dev.texts[i] for i in shown], max_length=MAX_LENGTH))
    print(f"  {'truth':<7} {'prediction':<22} {'P(fresh) before':>15}   review")
    for row, i in enumerate(shown):
        label = int(probs_after[row].argmax())
        verdict = f"{names[label]} ({probs_after[row, label]:.2f})"
        mark = "ok" if label == dev.labels[i] else "--"
        print(f"  {names[dev.labels[i]]:<7} {mark} {verdict:<19} {probs_before[row, 1]:>15.2f}   "
              f"{textwrap.shorten(dev.texts[i], 60)}")
    print("""
(prediction: the class with the larger probability, and that probability. Before training,
P(fresh) barely moves from review to review: the random head cannot tell them apart.)""")

    print(f"\nWall time: {time.perf_counter() - start:.0f} s in all, {train_seconds:.0f} s of it training.")


if __name__ == "__main__":
    main()
