"""Downloading official checkpoints (minibert/hub.py, minibert/fetch.py), against a real
HTTP server on 127.0.0.1.

The server (http.server in a background thread, one per test, on a free port) plays both
sources: under /hub/ the Hugging Face hub (small files answered directly; LFS files
answered with a redirect to /cdn/ that carries ``X-Linked-Etag`` = their SHA-256, as the
hub does), and under /google/ Google's bucket of zips. It serves copies of the fixture
model folders, can stop a transfer halfway, ignore Range headers or publish a wrong
checksum, and records every request. MINIBERT_HUB_URL, MINIBERT_GOOGLE_URL and
MINIBERT_WEIGHTS point minibert at it and at tmp_path: no test touches the internet.
"""

import hashlib
import io
import re
import socket
import threading
import time
import warnings
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from minibert.cli import main
from minibert.download import COMPLETE_MARKER
from minibert.errors import DownloadError, MinibertWarning, WeightsError
from minibert.fetch import etag_sha256
from minibert.hub import download_official, find_official, lookup
from minibert.model import BertModel
from minibert.pretrained import load_tokenizer, resolve_model_dir


class Site:
    """What the test server serves, and what it has seen."""

    def __init__(self):
        self.files = {}  # URL path -> bytes
        self.headers = {}  # URL path -> extra response headers
        self.redirects = {}  # URL path -> (Location, extra headers)
        self.drop_once = set()  # URL paths whose next transfer stops halfway
        self.ignore_range = False  # answer every request with the whole file (200)
        self.requests = []  # (URL path, Range header or None)


def make_handler(site):
    class Handler(BaseHTTPRequestHandler):  # HTTP/1.0: one request per connection
        def log_message(self, *args):  # keep the test output clean
            pass

        def do_GET(self):
            path, wanted = self.path, self.headers.get("Range")
            site.requests.append((path, wanted))
            if path in site.redirects:
                location, headers = site.redirects[path]
                self.send_response(302)
                self.send_header("Location", location)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = site.files.get(path)
            if data is None:
                self.send_error(404)
                return
            start = 0
            if wanted and not site.ignore_range:
                start = int(re.fullmatch(r"bytes=(\d+)-", wanted).group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            for key, value in site.headers.get(path, {}).items():
                self.send_header(key, value)
            self.end_headers()
            if path in site.drop_once:  # half the bytes, then the connection closes
                site.drop_once.discard(path)
                self.wfile.write(body[: len(body) // 2])
                return
            self.wfile.write(body)

    return Handler


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A Site served on 127.0.0.1, with minibert pointed at it and weights in tmp_path."""
    site = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(site))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    site.base = base
    monkeypatch.setenv("MINIBERT_HUB_URL", base + "/hub")
    monkeypatch.setenv("MINIBERT_GOOGLE_URL", base + "/google")
    monkeypatch.setenv("MINIBERT_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("NO_PROXY", "*")  # a proxy in the environment must not see 127.0.0.1
    monkeypatch.setenv("no_proxy", "*")
    yield site
    server.shutdown()
    server.server_close()


def publish_hub(site, repo, folder, lfs=("model.safetensors", "pytorch_model.bin"), sha256=None):
    """Serve ``folder``'s files as the hub serves repository ``repo``.

    Small files are answered directly, with a git-blob-style ETag (40 hex digits: not a
    SHA-256). LFS files redirect to /cdn/<sha256>, the redirect carrying X-Linked-Etag
    (``sha256`` when given, to publish a wrong one).
    """
    for path in sorted(folder.iterdir()):
        data = path.read_bytes()
        url = f"/hub/{repo}/resolve/main/{path.name}"
        if path.name in lfs:
            digest = hashlib.sha256(data).hexdigest()
            site.files[f"/cdn/{digest}"] = data
            site.headers[f"/cdn/{digest}"] = {"ETag": '"d41d8cd98f00b204e9800998ecf8427e"'}  # an MD5, ignored
            site.redirects[url] = (f"{site.base}/cdn/{digest}",
                                   {"X-Linked-Etag": f'"{sha256 or digest}"', "X-Linked-Size": str(len(data))})
        else:
            site.files[url] = data
            site.headers[url] = {"ETag": f'"{hashlib.sha1(data).hexdigest()}"'}


def google_zip(folder, root):
    """A zip laid out like Google's: the checkpoint files in folder ``root/``, and a .meta."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.iterdir()):
            zf.writestr(f"{root}/{path.name}", path.read_bytes())
        zf.writestr(f"{root}/bert_model.ckpt.meta", b"a graph minibert does not need")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def hub_folder(fixtures_dir):
    return fixtures_dir / "formats" / "safetensors"  # config, vocab, tokenizer_config, model.safetensors


@pytest.fixture(scope="module")
def ref(fixtures_dir):
    return np.load(fixtures_dir / "formats" / "reference.npz")


def outputs(model, ref):
    return model(ref["input_ids"], attention_mask=ref["attention_mask"],
                 token_type_ids=ref["token_type_ids"]).last_hidden_state


def weights_url(site):
    """The CDN path of the weights file, and its bytes."""
    (path,) = [p for p in site.files if p.startswith("/cdn/")]
    return path, site.files[path]


# ----------------------------------------------------------------------------------------
# Names
# ----------------------------------------------------------------------------------------
def test_names_and_their_folders():
    assert find_official("bert-base-uncased").hub_repo == "google-bert/bert-base-uncased"
    assert find_official("Google-BERT/BERT-Base-Cased").folder == "bert-base-cased"
    tiny = find_official("bert-tiny")
    assert (tiny.folder, tiny.hub_repo, tiny.google_zip) == (
        "uncased_L-2_H-128_A-2", "google/bert_uncased_L-2_H-128_A-2", "2020_02_20/uncased_L-2_H-128_A-2")
    assert find_official("bert-mini").folder == "uncased_L-4_H-256_A-4"
    assert find_official("bert-small").folder == "uncased_L-4_H-512_A-8"
    assert find_official("bert-medium").folder == "uncased_L-8_H-512_A-8"
    for spelled in ("uncased_L-12_H-768_A-12", "google/bert_uncased_L-6_H-256_A-4", "UNCASED_L-10_H-128_A-2"):
        assert find_official(spelled) is not None, spelled
    for wrong in ("uncased_L-4_H-256_A-8", "uncased_L-3_H-256_A-4", "uncased_L-4_H-300_A-5", "bert-huge", "x"):
        assert find_official(wrong) is None, wrong


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(DownloadError, match="unknown model name 'bert-huge'") as info:
        lookup("bert-huge")
    for name in ("bert-base-uncased", "bert-base-multilingual-cased", "bert-tiny", "bert-medium", "uncased_L-"):
        assert name in str(info.value)


def test_etag_forms():
    digest = "ab" * 32
    assert etag_sha256(f'"{digest}"') == digest
    assert etag_sha256(f'W/"{digest.upper()}"') == digest
    assert etag_sha256('"' + "a" * 40 + '"') is None  # a git blob SHA-1: nothing to check
    assert etag_sha256(None) is None


# ----------------------------------------------------------------------------------------
# Downloads that work
# ----------------------------------------------------------------------------------------
def test_hub_download_loads_like_the_fixture(site, hub_folder, ref, tmp_path):
    publish_hub(site, "google-bert/bert-base-uncased", hub_folder)
    folder = download_official("bert-base-uncased", quiet=True)
    assert folder == tmp_path / "weights" / "bert-base-uncased"
    assert {p.name for p in folder.iterdir()} == {p.name for p in hub_folder.iterdir()} | {COMPLETE_MARKER}
    for path in hub_folder.iterdir():
        assert (folder / path.name).read_bytes() == path.read_bytes(), path.name
    assert [p.name for p in (tmp_path / "weights").iterdir()] == ["bert-base-uncased"]  # no staging left
    assert ("/hub/google-bert/bert-base-uncased/resolve/main/model.safetensors", None) in site.requests
    downloaded = outputs(BertModel.from_pretrained("bert-base-uncased"), ref)
    np.testing.assert_array_equal(downloaded, outputs(BertModel.from_pretrained(hub_folder), ref))
    assert resolve_model_dir("BERT-base-uncased") == folder
    assert load_tokenizer("bert-base-uncased").do_lower_case


def test_google_zip_when_the_hub_has_no_such_repository(site, fixtures_dir, ref, tmp_path):
    ckpt = fixtures_dir / "formats" / "uncased_L-2_H-32_A-4"
    site.files["/google/2020_02_20/uncased_L-2_H-128_A-2.zip"] = google_zip(ckpt, "uncased_L-2_H-128_A-2")
    folder = download_official("bert-tiny", quiet=True)  # the hub answers 404: the zip is next
    assert folder == tmp_path / "weights" / "uncased_L-2_H-128_A-2"
    assert {p.name for p in folder.iterdir()} == {p.name for p in ckpt.iterdir()} | {COMPLETE_MARKER}
    for path in ckpt.iterdir():
        assert (folder / path.name).read_bytes() == path.read_bytes(), path.name
    assert "2020_02_20/uncased_L-2_H-128_A-2.zip" in (folder / COMPLETE_MARKER).read_text()
    with warnings.catch_warnings():  # the fixture holds run_classifier's head, which BertModel does not use
        warnings.simplefilter("ignore", MinibertWarning)
        downloaded = outputs(BertModel.from_pretrained("bert-tiny"), ref)
        np.testing.assert_array_equal(downloaded, outputs(BertModel.from_pretrained(ckpt), ref))
    with warnings.catch_warnings():
        warnings.simplefilter("error", MinibertWarning)  # the casing comes from the folder's name
        assert load_tokenizer("bert-tiny").do_lower_case


def test_hub_repository_with_only_pytorch_model_bin(site, fixtures_dir, ref):
    torch_zip = fixtures_dir / "formats" / "torch_zip"
    publish_hub(site, "google/bert_uncased_L-4_H-256_A-4", torch_zip)
    folder = download_official("bert-mini", quiet=True)
    assert (folder / "pytorch_model.bin").read_bytes() == (torch_zip / "pytorch_model.bin").read_bytes()
    assert not (folder / "model.safetensors").exists()
    np.testing.assert_array_equal(outputs(BertModel.from_pretrained("bert-mini"), ref),
                                  outputs(BertModel.from_pretrained(torch_zip), ref))


def test_second_call_downloads_nothing(site, hub_folder):
    publish_hub(site, "google-bert/bert-base-cased", hub_folder)
    folder = download_official("bert-base-cased", quiet=True)
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    site.requests.clear()
    assert download_official("bert-base-cased", quiet=True) == folder
    assert site.requests == []
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


def test_a_file_deleted_by_hand_is_downloaded_again(site, hub_folder):
    publish_hub(site, "google-bert/bert-base-uncased", hub_folder)
    folder = download_official("bert-base-uncased", quiet=True)
    (folder / "model.safetensors").unlink()
    with pytest.raises(WeightsError, match="minibert download bert-base-uncased"):
        resolve_model_dir("bert-base-uncased")
    assert download_official("bert-base-uncased", quiet=True) == folder
    assert (folder / "model.safetensors").read_bytes() == (hub_folder / "model.safetensors").read_bytes()


def test_command_line(site, hub_folder, tmp_path, capsys):
    publish_hub(site, "google-bert/bert-large-uncased", hub_folder)
    assert main(["download", "bert-large-uncased"]) == 0
    captured = capsys.readouterr()
    assert str(tmp_path / "weights" / "bert-large-uncased") in captured.out
    assert main(["download", "bert-huge"]) == 2
    assert "unknown model name 'bert-huge'" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------
# Broken transfers
# ----------------------------------------------------------------------------------------
def test_interrupted_transfer_resumes_with_a_range_request(site, hub_folder, tmp_path):
    publish_hub(site, "google-bert/bert-base-uncased", hub_folder)
    cdn, data = weights_url(site)
    site.drop_once.add(cdn)
    with pytest.raises(DownloadError, match="connection") as info:
        download_official("bert-base-uncased", quiet=True, sources=("hub",), attempts=1)
    assert "\n" not in str(info.value)
    weights = tmp_path / "weights"
    assert not (weights / "bert-base-uncased").exists()
    (part,) = weights.glob(".bert-base-uncased.download/hub/model.safetensors.part")
    assert part.read_bytes() == data[: len(data) // 2]
    with pytest.raises(WeightsError, match="minibert download bert-base-uncased"):
        resolve_model_dir("bert-base-uncased")  # the staging folder is not taken for a model

    folder = download_official("bert-base-uncased", quiet=True, sources=("hub",), attempts=1)
    assert (cdn, f"bytes={len(data) // 2}-") in site.requests
    assert (folder / "model.safetensors").read_bytes() == data
    assert not part.exists()


def test_a_lost_connection_is_resumed_within_one_call(site, hub_folder):
    publish_hub(site, "google-bert/bert-base-uncased", hub_folder)
    cdn, data = weights_url(site)
    site.drop_once.add(cdn)
    folder = download_official("bert-base-uncased", quiet=True)
    assert (cdn, f"bytes={len(data) // 2}-") in site.requests
    assert (folder / "model.safetensors").read_bytes() == data


def test_a_server_that_ignores_range_restarts_cleanly(site, hub_folder):
    publish_hub(site, "google-bert/bert-base-uncased", hub_folder)
    cdn, data = weights_url(site)
    site.drop_once.add(cdn)
    site.ignore_range = True  # the retry gets 200 and the whole file: the .part starts over
    folder = download_official("bert-base-uncased", quiet=True)
    assert (cdn, f"bytes={len(data) // 2}-") in site.requests
    assert (folder / "model.safetensors").read_bytes() == data


def test_wrong_checksum_deletes_the_part_file(site, hub_folder, tmp_path):
    publish_hub(site, "google-bert/bert-base-uncased", hub_folder, sha256="0" * 64)
    with pytest.raises(DownloadError, match="checksum mismatch") as info:
        download_official("bert-base-uncased", quiet=True)
    message = str(info.value)
    assert "0" * 64 in message and hashlib.sha256((hub_folder / "model.safetensors").read_bytes()).hexdigest() in message
    assert "\n" not in message
    weights = tmp_path / "weights"
    assert not (weights / "bert-base-uncased").exists()
    assert list(weights.rglob("*.part")) == [] and list(weights.rglob("model.safetensors")) == []


def test_unreachable_server_fails_quickly(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MINIBERT_HUB_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("MINIBERT_GOOGLE_URL", f"http://127.0.0.1:{port}/bert_models")
    monkeypatch.setenv("MINIBERT_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("no_proxy", "*")
    start = time.monotonic()
    with pytest.raises(DownloadError, match="cannot reach") as info:
        download_official("bert-base-uncased", quiet=True, timeout=5)
    assert time.monotonic() - start < 5
    message = str(info.value)
    assert f"http://127.0.0.1:{port}/google-bert/bert-base-uncased/resolve/main/config.json" in message
    assert "refused" in message.lower() and "\n" not in message
    assert list((tmp_path / "weights").iterdir()) == []  # not even an empty staging folder


def test_lfs_pointer_is_refused(site, hub_folder, tmp_path):
    publish_hub(site, "google-bert/bert-base-uncased", hub_folder, lfs=())
    digest = hashlib.sha256(b"the real weights").hexdigest()
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{digest}\nsize 440449768\n".encode()
    site.files["/hub/google-bert/bert-base-uncased/resolve/main/model.safetensors"] = pointer
    with pytest.raises(DownloadError, match="Git LFS pointer"):
        download_official("bert-base-uncased", quiet=True, sources=("hub",))
    assert not (tmp_path / "weights" / "bert-base-uncased").exists()
    assert list((tmp_path / "weights").rglob("model.safetensors*")) == []


def test_a_broken_zip_is_deleted(site, tmp_path):
    site.files["/google/2020_02_20/uncased_L-2_H-128_A-2.zip"] = b"PK\x03\x04 but not really a zip"
    with pytest.raises(DownloadError, match="not a valid zip file"):
        download_official("bert-tiny", quiet=True)
    assert not (tmp_path / "weights" / "uncased_L-2_H-128_A-2").exists()
    assert list((tmp_path / "weights").rglob("*.zip")) == []


def test_from_pretrained_suggests_the_download(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIBERT_WEIGHTS", str(tmp_path / "weights"))
    with pytest.raises(WeightsError, match="run `minibert download bert-small`"):
        BertModel.from_pretrained("bert-small")
