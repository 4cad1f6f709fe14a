"""The ``minibert`` command line (also ``python -m minibert``).

    minibert demo                      the default model on a few sentences: similarities
    minibert download [minilm|reviews|all]
    minibert tokenize "some text" [--pair "second text"]
    minibert embed "a sentence" "another" ... [--pooling mean|cls|pooler]

Every command takes ``--model`` (a model folder, default: the embedded all-MiniLM-L6-v2)
where a model is involved. Mistakes end with one line ``minibert: error: ...`` and
exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from .errors import MinibertError

DEMO_SENTENCES = [
    "A gripping, beautifully acted film.",
    "The movie was a wonderful surprise from start to finish.",
    "A dull, lifeless two hours at the cinema.",
    "I wanted my money back after the first twenty minutes.",
    "The stock market fell sharply on Monday.",
]


def _similarity_table(texts, sims) -> str:
    """A small text table: one row and one column per sentence."""
    width = 7
    lines = ["      " + "".join(f"[{j}]".rjust(width) for j in range(len(texts)))]
    for i, row in enumerate(sims):
        lines.append(f"[{i}]   " + "".join(f"{v:{width}.3f}" for v in row))
    return "\n".join(lines)


def _load(model_path):
    from .model import BertModel
    from .pretrained import load_tokenizer

    return BertModel.from_pretrained(model_path), load_tokenizer(model_path)


def cmd_download(args) -> int:
    from .download import ensure_default_model, ensure_movie_reviews

    if args.what in ("minilm", "all"):
        print(f"model:   {ensure_default_model()}")
    if args.what in ("reviews", "all"):
        print(f"reviews: {ensure_movie_reviews()}")
    return 0


def cmd_tokenize(args) -> int:
    from .pretrained import load_tokenizer

    tok = load_tokenizer(args.model)
    pieces = tok.tokenize(args.text)
    ids = tok.encode(args.text, args.pair, max_length=args.max_length, truncation=args.max_length is not None)
    print(f"wordpieces ({len(pieces)}): {' '.join(pieces)}")
    print(f"ids with [CLS]/[SEP] ({len(ids)}): {ids}")
    print(f"tokens: {' '.join(tok.convert_ids_to_tokens(ids))}")
    return 0


def cmd_embed(args) -> int:
    from .features import cosine_similarity, embed_texts

    model, tok = _load(args.model)
    vectors = embed_texts(model, tok, args.texts, pooling=args.pooling, max_length=args.max_length)
    print(f"{len(args.texts)} sentence vectors of size {vectors.shape[1]} ({args.pooling} pooling):")
    for i, (text, v) in enumerate(zip(args.texts, vectors)):
        head = " ".join(f"{x:+.3f}" for x in v[:4])
        print(f"[{i}] {head} ...  |v|={float((v * v).sum()) ** 0.5:.3f}  {text}")
    if len(args.texts) > 1:
        print("\ncosine similarity:")
        print(_similarity_table(args.texts, cosine_similarity(vectors)))
    return 0


def cmd_demo(args) -> int:
    from .features import cosine_similarity, embed_texts

    model, tok = _load(args.model)
    cfg = model.config
    print(f"minibert demo: a {cfg.num_hidden_layers}-layer BERT (hidden {cfg.hidden_size}, "
          f"{cfg.num_attention_heads} heads, {model.num_parameters():,} parameters), NumPy only.\n")
    print("Each sentence becomes one vector: the mean of BERT's last-layer token vectors.")
    print("Sentences that mean similar things get vectors that point the same way.\n")
    for i, text in enumerate(DEMO_SENTENCES):
        print(f"[{i}] {text}")
    vectors = embed_texts(model, tok, DEMO_SENTENCES, pooling="mean")
    sims = cosine_similarity(vectors)
    print("\ncosine similarity of the sentence vectors:")
    print(_similarity_table(DEMO_SENTENCES, sims))
    pairs = [(sims[i, j], i, j) for i in range(len(sims)) for j in range(i + 1, len(sims))]
    best, worst = max(pairs), min(pairs)
    print(f"\nmost alike:  [{best[1]}] and [{best[2]}] ({best[0]:.3f});  "
          f"least alike: [{worst[1]}] and [{worst[2]}] ({worst[0]:.3f})")
    print("\nNext: python lessons/01_tokenizer.py, then 02 and 03.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minibert", description="BERT from scratch in NumPy.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_model(p):
        p.add_argument("--model", default=None, help="model folder (default: the embedded all-MiniLM-L6-v2)")
        return p

    p = with_model(sub.add_parser("demo", help="sentence similarities with the default model"))
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("download", help="fetch the embedded default model and/or the movie reviews")
    p.add_argument("what", nargs="?", default="minilm", choices=["minilm", "reviews", "all"])
    p.set_defaults(func=cmd_download)

    p = with_model(sub.add_parser("tokenize", help="show the wordpieces and ids of a text"))
    p.add_argument("text")
    p.add_argument("--pair", default=None, help="a second text (sentence pair)")
    p.add_argument("--max-length", type=int, default=None, help="truncate to this many tokens")
    p.set_defaults(func=cmd_tokenize)

    p = with_model(sub.add_parser("embed", help="sentence vectors and their cosine similarities"))
    p.add_argument("texts", nargs="+")
    p.add_argument("--pooling", default="mean", choices=["mean", "cls", "pooler"])
    p.add_argument("--max-length", type=int, default=128)
    p.set_defaults(func=cmd_embed)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MinibertError as exc:
        print(f"minibert: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("minibert: interrupted", file=sys.stderr)
        return 130
