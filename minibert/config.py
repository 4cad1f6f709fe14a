"""BertConfig: the numbers that fix a BERT's shape, read from Hugging Face's
``config.json`` or Google's ``bert_config.json`` (same keys for what matters).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .errors import ConfigError

# hidden_act values and the GELU form each one means
GELU_EXACT = ("gelu",)  # 0.5 x (1 + erf(x / sqrt 2)): Hugging Face's "gelu", the 2018 BERT code
GELU_TANH = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")  # the tanh approximation
SUPPORTED_ACTS = GELU_EXACT + GELU_TANH


def _is_number(value) -> bool:
    """True for an int or float (not a bool, which Python counts as an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class BertConfig:
    """Hyper-parameters of a BERT model. Defaults are BERT-Base's."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    num_labels: int = 2
    classifier_dropout: float | None = None

    def __post_init__(self):
        self.validate()

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def validate(self) -> None:
        """Raise ConfigError naming the first value that cannot describe a BERT."""
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size", "num_labels"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"hidden_size {self.hidden_size} is not divisible by "
                f"num_attention_heads {self.num_attention_heads}"
            )
        if self.hidden_act not in SUPPORTED_ACTS:
            raise ConfigError(f"hidden_act {self.hidden_act!r} is not supported; use one of {SUPPORTED_ACTS}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"):
            value = getattr(self, name)
            if name == "classifier_dropout" and value is None:  # None: use hidden_dropout_prob
                continue
            if not _is_number(value) or not 0.0 <= value < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {value!r}")
        if not _is_number(self.layer_norm_eps) or not self.layer_norm_eps > 0:
            raise ConfigError(f"layer_norm_eps must be a positive number, got {self.layer_norm_eps!r}")
        if not _is_number(self.initializer_range) or not self.initializer_range >= 0:
            raise ConfigError(f"initializer_range must be a non-negative number, got {self.initializer_range!r}")

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> "BertConfig":
        """Build from a dict; unknown keys (``architectures``, ``model_type``...) are ignored.

        Hugging Face classification configs list their labels in ``id2label``; when
        ``num_labels`` is absent it is taken from there.
        """
        # Variants minibert does not implement must not load as if they were plain BERT.
        position_type = values.get("position_embedding_type") or "absolute"
        if position_type != "absolute":
            raise ConfigError(
                f"{source}: position_embedding_type {position_type!r} is not supported; "
                "minibert implements BERT's learned absolute position embeddings only"
            )
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in values.items() if k in known}
        if "num_labels" not in kwargs and isinstance(values.get("id2label"), dict):
            kwargs["num_labels"] = len(values["id2label"])
        try:
            return cls(**kwargs)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None

    @classmethod
    def from_json_file(cls, path: str | Path) -> "BertConfig":
        """Read ``config.json`` (Hugging Face) or ``bert_config.json`` (Google)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {path}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
        if not isinstance(values, dict):
            raise ConfigError(f"{path} must hold a JSON object, found {type(values).__name__}")
        return cls.from_dict(values, source=str(path))

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path: str | Path) -> None:
        """Write as ``config.json`` (keys Hugging Face understands)."""
        values = {"model_type": "bert", **self.to_dict()}
        Path(path).write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")
