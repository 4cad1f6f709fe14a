"""Dev tool: show that a model saved by minibert loads in Hugging Face transformers.

Run in the reference environment (PyTorch + transformers; numpy for minibert itself):

    /tmp/refenv/bin/python tools/make_saved_model_fixture.py

It builds a small random minibert BertForSequenceClassification from a recorded config and
seed, saves it with ``save_pretrained``, loads that folder with transformers'
``BertForSequenceClassification.from_pretrained`` and records, in
tests/fixtures/saved_model_reference.npz: the config and seed, the SHA-256 of the
``model.safetensors`` and ``config.json`` minibert wrote, a batch, and the logits
transformers computed. The test rebuilds the model, saves it again, checks the files are
byte-identical to what transformers read, and compares minibert's logits with these.
"""

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import transformers

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from minibert.config import BertConfig  # noqa: E402
from minibert.model import BertForSequenceClassification  # noqa: E402

CONFIG = dict(vocab_size=60, hidden_size=24, num_hidden_layers=2, num_attention_heads=3, intermediate_size=40,
              max_position_embeddings=32, num_labels=3, hidden_act="gelu",
              initializer_range=0.5)  # large random weights: logits far from constant
SEED = 5


def main():
    model = BertForSequenceClassification(BertConfig(**CONFIG), seed=SEED).eval()
    rng = np.random.default_rng(1)
    ids = rng.integers(1, 60, (3, 8))
    mask = np.ones((3, 8), np.int64)
    mask[1, 6:] = 0
    mask[2, 3:] = 0
    ids = ids * mask
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        digests = {name: hashlib.sha256((Path(tmp) / name).read_bytes()).hexdigest()
                   for name in ("model.safetensors", "config.json")}
        hf = transformers.BertForSequenceClassification.from_pretrained(tmp, attn_implementation="eager").eval()
        with torch.no_grad():
            logits = hf(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).logits.numpy()
    np.savez_compressed(ROOT / "tests" / "fixtures" / "saved_model_reference.npz",
                        config=np.array(json.dumps(CONFIG)), seed=SEED, input_ids=ids, attention_mask=mask,
                        transformers_logits=logits, sha256_model=np.array(digests["model.safetensors"]),
                        sha256_config=np.array(digests["config.json"]),
                        versions=np.array(f"torch {torch.__version__}, transformers {transformers.__version__}"))
    print("transformers logits:", logits)


if __name__ == "__main__":
    main()
