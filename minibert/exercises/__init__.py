"""The exercise track: eleven small exercises a student writes, graded against the library.

Each exercise is one file a student fills in, e.g. ``ex04_layer_norm.py``. The files
start as *stubs* (``minibert/exercises/stubs/``: signature, docstring with the equation,
the shapes, what is cached and a tiny worked example; the body raises
NotImplementedError). Their statements, the text a student reads first, are in the
checkout's ``lessons/exercises/`` folder. ``minibert/exercises/solutions/`` holds a
solution for each, written with the library's own kernels: they prove that every
exercise can be solved, and ``--with-solutions`` hands them to teachers.

    minibert exercise list                      the track: ids, titles, expected times
    minibert exercise start hw1                 copy the stubs (and statements) into hw1/
    minibert exercise start hw1 --exercises 3,4 only some exercises
    minibert grade hw1                          grade them (see minibert.grade)

This module is only the catalogue and the ``exercise`` command; the checks live in
:mod:`minibert.exercises.checks`, the grader in :mod:`minibert.grade`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import MinibertError

PACKAGE_DIR = Path(__file__).resolve().parent
STUBS_DIR = PACKAGE_DIR / "stubs"
SOLUTIONS_DIR = PACKAGE_DIR / "solutions"
# The statements live beside the lessons, where students read; only a source checkout has them.
STATEMENTS_DIR = PACKAGE_DIR.parent.parent / "lessons" / "exercises"


@dataclass(frozen=True)
class Exercise:
    """One exercise of the track.

    Attributes:
        id: ``"ex04"``: the prefix of its file name, and what ``--exercises`` accepts.
        stem: ``"ex04_layer_norm"``: its file name without ``.py`` (and its statement's, ``.md``).
        title: one line saying what is built.
        functions: the names the student's file must define.
        minutes: the time a student who has done the lessons usually needs.
        lessons: the lessons it follows.
        paper: where the BERT paper (Devlin et al., 2019) describes what it builds.
    """

    id: str
    stem: str
    title: str
    functions: tuple
    minutes: int
    lessons: str
    paper: str

    @property
    def file_name(self) -> str:
        return f"{self.stem}.py"

    @property
    def name(self) -> str:
        """``"layer_norm"``: the stem without its ``exNN_`` prefix."""
        return self.stem.split("_", 1)[1]


EXERCISES = (
    Exercise("ex01", "ex01_wordpiece", "WordPiece: greedy longest-match-first", ("wordpiece",), 30,
             "01", "3 (Input/Output Representations: WordPiece embeddings, 30,000 tokens)"),
    Exercise("ex02", "ex02_basic_tokenize", "BasicTokenizer: clean-up, accents, punctuation", ("basic_tokenize",), 45,
             "01", "3 (Input/Output Representations); the 'uncased' rules are in Google's tokenization.py"),
    Exercise("ex03", "ex03_softmax", "softmax forward and backward", ("softmax", "softmax_backward"), 25,
             "02, 05", "3 (Model Architecture: the Transformer of Vaswani et al., 2017)"),
    Exercise("ex04", "ex04_layer_norm", "LayerNorm forward and backward", ("layer_norm", "layer_norm_backward"), 40,
             "02, 05", "3 (Model Architecture)"),
    Exercise("ex05", "ex05_gelu", "GELU and its derivative", ("gelu", "gelu_backward"), 25,
             "02, 05", "A.2 (Pre-training Procedure: 'a gelu activation rather than the standard relu')"),
    Exercise("ex06", "ex06_attention", "scaled dot-product attention with a padding mask", ("attention",), 45,
             "02", "3 (Model Architecture: bidirectional self-attention)"),
    Exercise("ex07", "ex07_attention_backward", "attention backward: dq, dk, dv", ("attention_backward",), 60,
             "05", "3.2 (Fine-tuning BERT: every parameter is trained end to end)"),
    Exercise("ex08", "ex08_embedding_backward", "embedding backward with repeated ids", ("embedding_backward",), 20,
             "05", "3 (Input/Output Representations: token, segment and position embeddings, Figure 2)"),
    Exercise("ex09", "ex09_adamw", "one AdamW step, no decay on biases and LayerNorm", ("adamw_step",), 30,
             "06, 08", "A.2 (Adam, beta1 0.9, beta2 0.999, L2 weight decay 0.01) and A.3 (Fine-tuning Procedure)"),
    Exercise("ex10", "ex10_pooling_head", "mean pooling and a softmax-regression head on frozen features",
             ("mean_pool", "head_loss_and_grads", "fit_head"), 40,
             "07", "5.3 (Feature-based Approach with BERT)"),
    Exercise("ex11", "ex11_finetune_loop", "a minimal fine-tuning loop", ("fine_tune",), 30,
             "06, 08", "3.2 (Fine-tuning BERT) and A.3 (Fine-tuning Procedure)"),
)

BY_ID = {ex.id: ex for ex in EXERCISES}


def find(word: str) -> Exercise:
    """The exercise named by ``word``: ``"4"``, ``"04"``, ``"ex04"``, ``"layer_norm"`` or ``"ex04_layer_norm"``.

    Raises:
        MinibertError: no exercise has that name (the message lists them).
    """
    key = word.strip().lower().removesuffix(".py")
    if key.isdigit():
        key = f"ex{int(key):02d}"
    for ex in EXERCISES:
        if key in (ex.id, ex.stem, ex.name):
            return ex
    names = ", ".join(f"{ex.id} ({ex.name})" for ex in EXERCISES)
    raise MinibertError(f"no exercise is called {word!r}: the track has {names}")


def select(spec: str | None) -> list:
    """The exercises of a comma-separated list (``"3,4,ex07"``), or all of them for None."""
    if spec is None:
        return list(EXERCISES)
    chosen = [find(word) for word in spec.split(",") if word.strip()]
    if not chosen:
        raise MinibertError("--exercises is empty: name at least one exercise, e.g. --exercises 3,4")
    return sorted(set(chosen), key=lambda ex: ex.id)


def exercise_of_file(path: Path) -> Exercise | None:
    """The exercise a student's file belongs to, by its name (``ex04_layer_norm.py`` -> ex04)."""
    prefix = path.name.split("_", 1)[0].lower()
    return BY_ID.get(prefix) if path.suffix == ".py" else None


def start(folder, exercises=None, with_solutions: bool = False, force: bool = False) -> list:
    """Copy the stubs (or, for teachers, the solutions) and their statements into ``folder``.

    Args:
        folder: the student's working folder (created if missing).
        exercises: which Exercises (default: the whole track).
        with_solutions: copy the solutions instead of the stubs (an answer key).
        force: overwrite files that are already there (default: refuse, writing nothing).

    Returns:
        The paths written (a file already there with the same content is not written again).

    Raises:
        MinibertError: ``folder`` is a file, or it already holds one of the files and
            ``force`` is off.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise MinibertError(f"{folder} is a file, not a folder: choose a new folder name")
    source = SOLUTIONS_DIR if with_solutions else STUBS_DIR
    copies = []  # (from, to)
    for ex in exercises or EXERCISES:
        copies.append((source / ex.file_name, folder / ex.file_name))
        statement = STATEMENTS_DIR / f"{ex.stem}.md"
        if statement.is_file():
            copies.append((statement, folder / statement.name))
    if (STATEMENTS_DIR / "README.md").is_file():
        copies.append((STATEMENTS_DIR / "README.md", folder / "README.md"))
    # a file already there with the same content (a statement, the README) is left alone
    copies = [(src, dst) for src, dst in copies if not (dst.is_file() and dst.read_bytes() == src.read_bytes())]
    existing = [str(dst) for _, dst in copies if dst.exists()]
    if existing and not force:
        raise MinibertError(f"{len(existing)} file(s) already exist and would be overwritten: "
                            f"{', '.join(existing[:4])}{' ...' if len(existing) > 4 else ''} "
                            "(pass --force to overwrite them, or choose another folder)")
    folder.mkdir(parents=True, exist_ok=True)
    for src, dst in copies:
        shutil.copyfile(src, dst)
    return [dst for _, dst in copies]


# ----------------------------------------------------------------------------------------
# The `minibert exercise` command
# ----------------------------------------------------------------------------------------
def add_arguments(parser) -> None:
    """The options of ``minibert exercise`` (called by minibert.cli)."""
    sub = parser.add_subparsers(dest="exercise_command", required=True, metavar="ACTION")
    p = sub.add_parser("start", help="copy the exercise stubs (and statements) into a working folder")
    p.add_argument("folder", help="the working folder, e.g. hw1 (created if missing)")
    p.add_argument("--exercises", default=None, help="only these, e.g. 3,4,5 or ex03,layer_norm (default: all)")
    p.add_argument("--with-solutions", action="store_true", help="copy the solutions instead (teachers: an answer key)")
    p.add_argument("--force", action="store_true", help="overwrite files already in the folder")
    sub.add_parser("list", help="the exercises of the track, with expected times and the paper's sections")


def run_from_args(args) -> int:
    """Run ``minibert exercise start|list`` with parsed arguments."""
    if args.exercise_command == "list":
        print(f"{'id':<5} {'minutes':>7}  {'lessons':<8} title")
        for ex in EXERCISES:
            print(f"{ex.id:<5} {ex.minutes:>7}  {ex.lessons:<8} {ex.title}")
            print(f"{'':<24}BERT paper, section {ex.paper}")
        print(f"\n{len(EXERCISES)} exercises, about {sum(ex.minutes for ex in EXERCISES) / 60:.0f} hours in all. "
              "Start with: minibert exercise start hw1")
        return 0
    chosen = select(args.exercises)
    written = start(args.folder, chosen, with_solutions=args.with_solutions, force=args.force)
    kind = "solution(s)" if args.with_solutions else "exercise stub(s)"
    print(f"{len(chosen)} {kind} and their statements in {args.folder}/ ({len(written)} file(s) written):")
    for path in written:
        print(f"  {path}")
    if args.with_solutions:
        print("These are the solutions, an answer key: do not hand them out.")
    if not STATEMENTS_DIR.is_dir():
        print("(the statements, README.md and exNN_name.md, are in lessons/exercises/ of a minibert checkout)")
    print(f"\nNext: read the statements, fill in the functions, then run: minibert grade {args.folder}")
    return 0
