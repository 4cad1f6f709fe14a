"""BERT, module by module, named exactly as Hugging Face names its checkpoints.

    BertModel
      embeddings      word + position + token type, then LayerNorm and dropout
      encoder.layer.N one transformer layer (x L):
        attention.self      multi-head self-attention (query, key, value projections)
        attention.output    dense + dropout + residual + LayerNorm
        intermediate        dense H -> I, then GELU
        output              dense I -> H + dropout + residual + LayerNorm
      pooler          tanh(dense(hidden state of [CLS]))
    BertForSequenceClassification
      bert            a BertModel
      dropout, classifier   logits = classifier(dropout(pooler_output))

Shape legend: B batch, T tokens, H hidden, NH heads, HS head size, I intermediate,
V vocabulary, C classes, L layers. Every forward keeps its kernels' caches for backward
(outside ``no_grad()``, which keeps none).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import backend
from . import functional as F
from .config import GELU_EXACT, BertConfig
from .errors import ConfigError, InputError
from .layers import Dropout, Embedding, LayerNorm, Linear, Module, ModuleList, grad_enabled


@dataclass
class BertModelOutput:
    """What BertModel returns.

    last_hidden_state: [B, T, H]   pooler_output: [B, H]
    hidden_states: L+1 arrays [B, T, H] (embeddings, then each layer), when asked
    attentions: L arrays [B, NH, T, T] (softmax probabilities), when asked
    """

    last_hidden_state: object
    pooler_output: object
    hidden_states: list | None = None
    attentions: list | None = None


@dataclass
class SequenceClassifierOutput:
    """What BertForSequenceClassification returns: logits [B, C] (and loss when labels are given)."""

    logits: object
    loss: object = None
    hidden_states: list | None = None
    attentions: list | None = None
    pooler_output: object = field(default=None, repr=False)


class BertEmbeddings(Module):
    """x = LayerNorm(word[ids] + position[0..T-1] + token_type[types]), then dropout."""

    def __init__(self, config: BertConfig, rng, dtype):
        std = config.initializer_range
        self.word_embeddings = Embedding(config.vocab_size, config.hidden_size, rng, std, dtype)
        if 0 <= config.pad_token_id < config.vocab_size:
            self.word_embeddings.weight.data[config.pad_token_id] = 0  # [PAD]'s row starts at 0, as in Hugging Face
        self.position_embeddings = Embedding(config.max_position_embeddings, config.hidden_size, rng, std, dtype)
        self.token_type_embeddings = Embedding(config.type_vocab_size, config.hidden_size, rng, std, dtype)
        self.LayerNorm = LayerNorm(config.hidden_size, config.layer_norm_eps, dtype)
        self.dropout = Dropout(config.hidden_dropout_prob, seed=int(rng.integers(2**31)))

    def forward(self, input_ids, token_type_ids):
        xp = backend.get_xp(self.word_embeddings.weight.data)
        T = input_ids.shape[1]
        position_ids = xp.arange(T)[None, :]  # [1, T]: 0, 1, ..., T-1 for every sequence
        x = self.word_embeddings(input_ids)  # [B, T, H]
        x = x + self.position_embeddings(position_ids)  # [1, T, H] broadcasts over B
        x = x + self.token_type_embeddings(token_type_ids)  # [B, T, H]
        x = self.LayerNorm(x)  # applied, not added: each token vector normalised
        return self.dropout(x)

    def backward(self, dy) -> None:
        """dy: [B, T, H] -> gradients of the three tables (ids have none)."""
        dx = self.LayerNorm.backward(self.dropout.backward(dy))  # [B, T, H]
        self.word_embeddings.backward(dx)
        self.position_embeddings.backward(dx.sum(axis=0, keepdims=True))  # forward broadcast [1, T, H] over B
        self.token_type_embeddings.backward(dx)


class BertSelfAttention(Module):
    """Multi-head self-attention: every token looks at every (non-padding) token.

    q, k, v = x Wq^T + bq, ...  (each [B, T, H], split into NH heads of HS)
    context = softmax(q k^T / sqrt(HS) + mask) v, heads merged back to [B, T, H]
    """

    def __init__(self, config: BertConfig, rng, dtype):
        H, std = config.hidden_size, config.initializer_range
        self.num_heads = config.num_attention_heads
        self.query = Linear(H, H, rng, std, dtype)
        self.key = Linear(H, H, rng, std, dtype)
        self.value = Linear(H, H, rng, std, dtype)
        # Never called itself: its p and generator go to the attention kernel, which drops
        # attention probabilities; a module all the same, so reseed_dropout() finds it.
        self.dropout = Dropout(config.attention_probs_dropout_prob, seed=int(rng.integers(2**31)))
        self._cache = None
        self.probs = None  # [B, NH, T, T] of the last forward, when asked to keep them

    def forward(self, x, mask_bias, keep_probs=False):
        """x: [B, T, H] -> [B, T, H]. keep_probs: keep the attention probabilities in
        self.probs (output_attentions); otherwise they are freed with the forward, which
        under no_grad() saves one [B, NH, T, T] array per layer."""
        q = F.split_heads(self.query(x), self.num_heads)  # [B, T, H] -> [B, NH, T, HS]
        k = F.split_heads(self.key(x), self.num_heads)  # [B, NH, T, HS]
        v = F.split_heads(self.value(x), self.num_heads)  # [B, NH, T, HS]
        rng = self.dropout.rng_for(x) if self.training and self.dropout.p > 0 else None
        context, probs, cache = F.scaled_dot_product_attention(
            q, k, v, mask_bias, self.dropout.p, rng, self.training
        )  # context: [B, NH, T, HS]
        self.probs = probs if keep_probs else None
        self._cache = self.keep(cache)
        return F.merge_heads(context)  # [B, T, H]

    def backward(self, dy):
        """dy: [B, T, H] -> dx: [B, T, H], the sum of the paths through q, k and v."""
        dcontext = F.split_heads(dy, self.num_heads)  # [B, NH, T, HS]: merge_heads undone
        dq, dk, dv = F.scaled_dot_product_attention_backward(dcontext, self.cached())  # each [B, NH, T, HS]
        dx = self.query.backward(F.merge_heads(dq))  # [B, T, H]
        dx += self.key.backward(F.merge_heads(dk))
        dx += self.value.backward(F.merge_heads(dv))
        return dx


class BertSelfOutput(Module):
    """y = LayerNorm(dropout(dense(context)) + x): projection, residual, normalisation."""

    def __init__(self, config: BertConfig, rng, dtype):
        self.dense = Linear(config.hidden_size, config.hidden_size, rng, config.initializer_range, dtype)
        self.LayerNorm = LayerNorm(config.hidden_size, config.layer_norm_eps, dtype)
        self.dropout = Dropout(config.hidden_dropout_prob, seed=int(rng.integers(2**31)))

    def forward(self, context, residual):
        h = self.dropout(self.dense(context))  # [B, T, H]
        return self.LayerNorm(h + residual)  # [B, T, H]

    def backward(self, dy):
        """Returns (dcontext, dresidual): the sum's gradient flows into both branches."""
        dsum = self.LayerNorm.backward(dy)  # [B, T, H]
        return self.dense.backward(self.dropout.backward(dsum)), dsum


class BertAttention(Module):
    """Self-attention followed by its output block."""

    def __init__(self, config: BertConfig, rng, dtype):
        # Named "self" because the checkpoints say attention.self.query...; read
        # `self.self` as "this block's self-attention".
        self.self = BertSelfAttention(config, rng, dtype)
        self.output = BertSelfOutput(config, rng, dtype)

    def forward(self, x, mask_bias, keep_probs=False):
        return self.output(self.self(x, mask_bias, keep_probs), x)  # [B, T, H]

    def backward(self, dy):
        dcontext, dresidual = self.output.backward(dy)
        return self.self.backward(dcontext) + dresidual  # x fed both the attention and the residual


class BertIntermediate(Module):
    """The feed-forward block's first half: GELU(dense(x)), H -> I."""

    def __init__(self, config: BertConfig, rng, dtype):
        self.dense = Linear(config.hidden_size, config.intermediate_size, rng, config.initializer_range, dtype)
        self.exact_gelu = config.hidden_act in GELU_EXACT
        self._cache = None

    def forward(self, x):
        h = self.dense(x)  # [B, T, H] -> [B, T, I]
        y, cache = F.gelu(h, cache=grad_enabled()) if self.exact_gelu else F.gelu_tanh(h)
        self._cache = self.keep(cache)
        return y  # [B, T, I]

    def backward(self, dy):
        """dy: [B, T, I] -> dx: [B, T, H]."""
        cache = self.cached()
        dh = F.gelu_backward(dy, cache) if self.exact_gelu else F.gelu_tanh_backward(dy, cache)
        return self.dense.backward(dh)


class BertOutput(Module):
    """The feed-forward block's second half: LayerNorm(dropout(dense(h)) + x), I -> H."""

    def __init__(self, config: BertConfig, rng, dtype):
        self.dense = Linear(config.intermediate_size, config.hidden_size, rng, config.initializer_range, dtype)
        self.LayerNorm = LayerNorm(config.hidden_size, config.layer_norm_eps, dtype)
        self.dropout = Dropout(config.hidden_dropout_prob, seed=int(rng.integers(2**31)))

    def forward(self, h, residual):
        y = self.dropout(self.dense(h))  # [B, T, I] -> [B, T, H]
        return self.LayerNorm(y + residual)  # [B, T, H]

    def backward(self, dy):
        """Returns (dh [B, T, I], dresidual [B, T, H])."""
        dsum = self.LayerNorm.backward(dy)
        return self.dense.backward(self.dropout.backward(dsum)), dsum


class BertLayer(Module):
    """One transformer layer: attention block, then feed-forward block."""

    def __init__(self, config: BertConfig, rng, dtype):
        self.attention = BertAttention(config, rng, dtype)
        self.intermediate = BertIntermediate(config, rng, dtype)
        self.output = BertOutput(config, rng, dtype)

    def forward(self, x, mask_bias, keep_probs=False):
        a = self.attention(x, mask_bias, keep_probs)  # [B, T, H]
        return self.output(self.intermediate(a), a)  # [B, T, H]

    def backward(self, dy):
        """dy: [B, T, H] -> dx: [B, T, H], the forward's steps in reverse."""
        dh, dresidual = self.output.backward(dy)
        da = self.intermediate.backward(dh) + dresidual
        return self.attention.backward(da)


class BertEncoder(Module):
    """L transformer layers applied in turn."""

    def __init__(self, config: BertConfig, rng, dtype):
        self.layer = ModuleList([BertLayer(config, rng, dtype) for _ in range(config.num_hidden_layers)])

    def forward(self, x, mask_bias, output_hidden_states=False, output_attentions=False):
        hidden_states = [x] if output_hidden_states else None
        for layer in self.layer:
            x = layer(x, mask_bias, keep_probs=output_attentions)  # [B, T, H]
            if output_hidden_states:
                hidden_states.append(x)
        return x, hidden_states


class BertPooler(Module):
    """pooled = tanh(dense(h_[CLS])): the original BERTs trained it for next-sentence prediction
    (all-MiniLM-L6-v2's, unused in its training, was never trained: its bias is all 0)."""

    def __init__(self, config: BertConfig, rng, dtype):
        self.dense = Linear(config.hidden_size, config.hidden_size, rng, config.initializer_range, dtype)
        self._cache = None

    def forward(self, hidden):
        cls = hidden[:, 0]  # [B, T, H] -> [B, H]: the [CLS] token of every sequence
        y, cache = F.tanh(self.dense(cls))
        self._cache = self.keep(cache)
        self._hidden_shape = hidden.shape
        return y  # [B, H]

    def backward(self, dy, need_dx: bool = True):
        """dy: [B, H] -> dhidden: [B, T, H], non-zero only at [CLS] (None when not needed)."""
        dcls = self.dense.backward(F.tanh_backward(dy, self.cached()), need_dx)  # [B, H]
        if not need_dx:
            return None
        dhidden = backend.get_xp(dcls).zeros(self._hidden_shape, dtype=dcls.dtype)
        dhidden[:, 0] = dcls
        return dhidden


def _as_int_array(name: str, value, batch_shape=None):
    """Check one model input on the host: an integer array [B, T] (a 1-D sequence is a batch of one)."""
    try:
        arr = backend.to_numpy(value) if not isinstance(value, (list, tuple)) else np.asarray(value)
    except ValueError as exc:  # NumPy refuses ragged nested lists
        raise InputError(f"{name} must be a rectangular array of integers (are the rows of different lengths?)") from exc
    if arr.dtype == object:
        raise InputError(f"{name} must be a rectangular array of integers (are the rows of different lengths?)")
    if arr.ndim == 1:
        arr = arr[None, :]  # a single sequence: a batch of one
    if arr.ndim != 2:
        raise InputError(f"{name} must have shape [batch, tokens], got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer) and not np.issubdtype(arr.dtype, np.bool_):
        raise InputError(f"{name} must hold integers, got dtype {arr.dtype}")
    if batch_shape is not None and arr.shape != batch_shape:
        raise InputError(f"{name} has shape {arr.shape}, but input_ids has shape {batch_shape}")
    return arr.astype(np.int64, copy=False)


def check_max_length(config, max_length: int) -> None:
    """Refuse a max_length the position table cannot hold, before any work is done.

    Short texts would pass, and the first long one would fail halfway through a run.
    """
    if max_length > config.max_position_embeddings:
        raise ConfigError(
            f"max_length={max_length} is more than this model's {config.max_position_embeddings} positions "
            f"(max_position_embeddings in its config): use max_length <= {config.max_position_embeddings}")


def _first_outside(arr, low: int, high: int):
    """The first value of arr outside [low, high), or None."""
    bad = arr[(arr < low) | (arr >= high)]
    return int(bad[0]) if bad.size else None


class BertModel(Module):
    """The BERT encoder: token ids in, one contextual vector per token out.

    Build one from a config (random weights, N(0, initializer_range)) or load official
    weights with ``BertModel.from_pretrained(folder)``.
    """

    def __init__(self, config: BertConfig, dtype=np.float32, seed: int = 0):
        self.config = config
        dtype = np.dtype(dtype)
        rng = np.random.default_rng(seed)
        self.embeddings = BertEmbeddings(config, rng, dtype)
        self.encoder = BertEncoder(config, rng, dtype)
        self.pooler = BertPooler(config, rng, dtype)

    @classmethod
    def from_pretrained(cls, path=None, dtype=np.float32, device=None, strict=False, **kwargs):
        """Load a model folder (or the default, ``"minilm"``); see :mod:`minibert.pretrained`."""
        from .pretrained import from_pretrained  # noqa: PLC0415 (pretrained imports this module)

        return from_pretrained(cls, path, dtype=dtype, device=device, strict=strict, **kwargs)

    def save_pretrained(self, folder, tokenizer=None):
        """Write config.json + model.safetensors (+ the tokenizer's files) in Hugging Face's layout."""
        from .pretrained import save_pretrained  # noqa: PLC0415

        return save_pretrained(self, folder, tokenizer)

    def prepare_inputs(self, input_ids, attention_mask=None, token_type_ids=None):
        """Check the inputs on the host (clear errors) and move them to the model's device.

        Returns (input_ids, attention_mask, token_type_ids) as int64 arrays [B, T].
        """
        cfg = self.config
        ids = _as_int_array("input_ids", input_ids)
        B, T = ids.shape
        if B == 0:
            raise InputError("input_ids holds no sequence (a batch of size 0)")
        if T == 0:
            raise InputError("input_ids is empty: every sequence needs at least one token ([CLS])")
        if T > cfg.max_position_embeddings:
            raise InputError(
                f"input_ids has {T} tokens but the model has only {cfg.max_position_embeddings} "
                "positions (max_position_embeddings): truncate, e.g. tokenizer(..., max_length=...)"
            )
        if (bad := _first_outside(ids, 0, cfg.vocab_size)) is not None:
            raise InputError(f"input_ids holds id {bad}, outside the vocabulary [0, {cfg.vocab_size})")
        mask = np.ones((B, T), np.int64) if attention_mask is None else _as_int_array("attention_mask", attention_mask, (B, T))
        if (bad := _first_outside(mask, 0, 2)) is not None:
            raise InputError(f"attention_mask must hold only 0 (padding) and 1 (token), found {bad}")
        types = np.zeros((B, T), np.int64) if token_type_ids is None else _as_int_array("token_type_ids", token_type_ids, (B, T))
        if (bad := _first_outside(types, 0, cfg.type_vocab_size)) is not None:
            raise InputError(f"token_type_ids must be in [0, {cfg.type_vocab_size}), found {bad}")
        device = self.device
        return tuple(backend.to_device(a, device) for a in (ids, mask, types))

    def forward(self, input_ids, attention_mask=None, token_type_ids=None,
                output_hidden_states=False, output_attentions=False) -> BertModelOutput:
        """Run BERT.

        Args:
            input_ids: [B, T] token ids (a list of lists, NumPy or CuPy array).
            attention_mask: [B, T], 1 for real tokens and 0 for padding (all 1 when None).
            token_type_ids: [B, T], 0 for the first segment, 1 for the second (all 0 when None).
            output_hidden_states: also return the embeddings and every layer's output.
            output_attentions: also return every layer's attention probabilities.

        Returns:
            BertModelOutput with last_hidden_state [B, T, H] and pooler_output [B, H].
        """
        ids, mask, types = self.prepare_inputs(input_ids, attention_mask, token_type_ids)
        # [B, 1, 1, T]: 0 or very negative; None for a batch without padding (nothing to add:
        # decided once here, not in every layer, where on a GPU each check waits for the device;
        # a padded batch still checks in each layer for sequences of padding only)
        mask_bias = None if mask.all() else F.attention_mask_bias(mask, self.dtype)
        x = self.embeddings(ids, types)  # [B, T, H]
        last, hidden_states = self.encoder(x, mask_bias, output_hidden_states, output_attentions)  # [B, T, H]
        pooled = self.pooler(last)  # [B, H]
        attentions = [layer.attention.self.probs for layer in self.encoder.layer] if output_attentions else None
        return BertModelOutput(last, pooled, hidden_states, attentions)

    def lowest_trainable(self):
        """0 when the embeddings train, i + 1 when layer i is the lowest that does, None if neither."""
        if self.embeddings.has_trainable():
            return 0
        for i, layer in enumerate(self.encoder.layer):
            if layer.has_trainable():
                return i + 1
        return None

    def backward(self, d_last_hidden_state=None, d_pooler_output=None) -> None:
        """Back-propagate gradients of the last forward's outputs into every trainable parameter.

        Args:
            d_last_hidden_state: [B, T, H] gradient of last_hidden_state (or None).
            d_pooler_output: [B, H] gradient of pooler_output (or None).

        Layers below the lowest trainable one are skipped: nothing there would use the
        gradient, so a frozen encoder costs no backward at all.
        """
        lowest = self.lowest_trainable()
        dx = d_last_hidden_state  # [B, T, H] or None
        if d_pooler_output is not None:
            dpool = self.pooler.backward(d_pooler_output, need_dx=lowest is not None)  # [B, T, H]
            if dpool is not None:
                dx = dpool if dx is None else dx + dpool
        if lowest is None or dx is None:
            return
        # lowest 0 (the embeddings train) and 1 (layer 0 is the lowest) both go down through
        # every layer; only 0 then goes on into the embeddings, below.
        for layer in reversed(list(self.encoder.layer)[max(lowest - 1, 0):]):  # top layer first
            dx = layer.backward(dx)  # [B, T, H]
        if lowest == 0:
            self.embeddings.backward(dx)


class BertForSequenceClassification(Module):
    """BERT with a classification head: logits = classifier(dropout(pooler_output)).

    Parameters are named ``bert.*`` (the encoder) and ``classifier.*`` (the head),
    as in Hugging Face.
    """

    def __init__(self, config: BertConfig, dtype=np.float32, seed: int = 0):
        self.config = config
        dtype = np.dtype(dtype)
        self.bert = BertModel(config, dtype, seed)
        rng = np.random.default_rng(seed + 1)
        p = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = Dropout(p, seed=int(rng.integers(2**31)))
        self.classifier = Linear(config.hidden_size, config.num_labels, rng, config.initializer_range, dtype)

    @classmethod
    def from_pretrained(cls, path=None, num_labels=None, dtype=np.float32, device=None, strict=False, **kwargs):
        """Load a model folder; the head is new (random) unless the file holds ``classifier.*``."""
        from .pretrained import from_pretrained  # noqa: PLC0415

        return from_pretrained(cls, path, dtype=dtype, device=device, strict=strict, num_labels=num_labels, **kwargs)

    def save_pretrained(self, folder, tokenizer=None):
        """Write config.json + model.safetensors (+ the tokenizer's files) in Hugging Face's layout."""
        from .pretrained import save_pretrained  # noqa: PLC0415

        return save_pretrained(self, folder, tokenizer)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None,
                output_hidden_states=False, output_attentions=False) -> SequenceClassifierOutput:
        """Logits [B, C] for a batch, and the mean cross-entropy loss when labels are given.

        Args:
            labels: [B] integers in [0, num_labels), or None.
            (the others: see BertModel.forward)
        """
        out = self.bert(input_ids, attention_mask, token_type_ids, output_hidden_states, output_attentions)
        logits = self.classifier(self.dropout(out.pooler_output))  # [B, H] -> [B, C]
        loss, self._loss_cache = None, None
        if labels is not None:
            labels = self._check_labels(labels, logits.shape[0])
            loss, self._loss_cache = F.cross_entropy(logits, labels)  # a 0-d array
        return SequenceClassifierOutput(logits, loss, out.hidden_states, out.attentions, out.pooler_output)

    def _check_labels(self, labels, batch_size):
        arr = np.asarray(backend.to_numpy(labels) if not isinstance(labels, (list, tuple)) else labels)
        if arr.ndim != 1 or len(arr) != batch_size:
            raise InputError(f"labels must have shape [{batch_size}] (one per sequence), got shape {arr.shape}")
        if not np.issubdtype(arr.dtype, np.integer):
            raise InputError(f"labels must be integers (class ids), got dtype {arr.dtype}")
        C = self.config.num_labels
        if arr.size and (arr.min() < 0 or arr.max() >= C):
            bad = int(arr.max()) if arr.max() >= C else int(arr.min())
            raise InputError(f"label {bad} is outside [0, {C}) for a head with num_labels={C}")
        return backend.to_device(arr.astype(np.int64), self.device)

    def backward(self) -> None:
        """Back-propagate the last forward's loss into every trainable parameter's ``.grad``.

        Gradients accumulate until ``zero_grad()``. With the encoder frozen, only the
        head's gradient is computed.
        """
        if getattr(self, "_loss_cache", None) is None:
            raise InputError("backward() needs a loss: call the model with labels=... first")
        dlogits = F.cross_entropy_backward(1.0, self._loss_cache)  # [B, C]
        bert_trains = self.bert.has_trainable()
        dpooled = self.classifier.backward(dlogits, need_dx=bert_trains)  # [B, H]
        if bert_trains:
            self.bert.backward(d_pooler_output=self.dropout.backward(dpooled))
