"""Lesson 9: the same architecture from random weights -- what pretraining is worth.

What it teaches
    Transfer learning is worth exactly the difference between starting from pretrained
    weights and starting from random ones. Here we build all-MiniLM-L6-v2's architecture
    (same config, same tokenizer, same head) with random weights and train it on the same
    slice, with the same settings and the same number of steps as lesson 8's fine-tuning:

      1. the data: the same seeded slice as lesson 8
      2. the model from its config: 22.7M random numbers, all to be learned from scratch
      3. how little of the vocabulary a small slice even shows the model
      4. training: the learning curve stays near "always say fresh"
      5. what the model predicts: (nearly) one class for every review
      6. the reference's data-efficiency table: how many labels scratch training needs

    What you should see (default run: 500 training reviews, batches of 16, 3 epochs = 96
    steps, lr 1e-4, 200 dev and 200 test reviews; measured on the idle 2-core development
    machine): the training loss stays near a coin flip (0.697, 0.684, 0.675 per epoch;
    ln 2 = 0.693), dev accuracy stays at 62.0% every epoch, exactly what always guessing
    "fresh" scores, and the model says "fresh" for all 200 dev reviews; lesson 8's
    fine-tuning reached 78.0% on the same slice with the same steps. The 500 reviews use
    only 3,440 of the 30,522 wordpieces, and 17.7% of the dev reviews' wordpieces never
    occur in them. A step costs what a fine-tuning step costs (about 0.6-0.8 s on an idle
    2-core machine, 2-5 s on a busy one); the run took 75 s on the idle machine, 4 minutes
    on a busy one.

How to run it (from any folder; the model and the reviews are downloaded on first use)
    python lessons/09_random_init.py                     the default run (1-10 minutes)
    python lessons/09_random_init.py --quick             48 reviews, 1 epoch (~10-60 s): does it run?
    python lessons/09_random_init.py --lr 5e-4           a larger rate: still no better on so few labels
Other flags: --train-size, --eval-size (dev and test reviews), --epochs, --batch-size, --seed.
"""

import argparse
import math
import time

from lesson_support import positive_float, positive_int, section  # first: it also makes minibert importable from this checkout

import numpy as np

from minibert.model import BertForSequenceClassification
from minibert.pretrained import load_config, load_tokenizer
from minibert.train import TrainConfig, Trainer, evaluate, predict
from minibert.transfer import load_splits

MAX_LENGTH = 64  # tokens per review, [CLS] and [SEP] included; longer reviews are cut

# The PyTorch + transformers reference on the same split (test accuracy, %; one seed each).
# Source: the project's reference measurements, docs/reference-figures.md, "Data
# efficiency": the training set is the first n of a seeded permutation of the 10,209
# training reviews; frozen features + logistic regression; fine-tune (lr 5e-5) and random
# init (lr 1e-4) trained for max(3 epochs, 150 steps) in batches of 32, max_len 64.
# Always guessing the larger class ("fresh") scores 56.6% on that test set.
REFERENCE_SIZES = [100, 300, 1000, 3000, 10209]
REFERENCE = {
    "frozen features (mean)": [65.2, 71.9, 74.8, 76.5, 77.4],
    "frozen features (last-4 means)": [66.2, 72.6, 74.4, 78.5, 79.9],
    "fine-tune": [65.4, 75.7, 79.5, 82.3, 85.0],
    "random init": [58.7, 58.9, 56.8, 68.9, 78.6],
}
REFERENCE_MAJORITY = 56.6


def parse_args():
    parser = argparse.ArgumentParser(description="all-MiniLM-L6-v2's architecture trained from scratch (lesson 9).")
    parser.add_argument("--train-size", type=positive_int, default=500, help="training reviews (default 500, as lesson 8)")
    parser.add_argument("--eval-size", type=positive_int, default=200, help="dev reviews and test reviews (default 200 each)")
    parser.add_argument("--epochs", type=positive_int, default=3, help="passes over the training reviews (default 3)")
    parser.add_argument("--batch-size", type=positive_int, default=16, help="reviews per step (default 16)")
    parser.add_argument("--lr", type=positive_float, default=1e-4, help="peak learning rate of AdamW (default 1e-4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the slice, the weights and the shuffling")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: 48 training reviews, 32 dev and 32 test reviews, 1 epoch (~10-60 s)")
    args = parser.parse_args()
    if args.quick:
        args.train_size, args.eval_size, args.epochs = 48, 32, 1
    return args


def main():
    args = parse_args()
    start = time.perf_counter()

    # ------------------------------------------------------------------------------------
    section("1. The data: the same slice as lesson 8")
    splits = load_splits(train_size=args.train_size, seed=args.seed, eval_size=args.eval_size)
    train, dev, test = splits.train, splits.dev, splits.test
    dev_y = np.asarray(dev.labels)
    fresh_share = dev_y.mean()  # label 1 is "fresh"
    majority = max(fresh_share, 1 - fresh_share)
    print(f"{len(train)} training reviews (seed {args.seed}), {len(dev)} dev and {len(test)} test reviews: "
          "the slice lesson 8 fine-tuned on")
    print(f"(with the same flags). Always guessing the larger class scores {100 * majority:.1f}% on dev.")

    # ------------------------------------------------------------------------------------
    section("2. The model, built from its config: every weight random")
    config = load_config("minilm")  # the architecture: sizes, layers, heads, vocabulary
    config.num_labels = 2
    tokenizer = load_tokenizer("minilm")  # the same wordpieces as the pretrained model
    # BertForSequenceClassification.from_pretrained("minilm") would load the trained weights;
    # calling the class with a config draws them at random instead (seeded: reproducible).
    model = BertForSequenceClassification(config, seed=args.seed)
    query = model.bert.encoder.layer[0].attention.self.query
    layer_norm = model.bert.embeddings.LayerNorm
    print(f"""{config.num_hidden_layers} layers, hidden size {config.hidden_size}, {config.num_attention_heads} heads, \
{config.vocab_size:,} wordpieces: the same network as lessons 7 and 8.
How the weights start (BERT's initialisation):
  matrices and embedding tables  N(0, {config.initializer_range})   e.g. layer 1's query matrix: \
std {float(query.weight.data.std()):.4f}
  LayerNorm scales and shifts    1 and 0   e.g. the embeddings' LayerNorm: \
{float(layer_norm.weight.data.mean()):.0f} and {float(layer_norm.bias.data.mean()):.0f}
  biases                         0         e.g. the query bias: largest |b| = \
{float(np.abs(query.bias.data).max()):.0f}""")
    print(f"\n  {'part':<38} {'parameters to learn from scratch':>33}")
    print(f"  {'embeddings (words, positions, types)':<38} {model.bert.embeddings.num_parameters():>33,}")
    print(f"  {'6 layers (attention + feed-forward)':<38} {model.bert.encoder.num_parameters():>33,}")
    print(f"  {'pooler and classifier':<38} "
          f"{model.bert.pooler.num_parameters() + model.classifier.num_parameters():>33,}")
    print(f"  {'all':<38} {model.num_parameters(trainable_only=True):>33,}")
    print(f"""
Fine-tuning (lesson 8) started from the same {model.num_parameters():,} numbers, nearly all already
trained on billions of words; only the pooler's and the head's {model.bert.pooler.num_parameters() + model.classifier.num_parameters():,}
were random (this checkpoint's pooler was never trained). Here all of them are, and the only
thing to learn them from is {len(train)} reviews with a label each.""")

    # ------------------------------------------------------------------------------------
    section("3. How much of the language does the slice show?")
    train_ids = {i for text in train.texts for i in tokenizer.encode(text, max_length=MAX_LENGTH, truncation=True)}
    dev_ids = [i for text in dev.texts for i in tokenizer.encode(text, max_length=MAX_LENGTH, truncation=True)]
    unseen = sum(i not in train_ids for i in dev_ids)
    print(f"The {len(train)} training reviews use {len(train_ids):,} different wordpieces "
          f"of the {config.vocab_size:,}.")
    print(f"The other {config.vocab_size - len(train_ids):,} rows of the word table never get a non-zero gradient: "
          "they stay the random")
    print("numbers they started as (weight decay aside).")
    print(f"{100 * unseen / len(dev_ids):.1f}% of the wordpieces in the dev reviews never occur in training: "
          "to this model")
    print("they are noise. A pretrained model knows them all, and knows that \"dull\" and \"tedious\" mean")
    print("much the same; a model from scratch must see each of them in enough labelled reviews.")

    # ------------------------------------------------------------------------------------
    section("4. Training from scratch: the same settings and steps as lesson 8")
    train_config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, max_length=MAX_LENGTH,
                               seed=args.seed, progress=True)
    trainer = Trainer(model, tokenizer, train, dev, train_config)
    print(f"{trainer.steps_per_epoch} steps per epoch, {trainer.total_steps} steps; AdamW with lr {args.lr:g}, "
          f"warm-up {train_config.warmup_ratio:.0%}, then linear decay.")
    print("(minibert.transfer.random_init does exactly this; `minibert compare` calls it.)\n")
    history = trainer.train()
    steps_done = len(history.steps)
    train_seconds = sum(e["seconds"] for e in history.epochs)
    print(f"\n  {'epoch':>5} {'train loss':>10} {'dev loss':>9} {'dev accuracy':>13} {'dev macro-F1':>13} "
          f"{'seconds':>8}")
    for e in history.epochs:
        print(f"  {e['epoch']:>5} {e['train_loss']:>10.4f} {e['dev_loss']:>9.4f} {100 * e['dev_accuracy']:>12.1f}% "
              f"{e['dev_macro_f1']:>13.3f} {e['seconds']:>8.1f}")
    print(f"\n{train_seconds / steps_done:.2f} s per step: the same network, so the same cost as full fine-tuning.")
    print("A loss of ln 2 = 0.693 is a coin flip; a model that has learned only the share of fresh")
    entropy = -(fresh_share * math.log(fresh_share) + (1 - fresh_share) * math.log(1 - fresh_share))
    print(f"reviews, and nothing about any review, scores the entropy of that share: {entropy:.3f} on dev.")

    # ------------------------------------------------------------------------------------
    section("5. What does it predict?")
    dev_preds = predict(model, tokenizer, dev.texts, max_length=MAX_LENGTH).argmax(axis=1)
    n_fresh = int(dev_preds.sum())
    print(f"It says \"fresh\" for {n_fresh} of the {len(dev)} dev reviews and \"rotten\" for {len(dev) - n_fresh}.")
    dev_accuracy = history.epochs[-1]["dev_accuracy"]
    test_scores = evaluate(model, tokenizer, test, MAX_LENGTH)
    test_y = np.asarray(test.labels)
    test_majority = max(test_y.mean(), 1 - test_y.mean())
    print(f"dev accuracy {100 * dev_accuracy:.1f}% (always the larger class: {100 * majority:.1f}%), "
          f"test accuracy {100 * test_scores['accuracy']:.1f}% (always the larger class: {100 * test_majority:.1f}%)")
    # Always guessing the larger class: its F1 is 2p / (1 + p) (p its share), the other's is 0,
    # and macro-F1 is their mean.
    one_class_f1 = majority / (1 + majority)
    print(f"macro-F1 on dev {history.epochs[-1]['dev_macro_f1']:.3f}; always guessing one class would score "
          f"{one_class_f1:.3f}.")
    if abs(dev_accuracy - majority) <= 0.05:
        print("""
So it stays near the majority class: the cheapest way to lower the loss is to learn the
share of fresh reviews, and there are far too few labelled reviews for anything better to
come out of 22.7M random numbers.""")
    else:
        print(f"""
It is {100 * (dev_accuracy - majority):+.1f} points from the majority class here: with this slice, seed and rate the
model picked up some signal (or some noise: {len(dev)} dev reviews are few). The reference table
below shows how many labels it needs to be reliably better than guessing.""")

    # ------------------------------------------------------------------------------------
    section("6. How many labels does training from scratch need? (the PyTorch reference)")
    print("Test accuracy (%) on the same split, by number of training reviews; one seed each")
    print("(docs/reference-figures.md, \"Data efficiency\"); always guessing \"fresh\" scores "
          f"{REFERENCE_MAJORITY}%.\n")
    print(f"  {'strategy':<32}" + "".join(f"{n:>8,}" for n in REFERENCE_SIZES))
    for name, row in REFERENCE.items():
        print(f"  {name:<32}" + "".join(f"{v:>8.1f}" for v in row))
    where = "in that first stretch" if len(train) < 3000 else "where scratch training starts to learn"
    print(f"""
At 100 to 1,000 labels the randomly initialised model stays at or near the majority class
(58.7, 58.9 and 56.8% against 56.6%: at 1,000 it predicts "fresh" for almost everything), while
the pretrained model, fine-tuned or frozen, is at 65-80%. This run, with {len(train)} labels,
is {where}. From 3,000 labels scratch training starts to learn (68.9%), and with
all 10,209 it reaches 78.6%: it catches up with the frozen mean-pooled features (77.4%).
Fine-tuning stays about 6 points ahead of both (85.0%).

The lesson: pretraining is worth most when labels are few. With a few hundred labels it is
the difference between a useful classifier and a coin that always lands the same way; with
ten thousand, a small transformer can learn this task from scratch, but still not as well
as one that was first taught English. (The reference also tried lr 5e-4 from scratch with
all the data: it collapsed to the majority class, 56.6%. Random weights need a gentle rate
too: with large steps, training a deep network from scratch is unstable, and "always say
fresh" is the stable answer it falls back to.)""")

    print(f"\nWall time: {time.perf_counter() - start:.0f} s in all, {train_seconds:.0f} s of it training "
          f"({steps_done} steps).")


if __name__ == "__main__":
    main()
