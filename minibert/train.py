"""The training loop: batches, forward, loss, backward, AdamW, evaluation, checkpoints.

    for each epoch:
        for each batch (shuffled, padded to its longest text):
            logits, loss = model(batch, labels)      forward
            model.backward()                          every .grad filled
            clip_grad_norm(params, 1.0)               tame rare huge steps
            optimizer.step(); schedule.step()         AdamW with warm-up then decay
        evaluate on the dev set: accuracy, macro-F1

Exact repeats on the CPU: the batch order of epoch e comes from (seed, e) and every
dropout mask from (seed, step), so a run resumed from a checkpoint at any step ends
bit-identical to a run that was never interrupted.

Checkpoints (``checkpoint_dir``): each is a folder ``step-NNNNNNN/`` holding
``model.safetensors``, ``optimizer.safetensors`` and ``trainer_state.json``, written into
a temporary folder, flushed to disk and renamed into place; the text file ``latest``
names the newest complete one. The last ``keep_checkpoints`` (default 2) are kept.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import backend
from .data import batch_order, batches_by_length, collate, encode_texts
from .errors import CheckpointError, ConfigError, DataError, TrainingError
from .formats import safetensors
from .layers import no_grad
from .metrics import accuracy, macro_f1
from .model import check_max_length
from .optim import AdamW, LinearWarmupDecay, clip_grad_norm


@dataclass
class TrainConfig:
    """How to train. Defaults follow BERT's fine-tuning recipe."""

    epochs: int = 3
    batch_size: int = 32
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_length: int = 64
    max_grad_norm: float = 1.0
    seed: int = 0
    bucket: bool = True  # length bucketing: batches of similar lengths, less padding
    eval_batch_size: int = 64
    eval_each_epoch: bool = True  # False: evaluate on dev after the last epoch only
    checkpoint_dir: str | None = None
    checkpoint_every: int | None = None  # steps between checkpoints (None: end of each epoch only)
    keep_checkpoints: int = 2
    progress: bool = True

    def validate(self, n_train: int) -> None:
        if n_train < 1:
            raise ConfigError("the training set is empty")
        for name in ("epochs", "batch_size", "max_length", "eval_batch_size", "keep_checkpoints"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.max_length < 3:
            raise ConfigError(f"max_length must be at least 3 ([CLS] + one token + [SEP]), got {self.max_length}")
        if not 0.0 <= self.warmup_ratio <= 1.0:
            raise ConfigError(f"warmup_ratio must be in [0, 1], got {self.warmup_ratio}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")


@dataclass
class History:
    """What happened: one record per epoch and one per step."""

    epochs: list = field(default_factory=list)
    steps: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path) -> None:
        _atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=1))


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def predict(model, tokenizer, texts, max_length: int = 64, batch_size: int = 64):
    """Logits [N, C] (NumPy) for texts, in eval mode, batches sorted by length."""
    check_max_length(model.config, max_length)
    encoded = encode_texts(tokenizer, texts, max_length)
    batches = batches_by_length([len(e) for e in encoded], batch_size)  # sorted by token count: little padding
    logits = np.zeros((len(encoded), model.config.num_labels), dtype=np.float64)
    was_training = model.training
    model.eval()
    try:
        with no_grad():  # inference only: no caches kept, little memory
            for idx in batches:
                b = collate([encoded[i] for i in idx], np.zeros(len(idx)), tokenizer.pad_token_id)
                out = model(b.input_ids, attention_mask=b.attention_mask, token_type_ids=b.token_type_ids)
                logits[idx] = backend.to_numpy(out.logits)
    finally:
        model.train(was_training)
    return logits


def evaluate(model, tokenizer, dataset, max_length: int = 64, batch_size: int = 64) -> dict:
    """Accuracy, macro-F1 and mean cross-entropy of a model on a TextDataset."""
    logits = predict(model, tokenizer, dataset.texts, max_length, batch_size)
    labels = np.asarray(dataset.labels)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    preds = logits.argmax(axis=1)
    return {"accuracy": accuracy(labels, preds), "macro_f1": macro_f1(labels, preds, model.config.num_labels),
            "loss": float(-log_probs[np.arange(len(labels)), labels].mean())}


class Trainer:
    """Fine-tune a BertForSequenceClassification on a TextDataset.

    Args:
        model: the classifier (frozen parameters, ``requires_grad=False``, stay as they are).
        tokenizer: its BertTokenizer.
        train_data, dev_data: TextDatasets (dev may be None: no evaluation).
        config: a TrainConfig.
    """

    def __init__(self, model, tokenizer, train_data, dev_data=None, config: TrainConfig | None = None):
        self.model, self.tokenizer = model, tokenizer
        self.train_data, self.dev_data = train_data, dev_data
        self.config = config or TrainConfig()
        self.config.validate(len(train_data))
        cfg = self.config
        check_max_length(model.config, cfg.max_length)
        for name, data in (("training", train_data), ("dev", dev_data)):
            if data is not None and len(data) and not 0 <= min(data.labels) <= max(data.labels) < model.config.num_labels:
                raise DataError(f"the {name} data has labels {min(data.labels)}..{max(data.labels)}, but the model "
                                f"has {model.config.num_labels} outputs (num_labels): labels must be 0..{model.config.num_labels - 1}")
        self.encoded = encode_texts(tokenizer, train_data.texts, cfg.max_length)
        self.labels = np.asarray(train_data.labels, dtype=np.int64)
        self.lengths = [len(e) for e in self.encoded]
        self.steps_per_epoch = math.ceil(len(self.encoded) / cfg.batch_size)
        self.total_steps = self.steps_per_epoch * cfg.epochs
        self.optimizer = AdamW(model.named_parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.schedule = LinearWarmupDecay(self.optimizer, int(cfg.warmup_ratio * self.total_steps), self.total_steps)
        self.step = 0  # optimizer steps done
        self.history = History()
        self.checkpoint_dir = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else None

    # -- the loop --------------------------------------------------------------------------
    def train(self, resume: bool = False) -> History:
        """Train for the configured epochs (continuing from the last checkpoint when resume)."""
        cfg = self.config
        if resume:
            if self.checkpoint_dir is None:
                raise CheckpointError("resume=True needs TrainConfig(checkpoint_dir=...)")
            self.load_checkpoint()
        self.model.train()
        try:
            while self.step < self.total_steps:
                epoch, first = divmod(self.step, self.steps_per_epoch)
                self._run_epoch(epoch, first)
        except KeyboardInterrupt:
            if self.checkpoint_dir is not None:
                path = self.save_checkpoint()
                print(f"\ninterrupted at step {self.step}: checkpoint saved to {path}; to continue, run the "
                      "same command again with the same checkpoint folder (in Python: train(resume=True))")
            raise
        finally:
            self.model.eval()
        return self.history

    def _run_epoch(self, epoch: int, first_batch: int) -> None:
        cfg = self.config
        batches = batch_order(self.lengths, cfg.batch_size, seed=cfg.seed * 1000 + epoch, bucket=cfg.bucket)
        losses, tokens, start = [], 0, time.perf_counter()
        bar = tqdm(total=len(batches), initial=first_batch, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   unit="batch", disable=not cfg.progress, leave=False)
        for b_index in range(first_batch, len(batches)):
            idx = batches[b_index]
            batch = collate([self.encoded[i] for i in idx], self.labels[idx], self.tokenizer.pad_token_id)
            loss = self.train_step(batch, epoch, b_index)
            losses.append(loss)
            tokens += batch.num_tokens
            elapsed = time.perf_counter() - start
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{self.optimizer.lr:.2e}", tok_s=f"{tokens / max(elapsed, 1e-9):.0f}")
            bar.update(1)
            if self.checkpoint_dir is not None and cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                self.save_checkpoint()
        bar.close()
        record = {"epoch": epoch + 1, "step": self.step, "train_loss": float(np.mean(losses)) if losses else None,
                  "seconds": time.perf_counter() - start, "tokens_per_s": tokens / max(time.perf_counter() - start, 1e-9)}
        if self.dev_data is not None and (cfg.eval_each_epoch or epoch + 1 == cfg.epochs):
            metrics = evaluate(self.model, self.tokenizer, self.dev_data, cfg.max_length, cfg.eval_batch_size)
            self.model.train()
            record.update({f"dev_{k}": v for k, v in metrics.items()})
        self.history.epochs.append(record)
        if cfg.progress:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in record.items() if k.startswith(("train_loss", "dev_")) and v is not None)
            print(f"epoch {epoch + 1}/{cfg.epochs}: {shown}")
        if self.checkpoint_dir is not None:
            self.save_checkpoint()

    def train_step(self, batch, epoch: int = 0, batch_index: int = 0) -> float:
        """One optimizer step on one batch; returns the loss (a Python float)."""
        cfg = self.config
        self.model.reseed_dropout((cfg.seed, self.step))  # masks depend on (seed, step) only
        self.model.zero_grad()
        out = self.model(batch.input_ids, attention_mask=batch.attention_mask,
                         token_type_ids=batch.token_type_ids, labels=batch.labels)
        loss = float(out.loss)
        where = f"step {self.step + 1} (epoch {epoch + 1}, batch {batch_index + 1})"
        if not math.isfinite(loss):
            raise TrainingError(f"the loss became {loss} at {where}; the last checkpoint is kept. "
                                "Try a smaller learning rate.")
        self.model.backward()
        params = [p for p in self.model.parameters() if p.requires_grad]
        norm = clip_grad_norm(params, cfg.max_grad_norm)
        if not math.isfinite(norm):
            name, size = self._largest_gradient()
            raise TrainingError(f"a gradient became infinite or NaN at {where} (largest: {name}, {size}); "
                                "the last checkpoint is kept. Try a smaller learning rate.")
        lr = self.optimizer.lr  # the rate this step uses (the schedule moves it on below)
        self.optimizer.step()
        self.schedule.step()
        self.step += 1
        self.history.steps.append({"step": self.step, "loss": loss, "lr": lr, "grad_norm": norm})
        return loss

    def _largest_gradient(self):
        worst, size = None, -1.0
        for name, p in self.model.named_parameters():
            if p.grad is not None:
                g = backend.to_numpy(p.grad)
                value = float(np.nanmax(np.abs(g))) if np.isfinite(g).any() else float("inf")
                if not np.isfinite(g).all() or value > size:
                    worst, size = name, float("inf") if not np.isfinite(g).all() else value
        return worst, size

    # -- checkpoints ---------------------------------------------------------------------
    def save_checkpoint(self) -> Path:
        """Write a complete checkpoint atomically; returns its folder."""
        root = self.checkpoint_dir
        root.mkdir(parents=True, exist_ok=True)
        final = root / f"step-{self.step:07d}"
        tmp = root / f".tmp-step-{self.step:07d}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        safetensors.save_file(self.model.state_dict(), tmp / "model.safetensors")
        opt_state = self.optimizer.state_dict()
        arrays = {k: v for k, v in opt_state.items() if isinstance(v, np.ndarray)}
        safetensors.save_file(arrays, tmp / "optimizer.safetensors")
        state = {
            "step": self.step,
            "optimizer": {k: v for k, v in opt_state.items() if not isinstance(v, np.ndarray)},
            "schedule": self.schedule.state_dict(),
            "history": self.history.to_dict(),
            "config": asdict(self.config),
            "total_steps": self.total_steps,
        }
        _atomic_write_text(tmp / "trainer_state.json", json.dumps(state))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(root)
        _atomic_write_text(root / "latest", final.name + "\n")
        old = sorted(p for p in root.glob("step-*") if p.is_dir())[:-self.config.keep_checkpoints]
        for p in old:
            shutil.rmtree(p, ignore_errors=True)
        self.history.save(root / "history.json")
        return final

    def load_checkpoint(self, path: str | Path | None = None) -> Path:
        """Restore model, optimizer, schedule, step and history from a checkpoint folder
        (default: the newest complete one; a corrupt newest one falls back to the one before)."""
        candidates = [Path(path)] if path is not None else self._checkpoint_candidates()
        errors = []
        for folder in candidates:
            try:
                self._load_from(folder)
                return folder
            except (CheckpointError, OSError, ValueError, KeyError) as exc:
                errors.append(f"{folder.name}: {exc}")
        raise CheckpointError(f"no usable checkpoint in {self.checkpoint_dir}: " + ("; ".join(errors) or "none found"))

    def _checkpoint_candidates(self) -> list:
        root = self.checkpoint_dir
        folders = sorted((p for p in root.glob("step-*") if p.is_dir()), reverse=True) if root.is_dir() else []
        latest = root / "latest"
        if latest.is_file():
            named = root / latest.read_text(encoding="utf-8").strip()
            folders = [named] + [f for f in folders if f != named]
        return folders

    def _load_from(self, folder: Path) -> None:
        try:
            state = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"unreadable trainer_state.json ({exc})") from exc
        if state.get("total_steps") != self.total_steps:
            raise CheckpointError(f"it was made for {state.get('total_steps')} steps, this run has {self.total_steps}: "
                                  "a different data set or configuration")
        weights = safetensors.load_file(folder / "model.safetensors")
        moments = safetensors.load_file(folder / "optimizer.safetensors")
        params = dict(self.model.named_parameters())
        if set(weights) != set(params):
            raise CheckpointError("its parameter names do not match the model")
        device = self.model.device
        for name, p in params.items():
            p.data = backend.to_device(weights[name].astype(p.data.dtype), device)
        self.optimizer.load_state_dict({**state["optimizer"], **moments})
        self.schedule.load_state_dict(state["schedule"])
        self.step = int(state["step"])
        self.history = History(**state["history"])


def _fsync_dir(path: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
