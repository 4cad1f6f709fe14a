"""from_pretrained: find a model folder's files, read them, and copy the tensors into a model.

A model folder holds
    config.json (Hugging Face) or bert_config.json (Google)   the shape of the model
    vocab.txt (+ tokenizer_config.json)                       the tokenizer
    the weights, in the first of these formats it finds:
        model.safetensors        Hugging Face's safe format            (formats/safetensors.py)
        pytorch_model.bin        torch.save, zip or legacy; never run  (formats/torch_pickle.py)
        bert_model.ckpt.index    Google's TF1 checkpoint, + .data-*    (formats/tf_checkpoint.py)
Names are mapped to minibert's (which are Hugging Face's): a leading ``bert.`` is
stripped or added as the model class needs, old ``LayerNorm.gamma/beta`` names become
``weight/bias``, Google's TF names are translated (see google_to_hf_name), the
pre-training heads (``cls.*``) that no minibert model has are ignored, and the
``position_ids`` buffer some files carry is skipped. Every shape is checked against the
config before anything is copied.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np

from . import backend
from .config import BertConfig
from .errors import ConfigError, MinibertWarning, WeightsError
from .formats import safetensors, tf_checkpoint, torch_pickle
from .paths import DEFAULT_MODEL_NAME, weights_dir

# Names that mean "the embedded default model" (see minibert.download).
DEFAULT_ALIASES = ("minilm", "default", DEFAULT_MODEL_NAME.lower(), f"sentence-transformers/{DEFAULT_MODEL_NAME.lower()}")
CONFIG_FILES = ("config.json", "bert_config.json")
# In order of preference: safetensors is the fastest to read and cannot hold code.
WEIGHTS_FILES = ("model.safetensors", "pytorch_model.bin", "bert_model.ckpt.index")
WEIGHTS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".index")  # a weights file named directly
ENCODER_PREFIXES = ("embeddings.", "encoder.", "pooler.")


def resolve_model_dir(path=None) -> Path:
    """The model folder for ``path``: a folder, a file inside one, a default alias or an official name.

    ``None``, ``"minilm"`` or ``"all-MiniLM-L6-v2"`` name the embedded default, which is
    downloaded on first use. An official name (``"bert-base-uncased"``, ``"bert-tiny"``...,
    see minibert/hub.py) names its folder in weights/, once ``minibert download NAME`` has run.
    """
    if path is None or str(path).strip().lower() in DEFAULT_ALIASES:
        from .download import ensure_default_model  # noqa: PLC0415 (only when needed)

        return ensure_default_model()
    p = Path(path).expanduser()
    if p.is_dir():
        return p
    if p.is_file() or p.with_name(p.name + ".index").is_file():  # a file, or a TF prefix (bert_model.ckpt)
        return p.parent
    from .hub import find_official, is_downloaded  # noqa: PLC0415

    official = find_official(path)  # "bert-base-uncased", "bert-tiny"...: weights/<folder>/ once downloaded
    if official is not None:
        folder = weights_dir() / official.folder
        if is_downloaded(folder):
            return folder
        raise WeightsError(f"{path} is an official checkpoint that has not been downloaded yet: "
                           f"run `minibert download {path}` (it goes to {folder})")
    raise WeightsError(
        f"no model folder at {p}: pass a folder holding config.json (or bert_config.json), vocab.txt "
        f"and model.safetensors, 'minilm' for the embedded default, or an official name such as "
        f"bert-base-uncased once `minibert download NAME` has fetched it"
    )


def find_config_file(folder: Path) -> Path:
    for name in CONFIG_FILES:
        if (folder / name).is_file():
            return folder / name
    raise WeightsError(f"{folder}: no config.json or bert_config.json in this folder")


def find_weights_file(folder: Path) -> Path:
    """The folder's weights file: the first of WEIGHTS_FILES that it holds."""
    for name in WEIGHTS_FILES:
        if (folder / name).is_file():
            return folder / name
    raise WeightsError(f"{folder}: no weights file (model.safetensors) in this folder; minibert also reads "
                       "pytorch_model.bin and Google's bert_model.ckpt.index (+ its .data-* files)")


def weights_file_for(path, folder: Path) -> Path:
    """The weights file ``path`` names (a weights file, or a TF prefix such as
    ``.../bert_model.ckpt``), else the folder's (find_weights_file)."""
    if path is not None:
        p = Path(path).expanduser()
        if p.is_file() and p.name.endswith(WEIGHTS_SUFFIXES):
            return p
        if not p.exists() and p.with_name(p.name + ".index").is_file():
            return p.with_name(p.name + ".index")
    return find_weights_file(folder)


def google_to_hf_name(name: str) -> tuple[str, bool]:
    """Google's TF variable name -> (Hugging Face name, whether the array must be transposed).

    The rules: ``/`` -> ``.``, ``layer_N`` -> ``layer.N``, LayerNorm ``gamma``/``beta`` ->
    ``weight``/``bias``, ``*_embeddings`` gets ``.weight``; ``kernel`` -> ``weight``,
    TRANSPOSED (a TF Dense layer computes x @ W with W [in, out]; a Linear layer x @ W.T
    with W [out, in]); ``output_weights`` are already [out, in]: not transposed.
    run_classifier's unscoped ``output_weights``/``output_bias`` are the classifier.

        bert/encoder/layer_3/attention/self/query/kernel
            -> bert.encoder.layer.3.attention.self.query.weight (transposed)
        cls/seq_relationship/output_weights -> cls.seq_relationship.weight
    """
    if name in ("output_weights", "output_bias"):
        return "classifier." + ("weight" if name == "output_weights" else "bias"), False
    parts = [re.sub(r"^layer_(\d+)$", r"layer.\1", part) for part in name.split("/")]
    transpose = parts[-1] == "kernel"
    renamed = {"kernel": "weight", "gamma": "weight", "beta": "bias", "output_weights": "weight", "output_bias": "bias"}
    if parts[-1] in renamed:
        parts[-1] = renamed[parts[-1]]
    elif parts[-1].endswith("_embeddings"):
        parts.append("weight")
    return ".".join(parts), transpose


def read_weights(weights_file: Path) -> tuple[dict, dict]:
    """Read any supported weights file.

    Returns:
        ({Hugging Face name: array}, {Hugging Face name: the name in the file}); the
        second differs from the first only for TF checkpoints, and serves error messages.
    """
    name = weights_file.name
    if name.endswith(".safetensors"):
        tensors = safetensors.load_file(weights_file)
    elif name.endswith((".bin", ".pt", ".pth")):
        tensors = torch_pickle.load_file(weights_file)
    elif name.endswith(".index"):
        tensors, file_names = {}, {}
        for tf_name, array in tf_checkpoint.load_checkpoint(weights_file).items():  # optimizer slots skipped
            hf_name, transpose = google_to_hf_name(tf_name)
            tensors[hf_name] = array.T if transpose else array
            file_names[hf_name] = tf_name
        return tensors, file_names
    else:
        raise WeightsError(f"{weights_file}: unknown weights format; minibert reads "
                           f"{', '.join(WEIGHTS_FILES)}")
    return tensors, {key: key for key in tensors}


def canonical_name(key: str) -> str:
    """A checkpoint key in minibert's (Hugging Face's) naming, without the ``bert.`` prefix."""
    if key.startswith("bert."):
        key = key[len("bert."):]
    key = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", key)
    return re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", key)


def load_state_dict(model, tensors: dict, source: str, strict: bool = False, file_names: dict | None = None) -> dict:
    """Copy ``{checkpoint key: array}`` into ``model``'s parameters, checking every shape.

    Args:
        model: a BertModel or BertForSequenceClassification.
        tensors: the arrays read from the weights file.
        source: the file's path, for messages.
        strict: raise on any unexpected or missing key instead of warning.
        file_names: {key: the tensor's name in the file}, for messages (TF checkpoints).

    Returns:
        {"missing": [...], "unexpected": [...], "ignored": [...]}: model names left at
        their random initialisation, checkpoint keys that were not used, and the
        pre-training heads (``cls.*``) skipped on purpose.

    Raises:
        WeightsError: a shape that does not fit the config, encoder weights missing from
        the file, or (with strict=True) any missing or unexpected key.
    """
    params = dict(model.named_parameters())
    prefix = "bert." if "bert.embeddings.word_embeddings.weight" in params else ""
    # Layer indices the file holds: a file with more layers than the config is a mismatch,
    # not a few "unused" tensors (the model would silently run only the first layers).
    layers_in_file = sorted({int(m.group(1)) for k in tensors if (m := re.search(r"encoder\.layer\.(\d+)\.", k))})
    n_layers = model.config.num_hidden_layers
    if layers_in_file and max(layers_in_file) + 1 > n_layers:
        raise WeightsError(
            f"{source}: the file has {max(layers_in_file) + 1} encoder layers, but the config says "
            f"num_hidden_layers={n_layers} (do config and weights belong to the same model?)"
        )
    file_names = file_names or {}
    assignments, unexpected, ignored = {}, [], []
    for key, array in tensors.items():
        name = canonical_name(key)
        if name == "embeddings.position_ids":  # a buffer (0, 1, ..., P-1), not a weight
            continue
        if name.startswith("cls."):  # BertForPreTraining's MLM and NSP heads: no minibert model has them
            ignored.append(key)
            continue
        target = prefix + name if name.startswith(ENCODER_PREFIXES) else name
        if target not in params:
            unexpected.append(key)
            continue
        expected = params[target].shape
        if tuple(array.shape) != tuple(expected):
            raise WeightsError(
                f"{source}: tensor {file_names.get(key, key)!r} has shape {tuple(array.shape)}, but the config needs "
                f"{tuple(expected)} for {target} (do config and weights belong to the same model?)"
            )
        assignments[target] = array
    missing = [name for name in params if name not in assignments]
    encoder_missing = [n for n in missing if n[len(prefix):].startswith(("embeddings.", "encoder."))]
    if encoder_missing:
        hint = ""
        if layers_in_file and max(layers_in_file) + 1 != n_layers:
            hint = f" The config says num_hidden_layers={n_layers}, the file has {max(layers_in_file) + 1} layers."
        raise WeightsError(
            f"{source}: {len(encoder_missing)} encoder tensors are missing, e.g. {encoder_missing[:3]}.{hint}"
        )
    if strict and (missing or unexpected):
        unexpected_shown = [file_names.get(key, key) for key in unexpected]
        raise WeightsError(f"{source}: strict loading failed: missing {missing}, unexpected {unexpected_shown}")
    dtype, device = model.dtype, model.device
    for target, array in assignments.items():
        params[target].data = backend.to_device(np.ascontiguousarray(array, dtype=dtype), device)
    if missing:
        warnings.warn(
            f"{source}: {', '.join(missing)} not in the file: newly initialised at random "
            "(train them before trusting the outputs)", MinibertWarning, stacklevel=4)
    if unexpected:
        shown = [file_names.get(key, key) for key in unexpected[:8]]
        warnings.warn(f"{source}: {len(unexpected)} tensors not used by {type(model).__name__}: "
                      f"{', '.join(shown)}{' ...' if len(unexpected) > 8 else ''}", MinibertWarning, stacklevel=4)
    return {"missing": missing, "unexpected": unexpected, "ignored": ignored}


def load_config(path=None) -> BertConfig:
    """The BertConfig of a model folder (or of the default model)."""
    return BertConfig.from_json_file(find_config_file(resolve_model_dir(path)))


def from_pretrained(cls, path=None, dtype=np.float32, device=None, strict=False, num_labels=None, seed=0):
    """Build ``cls`` (BertModel or BertForSequenceClassification) from a model folder.

    Args:
        cls: the model class.
        path: a model folder, or None / "minilm" for the embedded default.
        dtype: parameter dtype (float32 by default; float64 for gradient checks).
        device: "cpu" or "cuda" (default: $MINIBERT_DEVICE, else "cpu").
        strict: raise instead of warning on missing or unexpected keys.
        num_labels: classes of a classification head (default: the config's, else 2).
        seed: seed of the random initialisation of anything the file lacks.
    """
    device = backend.normalize_device(device)  # a misspelt device fails before the slow part
    folder = resolve_model_dir(path)
    config_file = find_config_file(folder)
    config = BertConfig.from_json_file(config_file)
    if num_labels is not None:
        if isinstance(num_labels, bool) or not isinstance(num_labels, (int, np.integer)) or num_labels < 1:
            raise ConfigError(f"num_labels must be a positive integer, got {num_labels!r}")
        config.num_labels = int(num_labels)
    weights_file = weights_file_for(path, folder)
    tensors, file_names = read_weights(weights_file)
    model = cls(config, dtype=dtype, seed=seed)
    load_state_dict(model, tensors, str(weights_file), strict=strict, file_names=file_names)
    model.eval()  # like Hugging Face: a freshly loaded model is in evaluation mode
    if device != "cpu":  # the device asked for, else $MINIBERT_DEVICE
        model.to(device)
    return model


def lower_case_from_name(folder_name: str) -> bool | None:
    """Whether a model's name says it is uncased (True) or cased (False); None if it does not.

    Google's zips hold no tokenizer settings: the name is all there is. Google's rules
    (its validate_case_matches_checkpoint): ``uncased_*``, ``multilingual_L-12_*`` (the old
    uncased multilingual model) and ``chinese_*`` are lower-cased; ``cased_*`` and
    ``multi_cased_*`` are not. Hugging Face names (``bert-base-cased``...) follow the same words.
    """
    name = folder_name.lower()
    if re.search(r"(^|[_-])uncased([_-]|$)", name) or re.match(r"multilingual_l-", name) or "chinese" in name:
        return True
    if re.search(r"(^|[_-])cased([_-]|$)", name):
        return False
    return None


def load_tokenizer(path=None):
    """The BertTokenizer of a model folder (or of the default model).

    Lower-casing: as ``tokenizer_config.json`` says when the folder has one; else as the
    folder's name says (Google's ``uncased_L-12_H-768_A-12``, ``cased_...``); else
    lower-case, with a MinibertWarning (wrong for a cased model).
    """
    from .tokenizer import BertTokenizer  # noqa: PLC0415

    folder = resolve_model_dir(path)
    if (folder / "tokenizer_config.json").is_file() or not (folder / "vocab.txt").is_file():
        return BertTokenizer.from_pretrained(folder)  # (which explains a missing vocab.txt)
    lower = lower_case_from_name(folder.name)
    if lower is None:
        lower = True
        warnings.warn(
            f"{folder}: no tokenizer_config.json, and the folder's name does not say 'cased' or 'uncased': "
            "lower-casing the input. For a cased model, add a tokenizer_config.json holding "
            '{"do_lower_case": false}.', MinibertWarning, stacklevel=2)
    return BertTokenizer.from_pretrained(folder, do_lower_case=lower)


def save_pretrained(model, folder, tokenizer=None) -> Path:
    """Write a model folder in Hugging Face's layout, loadable by minibert and by transformers.

    Writes ``config.json`` (with ``architectures`` and, for a classifier, ``id2label``),
    ``model.safetensors`` (Hugging Face's names: ``bert.`` prefix and ``classifier.*`` for
    a classifier; float32 or float64 as the model is) and, when a tokenizer is given,
    ``vocab.txt`` + ``tokenizer_config.json``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = model.config.to_dict()
    is_classifier = "classifier.weight" in dict(model.named_parameters())
    config.update({
        "model_type": "bert",
        "architectures": ["BertForSequenceClassification" if is_classifier else "BertModel"],
        "position_embedding_type": "absolute",
        "torch_dtype": str(np.dtype(model.dtype)),
    })
    if is_classifier:
        config["id2label"] = {str(i): f"LABEL_{i}" for i in range(model.config.num_labels)}
        config["label2id"] = {f"LABEL_{i}": i for i in range(model.config.num_labels)}
    if config.get("classifier_dropout") is None:
        config.pop("classifier_dropout", None)
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    safetensors.save_file(model.state_dict(), folder / "model.safetensors", metadata={"format": "pt"})
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)
    return folder
