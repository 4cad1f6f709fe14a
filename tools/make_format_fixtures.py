"""Dev tool: the same tiny BERT written by the real libraries in every weights format.

minibert reads TensorFlow checkpoints and torch.save files from the bytes; its tests must
prove it against files that TensorFlow and PyTorch wrote themselves, not against files
minibert wrote. Run this in a throwaway virtual environment (never needed by minibert):

    python3 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu torch==2.13.0 transformers==5.24.0
    /tmp/tfenv/bin/python tools/make_format_fixtures.py

The weights are those of tests/fixtures/tiny_bert (2 layers, hidden 32, 4 heads,
intermediate 37, vocabulary 99), cast to float32 as the official files are, plus seeded
random pre-training heads (MLM + NSP) and a 3-label run_classifier head. It writes to
tests/fixtures/formats/:

  safetensors/            BertForPreTraining by transformers' save_pretrained: config.json,
                          model.safetensors (tied decoder weight written once), vocab.txt,
                          tokenizer_config.json
  torch_zip/              the same state dict by torch.save (zip format, the default):
                          pytorch_model.bin, with the tied decoder weight sharing the word
                          embeddings' storage; config.json, vocab.txt, tokenizer_config.json
  torch_legacy/           the same by torch.save(..., _use_new_zipfile_serialization=False)
  uncased_L-2_H-32_A-4/   a Google TF1 checkpoint written by tf.compat.v1.train.Saver with
                          Google's variable names (kernels [in, out]): bert_model.ckpt.index,
                          bert_model.ckpt.data-00000-of-00001, bert_config.json, vocab.txt
                          (no tokenizer_config.json: the casing comes from the folder name).
                          Besides bert/* and cls/*, it holds a run_classifier head
                          (output_weights [3, 32], output_bias [3]), global_step, and
                          adam_m/adam_v slots of two variables, as a fine-tuning run leaves.
  dtypes/                 one tensor per dtype, written by each library:
                            tf.ckpt.*        TF1 Saver, two shards (two CPU devices)
                            torch_zip.pt     torch.save zip: every storage type, views
                            torch_legacy.pt  the same, legacy format
                            expected.npz     what each must read as (bfloat16 as float32)
  reference.npz           transformers' outputs for a small batch: BertModel's last hidden
                          state and pooler output, and the logits of the 3-label
                          BertForSequenceClassification that the run_classifier head gives.
"""

import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
import torch
from safetensors.numpy import load_file as st_load_file
from transformers import BertConfig, BertForPreTraining, BertForSequenceClassification

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tests" / "fixtures" / "tiny_bert"
OUT = ROOT / "tests" / "fixtures" / "formats"
NUM_LABELS = 3
GOOGLE_CONFIG_KEYS = ("attention_probs_dropout_prob", "hidden_act", "hidden_dropout_prob", "hidden_size",
                      "initializer_range", "intermediate_size", "max_position_embeddings", "num_attention_heads",
                      "num_hidden_layers", "type_vocab_size", "vocab_size")

torch.manual_seed(0)


# ----------------------------------------------------------------------------------------
# The weights and the vocabulary
# ----------------------------------------------------------------------------------------
def source_weights():
    """tiny_bert's BertModel weights in float32, plus seeded random heads (HF names)."""
    base = {k: v.astype(np.float32) for k, v in st_load_file(SOURCE / "model.safetensors").items()}
    rng = np.random.default_rng(0)

    def rand(*shape):
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    h, v = 32, 99
    state = {f"bert.{k}": w for k, w in base.items()}
    state.update({
        "cls.predictions.bias": rand(v),
        "cls.predictions.transform.dense.weight": rand(h, h),
        "cls.predictions.transform.dense.bias": rand(h),
        "cls.predictions.transform.LayerNorm.weight": 1 + rand(h),
        "cls.predictions.transform.LayerNorm.bias": rand(h),
        "cls.seq_relationship.weight": rand(2, h),
        "cls.seq_relationship.bias": rand(2),
    })
    classifier = {"weight": rand(NUM_LABELS, h), "bias": rand(NUM_LABELS)}
    return state, classifier


def vocabulary():
    """99 wordpieces: the specials, a few words (some capitalised, to make casing visible),
    letters and their ## continuations."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = ["the", "cat", "sat", "on", "mat", "dog", "bark", "at", "night", "hello", "world", "film",
             "good", "bad", "is", "was", "a", "The", "Hello", "Paris", ".", ",", "!", "?", "'", "##s"]
    letters = [c for c in "abcdefghijklmnopqrstuvwxyz" if c not in words]
    pieces = specials + words + letters + ["##" + c for c in "abcdefghijklmnopqrstuvwxyz" if c != "s"]
    pieces += [f"[unused{i}]" for i in range(99 - len(pieces))]
    assert len(pieces) == 99 and len(set(pieces)) == 99
    return "\n".join(pieces) + "\n"


def hf_config():
    config = json.loads((SOURCE / "config.json").read_text())
    config["dtype"] = "float32"
    return BertConfig(**{k: v for k, v in config.items() if k not in ("architectures", "transformers_version")})


def write_tokenizer_files(folder, with_config=True):
    (folder / "vocab.txt").write_text(vocabulary(), encoding="utf-8")
    if with_config:
        (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}) + "\n")


# ----------------------------------------------------------------------------------------
# safetensors and torch.save
# ----------------------------------------------------------------------------------------
def pretraining_model(state):
    model = BertForPreTraining(hf_config()).eval()
    torch_state = {k: torch.from_numpy(v.copy()) for k, v in state.items()}
    missing, unexpected = model.load_state_dict(torch_state, strict=False)
    # The tied decoder weight/bias are the word embeddings / cls.predictions.bias.
    assert set(missing) <= {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}, missing
    assert not unexpected, unexpected
    decoder = model.cls.predictions.decoder
    assert decoder.weight.data_ptr() == model.bert.embeddings.word_embeddings.weight.data_ptr()
    return model


def write_hf_folders(state):
    model = pretraining_model(state)
    folder = OUT / "safetensors"
    model.save_pretrained(folder)  # model.safetensors + config.json
    write_tokenizer_files(folder)
    for name, legacy in (("torch_zip", False), ("torch_legacy", True)):
        folder = OUT / name
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), folder / "pytorch_model.bin", _use_new_zipfile_serialization=not legacy)
        shutil.copy(OUT / "safetensors" / "config.json", folder)
        write_tokenizer_files(folder)
    return model


# ----------------------------------------------------------------------------------------
# Google's TF1 checkpoint
# ----------------------------------------------------------------------------------------
def google_name(hf_name):
    """Hugging Face name -> (Google TF variable name, transpose?), the inverse of minibert's map."""
    name = hf_name.replace("bert.encoder.layer.", "bert/encoder/layer_")
    parts = name.replace(".", "/").split("/")
    name = "/".join(parts)
    transpose = False
    if "_embeddings/weight" in name:
        name = name[: -len("/weight")]
    elif name.startswith("cls/seq_relationship/"):
        name = name.replace("/weight", "/output_weights").replace("/bias", "/output_bias")
    elif name == "cls/predictions/bias":
        name = "cls/predictions/output_bias"
    elif "LayerNorm" in name:
        name = name.replace("/weight", "/gamma").replace("/bias", "/beta")
    elif name.endswith("/weight"):
        name, transpose = name[: -len("/weight")] + "/kernel", True
    return name, transpose


def write_google_folder(state, classifier, config):
    folder = OUT / "uncased_L-2_H-32_A-4"
    folder.mkdir(parents=True, exist_ok=True)
    variables = {}
    for hf_name, value in state.items():
        name, transpose = google_name(hf_name)
        variables[name] = value.T.copy() if transpose else value
    variables["output_weights"] = classifier["weight"]  # run_classifier: [num_labels, H], not transposed
    variables["output_bias"] = classifier["bias"]
    rng = np.random.default_rng(1)
    for name in ("output_bias", "bert/pooler/dense/bias"):  # Adam slots, as a fine-tuning run leaves them
        variables[f"{name}/adam_m"] = rng.standard_normal(variables[name].shape).astype(np.float32)
        variables[f"{name}/adam_v"] = rng.random(variables[name].shape).astype(np.float32)
    graph = tf.Graph()
    with graph.as_default():
        tf_vars = {name: tf.compat.v1.Variable(value, name=name) for name, value in variables.items()}
        tf_vars["global_step"] = tf.compat.v1.train.get_or_create_global_step()
        saver = tf.compat.v1.train.Saver(var_list=tf_vars)
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            sess.run(tf.compat.v1.assign(tf_vars["global_step"], 1000))
            saver.save(sess, str(folder / "bert_model.ckpt"), write_meta_graph=False, write_state=False)
    google = {k: config[k] for k in GOOGLE_CONFIG_KEYS}
    (folder / "bert_config.json").write_text(json.dumps(google, indent=2) + "\n")
    write_tokenizer_files(folder, with_config=False)


# ----------------------------------------------------------------------------------------
# One tensor per dtype
# ----------------------------------------------------------------------------------------
def dtype_fixtures():
    folder = OUT / "dtypes"
    folder.mkdir(parents=True, exist_ok=True)
    grid = (np.arange(24, dtype=np.float32).reshape(4, 6) * 0.5 - 3.0)  # exact in every float type
    ints = np.arange(-6, 6).reshape(3, 4)
    expected = {}

    # TensorFlow: two shards, as a checkpoint saved from two devices has.
    tf_values = {
        "float32": (tf.float32, grid), "float64": (tf.float64, grid.astype(np.float64)),
        "float16": (tf.float16, grid.astype(np.float16)), "bfloat16": (tf.bfloat16, grid),
        "int32": (tf.int32, ints.astype(np.int32)), "int64": (tf.int64, ints.astype(np.int64)),
        "scope/scalar": (tf.float32, np.float32(2.5)), "scope/vector": (tf.float64, np.linspace(-1, 1, 7)),
    }
    graph = tf.Graph()
    with graph.as_default():
        tf_vars = {}
        for i, (name, (dtype, value)) in enumerate(tf_values.items()):
            with tf.device(f"/cpu:{i % 2}"):
                tf_vars[name] = tf.compat.v1.Variable(tf.cast(tf.constant(value), dtype), name=name)
            expected[f"tf/{name}"] = np.asarray(value).astype(np.float32 if name == "bfloat16" else value.dtype)
        saver = tf.compat.v1.train.Saver(var_list=tf_vars, sharded=True)
        two_cpus = tf.compat.v1.ConfigProto(device_count={"CPU": 2})
        with tf.compat.v1.Session(graph=graph, config=two_cpus) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, str(folder / "tf.ckpt"), write_meta_graph=False, write_state=False)

    # PyTorch: every storage type, plus views into one storage (slices, a transpose, a row).
    base = torch.from_numpy(grid.copy())
    tensors = {
        "float32": base.clone(), "float64": base.double(), "float16": base.half(), "bfloat16": base.bfloat16(),
        "int64": torch.from_numpy(ints.astype(np.int64)), "int32": torch.from_numpy(ints.astype(np.int32)),
        "int16": torch.from_numpy(ints.astype(np.int16)), "int8": torch.from_numpy(ints.astype(np.int8)),
        "uint8": torch.arange(12, dtype=torch.uint8).reshape(3, 4), "bool": torch.arange(5) % 2 == 0,
        "scalar": torch.tensor(2.5), "empty": torch.zeros(0, 3),
        "view/base": base, "view/transposed": base.t(), "view/slice": base[1:3, 2:5], "view/row": base[2],
        "parameter": torch.nn.Parameter(torch.full((2, 2), 0.25)),
    }
    for name, tensor in tensors.items():
        value = tensor.detach()
        expected[f"torch/{name}"] = (value.float() if value.dtype == torch.bfloat16 else value).numpy().copy()
    torch.save(tensors, folder / "torch_zip.pt")
    torch.save(tensors, folder / "torch_legacy.pt", _use_new_zipfile_serialization=False)
    np.savez(folder / "expected.npz", **expected)


# ----------------------------------------------------------------------------------------
# Reference outputs
# ----------------------------------------------------------------------------------------
def reference_outputs(model, classifier):
    input_ids = np.array([[2, 5, 6, 7, 8, 9, 24, 3, 0], [2, 14, 15, 16, 3, 19, 20, 25, 3]], dtype=np.int64)
    attention_mask = (input_ids != 0).astype(np.int64)
    token_type_ids = np.array([[0] * 9, [0] * 5 + [1] * 4], dtype=np.int64)
    args = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(attention_mask),
            "token_type_ids": torch.from_numpy(token_type_ids)}
    with torch.no_grad():
        out = model.bert(**args)
        config = hf_config()
        config.num_labels = NUM_LABELS
        seq = BertForSequenceClassification(config).eval()
        seq.bert.load_state_dict(model.bert.state_dict())
        seq.classifier.weight.copy_(torch.from_numpy(classifier["weight"]))
        seq.classifier.bias.copy_(torch.from_numpy(classifier["bias"]))
        logits = seq(**args).logits
    np.savez(OUT / "reference.npz", input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
             last_hidden_state=out.last_hidden_state.numpy(), pooler_output=out.pooler_output.numpy(),
             logits=logits.numpy())


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    state, classifier = source_weights()
    config = json.loads((SOURCE / "config.json").read_text())
    model = write_hf_folders(state)
    write_google_folder(state, classifier, config)
    dtype_fixtures()
    reference_outputs(model, classifier)
    for path in sorted(OUT.rglob("*")):
        if path.is_file():
            print(f"{path.stat().st_size:>9,}  {path.relative_to(ROOT)}")
            assert path.stat().st_size < 200_000, path


if __name__ == "__main__":
    sys.exit(main())
