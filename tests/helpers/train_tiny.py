"""A small, deterministic training run for the interruption test (run as a subprocess).

    python tests/helpers/train_tiny.py OUT.npz [CHECKPOINT_DIR] [--resume] [--slow]

Trains a tiny random BERT classifier on 96 movie reviews for 3 epochs with checkpoints
after every step, then writes the final weights and the loss history to OUT.npz.
--slow sleeps a little after each step, so the parent has time to kill it mid-run.
--resume starts from other random weights (seed 1, not 0): only the checkpoint can bring
the run back to where it was. It prints how many steps this process ran.
"""

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from minibert.config import BertConfig  # noqa: E402
from minibert.data import TextDataset, load_movie_reviews  # noqa: E402
from minibert.download import ensure_default_model  # noqa: E402
from minibert.model import BertForSequenceClassification  # noqa: E402
from minibert.pretrained import load_tokenizer  # noqa: E402
from minibert.train import TrainConfig, Trainer  # noqa: E402


def main():
    out = Path(sys.argv[1])
    checkpoint_dir = sys.argv[2] if len(sys.argv) > 2 and not sys.argv[2].startswith("--") else None
    resume, slow = "--resume" in sys.argv, "--slow" in sys.argv
    train = load_movie_reviews("train")
    data = TextDataset(train.texts[:96], train.labels[:96], train.label_names)
    cfg = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64)
    model = BertForSequenceClassification(cfg, seed=1 if resume else 0)
    trainer = Trainer(model, load_tokenizer(ensure_default_model(quiet=True)), data, None,
                      TrainConfig(epochs=3, batch_size=8, lr=1e-3, max_length=24, progress=False, seed=7,
                                  checkpoint_dir=checkpoint_dir, checkpoint_every=1 if checkpoint_dir else None))
    original, steps_run = trainer.train_step, [0]

    def counted_step(*args, **kwargs):
        loss = original(*args, **kwargs)
        steps_run[0] += 1
        if slow:
            time.sleep(0.05)
        return loss

    trainer.train_step = counted_step
    history = trainer.train(resume=resume)
    print(f"steps run: {steps_run[0]}")
    np.savez(out, losses=np.array([s["loss"] for s in history.steps]),
             **{name: p.data for name, p in model.named_parameters()})


if __name__ == "__main__":
    main()
