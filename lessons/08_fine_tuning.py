"""Lesson 8: fine-tuning -- train the whole pretrained model, or only its top.

What it teaches
    Fine-tuning is BERT's own recipe for a new task: put a new head on the pretrained
    encoder and train EVERY weight a little, with a small learning rate that first rises
    (warm-up) and then falls to zero (decay). We do it on a slice of the movie reviews
    with minibert.transfer.fine_tune, then again with partial fine-tuning (the embeddings
    and the lowest layers frozen), and compare what each costs and buys:

      1. the data: a seeded slice of the training reviews, dev and test reviews to score
      2. the model: where its 22.7M parameters sit (half of them in the word embeddings)
      3. full fine-tuning: the learning curve, epoch by epoch
      4. the learning-rate schedule as it was used, and why the rate is small
      5. partial fine-tuning: embeddings + lowest k layers frozen, the rest trained
      6. side by side: trainable parameters, seconds per step, memory, accuracy

    What you should see (default run: 500 training reviews, batches of 16, 3 epochs = 96
    steps per run, lr 1e-4; dev and test: 200 reviews each), measured on the idle 2-core
    development machine (the run is seeded: the same numbers every time on one machine):
    full fine-tuning climbed from 62.5% dev accuracy after epoch 1 (about the majority
    class, 62.0%) to 74.5% and 78.0% (73.0% on test); partial fine-tuning (3 of 6 layers
    frozen) trained 24% of the parameters, ran a step in half the time (0.40 s against
    0.80 s) and reached 72.5% dev, 73.0% test: level with full fine-tuning on test, within
    the noise of 200 reviews (one review is half a point). The lesson took 2 minutes 20
    seconds there (3.7 minutes of CPU time); on a shared, busy machine it has taken 10 to 15.

How to run it (from any folder; the model and the reviews are downloaded on first use)
    python lessons/08_fine_tuning.py                        the default run (2-15 minutes)
    python lessons/08_fine_tuning.py --quick                48 reviews, 1 epoch (~30-60 s): does it run?
    python lessons/08_fine_tuning.py --freeze-layers 6      only the pooler and the head train
    python lessons/08_fine_tuning.py --lr 1e-2              see a large learning rate wreck the model
Other flags: --train-size, --eval-size (dev and test reviews), --epochs, --batch-size, --seed.
"""

import argparse
import math
import time
import warnings

from lesson_support import positive_float, positive_int, section  # first: it also makes minibert importable from this checkout

import numpy as np

from minibert.errors import MinibertWarning
from minibert.model import BertForSequenceClassification
from minibert.transfer import fine_tune, load_splits, partial_fine_tune

MAX_LENGTH = 64  # tokens per review, [CLS] and [SEP] included; longer reviews are cut
WARMUP_RATIO = 0.1  # the first 10% of the steps warm the learning rate up from 0


def parse_args():
    parser = argparse.ArgumentParser(description="Full and partial fine-tuning of all-MiniLM-L6-v2 (lesson 8).")
    parser.add_argument("--train-size", type=positive_int, default=500, help="training reviews (default 500)")
    parser.add_argument("--eval-size", type=positive_int, default=200, help="dev reviews and test reviews (default 200 each)")
    parser.add_argument("--epochs", type=positive_int, default=3, help="passes over the training reviews (default 3)")
    parser.add_argument("--batch-size", type=positive_int, default=16, help="reviews per step (default 16)")
    parser.add_argument("--lr", type=positive_float, default=1e-4, help="peak learning rate of AdamW (default 1e-4)")
    parser.add_argument("--freeze-layers", type=int, default=3,
                        help="partial fine-tuning: how many of the 6 layers stay frozen (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the slice, the head and the shuffling (default 0)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: 48 training reviews, 32 dev and 32 test reviews, 1 epoch (~30-60 s)")
    args = parser.parse_args()
    if args.quick:
        args.train_size, args.eval_size, args.epochs = 48, 32, 1
    if not 1 <= args.freeze_layers <= 6:
        parser.error("--freeze-layers must be between 1 and 6 (MiniLM has 6 layers)")
    return args


def seconds_per_step(result):
    """Training seconds per optimizer step (evaluation left out) of a StrategyResult."""
    epochs = result.history["epochs"]
    return sum(e["seconds"] for e in epochs) / len(result.history["steps"])


def print_learning_curve(result):
    """One line per epoch: training loss, dev loss and accuracy, seconds."""
    print(f"  {'epoch':>5} {'steps':>6} {'train loss':>10} {'dev loss':>9} {'dev accuracy':>13} "
          f"{'dev macro-F1':>13} {'seconds':>8}")
    for e in result.history["epochs"]:
        print(f"  {e['epoch']:>5} {e['step']:>6} {e['train_loss']:>10.4f} {e['dev_loss']:>9.4f} "
              f"{100 * e['dev_accuracy']:>12.1f}% {e['dev_macro_f1']:>13.3f} {e['seconds']:>8.1f}")


def main():
    args = parse_args()
    start = time.perf_counter()

    # ------------------------------------------------------------------------------------
    section("1. The data: movie reviews, fresh or rotten")
    splits = load_splits(train_size=args.train_size, seed=args.seed, eval_size=args.eval_size)
    dev_y = np.asarray(splits.dev.labels)
    majority = max(dev_y.mean(), 1 - dev_y.mean())
    print(f"{len(splits.train)} training reviews (the first {len(splits.train)} of a permutation seeded with "
          f"{args.seed}),")
    print(f"the first {len(splits.dev)} dev reviews (scored after every epoch) and the first {len(splits.test)} "
          "test reviews")
    print(f"(scored once, at the end). Always guessing the larger class scores {100 * majority:.1f}% on dev.")
    steps_per_epoch = math.ceil(len(splits.train) / args.batch_size)
    total_steps = steps_per_epoch * args.epochs
    print(f"Batches of {args.batch_size}: {steps_per_epoch} steps per epoch, {args.epochs} epoch(s) = "
          f"{total_steps} steps per run.")

    # ------------------------------------------------------------------------------------
    section("2. The model: where the parameters are")
    # Loaded here only to look at it; fine_tune (section 3) loads its own fresh copy.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MinibertWarning)  # "classifier newly initialised": lesson 6 explains it
        model = BertForSequenceClassification.from_pretrained("minilm", num_labels=2, device="cpu")
    embeddings = model.bert.embeddings
    layers = list(model.bert.encoder.layer)
    print(f"  {'part':<38} {'parameters':>12}")
    print(f"  {'embeddings (words, positions, types)':<38} {embeddings.num_parameters():>12,}")
    print(f"  {'  of which the word table':<38} {embeddings.word_embeddings.num_parameters():>12,}"
          f"   ({model.config.vocab_size:,} wordpieces x {model.config.hidden_size})")
    for i, layer in enumerate(layers):
        print(f"  {f'layer {i + 1} (attention + feed-forward)':<38} {layer.num_parameters():>12,}")
    print(f"  {'pooler':<38} {model.bert.pooler.num_parameters():>12,}")
    print(f"  {'classifier (the new head)':<38} {model.classifier.num_parameters():>12,}")
    print(f"  {'all':<38} {model.num_parameters():>12,}")
    matrices = [p.data for name, p in model.named_parameters() if name.startswith("bert.encoder") and p.data.ndim == 2]
    weight_rms = float(np.sqrt(np.mean(np.concatenate([m.ravel() ** 2 for m in matrices]))))
    print(f"\nA typical weight of the layers' matrices is about {weight_rms:.3f} in size (root mean square).")
    del model, matrices  # free the memory: fine_tune loads its own copy

    # ------------------------------------------------------------------------------------
    section("3. Full fine-tuning: every parameter trains")
    print(f"""minibert.transfer.fine_tune: the pretrained encoder, a new random head, AdamW (weight decay
0.01), lr {args.lr:g} with warm-up and decay, dropout on, gradients clipped to length 1.
After each epoch the Trainer scores the dev reviews; at the end, the test reviews.
""")
    settings = dict(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, max_length=MAX_LENGTH,
                    warmup_ratio=WARMUP_RATIO, seed=args.seed, device="cpu", progress=True)
    full = fine_tune(splits, **settings)
    print()
    print_learning_curve(full)
    print(f"\ntest accuracy {100 * full.test_accuracy:.1f}%, {seconds_per_step(full):.2f} s per step, "
          f"{full.wall_s:.0f} s in all (evaluation included)")
    if args.quick:
        print("(--quick trains for a few steps: enough to see it run, too little to learn much.)")

    # ------------------------------------------------------------------------------------
    section("4. The learning rate, step by step, and why it is small")
    steps = full.history["steps"]
    peak = max(s["lr"] for s in steps)
    every = max(1, len(steps) // 12)  # about a dozen lines, whatever the number of steps
    print(f"  {'step':>5} {'lr used':>9}")
    for s in steps[::every] + ([steps[-1]] if (len(steps) - 1) % every else []):
        bar = "#" * round(40 * s["lr"] / peak) if peak > 0 else ""
        print(f"  {s['step']:>5} {s['lr']:>9.2e}  {bar}")
    warmup_steps = int(WARMUP_RATIO * len(steps))
    print(f"""
Warm-up (the first {WARMUP_RATIO:.0%} of the steps, {warmup_steps} here): the head starts random, so the first
gradients are large and point in arbitrary directions, and AdamW's running averages of
the gradients (which set the size of each step) are still empty. Small first steps keep
that early noise from scrambling the pretrained layers. Decay: the rate then falls
linearly to 0, so the last steps only polish and the model settles instead of bouncing
around a minimum.

Why small: AdamW moves each weight by about lr per step whatever the size of its gradient
(it divides by the gradient's running RMS). The rates of all {len(steps)} steps above add up
to {sum(s["lr"] for s in steps):.2g}: no weight moved much more than that, against a typical weight of {weight_rms:.3f}.
The pretrained network is nudged, not rewritten, and what pretraining learned (lesson 7:
about 75% with no training of the encoder at all) survives. At lr 1e-2 one step moves a
weight by a sizeable fraction of itself: the model forgets its pretraining and, on a few
hundred reviews, ends up guessing one class (try --lr 1e-2). BERT-base is usually
fine-tuned at 2e-5 to 5e-5; small models such as MiniLM take 1e-4 well (the PyTorch
reference: 85.0% test at 5e-5, 85.4% at 1e-4).""")

    # ------------------------------------------------------------------------------------
    k = args.freeze_layers
    section(f"5. Partial fine-tuning: embeddings and the lowest {k} layers frozen")
    print(f"""minibert.transfer.partial_fine_tune(splits, freeze_layers={k}) does what fine_tune does after
    model.bert.embeddings.requires_grad_(False)
    for layer in model.bert.encoder.layer[:{k}]:
        layer.requires_grad_(False)
Frozen parameters get no gradient and no AdamW update, and the backward pass stops at
the lowest trainable layer: layers 1-{k} run forward only. The same data, seed and steps.
""")
    partial = partial_fine_tune(splits, freeze_layers=k, **settings)
    print()
    print_learning_curve(partial)
    print(f"\ntest accuracy {100 * partial.test_accuracy:.1f}%, {seconds_per_step(partial):.2f} s per step")

    # ------------------------------------------------------------------------------------
    section("6. Side by side")
    rows = [("full fine-tuning", full), (f"partial (embeddings + {k} layers frozen)", partial)]
    print(f"  {'':<38} {'trainable':>11} {'s/step':>7} {'peak MB':>8} {'dev acc':>8} {'test acc':>9}")
    for name, r in rows:
        print(f"  {name:<38} {r.trainable_params:>11,} {seconds_per_step(r):>7.2f} {r.peak_mem_mb:>8.0f} "
              f"{100 * r.dev_accuracy:>7.1f}% {100 * r.test_accuracy:>8.1f}%")
    print(f"  {'(always guess the larger class, dev)':<38} {'':>11} {'':>7} {'':>8} {100 * majority:>7.1f}%")
    speed = seconds_per_step(partial) / seconds_per_step(full)
    share = partial.trainable_params / full.trainable_params
    difference = 100 * (full.test_accuracy - partial.test_accuracy)
    print(f"""
Partial fine-tuning trained {100 * share:.0f}% of the parameters, and each step took {100 * speed:.0f}% of the
time of a full step. Time follows computation, not parameter counts: the forward pass
still runs through every layer, and the word table, over half of the parameters, costs
almost no computation (a lookup forward, a scatter-add backward). What freezing saves is
the backward pass through the frozen layers, and the gradients, AdamW updates and AdamW
state of {full.trainable_params - partial.trainable_params:,} numbers (AdamW updates every row of the word table at
every step, even the rows of wordpieces that are not in the batch). Peak memory above:
what NumPy allocated during the run, the gradients and AdamW's two running averages included.""")
    if difference > 0:
        print(f"On test, full fine-tuning came out {difference:.1f} points ahead here.")
    elif difference < 0:
        print(f"On test, partial fine-tuning came out {-difference:.1f} points ahead here.")
    else:
        print("On test, both scored the same here.")
    noise = 100 * math.sqrt(0.8 * 0.2 / len(splits.test))  # one standard error of an accuracy near 80%
    print(f"""With {len(splits.test)} test reviews, one standard error of an accuracy near 80% is about
{noise:.1f} points, so differences of a point or two are within the noise of one run. The lower layers hold
general knowledge of English that the task rarely needs to change, which is why freezing
them costs little; the top layers are the ones the task reshapes. Lesson 9 trains the same
architecture from random weights on the same slice; lesson 10 compares all strategies.""")

    print(f"\nWall time: {time.perf_counter() - start:.0f} s in all.")


if __name__ == "__main__":
    main()
