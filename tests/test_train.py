"""The Trainer: loss goes down, runs repeat exactly, a resumed run ends bit-identical to an
uninterrupted one, NaN stops training with a clear message, checkpoints are atomic."""

import json

import numpy as np
import pytest

from minibert.config import BertConfig
from minibert.data import TextDataset, batch_order, collate, load_movie_reviews
from minibert.errors import CheckpointError, ConfigError, TrainingError
from minibert.metrics import accuracy, macro_f1
from minibert.model import BertForSequenceClassification
from minibert.pretrained import load_tokenizer
from minibert.train import TrainConfig, Trainer, evaluate


@pytest.fixture(scope="module")
def tokenizer(minilm_dir):
    return load_tokenizer(minilm_dir)


@pytest.fixture(scope="module")
def small_data():
    train = load_movie_reviews("train")
    dev = load_movie_reviews("dev")
    return (TextDataset(train.texts[:48], train.labels[:48], train.label_names),
            TextDataset(dev.texts[:16], dev.labels[:16], dev.label_names))


def tiny_model(seed=0, dropout=0.1):
    cfg = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64,  # dropout 0.1 stays on
                     hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    return BertForSequenceClassification(cfg, seed=seed)


def config(tmp_path=None, **kw):
    base = dict(epochs=2, batch_size=8, lr=1e-3, max_length=24, progress=False, seed=3,
                checkpoint_dir=str(tmp_path) if tmp_path else None)
    base.update(kw)
    return TrainConfig(**base)


def params_of(model):
    return {n: p.data.copy() for n, p in model.named_parameters()}


def test_training_lowers_the_loss_on_its_own_data(tokenizer, small_data):
    train, _ = small_data
    model = tiny_model()
    trainer = Trainer(model, tokenizer, train, None, config(epochs=12, lr=1e-2, warmup_ratio=0.0))
    history = trainer.train()
    losses = [e["train_loss"] for e in history.epochs]
    assert losses[-1] < losses[0] - 0.05, losses
    assert len(history.steps) == trainer.total_steps == 12 * 6


def test_runs_repeat_exactly(tokenizer, small_data):
    train, dev = small_data
    a, b = tiny_model(), tiny_model()
    ha = Trainer(a, tokenizer, train, dev, config()).train()
    hb = Trainer(b, tokenizer, train, dev, config()).train()
    for name, value in params_of(a).items():
        np.testing.assert_array_equal(value, params_of(b)[name])
    assert [s["loss"] for s in ha.steps] == [s["loss"] for s in hb.steps]


def test_dropout_is_really_on_in_training(tokenizer, small_data):
    """The same run (same weights, same batches) with dropout 0.1 and with dropout 0 ends at
    different weights: the Trainer really trains with dropout on."""
    train, _ = small_data
    a, b = tiny_model(), tiny_model(dropout=0.0)
    assert all(np.array_equal(v, params_of(b)[n]) for n, v in params_of(a).items())  # the same start
    Trainer(a, tokenizer, train, None, config(epochs=1)).train()
    Trainer(b, tokenizer, train, None, config(epochs=1)).train()
    assert any(not np.array_equal(v, params_of(b)[n]) for n, v in params_of(a).items())


@pytest.mark.parametrize("stop_after", [4, 6, 9])  # mid-epoch, at an epoch boundary, late
def test_resume_is_bit_identical(tokenizer, small_data, tmp_path, stop_after, capsys):
    train, dev = small_data
    full_model = tiny_model()
    full = Trainer(full_model, tokenizer, train, dev, config(tmp_path / "full", checkpoint_every=1)).train()

    # an interrupted run: the same training, stopped after `stop_after` steps
    interrupted = Trainer(tiny_model(), tokenizer, train, dev, config(tmp_path / "run", checkpoint_every=1))
    original = interrupted.train_step

    def stop_at(*args, **kwargs):
        if interrupted.step == stop_after:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    interrupted.train_step = stop_at
    with pytest.raises(KeyboardInterrupt):
        interrupted.train()
    assert f"interrupted at step {stop_after}: checkpoint saved to" in capsys.readouterr().out

    # a fresh process would build everything again and resume from the checkpoint folder
    resumed_model = tiny_model(seed=99)  # different initial weights: the checkpoint must overwrite them
    resumed = Trainer(resumed_model, tokenizer, train, dev, config(tmp_path / "run", checkpoint_every=1)).train(resume=True)
    for name, value in params_of(full_model).items():
        np.testing.assert_array_equal(value, params_of(resumed_model)[name], err_msg=name)
    assert [s["loss"] for s in resumed.steps] == [s["loss"] for s in full.steps]
    assert [e["dev_accuracy"] for e in resumed.epochs] == [e["dev_accuracy"] for e in full.epochs]


def test_corrupt_latest_checkpoint_falls_back_to_the_previous(tokenizer, small_data, tmp_path):
    train, _ = small_data
    trainer = Trainer(tiny_model(), tokenizer, train, None, config(tmp_path, epochs=1, checkpoint_every=2))
    trainer.train()
    latest = tmp_path / (tmp_path / "latest").read_text().strip()
    data = (latest / "model.safetensors").read_bytes()
    (latest / "model.safetensors").write_bytes(data[: len(data) // 2])  # a torn write
    again = Trainer(tiny_model(), tokenizer, train, None, config(tmp_path, epochs=1, checkpoint_every=2))
    used = again.load_checkpoint()
    assert used != latest and again.step == int(used.name.split("-")[1]) < trainer.step


def test_no_checkpoint_is_a_clear_error(tokenizer, small_data, tmp_path):
    train, _ = small_data
    trainer = Trainer(tiny_model(), tokenizer, train, None, config(tmp_path / "empty"))
    with pytest.raises(CheckpointError, match="no usable checkpoint"):
        trainer.train(resume=True)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf weights, on purpose
def test_nan_loss_stops_with_a_clear_message(tokenizer, small_data, tmp_path):
    train, _ = small_data
    model = tiny_model()
    model.classifier.weight.data[:] = np.inf
    trainer = Trainer(model, tokenizer, train, None, config(tmp_path))
    with pytest.raises(TrainingError, match=r"step 1 \(epoch 1, batch 1\)"):
        trainer.train()


def test_history_is_saved_as_json(tokenizer, small_data, tmp_path):
    train, dev = small_data
    Trainer(tiny_model(), tokenizer, train, dev, config(tmp_path, epochs=1)).train()
    history = json.loads((tmp_path / "history.json").read_text(encoding="utf-8"))
    assert history["epochs"][0]["epoch"] == 1 and "dev_macro_f1" in history["epochs"][0]


def test_frozen_encoder_trains_only_the_head(tokenizer, small_data):
    train, _ = small_data
    model = tiny_model()
    model.bert.requires_grad_(False)
    before = params_of(model)
    Trainer(model, tokenizer, train, None, config(epochs=1)).train()
    after = params_of(model)
    assert all(np.array_equal(before[n], after[n]) for n in before if n.startswith("bert."))
    assert not np.array_equal(before["classifier.weight"], after["classifier.weight"])


def test_bad_settings_are_clear_errors(tokenizer, small_data):
    train, _ = small_data
    with pytest.raises(ConfigError, match="batch_size"):
        Trainer(tiny_model(), tokenizer, train, None, config(batch_size=0))
    with pytest.raises(ConfigError, match="empty"):
        Trainer(tiny_model(), tokenizer, TextDataset([], [], ["a", "b"]), None, config())


def test_evaluate_and_metrics(tokenizer, small_data):
    _, dev = small_data
    metrics = evaluate(tiny_model(), tokenizer, dev, max_length=24)
    assert 0 <= metrics["accuracy"] <= 1 and metrics["loss"] > 0
    assert accuracy([0, 1, 1, 0], [0, 1, 0, 0]) == 0.75
    # class 0: tp 2, fp 1, fn 0 -> F1 0.8; class 1: tp 1, fp 0, fn 1 -> F1 2/3
    assert macro_f1([0, 1, 1, 0], [0, 1, 0, 0]) == pytest.approx((0.8 + 2 / 3) / 2)
    assert macro_f1([1, 1, 0], [1, 1, 1], num_classes=2) == pytest.approx((0 + 0.8) / 2)


def test_batches_pad_dynamically_and_bucketing_groups_lengths():
    batch = collate([[101, 5, 102], [101, 102]], [1, 0])
    assert batch.input_ids.tolist() == [[101, 5, 102], [101, 102, 0]]
    assert batch.attention_mask.tolist() == [[1, 1, 1], [1, 1, 0]]
    lengths = list(np.random.default_rng(0).integers(3, 60, 400))
    plain = batch_order(lengths, 16, seed=0)
    bucketed = batch_order(lengths, 16, seed=0, bucket=True)
    assert sorted(np.concatenate(bucketed).tolist()) == list(range(400))  # every example once

    def padding(batches):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)

    assert padding(bucketed) < padding(plain) / 3


def test_bucketing_keeps_batches_mixing_on_small_data():
    """Bucketing sorts chunks of the shuffled data by length. Were a whole small data set one
    chunk, every epoch would serve the same length groups (the 32 shortest texts together, and
    so on), only in another order: fine-tuning on 100 reviews saw the same 4 batches for 38
    epochs. With at least 4 chunks, batches change from epoch to epoch."""
    lengths = list(range(5, 105))  # 100 texts, all of different lengths: no ties to shuffle
    for batch_size, n_batches in ((32, 4), (8, 13)):
        epochs = [batch_order(lengths, batch_size, seed=s, bucket=True) for s in range(4)]
        for batches in epochs:
            assert len(batches) == n_batches
            assert sorted(np.concatenate(batches).tolist()) == list(range(100))
        groups = [{frozenset(b.tolist()) for b in batches} for batches in epochs]
        assert all(g != groups[0] for g in groups[1:])  # other examples together in each epoch
    # 100 texts in batches of 8: 3 batches per chunk, each sorted, so still little padding
    def mean_spread(batches):  # longest minus shortest text of a batch, averaged
        return np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])

    assert mean_spread(batch_order(lengths, 8, seed=0, bucket=True)) < 0.5 * mean_spread(batch_order(lengths, 8, seed=0))
