"""Dev tool: reference outputs of Hugging Face transformers' BERT, for minibert's parity tests.

Run it in a throwaway virtual environment that has PyTorch and transformers (never
needed by minibert itself):

    python -m venv /tmp/refenv
    /tmp/refenv/bin/pip install torch==2.13.0 transformers==5.24.0
    /tmp/refenv/bin/python tools/make_model_fixtures.py

It writes to tests/fixtures/:
  minilm_reference.npz     the embedded default (all-MiniLM-L6-v2, float32): one padded
                           batch of 16 movie-review sentences of mixed lengths, its inputs,
                           the last hidden state at every non-padding token, the embeddings
                           and every lower layer at 64 sampled tokens (a small file), and the
                           pooler output.
  tiny_bert/               a tiny random BertModel saved by transformers in float64
                           (config.json + model.safetensors), exact-erf GELU,
  tiny_bert_tanh_cls/      a tiny random BertForSequenceClassification (3 labels,
                           gelu_new = tanh GELU), float64, with `bert.` prefixed keys,
  tiny_reference.npz       inputs and outputs of both tiny models.
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import BertConfig, BertForSequenceClassification, BertModel

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
sys.path.insert(0, str(ROOT))
from minibert.data import load_movie_reviews  # noqa: E402  (only the corpus reader, no model code)
from minibert.download import ensure_default_model  # noqa: E402

torch.manual_seed(0)
torch.set_num_threads(2)


def pick_sentences(n=16):
    """n test-split reviews of spread-out lengths, shortest to longest, shuffled so that
    the batch mixes lengths (and padding) in no particular order."""
    texts = sorted(load_movie_reviews("test").texts, key=len)
    picks = [texts[int(i)] for i in np.linspace(0, len(texts) - 1, n)]
    return [picks[i] for i in np.random.default_rng(0).permutation(n)]


def reference_tokenizer(folder):
    from transformers import BertTokenizerLegacy  # the pure-Python port of Google's tokenizer

    return BertTokenizerLegacy(str(folder / "vocab.txt"), do_lower_case=True)


def minilm_fixture():
    folder = ensure_default_model(quiet=True)
    texts = pick_sentences()
    tok = reference_tokenizer(folder)
    enc = tok(texts, padding=True, truncation=True, max_length=64, return_tensors="pt", return_token_type_ids=True)
    model = BertModel.from_pretrained(str(folder), attn_implementation="eager").eval()
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
    mask = enc["attention_mask"].numpy().astype(bool)
    real = np.argwhere(mask)  # [n_real, 2]: (row, position) of every non-padding token
    # To keep the file small: the last layer at every real token, the embeddings and the
    # layers below the last at 64 real tokens drawn at random (seeded).
    sample = real[np.sort(np.random.default_rng(1).choice(len(real), 64, replace=False))]
    lower = np.stack([h.numpy()[sample[:, 0], sample[:, 1]] for h in out.hidden_states[:-1]])  # [L, 64, H]
    np.savez_compressed(
        FIXTURES / "minilm_reference.npz",
        texts=np.array(texts),
        input_ids=enc["input_ids"].numpy(),
        token_type_ids=enc["token_type_ids"].numpy(),
        attention_mask=enc["attention_mask"].numpy(),
        last_hidden_state_real_tokens=out.last_hidden_state.numpy()[mask].astype(np.float32),  # [n_real, H]
        sample_positions=sample,  # [64, 2]
        lower_hidden_states_sample=lower.astype(np.float32),  # [L, 64, H]: embeddings, layers 1..L-1
        pooler_output=out.pooler_output.numpy().astype(np.float32),
        versions=np.array(f"torch {torch.__version__}, transformers {transformers.__version__}"),
    )
    print("minilm:", enc["input_ids"].shape, "real tokens", int(mask.sum()))


def tiny_fixture():
    common = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=37, max_position_embeddings=64, type_vocab_size=2,
                  layer_norm_eps=1e-12, attn_implementation="eager")
    rng = np.random.default_rng(0)
    B, T = 4, 11
    input_ids = rng.integers(1, 99, size=(B, T))
    lengths = np.array([11, 7, 3, 9])
    attention_mask = (np.arange(T)[None, :] < lengths[:, None]).astype(np.int64)
    input_ids[attention_mask == 0] = 0
    token_type_ids = (np.arange(T)[None, :] >= (lengths[:, None] // 2)).astype(np.int64) * attention_mask
    inputs = dict(input_ids=torch.tensor(input_ids), attention_mask=torch.tensor(attention_mask),
                  token_type_ids=torch.tensor(token_type_ids))
    results = dict(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)

    # 1. BertModel, exact GELU, float64, bare keys
    torch.manual_seed(1)
    model = BertModel(BertConfig(hidden_act="gelu", **common)).double().eval()
    _perturb_layer_norms(model)
    model.save_pretrained(FIXTURES / "tiny_bert", safe_serialization=True)
    with torch.no_grad():
        out = model(**inputs, output_hidden_states=True, output_attentions=True)
    results["tiny_hidden_states"] = np.stack([h.numpy() for h in out.hidden_states])
    results["tiny_attentions"] = np.stack([a.numpy() for a in out.attentions])
    results["tiny_pooler_output"] = out.pooler_output.numpy()

    # 2. BertForSequenceClassification, tanh GELU, float64, bert.-prefixed keys + classifier
    torch.manual_seed(2)
    cls_model = BertForSequenceClassification(BertConfig(hidden_act="gelu_new", num_labels=3, **common)).double().eval()
    _perturb_layer_norms(cls_model)
    cls_model.save_pretrained(FIXTURES / "tiny_bert_tanh_cls", safe_serialization=True)
    with torch.no_grad():
        cls_out = cls_model(**inputs, output_hidden_states=True)
    results["cls_logits"] = cls_out.logits.numpy()
    results["cls_last_hidden_state"] = cls_out.hidden_states[-1].numpy()
    results["versions"] = np.array(f"torch {torch.__version__}, transformers {transformers.__version__}")
    np.savez_compressed(FIXTURES / "tiny_reference.npz", **results)
    for sub in ("tiny_bert", "tiny_bert_tanh_cls"):
        cfg = json.loads((FIXTURES / sub / "config.json").read_text())
        print(sub, cfg.get("hidden_act"), cfg.get("dtype", cfg.get("torch_dtype")), os.path.getsize(FIXTURES / sub / "model.safetensors"))


def _perturb_layer_norms(model):
    """Random init leaves LayerNorm at weight 1, bias 0: perturb them so a wrong
    LayerNorm (swapped weight/bias, missing scale) cannot pass the parity test."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or name.endswith(".bias"):
                p.add_(torch.randn_like(p) * 0.1)


if __name__ == "__main__":
    FIXTURES.mkdir(parents=True, exist_ok=True)
    minilm_fixture()
    tiny_fixture()
