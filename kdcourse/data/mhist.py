"""MHIST (Wei et al. 2021): colorectal polyp images, HP against SSA.

MHIST is distributed after registration (https://bmirds.github.io/MHIST/);
unpack it so that one folder holds::

    annotations.csv   columns "Image Name", "Majority Vote Label" (HP or SSA),
                      "Number of Annotators who Selected SSA (Out of 7)", "Partition" (train or test)
    images/           the 3,152 PNG images, 224 x 224 RGB

and put that folder at ``<KDCOURSE_DATA>/mhist`` (or pass it, or the folder
above it, as ``root``).  There is no download: MHIST is behind a
registration, so ``KDCOURSE_OFFLINE`` changes nothing.
The official partition has 2,175 training images (1,545 HP, 630 SSA) and 977
test images (617 HP, 360 SSA).  Splits here: ``test`` is the test partition;
``train`` and ``val`` are a fixed, stratified, seeded division of the training
partition (``val_fraction`` of each class is ``val``), so that no model is
chosen on test data (seed 004's Listing 3 chose on the test loss).

Labels: HP = 0, SSA = 1 (the minority class).

Loaders: ``data.load("mhist", split)`` is real MHIST or a
:class:`DataNotFoundError` (never the stand-in); :func:`load_mhist` falls back
to the named stand-in (``standins.mhist_standin``: Fashion-MNIST T-shirt/top
vs Shirt at MHIST's sizes) unless ``allow_standin=False``, as notebook 03's
cpu and smoke profiles rely on.  The stand-in moved to standins.py;
``mhist.standin`` and ``mhist.STANDIN_*`` still answer.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import config
from . import cachefile
from .synthetic import when_dry
from .core import DataNotFoundError, TensorData, check_n, not_available, record

CLASSES = ("HP", "SSA")
COLUMNS = ("Image Name", "Majority Vote Label", "Number of Annotators who Selected SSA (Out of 7)", "Partition")
PARTITION_SIZES = {"train": {"HP": 1545, "SSA": 630}, "test": {"HP": 617, "SSA": 360}}
HOW_TO_GET = ("MHIST needs a free registration at https://bmirds.github.io/MHIST/ ; download annotations.csv "
              "and images.zip, unzip the images into images/ next to annotations.csv (one folder holding "
              "annotations.csv and images/MHIST_*.png, 3,152 images), and put that folder at "
              "<KDCOURSE_DATA>/mhist (default data/mhist) or pass it as root=")
_MOVED = {"standin": "mhist_standin", "STANDIN_NAME": "MHIST_STANDIN_NAME",
          "STANDIN_CLASSES": "MHIST_STANDIN_CLASSES", "STANDIN_SOURCE_LABELS": "MHIST_STANDIN_SOURCE_LABELS"}


def __getattr__(name: str):
    """The stand-in's old names here (``mhist.standin``, ``mhist.STANDIN_*``): it lives in standins.py now."""
    if name in _MOVED:
        from . import standins
        return getattr(standins, _MOVED[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def find_root(root: str | Path | None = None) -> Path:
    """The MHIST folder: ``root`` or ``root/mhist`` if given, else ``<KDCOURSE_DATA>/mhist``; else a clear error."""
    base = Path(root).expanduser() if root is not None else None
    candidates = [base, base / "mhist"] if base is not None else [config.data_dir() / "mhist"]
    for folder in candidates:
        if (folder / "annotations.csv").is_file():
            return folder
    tried = [f"{folder / 'annotations.csv'} (absent)" for folder in candidates]
    tried.append("download (none: MHIST is behind a registration, so KDCOURSE_OFFLINE changes nothing)")
    raise not_available("MHIST", tried, f"{HOW_TO_GET}; here <KDCOURSE_DATA>/mhist is {config.data_dir() / 'mhist'}. "
                                        "The named stand-in is a separate call: kdcourse.data.standins.mhist_standin()")


def _stratified_val(targets: np.ndarray, val_fraction: float, seed: int) -> np.ndarray:
    """A boolean mask: ``val_fraction`` of each class (seeded), the rest is train."""
    mask = np.zeros(len(targets), dtype=bool)
    rng = np.random.default_rng(seed)
    for c in np.unique(targets):
        idx = np.flatnonzero(targets == c)
        mask[rng.permutation(idx)[:int(round(val_fraction * len(idx)))]] = True
    return mask


def _check_split(split: str, val_fraction: float) -> None:
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if split == "val" and val_fraction == 0:
        raise ValueError("split 'val' is empty with val_fraction=0")


class MHIST(torch.utils.data.Dataset):
    """The MHIST images of one split: ``(image, label)`` pairs, ``image`` a PIL RGB image or ``transform(image)``.

    Attributes: ``files`` (paths), ``targets`` (0 = HP, 1 = SSA), ``annotators``
    (how many of the 7 pathologists chose SSA), ``classes``.  ``tensors()``
    returns the whole split as a TensorData (uint8, N x 3 x H x W), cached.
    """

    classes = list(CLASSES)

    def __init__(self, root: str | Path | None = None, split: str = "train",
                 transform: Callable | None = None, val_fraction: float = 0.15, seed: int = 0):
        import pandas as pd
        _check_split(split, val_fraction)
        self.root, self.split, self.transform = find_root(root), split, transform
        csv = self.root / "annotations.csv"
        table = pd.read_csv(csv)
        table.columns = [str(c).strip() for c in table.columns]
        missing = [c for c in COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"{csv} lacks the column(s) {missing}; MHIST's annotations.csv has {list(COLUMNS)}")
        labels = table["Majority Vote Label"].astype(str).str.strip()
        partition = table["Partition"].astype(str).str.strip().str.lower()
        bad = sorted(set(labels) - set(CLASSES)) + sorted(set(partition) - {"train", "test"})
        if bad:
            raise ValueError(f"{csv} has unexpected values {bad}: labels must be HP or SSA, partitions train or test")
        part = partition == ("test" if split == "test" else "train")
        table, labels = table[part.values], labels[part.values]
        targets = labels.map({c: i for i, c in enumerate(CLASSES)}).to_numpy()
        if split != "test":
            in_val = _stratified_val(targets, val_fraction, seed)
            keep = in_val if split == "val" else ~in_val
            table, targets = table[keep], targets[keep]
        self.files = [self.root / "images" / str(name).strip() for name in table["Image Name"]]
        absent = [f.name for f in self.files if not f.is_file()]
        if absent:
            raise DataNotFoundError(f"{len(absent)} MHIST image(s) listed in {csv} are missing from "
                                    f"{self.root / 'images'} (e.g. {absent[:3]}). {HOW_TO_GET}.")
        self.targets = [int(t) for t in targets]
        self.annotators = [int(a) for a in table[COLUMNS[2]]]
        self._key = hashlib.sha1(f"{self.root.resolve()}|{split}|{val_fraction}|{seed}".encode()).hexdigest()[:12]

    def __len__(self) -> int:
        return len(self.files)

    def image(self, i: int):
        """Image ``i`` as a PIL RGB image (no transform)."""
        from PIL import Image
        with Image.open(self.files[i]) as img:
            return img.convert("RGB")

    def __getitem__(self, i: int):
        image = self.image(i)
        return (self.transform(image) if self.transform else image), self.targets[i]

    def _pixels(self, size: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        images = []
        for i in range(len(self)):
            t = torch.from_numpy(np.asarray(self.image(i)).copy()).permute(2, 0, 1)
            if size is not None and tuple(t.shape[1:]) != (size, size):
                t = torch.nn.functional.interpolate(t[None].float(), size=(size, size), mode="bilinear",
                                                    antialias=True, align_corners=False)[0]
                t = t.round().clamp(0, 255).to(torch.uint8)
            images.append(t)
        return torch.stack(images), torch.tensor(self.targets, dtype=torch.long)

    def tensors(self, size: int | None = None, cache: bool = True) -> TensorData:
        """The split as a TensorData: uint8 (N, 3, H, W), resized to ``size`` if given, cached as .pt.

        The cache records annotations.csv and the images' sizes and times: it is rebuilt when they change.
        """
        path = config.data_dir() / "cache" / f"mhist-{self.split}-{size or 'native'}-{self._key}.pt"
        source = cachefile.signature(f"MHIST at {self.root}", [self.root / "annotations.csv", *self.files])
        layout = {"x": (torch.uint8, ("n", 3, size or "h", size or "w")), "y": (torch.int64, ("n",))}
        blob, note = (cachefile.read(path, layout, source, sizes={"n": len(self.files)}) if cache
                      else (None, "absent"))
        if blob is None:
            x, y = self._pixels(size)
            if cache:
                cachefile.write(path, {"x": x, "y": y}, source, f"MHIST at {self.root}", rebuilt=note)
        else:
            x, y = blob["x"], blob["y"]
        data = TensorData(x, y, "MHIST", self.split, f"MHIST at {self.root}", list(CLASSES))
        record(data)
        return data


def _subset(data: TensorData, n: int | None, seed: int) -> TensorData:
    """A seeded subset of ``n`` images with the class proportions kept (every class keeps >= 1)."""
    check_n(n)
    if n is None or n >= len(data):
        return data
    y = data.y.numpy()
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        keep.append(rng.permutation(idx)[:max(1, int(round(n * len(idx) / len(y))))])
    return data.subset(np.sort(np.concatenate(keep)))


@when_dry(lambda split="train", n=None, *_, size=None, **__: ("mhist", split, n, size))
def load_mhist(split: str = "train", n: int | None = None, *, root: str | Path | None = None,
               size: int | None = None, allow_standin: bool = True, val_fraction: float = 0.15,
               seed: int = 0) -> TensorData:
    """MHIST's ``split`` as a TensorData (uint8 N x 3 x H x W) when it is found, else the named stand-in.

    ``n`` keeps a seeded subset with the class proportions; ``size`` resizes
    real MHIST images (the stand-in stays 28 x 28: models resize their inputs).
    With ``allow_standin=False`` a missing MHIST raises DataNotFoundError, as
    ``data.load("mhist", ...)`` always does.
    """
    try:
        ds = MHIST(root, split, val_fraction=val_fraction, seed=seed)
    except DataNotFoundError:
        if not allow_standin:
            raise
        from .standins import mhist_standin   # here, not above: standins imports this module
        return mhist_standin(split, n, val_fraction, seed)
    data = _subset(ds.tensors(size), n, seed)
    record(data)
    return data
