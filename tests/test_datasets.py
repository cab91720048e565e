"""Tests of ember.data.datasets: Digits against scikit-learn, MNIST / FashionMNIST / CIFAR10
parsed from files generated here, and the download path (mirrors, EMBER_DATA_URL, md5
checks, interrupted and resumed transfers, atomic writes) against an HTTP server on
127.0.0.1 that the tests start and stop. Nothing here touches any other address.
"""

import gzip
import hashlib
import http.server
import io
import os
import pickle
import re
import struct
import tarfile
import threading
import urllib.parse
import urllib.request

import numpy as np
import pytest

import ember
from ember.data import DataLoader
from ember.data import transforms as T
from ember.data.datasets import CIFAR10, MNIST, Digits, FashionMNIST
from ember.data.datasets import _download
from ember.data.datasets.mnist import read_idx


def md5(data):
    return hashlib.md5(data).hexdigest()


# --- generated dataset files -----------------------------------------------------------


_IDX_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(arr):
    """``arr`` in the IDX format: magic (0, 0, type, ndim), big-endian dims, big-endian data."""
    header = bytes([0, 0, _IDX_CODES[arr.dtype.type], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def mnist_arrays(n, seed):
    rs = np.random.RandomState(seed)
    return rs.randint(0, 256, size=(n, 28, 28)).astype(np.uint8), rs.randint(0, 10, size=n).astype(np.uint8)


def mnist_files(gz=True, n_train=12, n_test=5):
    """{filename: bytes} of an MNIST-format dataset, and the arrays in it."""
    arrays = {"train": mnist_arrays(n_train, 1), "t10k": mnist_arrays(n_test, 2)}
    files = {}
    for prefix, (images, labels) in arrays.items():
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{prefix}-{kind}-ubyte"
            data = idx_bytes(arr)
            files[name + ".gz" if gz else name] = gzip.compress(data, mtime=0) if gz else data
    return files, arrays


def write_files(folder, files):
    os.makedirs(folder, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)


CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def cifar_batches(per_batch=3):
    """{filename: bytes} of a cifar-10-batches-py folder, and the HWC images/labels of each
    split. Batches are pickled the way the originals load: str keys, rows of 3072 bytes."""
    rs = np.random.RandomState(0)
    files, splits = {}, {"train": ([], []), "test": ([], [])}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        chw = rs.randint(0, 256, size=(per_batch, 3, 32, 32)).astype(np.uint8)
        labels = rs.randint(0, 10, size=per_batch).tolist()
        files[name] = pickle.dumps({"batch_label": name, "labels": labels, "data": chw.reshape(per_batch, 3072)}, protocol=2)
        split = "test" if name == "test_batch" else "train"
        splits[split][0].append(chw.transpose(0, 2, 3, 1))
        splits[split][1].extend(labels)
    files["batches.meta"] = pickle.dumps({"label_names": CIFAR_NAMES, "num_vis": 3072}, protocol=2)
    return files, {k: (np.concatenate(v[0]), v[1]) for k, v in splits.items()}


def cifar_tarball(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# --- a local HTTP server ---------------------------------------------------------------


class _State:
    def __init__(self):
        self.files = {}  # URL path -> bytes
        self.cut = {}  # URL path -> bytes to send in the next response before closing
        self.corrupt = set()  # URL paths served with one byte flipped
        self.ignore_range = False
        self.log = []  # (path, Range header or None, status)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        state = self.server.state
        path = urllib.parse.urlparse(self.path).path
        rng = self.headers.get("Range")
        body = state.files.get(path)
        if body is None:
            state.log.append((path, rng, 404))
            self.send_error(404)
            return
        if path in state.corrupt:
            body = body[:-1] + bytes([body[-1] ^ 0xFF])
        start, status = 0, 200
        if rng and not state.ignore_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            if start >= len(body):
                state.log.append((path, rng, 416))
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        state.log.append((path, rng, status))
        payload = body[start:]
        self.send_response(status)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        cut = state.cut.pop(path, None)
        # Announce the full length but send only part of it, then hang up: a broken transfer.
        self.wfile.write(payload if cut is None else payload[:cut])
        self.wfile.flush()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.state = _State()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Fail any request to a host other than 127.0.0.1; keep proxies and the user's
    EMBER_DATA_URL out of the way."""
    real_urlopen = urllib.request.urlopen

    def guarded(request, *args, **kwargs):
        url = request.full_url if isinstance(request, urllib.request.Request) else request
        host = urllib.parse.urlparse(url).hostname
        assert host == "127.0.0.1", f"test tried to reach {url}"
        return real_urlopen(request, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", guarded)
    monkeypatch.delenv(_download.ENV_VAR, raising=False)
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    # The real mirrors must never be tried, even by a test that forgets to replace them.
    for cls in (MNIST, FashionMNIST, CIFAR10):
        monkeypatch.setattr(cls, "mirrors", ["http://127.0.0.1:9/unreachable/"])


# --- Digits ----------------------------------------------------------------------------


def test_digits_split_is_fixed_disjoint_and_complete():
    from sklearn.datasets import load_digits

    ref = load_digits()
    train, test = Digits(train=True), Digits(train=False)
    assert len(train) == 1437 and len(test) == 360
    assert set(train.indices) | set(test.indices) == set(range(1797))
    assert not set(train.indices) & set(test.indices)
    assert np.array_equal(Digits(train=True).indices, train.indices)  # deterministic
    for ds in (train, test):
        for k in (0, 7, len(ds) - 1):
            img, target = ds[k]
            assert isinstance(img, ember.Tensor) and img.dtype == ember.float32
            assert tuple(img.shape) == (1, 8, 8)
            np.testing.assert_allclose(img.numpy()[0], ref.images[ds.indices[k]] / 16.0, rtol=1e-6)
            assert type(target) is int and target == ref.target[ds.indices[k]]
    assert train.data.min() == 0.0 and train.data.max() == 1.0


def test_digits_transforms_and_loader():
    ds = Digits(transform=T.Lambda(lambda x: x.numpy().sum()), target_transform=lambda y: y + 100)
    value, target = ds[3]
    assert value == pytest.approx(float(ds.data[3].sum()))
    assert target == ds.targets[3] + 100
    x, y = next(iter(DataLoader(Digits(train=False), batch_size=32)))
    assert tuple(x.shape) == (32, 1, 8, 8) and x.dtype == ember.float32
    assert y.dtype == ember.int64 and y.tolist() == Digits(train=False).targets[:32]
    assert "Split: Test" in repr(Digits(train=False))


# --- MNIST / FashionMNIST from files ----------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("cls", [MNIST, FashionMNIST])
def test_mnist_reads_idx_files(tmp_path, cls, gz):
    files, arrays = mnist_files(gz=gz)
    write_files(tmp_path / cls.__name__ / "raw", files)
    for train, prefix in ((True, "train"), (False, "t10k")):
        ds = cls(str(tmp_path), train=train)
        images, labels = arrays[prefix]
        assert len(ds) == len(images)
        np.testing.assert_array_equal(ds.data, images)
        np.testing.assert_array_equal(ds.targets, labels)
        img, target = ds[len(ds) - 1]
        assert img.dtype == np.uint8 and img.shape == (28, 28)
        np.testing.assert_array_equal(img, images[-1])
        assert type(target) is int and target == labels[-1]
    assert len(cls.classes) == 10


def test_mnist_with_to_tensor_in_a_loader(tmp_path):
    files, arrays = mnist_files()
    write_files(tmp_path / "MNIST" / "raw", files)
    ds = MNIST(str(tmp_path), transform=T.ToTensor())
    x, y = next(iter(DataLoader(ds, batch_size=4)))
    assert tuple(x.shape) == (4, 1, 28, 28) and x.dtype == ember.float32
    np.testing.assert_allclose(x.numpy()[:, 0], arrays["train"][0][:4] / 255.0, rtol=1e-6)
    assert y.tolist() == arrays["train"][1][:4].tolist()


def test_mnist_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(RuntimeError) as info:
        MNIST(str(tmp_path))
    msg = str(info.value)
    assert "download=True" in msg
    assert os.path.join(str(tmp_path), "MNIST", "raw") in msg
    assert "train-images-idx3-ubyte" in msg


def test_read_idx_dtypes_and_corruption(tmp_path):
    for arr in (
        np.arange(24, dtype=np.int16).reshape(2, 3, 4) - 7,
        np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2),
        np.arange(5, dtype=np.int32) * 100000,
        np.array([1.5, -2.25]),
    ):
        path = tmp_path / "a.idx"
        path.write_bytes(idx_bytes(arr))
        out = read_idx(str(path))
        assert out.dtype == arr.dtype and out.dtype.isnative
        np.testing.assert_array_equal(out, arr)
    good = idx_bytes(np.zeros((2, 4, 4), np.uint8))
    (tmp_path / "short.gz").write_bytes(gzip.compress(good[:-5]))
    with pytest.raises(RuntimeError, match="truncated"):
        read_idx(str(tmp_path / "short.gz"))
    (tmp_path / "magic").write_bytes(b"\x01\x02" + good[2:])
    with pytest.raises(RuntimeError, match="is not an IDX file"):
        read_idx(str(tmp_path / "magic"))


# --- CIFAR10 from files ----------------------------------------------------------------


def test_cifar10_reads_python_batches(tmp_path):
    files, splits = cifar_batches()
    write_files(tmp_path / "cifar-10-batches-py", files)
    for train, key in ((True, "train"), (False, "test")):
        ds = CIFAR10(str(tmp_path), train=train)
        images, labels = splits[key]
        assert len(ds) == len(images) == (15 if train else 3)
        np.testing.assert_array_equal(ds.data, images)
        assert ds.targets == labels
        img, target = ds[4 if train else 1]
        assert img.shape == (32, 32, 3) and img.dtype == np.uint8
        np.testing.assert_array_equal(img, images[4 if train else 1])
        assert target == labels[4 if train else 1]
    assert ds.classes == CIFAR_NAMES and ds.class_to_idx["cat"] == 3
    x, _ = next(iter(DataLoader(CIFAR10(str(tmp_path), transform=T.ToTensor()), batch_size=2)))
    np.testing.assert_allclose(x.numpy(), splits["train"][0][:2].transpose(0, 3, 1, 2) / 255.0, rtol=1e-6)


def test_cifar10_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(RuntimeError, match="download=True") as info:
        CIFAR10(str(tmp_path))
    assert "cifar-10-batches-py" in str(info.value)


# --- downloading -----------------------------------------------------------------------


def serve_mnist(server, prefix, gz_files):
    for name, data in gz_files.items():
        server.state.files[f"{prefix}/{name}"] = data
    return [(name, md5(data)) for name, data in gz_files.items()]


def test_mnist_download_from_the_env_var_mirror(server, tmp_path, monkeypatch):
    files, arrays = mnist_files()
    resources = serve_mnist(server, "/mirror/MNIST", files)
    monkeypatch.setattr(MNIST, "resources", resources)
    monkeypatch.setenv("EMBER_DATA_URL", server.url + "/mirror")
    ds = MNIST(str(tmp_path), train=False, download=True)
    np.testing.assert_array_equal(ds.data, arrays["t10k"][0])
    raw = tmp_path / "MNIST" / "raw"
    assert sorted(os.listdir(raw)) == sorted(files)  # all four files, no .part left
    # Everything is present now: a second download=True fetches nothing.
    n_requests = len(server.state.log)
    MNIST(str(tmp_path), download=True)
    assert len(server.state.log) == n_requests


def test_download_falls_back_to_the_next_mirror(server, tmp_path, monkeypatch):
    files, arrays = mnist_files()
    resources = serve_mnist(server, "/good", files)
    monkeypatch.setattr(FashionMNIST, "resources", resources)
    monkeypatch.setattr(FashionMNIST, "mirrors", [server.url + "/missing/", server.url + "/good/"])
    ds = FashionMNIST(str(tmp_path), download=True)
    np.testing.assert_array_equal(ds.targets, arrays["train"][1])
    assert any(status == 404 for _, _, status in server.state.log)


def test_checksum_mismatch_raises_and_leaves_nothing(server, tmp_path):
    data = os.urandom(5000)
    server.state.files["/f.bin"] = data
    server.state.corrupt.add("/f.bin")
    with pytest.raises(RuntimeError, match="Checksum mismatch") as info:
        _download.download_url(server.url + "/f.bin", str(tmp_path), md5=md5(data), progress=False)
    assert md5(data) in str(info.value)
    assert os.listdir(tmp_path) == []  # neither the file nor a .part


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    data = os.urandom(20000)
    server.state.files["/big.bin"] = data
    server.state.cut["/big.bin"] = 7000
    path = _download.download_url(server.url + "/big.bin", str(tmp_path), md5=md5(data), progress=False)
    with open(path, "rb") as f:
        assert f.read() == data
    assert server.state.log == [("/big.bin", None, 200), ("/big.bin", "bytes=7000-", 206)]
    assert os.listdir(tmp_path) == ["big.bin"]


def test_partial_file_survives_and_a_later_call_resumes(server, tmp_path):
    data = os.urandom(12000)
    server.state.files["/p.bin"] = data
    server.state.cut["/p.bin"] = 5000
    with pytest.raises(RuntimeError, match="partial file .* is kept"):
        _download.download_url(server.url + "/p.bin", str(tmp_path), md5=md5(data), progress=False, retries=1)
    assert not (tmp_path / "p.bin").exists()  # never a half-written final file
    assert (tmp_path / "p.bin.part").read_bytes() == data[:5000]
    _download.download_url(server.url + "/p.bin", str(tmp_path), md5=md5(data), progress=False)
    assert (tmp_path / "p.bin").read_bytes() == data
    assert server.state.log[-1] == ("/p.bin", "bytes=5000-", 206)


def test_server_without_range_support_restarts_cleanly(server, tmp_path):
    data = os.urandom(9000)
    server.state.files["/n.bin"] = data
    server.state.ignore_range = True
    (tmp_path / "n.bin.part").write_bytes(b"stale bytes from elsewhere")
    _download.download_url(server.url + "/n.bin", str(tmp_path), md5=md5(data), progress=False)
    assert (tmp_path / "n.bin").read_bytes() == data


def test_complete_partial_file_is_not_fetched_again(server, tmp_path):
    data = os.urandom(3000)
    server.state.files["/c.bin"] = data
    (tmp_path / "c.bin.part").write_bytes(data)
    _download.download_url(server.url + "/c.bin", str(tmp_path), md5=md5(data), progress=False)
    assert (tmp_path / "c.bin").read_bytes() == data
    assert server.state.log == [("/c.bin", "bytes=3000-", 416)]


def test_http_errors_are_reported(server, tmp_path):
    with pytest.raises(RuntimeError, match="HTTP 404"):
        _download.download_url(server.url + "/nope.bin", str(tmp_path), progress=False)


def test_progress_bar_is_shown(server, tmp_path, capsys):
    pytest.importorskip("tqdm")
    server.state.files["/bar.bin"] = os.urandom(4096)
    _download.download_url(server.url + "/bar.bin", str(tmp_path), progress=True)
    assert "bar.bin" in capsys.readouterr().err


def test_cifar10_download_and_extract(server, tmp_path, monkeypatch):
    files, splits = cifar_batches()
    archive = cifar_tarball(files)
    server.state.files["/data/CIFAR10/cifar-10-python.tar.gz"] = archive
    monkeypatch.setattr(CIFAR10, "tgz_md5", md5(archive))
    monkeypatch.setenv("EMBER_DATA_URL", server.url + "/data/")
    ds = CIFAR10(str(tmp_path), train=False, download=True)
    np.testing.assert_array_equal(ds.data, splits["test"][0])
    assert sorted(os.listdir(tmp_path)) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]
    # A corrupted archive is rejected before anything is extracted.
    other = tmp_path / "other"
    server.state.corrupt.add("/data/CIFAR10/cifar-10-python.tar.gz")
    with pytest.raises(RuntimeError, match="Checksum mismatch"):
        CIFAR10(str(other), download=True)
    assert os.listdir(other) == []
