"""``minibert download NAME``: official BERT checkpoints, from the Hugging Face hub or Google.

The names (capitals do not matter):

    bert-base-uncased, bert-base-cased, bert-large-uncased, bert-base-chinese,
    bert-base-multilingual-cased
        Hugging Face hub, repository ``google-bert/<name>``; Google's zip as a fallback.
    bert-tiny, bert-mini, bert-small, bert-medium, or any uncased_L-<L>_H-<H>_A-<H/64>
    with L in 2, 4, 6, 8, 10, 12 and H in 128, 256, 512, 768
        Google's 24 small BERTs (2020): hub repository ``google/bert_uncased_L-.._H-.._A-..``,
        Google's zip ``2020_02_20/uncased_L-.._H-.._A-...zip`` as a fallback.
        bert-tiny = uncased_L-2_H-128_A-2, bert-mini = uncased_L-4_H-256_A-4,
        bert-small = uncased_L-4_H-512_A-8, bert-medium = uncased_L-8_H-512_A-8.

Where a model goes: ``weights_dir()/<folder>/``, the folder being the model's canonical
name: ``weights/bert-base-uncased/``; ``weights/uncased_L-2_H-128_A-2/`` for bert-tiny (Google's
name says "uncased", which is how the tokenizer knows to lower-case: the zips hold no
tokenizer settings). ``from_pretrained("bert-tiny")`` then finds it there.

From the hub come config.json, vocab.txt, tokenizer_config.json (when the repository has
one) and model.safetensors (pytorch_model.bin when there is no safetensors file). From a
Google zip come bert_config.json, vocab.txt and the TF checkpoint (bert_model.ckpt.index
+ .data-*); minibert reads every one of these formats without TensorFlow or PyTorch.

How a download stays safe:
    1. Files are fetched one by one into a staging folder, ``weights/.<folder>.download/<source>/``,
       by minibert/fetch.py (resumable ``.part`` files, SHA-256 checked where published).
    2. When every file is there, the completion marker is written and the folder is renamed
       to ``weights/<folder>/`` in one step (os.replace). So ``weights/<folder>/`` either does
       not exist or is complete; an interrupted run leaves only the staging folder, whose
       ``.part`` files the next run continues.

The servers can be changed (a mirror, or a test server on 127.0.0.1):
``MINIBERT_HUB_URL`` (else ``HF_ENDPOINT``, as Hugging Face's own client reads it; else
https://huggingface.co) and ``MINIBERT_GOOGLE_URL`` (else https://storage.googleapis.com/bert_models).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .download import COMPLETE_MARKER
from .errors import DownloadError
from .fetch import ATTEMPTS, TIMEOUT, NotFound, fetch_file
from .paths import weights_dir

HUB_URL = "https://huggingface.co"
GOOGLE_URL = "https://storage.googleapis.com/bert_models"

# The classic BERTs on the hub, and the same weights in Google's original zips.
HUB_MODELS = {
    "bert-base-uncased": "2018_10_18/uncased_L-12_H-768_A-12",
    "bert-base-cased": "2018_10_18/cased_L-12_H-768_A-12",
    "bert-large-uncased": "2018_10_18/uncased_L-24_H-1024_A-16",
    # (The hub's tokenizer_config.json says do_lower_case=false for bert-base-chinese, Google
    # lower-cases it: a hub download follows the hub, a zip download follows Google.)
    "bert-base-chinese": "2018_11_03/chinese_L-12_H-768_A-12",
    "bert-base-multilingual-cased": "2018_11_23/multi_cased_L-12_H-768_A-12",
}
# Google's 24 small BERTs: nicknames from the paper "Well-Read Students Learn Better" (2019).
SMALL_NICKNAMES = {"bert-tiny": (2, 128), "bert-mini": (4, 256), "bert-small": (4, 512), "bert-medium": (8, 512)}
SMALL_LAYERS = (2, 4, 6, 8, 10, 12)
SMALL_WIDTHS = (128, 256, 512, 768)
SMALL_DATE = "2020_02_20"

HUB_FILES = ("config.json", "vocab.txt")  # required
HUB_OPTIONAL = ("tokenizer_config.json",)  # fetched when the repository has it
HUB_WEIGHTS = ("model.safetensors", "pytorch_model.bin")  # the first the repository has
SOURCES = ("hub", "google")  # tried in this order


@dataclass(frozen=True)
class Official:
    """An official checkpoint: where it goes and where it comes from."""

    folder: str  # the folder under weights/ (also the canonical name)
    hub_repo: str  # the Hugging Face repository, e.g. "google-bert/bert-base-uncased"
    google_zip: str  # Google's zip without ".zip", e.g. "2018_10_18/uncased_L-12_H-768_A-12"


def known_names() -> str:
    """The names ``minibert download`` accepts, for messages and help."""
    return (", ".join([*HUB_MODELS, *SMALL_NICKNAMES])
            + ", or uncased_L-<L>_H-<H>_A-<H/64> with L in 2,4,6,8,10,12 and H in 128,256,512,768 "
            "(e.g. uncased_L-4_H-256_A-4)")


def find_official(name) -> Official | None:
    """The Official checkpoint ``name`` stands for, or None when it is not one.

    Also takes the hub's full names: ``google-bert/bert-base-uncased``,
    ``google/bert_uncased_L-2_H-128_A-2``.
    """
    key = str(name).strip().lower()
    key = key.removeprefix("google-bert/")
    if key in HUB_MODELS:
        return Official(key, f"google-bert/{key}", HUB_MODELS[key])
    if key in SMALL_NICKNAMES:
        layers, width = SMALL_NICKNAMES[key]
    else:
        match = re.fullmatch(r"(?:google/)?(?:bert_)?uncased_l-(\d+)_h-(\d+)_a-(\d+)", key)
        if not match:
            return None
        layers, width, heads = (int(g) for g in match.groups())
        if layers not in SMALL_LAYERS or width not in SMALL_WIDTHS or heads != width // 64:
            return None
    google = f"uncased_L-{layers}_H-{width}_A-{width // 64}"
    return Official(google, f"google/bert_{google}", f"{SMALL_DATE}/{google}")


def lookup(name) -> Official:
    """Like find_official, but an unknown name is a DownloadError that lists the known ones."""
    official = find_official(name)
    if official is None:
        raise DownloadError(f"unknown model name {str(name)!r}; the official checkpoints are: {known_names()}")
    return official


def is_downloaded(folder: Path) -> bool:
    """True when ``folder`` is a finished download: the completion marker, a config, the
    vocabulary and a weights file are there (so a file deleted by hand means "download again")."""
    folder = Path(folder)
    return ((folder / COMPLETE_MARKER).is_file() and (folder / "vocab.txt").is_file()
            and any((folder / n).is_file() for n in ("config.json", "bert_config.json"))
            and any((folder / n).is_file() for n in (*HUB_WEIGHTS, "bert_model.ckpt.index")))


def hub_url() -> str:
    return (os.environ.get("MINIBERT_HUB_URL") or os.environ.get("HF_ENDPOINT") or HUB_URL).rstrip("/")


def google_url() -> str:
    return (os.environ.get("MINIBERT_GOOGLE_URL") or GOOGLE_URL).rstrip("/")


# ----------------------------------------------------------------------------------------
# The two sources. Each fills its own staging folder and returns the finished model folder.
# ----------------------------------------------------------------------------------------
def _from_hub(official: Official, into: Path, quiet: bool, fetch: dict) -> Path:
    """config.json, vocab.txt, tokenizer_config.json (optional) and the weights, from the hub."""
    def url(name):
        return f"{hub_url()}/{official.hub_repo}/resolve/main/{name}"

    for name in HUB_FILES:
        fetch_file(url(name), into / name, quiet=quiet, **fetch)
    for name in HUB_OPTIONAL:
        try:
            fetch_file(url(name), into / name, quiet=quiet, **fetch)
        except NotFound:
            pass
    for name in HUB_WEIGHTS:
        try:
            fetch_file(url(name), into / name, quiet=quiet, **fetch)
            return into
        except NotFound:
            continue
    raise DownloadError(f"{hub_url()}/{official.hub_repo} has none of {', '.join(HUB_WEIGHTS)}")


def _wanted_from_zip(name: str) -> bool:
    """The files of a Google zip that minibert needs (the .meta graph is not one of them)."""
    return name in ("bert_config.json", "vocab.txt", "bert_model.ckpt.index") or name.startswith("bert_model.ckpt.data-")


def _extract_checkpoint(zip_path: Path, model: Path, url: str) -> None:
    """Copy the checkpoint files out of a Google zip into ``model``.

    The folder layout inside the zips is not the same for all of them, so the files are
    looked for beside ``bert_config.json``; each is written under its own base name.
    """
    try:
        with zipfile.ZipFile(zip_path) as zf:
            files = [info for info in zf.infolist() if not info.is_dir()]
            configs = [info for info in files if PurePosixPath(info.filename).name == "bert_config.json"]
            if len(configs) != 1:
                raise DownloadError(f"{url}: expected one bert_config.json in the zip, found {len(configs)}")
            root = PurePosixPath(configs[0].filename).parent
            taken = []
            for info in files:
                path = PurePosixPath(info.filename)
                if path.parent == root and _wanted_from_zip(path.name):
                    with zf.open(info) as src, open(model / path.name, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    taken.append(path.name)
    except (zipfile.BadZipFile, EOFError) as exc:
        zip_path.unlink()  # so that the next run downloads it again
        raise DownloadError(f"{url}: the download is not a valid zip file ({exc}); it was deleted") from None
    except OSError as exc:
        raise DownloadError(f"cannot extract {zip_path} into {model}: {exc.strerror or exc}") from None
    missing = [n for n in ("vocab.txt", "bert_model.ckpt.index") if n not in taken]
    if not any(n.startswith("bert_model.ckpt.data-") for n in taken):
        missing.append("bert_model.ckpt.data-*")
    if missing:
        raise DownloadError(f"{url}: the zip has no {', '.join(missing)} beside bert_config.json")


def _from_google(official: Official, into: Path, quiet: bool, fetch: dict) -> Path:
    """Google's zip: downloaded (resumable), then the checkpoint files taken out of it."""
    url = f"{google_url()}/{official.google_zip}.zip"
    zip_path = fetch_file(url, into / (PurePosixPath(official.google_zip).name + ".zip"), quiet=quiet, **fetch)
    model = into / "model"
    if model.exists():  # half-extracted by an interrupted run
        shutil.rmtree(model)
    model.mkdir()
    _extract_checkpoint(zip_path, model, url)
    return model


FETCHERS = {"hub": _from_hub, "google": _from_google}
SOURCE_NAMES = {"hub": "the Hugging Face hub", "google": "Google's zip"}


def _put_in_place(model: Path, target: Path, note: str) -> None:
    """Mark ``model`` complete, then rename it to ``target`` in one step."""
    for stray in model.glob("*.part"):  # e.g. a weights file the repository no longer has
        stray.unlink()
    (model / COMPLETE_MARKER).write_text(note, encoding="utf-8")
    if target.is_dir() and not target.is_symlink():  # a damaged earlier download (files deleted by hand)
        shutil.rmtree(target)
    elif target.exists() or target.is_symlink():  # a stray file or link in the way
        target.unlink()
    os.replace(model, target)


def download_official(name, quiet: bool = False, sources=SOURCES, timeout: float = TIMEOUT,
                      attempts: int = ATTEMPTS) -> Path:
    """Download an official checkpoint into ``weights_dir()/<folder>/``; return that folder.

    Idempotent: a finished download (is_downloaded) is returned untouched, nothing fetched.

    Args:
        name: a name from known_names() (``bert-base-uncased``, ``bert-tiny``...).
        quiet: no progress bars or messages.
        sources: where to look, in order: ("hub", "google") (the default), or one of them.
        timeout: seconds to wait for a server, each time.
        attempts: tries per file when a connection is lost midway (each resumes).

    Raises:
        DownloadError: an unknown name, or every source failed (the message says why for
        each, in one line).
    """
    official = lookup(name)
    sources = (sources,) if isinstance(sources, str) else tuple(sources)
    unknown = [s for s in sources if s not in FETCHERS]
    if unknown or not sources:
        raise DownloadError(f"unknown download source(s) {unknown}: use some of {list(FETCHERS)}")
    root = weights_dir()
    target = root / official.folder
    if is_downloaded(target):
        return target
    staging = root / f".{official.folder}.download"
    fetch = {"timeout": timeout, "attempts": attempts}
    failures = []
    for i, source in enumerate(sources):
        into = staging / source
        try:
            into.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DownloadError(f"cannot create {into}: {exc.strerror or exc}") from None
        if not quiet:
            print(f"minibert: downloading {official.folder} from {SOURCE_NAMES[source]} into {target}", file=sys.stderr)
        try:
            model = FETCHERS[source](official, into, quiet, fetch)
        except DownloadError as exc:
            failures.append(f"from {SOURCE_NAMES[source]}: {exc}")
            if not quiet and i + 1 < len(sources):
                print(f"minibert: {exc}; trying {SOURCE_NAMES[sources[i + 1]]} instead", file=sys.stderr)
            continue
        origin = (f"{hub_url()}/{official.hub_repo} (revision main)" if source == "hub"
                  else f"{google_url()}/{official.google_zip}.zip")
        _put_in_place(model, target, f"minibert download {official.folder}\nsource: {origin}\n")
        shutil.rmtree(staging, ignore_errors=True)
        if not quiet:
            print(f"minibert: {official.folder} is complete in {target}", file=sys.stderr)
        return target
    if not any(p.is_file() for p in staging.rglob("*")):  # nothing came that a next run could continue
        shutil.rmtree(staging, ignore_errors=True)
    raise DownloadError(f"could not download {official.folder}: " + "; ".join(failures))
