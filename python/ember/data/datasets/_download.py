"""Fetching dataset files over HTTP(S) with the standard library only.

* Mirrors are tried in order. The environment variable ``EMBER_DATA_URL`` replaces a
  dataset's built-in mirrors with ``$EMBER_DATA_URL/<DatasetClassName>/`` (e.g.
  ``$EMBER_DATA_URL/MNIST/train-images-idx3-ubyte.gz``), for offline mirrors and caches.
* Bytes go to ``<file>.part`` first and are moved into place with ``os.replace`` only after
  the md5 checksum matched, so a reader never sees a half-written or corrupted file.
* An interrupted transfer keeps its ``.part`` file and resumes from it with an HTTP
  ``Range`` request (within one call, up to ``retries`` attempts, and across calls).
* A tqdm progress bar is shown when tqdm is installed.
"""

import hashlib
import http.client
import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request

__all__ = [
    "ENV_VAR",
    "calculate_md5",
    "check_integrity",
    "mirrors_for",
    "download_url",
    "download_from_mirrors",
    "extract_archive",
    "download_and_extract_archive",
]

ENV_VAR = "EMBER_DATA_URL"
_CHUNK = 1 << 16
_USER_AGENT = "ember-data"


def calculate_md5(path, chunk_size=1 << 20):
    md5 = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            md5.update(chunk)
    return md5.hexdigest()


def check_integrity(path, md5=None):
    """True if ``path`` exists and (when ``md5`` is given) has that checksum."""
    if not os.path.isfile(path):
        return False
    return md5 is None or calculate_md5(path) == md5


def mirrors_for(folder, mirrors):
    """The base URLs to try for a dataset: ``$EMBER_DATA_URL/<folder>/`` if the variable is
    set, else the dataset's own ``mirrors``. Every base URL ends with a slash."""
    base = os.environ.get(ENV_VAR)
    if base:
        return [base.rstrip("/") + "/" + folder + "/"]
    return [m if m.endswith("/") else m + "/" for m in mirrors]


class _NullBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n):
        pass


def _progress_bar(total, initial, desc, enabled):
    if not enabled:
        return _NullBar()
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is optional: no bar, same download
        return _NullBar()
    return tqdm(
        total=total,
        initial=initial,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=desc,
        leave=False,
    )


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _fetch(url, part, progress, timeout, desc):
    """One attempt at bringing ``part`` up to the full file. Returns True when the file is
    known to be complete, False when the server closed early (the next attempt resumes)."""
    offset = os.path.getsize(part) if os.path.exists(part) else 0
    headers = {"User-Agent": _USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:
            # Range not satisfiable: the partial file already has every byte (a crash between
            # the last write and the rename), or it is longer than the file: start over.
            m = re.search(r"\*/(\d+)", e.headers.get("Content-Range", "") or "")
            if m and int(m.group(1)) == offset:
                return True
            os.remove(part)
            return False
        raise

    with response:
        total = None
        if offset and response.status == 206:
            m = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != offset:
                # Not the range we asked for: nothing safe to append; start over.
                os.remove(part)
                return False
            mode, written = "ab", offset
            if m.group(3) != "*":
                total = int(m.group(3))
        else:
            # A 200 answer to a Range request means the server ignores ranges: the body is
            # the whole file, so the partial file is replaced rather than appended to.
            mode, written = "wb", 0
        if total is None and response.headers.get("Content-Length") is not None:
            total = written + int(response.headers["Content-Length"])

        with open(part, mode) as f, _progress_bar(total, written, desc, progress) as bar:
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                f.write(chunk)
                written += len(chunk)
                bar.update(len(chunk))
    return total is None or written >= total


def download_url(url, root, filename=None, md5=None, progress=True, retries=3, timeout=60):
    """Download ``url`` to ``root/filename`` and return that path.

    Skips the download if the file is already there with the right checksum. Transfers that
    break off are resumed from the ``.part`` file, up to ``retries`` attempts in this call;
    after that the ``.part`` file stays, and a later call resumes it. A checksum mismatch
    deletes the download and raises RuntimeError. HTTP errors other than 5xx are not retried.
    """
    if filename is None:
        filename = os.path.basename(urllib.parse.urlparse(url).path)
    os.makedirs(root, exist_ok=True)
    fpath = os.path.join(root, filename)
    if check_integrity(fpath, md5):
        return fpath

    part = fpath + ".part"
    last_error = None
    for _ in range(max(1, retries)):
        try:
            if _fetch(url, part, progress, timeout, filename):
                break
            last_error = "the connection closed before the end of the file"
        except urllib.error.HTTPError as e:
            if e.code < 500:
                raise RuntimeError(f"Downloading {url} failed: HTTP {e.code} {e.reason}") from e
            last_error = f"HTTP {e.code} {e.reason}"
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
            last_error = f"{type(e).__name__}: {e}"
    else:
        raise RuntimeError(
            f"Downloading {url} failed after {max(1, retries)} attempts ({last_error}). "
            f"The partial file {part} is kept: calling again resumes the download."
        )

    if md5 is not None:
        actual = calculate_md5(part)
        if actual != md5:
            os.remove(part)
            raise RuntimeError(
                f"Checksum mismatch for {url}: expected md5 {md5}, got {actual}. "
                "The corrupted download was deleted."
            )
    os.replace(part, fpath)
    return fpath


def download_from_mirrors(mirrors, filename, root, md5=None, progress=True, retries=3):
    """Try ``mirror + filename`` for each mirror in turn; RuntimeError if all fail."""
    errors = []
    for mirror in mirrors:
        url = mirror + filename
        try:
            return download_url(url, root, filename, md5=md5, progress=progress, retries=retries)
        except RuntimeError as e:
            errors.append(f"  {url}: {e}")
    raise RuntimeError(f"Could not download {filename}:\n" + "\n".join(errors))


def _safe_members(tar, dest):
    # For Pythons whose tarfile has no extraction filters: refuse paths that escape dest.
    dest = os.path.realpath(dest)
    for member in tar.getmembers():
        target = os.path.realpath(os.path.join(dest, member.name))
        if os.path.commonpath([dest, target]) != dest or member.issym() or member.islnk():
            raise RuntimeError(f"Refusing to extract {member.name!r}: it points outside {dest}")
        yield member


def extract_archive(from_path, to_path=None):
    """Extract a tar archive (any compression tarfile reads) into ``to_path``.

    Extraction happens in a temporary folder inside ``to_path``; each top-level entry is then
    moved into place with ``os.replace``, so an interrupted extraction leaves no half-filled
    dataset folder behind.
    """
    if to_path is None:
        to_path = os.path.dirname(from_path)
    os.makedirs(to_path, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".extract-", dir=to_path)
    try:
        with tarfile.open(from_path, "r:*") as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tmp, filter="data")
            else:
                tar.extractall(tmp, members=_safe_members(tar, tmp))
        for name in os.listdir(tmp):
            dest = os.path.join(to_path, name)
            if os.path.isdir(dest) and not os.path.islink(dest):
                shutil.rmtree(dest)
            os.replace(os.path.join(tmp, name), dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return to_path


def download_and_extract_archive(mirrors, filename, download_root, extract_root=None, md5=None, progress=True):
    """Download ``filename`` from the first working mirror, verify it, and extract it."""
    archive = download_from_mirrors(mirrors, filename, download_root, md5=md5, progress=progress)
    extract_archive(archive, extract_root or download_root)
    return archive
