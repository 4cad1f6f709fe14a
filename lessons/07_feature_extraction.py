"""Lesson 7: feature extraction -- a frozen BERT as a sentence encoder.

What it teaches
    The cheapest way to use a pretrained model for a new task: never train it. We run the
    frozen encoder (all-MiniLM-L6-v2) once over the movie reviews, turn each review into
    one vector (its "features"), and train only a small softmax head on those vectors:

      1. the data: a seeded slice of the training reviews and the first dev reviews
      2. the frozen encoder: 22.7M parameters, none of them trainable
      3. one pass over the texts, four ways to pool the token vectors into one vector:
         cls, pooler, mean and mean_last4, written out in NumPy
      4. the cache: minibert.features.cached_features computes the features once and then
         loads them from disk (and gives the same numbers as our own loop)
      5. a softmax head on each pooling: which vector holds the sentiment best?
      6. why the mean of the token vectors beats the [CLS] vector for a model that was not
         fine-tuned
      7. re-training a head takes seconds: a small learning-rate sweep and an MLP head
      8. what was trained: the head's hundreds (or thousands) of numbers against the encoder's millions

    What you should see (default run, 1000 training and 300 dev reviews; measured twice
    on a shared, busy 2-core machine): the encoder pass is the only slow part (55-80 s
    for the 1,300 reviews, 16-24 reviews a second; faster on an idle machine); a softmax
    head then trains in well under a second, the MLP head in 7-20 s (seconds on an idle
    machine). Dev accuracy: mean 74.7%, mean_last4 73.7%, cls 62.3%, pooler 59.0%, against
    58.0% for always guessing "fresh"; the PyTorch reference with 1,000 labels has mean
    74.8% and mean_last4 74.4% (test set). Another slice or seed moves these by a point or
    two (300 dev reviews: one review is 0.33 points). The whole run took 1.5-2 minutes.

How to run it (from any folder; the model and the reviews are downloaded on first use)
    python lessons/07_feature_extraction.py                      the default run (1-3 minutes)
    python lessons/07_feature_extraction.py --quick              100 + 60 reviews (~10-30 s): does it run?
    python lessons/07_feature_extraction.py --train-size 3000 --dev-size 1307
Other flags: --seed (which training slice, the heads' initialisation and shuffling),
--epochs (passes of each head over the features), --lr (the heads' learning rate).
"""

import argparse
import tempfile
import time
from pathlib import Path

from lesson_support import positive_float, positive_int, section  # first: it also makes minibert importable from this checkout

import numpy as np
from tqdm.auto import tqdm

from minibert.features import cached_features
from minibert.heads import MLPHead, SoftmaxHead, head_predict, train_head
from minibert.layers import no_grad
from minibert.metrics import accuracy
from minibert.model import BertModel
from minibert.pretrained import load_tokenizer
from minibert.transfer import load_splits

MAX_LENGTH = 64  # tokens per review, [CLS] and [SEP] included; longer reviews are cut
BATCH_SIZE = 32  # reviews per forward pass of the encoder
POOLINGS = ("cls", "pooler", "mean", "mean_last4")

# PyTorch + transformers on the same split: test accuracy of a logistic regression on frozen
# all-MiniLM-L6-v2 features (max_len 64), trained on the first 1,000 of a seeded permutation
# of the training reviews, and on all 10,209 of them. From the project's reference
# measurements (docs/reference-figures.md: "Data efficiency" and "The three strategies");
# [CLS] was measured with all the data only, the pooler not at all.
REFERENCE_TEST_ACCURACY_1K = {"mean": 74.8, "mean_last4": 74.4}
REFERENCE_TEST_ACCURACY_10K = {"cls": 73.3, "mean": 77.4, "mean_last4": 79.9}


def parse_args():
    parser = argparse.ArgumentParser(description="Frozen-feature extraction with all-MiniLM-L6-v2 (lesson 7).")
    parser.add_argument("--train-size", type=positive_int, default=1000, help="training reviews (default 1000)")
    parser.add_argument("--dev-size", type=positive_int, default=300, help="dev reviews to evaluate on (default 300)")
    parser.add_argument("--epochs", type=positive_int, default=20, help="passes of each head over the features (default 20)")
    parser.add_argument("--lr", type=positive_float, default=1e-3, help="learning rate of the heads' AdamW (default 1e-3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the slice and of the heads (default 0)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: 100 training and 60 dev reviews (about 10-30 s)")
    args = parser.parse_args()
    if args.quick:
        args.train_size, args.dev_size = 100, 60
    return args


def pool_four_ways(output, attention_mask):
    """The four sentence vectors of a batch, from one forward pass of the encoder.

    output: the BertModelOutput of a batch (hidden states included);
    attention_mask: [B, T], 1 for a real token, 0 for padding.
    Returns {pooling name: [B, D]} with D = 384, or 4 x 384 for mean_last4.
    """
    mask = attention_mask[:, :, None].astype(np.float32)  # [B, T, 1]

    def masked_mean(hidden):  # [B, T, H] -> [B, H]: the average over the real tokens only
        return (hidden * mask).sum(axis=1) / mask.sum(axis=1)

    return {
        "cls": output.last_hidden_state[:, 0],  # the last layer's vector at position 0, [CLS]
        "pooler": output.pooler_output,  # tanh(W h_[CLS] + b): BERT's pooler on top of [CLS]
        "mean": masked_mean(output.last_hidden_state),  # every real token of the last layer, averaged
        # hidden_states holds 7 arrays: the embeddings, then layers 1..6. The last four layers:
        "mean_last4": np.concatenate([masked_mean(h) for h in output.hidden_states[-4:]], axis=1),
    }


def extract_features(model, tokenizer, texts):
    """Run the frozen encoder once over `texts`; returns {pooling: features [N, D]}."""
    # Sorting by length puts reviews of similar length in the same batch: each batch is padded
    # to its longest review, so this wastes little work on padding. `order` remembers where
    # each review came from, so the features come back in the original order.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    features = {}
    with no_grad():  # inference only: nothing is kept for a backward pass
        for start in tqdm(range(0, len(texts), BATCH_SIZE), desc="encoder pass", unit="batch", leave=False):
            idx = order[start:start + BATCH_SIZE]
            batch = tokenizer([texts[i] for i in idx], max_length=MAX_LENGTH, padding=True, truncation=True)
            output = model(batch["input_ids"], attention_mask=batch["attention_mask"],
                           token_type_ids=batch["token_type_ids"], output_hidden_states=True)
            for name, vectors in pool_four_ways(output, batch["attention_mask"]).items():
                if name not in features:
                    features[name] = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
                features[name][idx] = vectors
    return features


def train_a_head(train_x, train_y, dev_x, dev_y, epochs, lr, seed, head=None):
    """Train a head (a new SoftmaxHead unless one is given) on fixed features with
    minibert.heads.train_head; returns (head, history, seconds)."""
    head = head or SoftmaxHead(train_x.shape[1], 2, seed=seed)
    start = time.perf_counter()
    history = train_head(head, train_x, train_y, epochs=epochs, lr=lr, seed=seed, dev=(dev_x, dev_y))
    return head, history, time.perf_counter() - start


def main():
    args = parse_args()
    start = time.perf_counter()

    # ------------------------------------------------------------------------------------
    section("1. The data: movie reviews, fresh or rotten")
    splits = load_splits(train_size=args.train_size, seed=args.seed, eval_size=args.dev_size)
    train, dev = splits.train, splits.dev
    train_y, dev_y = np.asarray(train.labels), np.asarray(dev.labels)
    majority = max(dev_y.mean(), 1 - dev_y.mean())
    print(f"{len(train)} training reviews (a seeded slice, seed {args.seed}) and the first {len(dev)} dev reviews;")
    print("the test reviews are not used here (lesson 10 scores every strategy on them).")
    print(f"dev: {int(dev_y.sum())} fresh, {int(len(dev_y) - dev_y.sum())} rotten; "
          f"always guessing the larger class scores {100 * majority:.1f}%.")

    # ------------------------------------------------------------------------------------
    section("2. The frozen encoder")
    # device="cpu": the lesson's timings are for the CPU, even if MINIBERT_DEVICE says "cuda".
    model = BertModel.from_pretrained("minilm", device="cpu")  # the encoder alone: no head
    tokenizer = load_tokenizer("minilm")
    model.eval()  # no dropout: the same review always gives the same vector
    model.requires_grad_(False)  # frozen: no gradients, no optimizer state, no backward pass
    print(f"all-MiniLM-L6-v2: {model.num_parameters():,} parameters, "
          f"{model.num_parameters(trainable_only=True):,} of them trainable.")
    print("""
Frozen means the encoder is a fixed function, text -> vectors. It never changes, so each
review needs to go through it only once, and training costs nothing but the small head on
top. The price: the vectors were made for some other purpose, and the task cannot adapt them.""")

    # ------------------------------------------------------------------------------------
    section("3. One pass over the texts, four ways to pool")
    print(f"""The encoder turns a review of T tokens into T vectors of {model.config.hidden_size} numbers per layer.
A head needs ONE vector per review. Four ways to pool the token vectors into one:
  cls         the last layer's vector at [CLS], the token put in front of every text
  pooler      tanh(W h_[CLS] + b): the dense layer BERT puts on top of [CLS] (untrained here)
  mean        the average of the last layer's vectors over the real tokens (padding left out)
  mean_last4  the means of the last four layers side by side: 4 x {model.config.hidden_size} = \
{4 * model.config.hidden_size} numbers
All four come out of the same forward pass (see pool_four_ways in this file).
""")
    texts = train.texts + dev.texts  # one pass over both
    t = time.perf_counter()
    features = extract_features(model, tokenizer, texts)
    encoder_seconds = time.perf_counter() - t
    print(f"{len(texts)} reviews in {encoder_seconds:.1f} s ({len(texts) / encoder_seconds:.0f} reviews/s), "
          f"batches of {BATCH_SIZE}, at most {MAX_LENGTH} tokens each.")
    print("\n  pooling      feature array")
    for name in POOLINGS:
        print(f"  {name:<12} {features[name].shape[0]} x {features[name].shape[1]}")
    train_x = {name: f[:len(train)] for name, f in features.items()}  # the first rows are the training reviews
    dev_x = {name: f[len(train):] for name, f in features.items()}  # the rest are the dev reviews

    # ------------------------------------------------------------------------------------
    section("4. The cache: compute once, load from disk afterwards")
    print("""minibert.features.cached_features does what section 3 did for one pooling and keeps the
result in a .npy file named by a digest of (weights, texts, pooling, max_length). The
`minibert features` command and minibert.transfer.feature_extraction use it (in your cache
folder), so the encoder pass is paid once. Here, on the dev reviews, in a temporary folder:
""")
    with tempfile.TemporaryDirectory() as folder:
        t = time.perf_counter()
        cached_features(model, tokenizer, dev.texts, "mean", MAX_LENGTH, folder=folder, progress=False)
        first_seconds = time.perf_counter() - t
        t = time.perf_counter()
        loaded = cached_features(model, tokenizer, dev.texts, "mean", MAX_LENGTH, folder=folder, progress=False)
        second_seconds = time.perf_counter() - t
        files = sorted(Path(folder).glob("*.npy"))
        print(f"  first call : {first_seconds:8.3f} s   (runs the encoder, writes {files[0].name})")
        print(f"  second call: {second_seconds:8.3f} s   (reads the file back: "
              f"{first_seconds / max(second_seconds, 1e-6):,.0f} times faster)")
    difference = float(np.abs(loaded - dev_x["mean"]).max())
    print(f"\nlargest difference between the library's mean features and ours: {difference:.1e}")
    if difference > 1e-4:  # far above float32 rounding: one of the two is wrong
        print("FAILED: that is not rounding: the library's mean pooling and this lesson's disagree.")
        raise SystemExit(1)
    print("(float32 rounding: the library sums the same numbers in a slightly different order.)")

    # ------------------------------------------------------------------------------------
    section("5. A softmax head on each pooling")
    print(f"""The head: logits = x W^T + b, softmax, cross-entropy: logistic regression with 2 classes.
Trained with AdamW (lr {args.lr:g}, batches of 32, {args.epochs} epochs) on the {len(train)} training vectors,
then scored on the {len(dev)} dev vectors. The last two columns: the PyTorch reference, a
logistic regression on the same kind of features, trained on 1,000 and on all 10,209
training reviews and scored on the test set.
""")
    print(f"  {'pooling':<12} {'size':>5} {'trainable':>10} {'dev acc':>8} {'macro-F1':>9} {'head s':>7} "
          f"{'PyTorch 1k':>11} {'PyTorch 10k':>12}")
    results = {}
    for name in POOLINGS:
        head, history, seconds = train_a_head(train_x[name], train_y, dev_x[name], dev_y,
                                              args.epochs, args.lr, args.seed)
        results[name] = history[-1]["dev_accuracy"]
        reference = [f"{table[name]:.1f}%" if name in table else "-"
                     for table in (REFERENCE_TEST_ACCURACY_1K, REFERENCE_TEST_ACCURACY_10K)]
        print(f"  {name:<12} {train_x[name].shape[1]:>5} {head.num_parameters(trainable_only=True):>10,} "
              f"{100 * history[-1]['dev_accuracy']:>7.1f}% {history[-1]['dev_macro_f1']:>9.3f} {seconds:>7.2f} "
              f"{reference[0]:>11} {reference[1]:>12}")
    print(f"  {'(always guess the larger class)':<46} {100 * majority:>5.1f}%")
    best = max(results, key=results.get)
    print(f"\nBest here: {best} ({100 * results[best]:.1f}%).")

    # ------------------------------------------------------------------------------------
    section("6. Why the mean beats [CLS] for a model that was not fine-tuned")
    gap = 100 * (results["mean"] - results["cls"])
    if gap > 0:
        print(f"In this run, mean pooling beat [CLS] by {gap:.1f} points on the dev slice.")
    else:
        print(f"In this run [CLS] did as well or better ({-gap:.1f} points): on a small slice a few reviews")
        print("decide it; the reference, with all the data, has mean 4 points ahead.")
    print("""
During pretraining nothing asks the [CLS] vector to summarise the sentence's meaning.
In the original BERT, [CLS] was trained only through the pooler, for next-sentence
prediction: "does sentence B follow sentence A?", a task far from sentiment. Fine-tuning
would teach [CLS] the new task; a frozen model never gets that chance. all-MiniLM-L6-v2 is
a small BERT that was then trained as a sentence encoder (Sentence-BERT style), with the
MEAN of its token vectors as the sentence vector: that average is exactly the vector it
learned to make meaningful. Its pooler was never trained at all (in the file its bias is
exactly 0 and its weights a random draw): a fixed random map of [CLS], so expect the
pooler to score no better than [CLS], probably worst.

The mean also has a simpler advantage: every word contributes. "A dull, lifeless film"
puts "dull" and "lifeless" straight into the average, while [CLS] holds only what one
position happened to gather through attention. Reimers & Gurevych (2019) found the same for
comparing sentences by cosine similarity without any training on top (mean pooling far
ahead of [CLS]); with a classifier trained on the features, as here, the gap was small for
the original BERT. The big gap here comes mostly from this model's training: it learned to
make the MEAN meaningful.

mean_last4 gives the head 4 x more to work with: the lower layers keep more of the words
themselves, the top layer more of what the sentence-embedding training wanted. More numbers
also mean more weights to fit (3,074 instead of 770), which small training sets pay for: in
the reference, mean_last4 only ties with mean at 1,000 labels (74.4 vs 74.8) and pulls ahead
with more (78.5 vs 76.5 at 3,000, 79.9 vs 77.4 with all 10,209).""")

    # ------------------------------------------------------------------------------------
    section("7. Re-training a head takes seconds")
    print(f"The encoder pass over {len(texts)} reviews took {encoder_seconds:.0f} s. With the features in memory")
    print("(or cached on disk) we can try other heads and learning rates for almost nothing:\n")
    print(f"  {'head on mean features':<28} {'trainable':>10} {'dev acc':>8} {'seconds':>8}")
    sweep_start = time.perf_counter()
    for lr in (1e-4, 1e-3, 1e-2):
        head, history, seconds = train_a_head(train_x["mean"], train_y, dev_x["mean"], dev_y,
                                              args.epochs, lr, args.seed)
        print(f"  {f'softmax, lr {lr:g}':<28} {head.num_parameters(trainable_only=True):>10,} "
              f"{100 * history[-1]['dev_accuracy']:>7.1f}% {seconds:>8.2f}")
    mlp = MLPHead(train_x["mean"].shape[1], 2, hidden=256, seed=args.seed)
    mlp, history, seconds = train_a_head(train_x["mean"], train_y, dev_x["mean"], dev_y,
                                         args.epochs, args.lr, args.seed, head=mlp)
    print(f"  {f'MLP (256 GELU units), lr {args.lr:g}':<28} {mlp.num_parameters(trainable_only=True):>10,} "
          f"{100 * history[-1]['dev_accuracy']:>7.1f}% {seconds:>8.2f}")
    sweep_seconds = time.perf_counter() - sweep_start
    print(f"\nFour heads in {sweep_seconds:.1f} s, against {encoder_seconds:.0f} s for the one encoder pass.")
    print("A trained head needs only a review's vector: minibert.heads.head_predict gives the logits,")
    preds = head_predict(mlp, dev_x["mean"]).argmax(axis=1)
    print(f"and the MLP's dev accuracy recomputed from them is {100 * accuracy(dev_y, preds):.1f}%.")
    print(f"""(Pick a head and its learning rate on dev, as here, and score the test set only once, with
the chosen one. Differences of a point or two between heads are within the noise of
{len(dev)} dev reviews.)""")

    # ------------------------------------------------------------------------------------
    section("8. What was trained")
    encoder_params = model.num_parameters()
    head_params = 2 * model.config.hidden_size + 2  # W [2, 384] and b [2]
    print(f"  encoder (frozen)             {encoder_params:>12,} parameters, run forward once per review")
    print(f"  softmax head on mean         {head_params:>12,} parameters "
          f"({100 * head_params / encoder_params:.4f}% of the encoder)")
    print(f"  softmax head on mean_last4   {4 * 2 * model.config.hidden_size + 2:>12,} parameters")
    print(f"  MLP head on mean             {mlp.num_parameters():>12,} parameters")
    print("""
Fine-tuning (lesson 8) trains all 22.7 million numbers, with a backward pass through the
whole encoder at every step, for every epoch. Feature extraction trains hundreds to
thousands, and the encoder runs forward once. That is the trade: far cheaper, and with few
labels nearly as good; with many labels, fine-tuning pulls ahead (lesson 10 puts numbers
on it).""")

    print(f"\nWall time: {time.perf_counter() - start:.0f} s in all, {encoder_seconds:.0f} s of it the encoder pass.")


if __name__ == "__main__":
    main()
