"""CIFAR-10 / CIFAR-100 (Krizhevsky 2009) as in-memory tensors, their augmentation, and binary tasks.

CIFAR is not available from any package registry, so there is no offline
mirror.  ``load_cifar(name, split)`` (what ``data.load("cifar10", ...)`` and
``data.load("cifar100", ...)`` call, see registry.py) walks its own source
chain and says which source served it in ``.source``:

1. the local cache ``<KDCOURSE_DATA>/cache/<name>.pt`` (uint8 tensors);
2. the python-pickle batches that torchvision downloads, in
   ``<KDCOURSE_DATA>/cifar-10-batches-py`` / ``cifar-100-python`` (or under
   ``<KDCOURSE_DATA>/torchvision/``): put an unpacked copy of
   ``cifar-10-python.tar.gz`` there to use CIFAR offline;
3. ``torchvision.datasets.CIFAR10/100(download=True)`` (skipped when
   ``KDCOURSE_OFFLINE=1``);
4. a :class:`DataNotFoundError` naming what was tried (each source, with
   its path) and how to get the data: the archive's address, the folder it
   must unpack to, or unsetting ``KDCOURSE_OFFLINE`` for the download.

Splits as for MNIST: ``val`` is a fixed, seeded 5,000 of the 50,000 training
images, ``train`` the other 45,000, ``test`` the official 10,000.  Images are
(N, 3, 32, 32), normalised per channel.

The notebooks' cpu and smoke profiles run on named offline stand-ins instead
(Fashion-MNIST); :func:`two_classes` builds the binary task of seed 002
Table 2 from any data set.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import config
from . import cachefile
from .synthetic import when_dry
from .core import LOAD_SPLITS, TensorData, check_n, not_available, record, split_rows


@dataclass(frozen=True)
class CifarSpec:
    title: str
    folder: str            # what the torchvision tarball unpacks to
    train_files: tuple[str, ...]
    test_file: str
    label_key: str
    meta_file: str
    names_key: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    torchvision: str
    archive: str           # what https://www.cs.toronto.edu/~kriz/ serves


CIFAR: dict[str, CifarSpec] = {
    "cifar10": CifarSpec("CIFAR-10", "cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)),
                         "test_batch", "labels", "batches.meta", "label_names",
                         (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), "CIFAR10",
                         "cifar-10-python.tar.gz"),
    "cifar100": CifarSpec("CIFAR-100", "cifar-100-python", ("train",), "test", "fine_labels", "meta",
                          "fine_label_names", (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), "CIFAR100",
                          "cifar-100-python.tar.gz"),
}
VAL_SIZE = 5000
HOW_TO_GET = ("download https://www.cs.toronto.edu/~kriz/{archive} and unpack it into {root} "
              "(`tar xzf {archive} -C {root}`), so that {root}/{folder}/ holds {files}; or unset KDCOURSE_OFFLINE "
              "to let torchvision download it into {root}/torchvision (CIFAR is in no package registry, so there "
              "is no offline mirror to install)")


def how_to_get(spec: CifarSpec, root: Path) -> str:
    """Where to put the unpacked archive under ``root``, file by file, or how to allow the download."""
    files = ", ".join(spec.train_files + (spec.test_file,)) + f" and {spec.meta_file}"
    return HOW_TO_GET.format(archive=spec.archive, root=root, folder=spec.folder, files=files)


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")   # CIFAR's own format (what torchvision reads too)


def read_batches(folder: Path, spec: CifarSpec) -> dict:
    """The train / test arrays of an unpacked CIFAR folder (N, 32, 32, 3 uint8) and the class names."""
    out = {}
    for part, files in (("train", spec.train_files), ("test", (spec.test_file,))):
        xs, ys = [], []
        for name in files:
            path = folder / name
            if not path.is_file():
                raise FileNotFoundError(path)
            batch = _unpickle(path)
            xs.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch[spec.label_key], dtype=np.int64))
        out[f"{part}_x"] = torch.from_numpy(np.concatenate(xs))
        out[f"{part}_y"] = torch.from_numpy(np.concatenate(ys))
    meta = folder / spec.meta_file
    out["classes"] = list(_unpickle(meta)[spec.names_key]) if meta.is_file() else None
    return out


LAYOUT: cachefile.Layout = {"train_x": (torch.uint8, ("n", 3, 32, 32)), "train_y": (torch.int64, ("n",)),
                            "test_x": (torch.uint8, ("m", 3, 32, 32)), "test_y": (torch.int64, ("m",))}


def _batch_files(folder: Path, spec: CifarSpec) -> list[Path] | None:
    """The batch files (and the meta file, when there) of an unpacked CIFAR folder; None if one is missing."""
    files = [folder / name for name in spec.train_files + (spec.test_file,)]
    if not all(f.is_file() for f in files):
        return None
    meta = folder / spec.meta_file
    return files + ([meta] if meta.is_file() else [])


def _current_source(spec: CifarSpec, root: Path) -> dict | None:
    """The cache signature of the first folder holding the unpacked batches (None when none does)."""
    for folder in (root / spec.folder, root / "torchvision" / spec.folder):
        files = _batch_files(folder, spec)
        if files is not None:
            return cachefile.signature(f"CIFAR batches at {folder}", files)
    return None


def _from_sources(spec: CifarSpec, root: Path, offline: bool, tried: list[str]):
    """``(arrays, origin, signature)`` from the unpacked batches or the download; Nones when neither."""
    for folder in (root / spec.folder, root / "torchvision" / spec.folder):
        try:
            arrays, origin = read_batches(folder, spec), f"CIFAR batches at {folder}"
            return arrays, origin, cachefile.signature(origin, _batch_files(folder, spec))
        except FileNotFoundError as exc:
            tried.append(f"CIFAR batches at {folder} (absent: {Path(str(exc)).name})")
        except (pickle.UnpicklingError, KeyError, ValueError, EOFError) as exc:
            tried.append(f"CIFAR batches at {folder} (unreadable: {exc.__class__.__name__})")
    if offline:
        tried.append("torchvision download (skipped: KDCOURSE_OFFLINE=1)")
        return None, None, None
    try:
        import torchvision
        getattr(torchvision.datasets, spec.torchvision)(root=str(root / "torchvision"), download=True)
        folder = root / "torchvision" / spec.folder
        origin = f"torchvision download of {spec.torchvision}"
        return read_batches(folder, spec), origin, cachefile.signature(origin, _batch_files(folder, spec))
    except Exception as exc:   # noqa: BLE001  (reported in the error)
        tried.append(f"torchvision download (failed: {exc.__class__.__name__}: {str(exc)[:200]})")
    return None, None, None


def _resolve(name: str, root: Path, offline: bool) -> tuple[dict, str]:
    """A valid cache made from the current batches, else the batches or the download (then cached)."""
    spec = CIFAR[name]
    cache = root / "cache" / f"{name}.pt"
    arrays, note = cachefile.read(cache, LAYOUT, _current_source(spec, root), extras=("classes",))
    if arrays is not None:
        return arrays, f"cache {cache} (from {note})"
    tried = [f"cache {cache} ({note})"]
    arrays, origin, source = _from_sources(spec, root, offline, tried)
    if arrays is None:
        raise not_available(spec.title, tried, how_to_get(spec, root))
    cachefile.write(cache, arrays, source, origin, rebuilt=note)
    return arrays, origin


@when_dry(lambda name, split="train", n=None, **_: (name, split, n, None))
def load_cifar(name: str, split: str = "train", n: int | None = None, *, root: str | Path | None = None,
               offline: bool | None = None, seed: int = 0) -> TensorData:
    """Load ``split`` of CIFAR-10 (``"cifar10"``) or CIFAR-100 (``"cifar100"``) as normalised tensors.

    ``n`` keeps a seeded random subset of that many images (None: all).
    ``root``: the data folder (default ``KDCOURSE_DATA``); ``offline``: never
    download (default ``KDCOURSE_OFFLINE``).  Also ``data.load(name, ...)``.
    """
    if name not in CIFAR:
        raise ValueError(f"unknown CIFAR data set {name!r}; choose one of {sorted(CIFAR)}")
    if split not in LOAD_SPLITS:
        raise ValueError(f"split must be one of {LOAD_SPLITS}, got {split!r}")
    check_n(n)
    spec = CIFAR[name]
    root = Path(root) if root is not None else config.data_dir()
    arrays, source = _resolve(name, root, config.offline() if offline is None else offline)
    part = "test" if split == "test" else "train"
    x, y = arrays[f"{part}_x"], arrays[f"{part}_y"]
    x, y = split_rows(x, y, split, min(VAL_SIZE, len(y) // 5), n, seed)
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    classes = arrays.get("classes") or [str(i) for i in range(int(arrays["train_y"].max()) + 1)]
    return record(TensorData(((x.float() / 255.0 - mean) / std).contiguous(), y.long(), name, split, source,
                             list(classes)))


def random_shift_flip(x: torch.Tensor, max_shift: int = 4, flip: bool = True, fill: float = 0.0) -> torch.Tensor:
    """Augment a batch: shift each image by up to ``max_shift`` pixels (padding with ``fill``) and flip half.

    ``flip=False, max_shift=2`` is Hinton et al.'s MNIST jitter; pass the standardised background as
    ``fill`` (``data.background("mnist")``) so that the uncovered border stays black.
    The usual CIFAR augmentation (pad 4 and crop, horizontal flip).  Seed 002's
    Keras generator rotates by up to 20 degrees and shifts by up to 20 % as
    well: that is :class:`KerasAugment`.  Pass it as ``fit(..., augment=random_shift_flip)``.
    """
    b, _, h, w = x.shape
    p = max_shift
    padded = torch.nn.functional.pad(x, (p, p, p, p), value=fill)
    dy = torch.randint(0, 2 * p + 1, (b, 1), device=x.device)
    dx = torch.randint(0, 2 * p + 1, (b, 1), device=x.device)
    rows = (torch.arange(h, device=x.device).view(1, h) + dy)[:, None, :, None]
    cols = torch.arange(w, device=x.device).view(1, w) + dx
    if flip:
        mirror = torch.rand(b, 1, device=x.device) < 0.5
        cols = torch.where(mirror, cols.flip(1), cols)
    cols = cols[:, None, None, :]
    return padded[torch.arange(b, device=x.device)[:, None, None, None],
                  torch.arange(x.shape[1], device=x.device)[None, :, None, None], rows, cols]


def keras_affine(x: torch.Tensor, rotation: float = 20.0, shift: float = 0.2, zoom: float = 0.0,
                 flip: bool = True) -> torch.Tensor:
    """Augment a batch (N, C, H, W) as Keras' ``ImageDataGenerator`` augments each image, on ``x``'s device.

    Per image, drawn from torch's global RNG (so ``torch.manual_seed`` fixes it, as for
    :func:`random_shift_flip`): an angle uniform in [-rotation, rotation] degrees
    (``rotation_range``), a shift uniform in [-shift, shift] times the height and, independently,
    the width (``height_shift_range`` / ``width_shift_range`` below 1 are fractions), a zoom factor
    per axis uniform in [1 - zoom, 1 + zoom] (``zoom_range``), and a left-right mirror with
    probability 1/2 (``horizontal_flip``).  As ``apply_affine_transform`` of keras_preprocessing,
    output pixel o (row, column) is read from input point c + R(Z(o - c) + t), with the pivot
    c = (H/2 + 0.5, W/2 + 0.5), bilinear interpolation (``order=1``) and the edge pixels repeated
    outside the image (``fill_mode='nearest'``, the default); the mirror is applied last.  Both are
    per-channel-affine-equivariant, so the result on standardised tensors is the standardised
    result on the raw pixels.
    """
    b, _, h, w = x.shape
    dev = x.device

    def uniform(bound: float) -> torch.Tensor:
        return (torch.rand(b, device=dev, dtype=torch.float32) * 2 - 1) * bound

    theta = torch.deg2rad(uniform(rotation)) if rotation else torch.zeros(b, device=dev)
    tr = uniform(shift) * h if shift else torch.zeros(b, device=dev)          # shift: a fraction, < 1
    tc = uniform(shift) * w if shift else torch.zeros(b, device=dev)
    zr, zc = (1 + uniform(zoom), 1 + uniform(zoom)) if zoom else (torch.ones(b, device=dev),) * 2
    mirror = torch.rand(b, device=dev) < 0.5 if flip else torch.zeros(b, dtype=torch.bool, device=dev)
    rows = torch.arange(h, device=dev, dtype=torch.float32).view(1, h, 1).expand(b, h, w)
    cols = torch.arange(w, device=dev, dtype=torch.float32).view(1, 1, w).expand(b, h, w)
    cols = torch.where(mirror.view(b, 1, 1), (w - 1) - cols, cols)          # the mirror of the output
    c_r, c_c = h / 2 + 0.5, w / 2 + 0.5                                       # Keras' pivot
    u = zr.view(b, 1, 1) * (rows - c_r) + tr.view(b, 1, 1)                    # shift after zoom ...
    v = zc.view(b, 1, 1) * (cols - c_c) + tc.view(b, 1, 1)
    cos, sin = theta.cos().view(b, 1, 1), theta.sin().view(b, 1, 1)          # ... then rotate
    src_r, src_c = c_r + cos * u - sin * v, c_c + sin * u + cos * v
    grid = torch.stack([2 * src_c / max(w - 1, 1) - 1, 2 * src_r / max(h - 1, 1) - 1], dim=-1)
    out = torch.nn.functional.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border",
                                          align_corners=True)
    return out.to(x.dtype)


@dataclass(frozen=True)
class KerasAugment:
    """The settings of a Keras ``ImageDataGenerator`` as a batch augmentation: ``fit(..., augment=KerasAugment())``.

    rotation  ``rotation_range`` (degrees)        shift  ``width_shift_range`` = ``height_shift_range``
    zoom      ``zoom_range`` (0: none)           flip   ``horizontal_flip``

    The default is seed 002 Listing 6's generator for CIFAR-10 (rotation 20, shifts 0.2, horizontal flip).
    A frozen dataclass, so that an experiment spec holds it and prints it; calling it runs
    :func:`keras_affine`.
    """

    rotation: float = 20.0
    shift: float = 0.2
    zoom: float = 0.0
    flip: bool = True

    def __post_init__(self):
        if not (self.rotation >= 0 and 0 <= self.shift < 1 and 0 <= self.zoom < 1):
            raise ValueError(f"need rotation >= 0, shift and zoom in [0, 1) (fractions); got {self}")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return keras_affine(x, self.rotation, self.shift, self.zoom, self.flip)


def shrink(data: TensorData, factor: int = 2) -> TensorData:
    """Average-pool the images of ``data`` by ``factor`` (28 px -> 14 px for ``factor=2``).

    The cpu profile of notebooks 05 and 06 runs its CIFAR-sized networks on
    Fashion-MNIST at 14 x 14, a quarter of the pixels: four times the
    training images in the same time on a 2-core CPU.
    """
    if not isinstance(factor, int) or factor < 1:
        raise ValueError(f"factor must be an integer >= 1, got {factor!r}")
    if factor == 1:
        return data
    return TensorData(torch.nn.functional.avg_pool2d(data.x, factor), data.y, data.name, data.split, data.source,
                      list(data.classes))


def two_classes(data: TensorData, negative: int, positive: int) -> TensorData:
    """A binary task from two classes of ``data``: ``negative`` becomes label 0, ``positive`` label 1.

    Seed 002 Table 2 distils on a binary task (benign vs malignant skin
    lesions); a pair of classes that even good models confuse plays that role.
    """
    if negative == positive or not all(0 <= c < len(data.classes) for c in (negative, positive)):
        raise ValueError(f"negative and positive must be two different class indices of {data.classes}, "
                         f"got {negative} and {positive}")
    keep = ((data.y == negative) | (data.y == positive)).nonzero().flatten()
    out = data.subset(keep)
    out.y = (out.y == positive).long()
    out.classes = [data.classes[negative], data.classes[positive]]
    out.name = f"{data.name}:{data.classes[negative]}-vs-{data.classes[positive]}"
    return out
