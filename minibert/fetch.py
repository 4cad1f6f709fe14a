"""Download one file over HTTP with urllib: resumable, checked, with a progress bar.

``fetch_file(url, dest)`` makes ``dest`` hold the file at ``url``:

1. The bytes go to ``dest.part``. If a ``.part`` is already there (an earlier run was
   interrupted), only the rest is asked for, with the header ``Range: bytes=<size>-``.
   A server that answers ``206 Partial Content`` from that offset sends the rest, which
   is appended; one that answers ``200 OK`` ignored the Range and sends the whole file,
   so the ``.part`` is started again from zero.
2. A connection lost midway keeps the ``.part`` and is retried (resumed) a few times.
3. A published SHA-256 is checked. The Hugging Face hub puts the SHA-256 of a file kept
   in Git LFS in the ``X-Linked-Etag`` header of its redirect to the CDN; any ETag of 64
   hex digits is taken as the file's SHA-256 (``W/`` and quotes stripped). A mismatch
   deletes the ``.part``, so the next run starts afresh.
4. A Git LFS pointer (a ~134-byte text that stands in for the real file in a clone made
   without LFS) is refused.
5. Only then is ``dest.part`` renamed to ``dest``: a file named ``dest`` is always whole.

Every failure is a DownloadError whose one-line message names the URL and the reason.
Nothing here knows about models; minibert/hub.py says which files to fetch.
"""

from __future__ import annotations

import http.client
import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .download import sha256_of
from .errors import DownloadError

CHUNK = 1 << 20  # read and write 1 MiB at a time
TIMEOUT = 30.0  # seconds without an answer (connecting, or between two reads) before giving up
ATTEMPTS = 3  # tries per file when the connection is lost midway (each resumes the last)
USER_AGENT = "minibert (Python urllib)"
LFS_POINTER_START = b"version https://git-lfs.github.com/spec/"


class NotFound(DownloadError):
    """The server says there is no such file (HTTP 404)."""


class Interrupted(DownloadError):
    """The transfer stopped midway; the ``.part`` file is kept, so a retry can resume."""


class _RangeNotSatisfiable(Exception):
    """HTTP 416: the server cannot send from our offset (the ``.part`` is too long)."""


class _KeepRedirectHeaders(urllib.request.HTTPRedirectHandler):
    """Follows redirects as urllib always does, and keeps the headers of each redirect.

    The hub answers a request for a large file with a redirect to its CDN, and it is that
    redirect, not the CDN's answer, that carries the file's SHA-256 (``X-Linked-Etag``).
    (urllib keeps our own headers, Range included, on the redirected request.)
    """

    def __init__(self):
        super().__init__()
        self.hops = []

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        self.hops.append(headers)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def etag_sha256(value) -> str | None:
    """The SHA-256 an ETag header states, or None: ``W/"<64 hex>"`` -> ``<64 hex>``.

    Other ETags (a git blob's SHA-1 of 40 hex digits, a cloud store's MD5...) say nothing
    we can check, so they are ignored.
    """
    if not value:
        return None
    tag = value.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    tag = tag.strip('"').lower()
    return tag if re.fullmatch(r"[0-9a-f]{64}", tag) else None


def published_sha256(hops) -> str | None:
    """The SHA-256 a server published for a file: ``X-Linked-Etag`` first, else an ETag.

    Args:
        hops: the headers of each answer on the way: every redirect, then the final one.
    """
    for header in ("X-Linked-Etag", "ETag"):
        for headers in hops:
            found = etag_sha256(headers.get(header))
            if found:
                return found
    return None


def _reason(exc) -> str:
    """Plain words for a network error: 'Connection refused', 'timed out'..."""
    reason = getattr(exc, "reason", exc)  # a URLError wraps the real error in .reason
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _open(url: str, offset: int, timeout: float):
    """GET ``url`` (from byte ``offset`` when it is not 0): (response, headers of the redirects)."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}  # identity: the bytes as stored
    if offset:
        headers["Range"] = f"bytes={offset}-"
    redirects = _KeepRedirectHeaders()
    opener = urllib.request.build_opener(redirects)
    try:
        response = opener.open(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            raise _RangeNotSatisfiable() from None
        if exc.code == 404:
            raise NotFound(f"{url}: not found (HTTP 404)") from None
        hint = " (the file is private or gated, or does not exist)" if exc.code in (401, 403) else ""
        raise DownloadError(f"{url}: the server answered HTTP {exc.code} {exc.reason}{hint}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise DownloadError(f"cannot reach {url}: {_reason(exc)} (offline, or blocked by a proxy or "
                            "firewall?)") from None
    return response, redirects.hops


def _content_range(headers) -> tuple[int | None, int | None]:
    """(first byte, total size) from ``Content-Range: bytes 100-199/200``; None where unknown."""
    match = re.fullmatch(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*", headers.get("Content-Range") or "")
    if not match:
        return None, None
    return int(match.group(1)), (None if match.group(2) == "*" else int(match.group(2)))


def _progress_bar(total, initial, desc, quiet):
    from tqdm import tqdm  # noqa: PLC0415 (only when something is downloaded)

    return tqdm(total=total, initial=initial, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                disable=quiet, file=sys.stderr, dynamic_ncols=True)


def _transfer(url: str, part: Path, quiet: bool, timeout: float) -> str | None:
    """One try at filling ``part`` with the file at ``url``; returns the published SHA-256.

    Raises Interrupted when the connection is lost midway (``part`` keeps what came).
    """
    offset = part.stat().st_size if part.is_file() else 0
    try:
        response, hops = _open(url, offset, timeout)
    except _RangeNotSatisfiable:  # the .part is as long as the file, or longer: start again
        part.unlink()
        offset = 0
        response, hops = _open(url, 0, timeout)
    status = response.getcode() or 200  # (a file:// URL has no status)
    start, total = _content_range(response.headers)
    if offset and status == 206 and start != offset:  # the server sent some other piece: start again
        response.close()
        part.unlink()
        offset = 0
        response, hops = _open(url, 0, timeout)
        status, total = response.getcode() or 200, None
    if status != 206:  # 200 OK: the whole file, from byte 0
        offset = 0
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
    elif total is None and (response.headers.get("Content-Length") or "").isdigit():
        total = offset + int(response.headers["Content-Length"])
    sha256 = published_sha256([*hops, response.headers])

    written = offset
    of_total = f" of {total:,}" if total is not None else ""
    try:
        with response, open(part, "ab" if offset else "wb") as out, \
                _progress_bar(total, offset, part.name[: -len(".part")], quiet) as bar:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (http.client.HTTPException, OSError) as exc:  # IncompleteRead, reset, timed out
                    raise Interrupted(
                        f"{url}: the connection was lost after {written:,}{of_total} bytes ({_reason(exc)}); "
                        f"{part} keeps them, and the next try continues from there") from None
                if not chunk:
                    break
                out.write(chunk)
                written += len(chunk)
                bar.update(len(chunk))
    except OSError as exc:  # writing: a full disk, no permission
        raise DownloadError(f"cannot write {part}: {exc.strerror or exc}") from None
    if total is not None and written < total:
        raise Interrupted(f"{url}: the connection closed after {written:,}{of_total} bytes; "
                          f"{part} keeps them, and the next try continues from there")
    if total is not None and written > total:
        part.unlink()
        raise DownloadError(f"{url}: the server sent {written:,} bytes but announced {total:,}; "
                            "the partial file was deleted")
    return sha256


def _check_whole_file(url: str, part: Path, sha256: str | None) -> None:
    """Refuse a Git LFS pointer, and a file whose SHA-256 is not the published one."""
    with open(part, "rb") as f:
        head = f.read(len(LFS_POINTER_START))
    if head == LFS_POINTER_START:
        size = part.stat().st_size
        part.unlink()
        raise DownloadError(
            f"{url} is a Git LFS pointer ({size} bytes of text), not the file itself: that server holds the "
            "repository without its large files; download from the Hugging Face hub, or run `git lfs pull` "
            "in a clone")
    if sha256 is not None:
        got = sha256_of(part)
        if got != sha256:
            part.unlink()
            raise DownloadError(
                f"{url}: checksum mismatch: the SHA-256 of the downloaded file is {got}, the server published "
                f"{sha256}; the partial file {part.name} was deleted, so the next run downloads it afresh")


def fetch_file(url: str, dest, quiet: bool = False, timeout: float = TIMEOUT, attempts: int = ATTEMPTS) -> Path:
    """Make ``dest`` hold the file at ``url`` (see the module's docstring); return ``dest``.

    A ``dest`` that exists is taken as done and not fetched again.

    Args:
        url: an http(s) URL.
        dest: where the file goes; ``dest.part`` holds it while it comes.
        quiet: no progress bar.
        timeout: seconds to wait for the server, each time.
        attempts: tries when the connection is lost midway, each resuming the last.

    Raises:
        NotFound: HTTP 404.
        Interrupted: the connection was lost ``attempts`` times; ``dest.part`` is kept.
        DownloadError: anything else (unreachable, HTTP error, checksum, LFS pointer).
    """
    dest = Path(dest)
    if dest.is_file():
        return dest
    part = dest.with_name(dest.name + ".part")
    for attempt in range(1, attempts + 1):
        try:
            sha256 = _transfer(url, part, quiet, timeout)
            break
        except Interrupted as exc:
            if attempt == attempts:
                raise
            if not quiet:
                print(f"minibert: {exc}; resuming (try {attempt + 1} of {attempts})", file=sys.stderr)
    _check_whole_file(url, part, sha256)
    os.replace(part, dest)
    return dest
