"""Synthetic data of a data set's real shape and class count, for paper-dry runs only.

``make paper-dry`` executes every notebook's paper-profile code path on the
CPU in minutes.  Where the paper's data set is not on disk (CIFAR-10/100,
MHIST, the ImageNet-10 folder: none is in a package registry), the loaders
hand out these tensors instead, saying so in ``.source`` and on stdout:
random images of the real resolution and channels, labels cycling through
the real classes, in the dtype and scale the real loader returns.  They
prove that the code runs; no number computed on them means anything.
"""
from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass
from typing import Callable

import torch

from .. import config
from .core import DataNotFoundError, TensorData


@dataclass(frozen=True)
class Shape:
    title: str
    channels: int
    size: int
    classes: tuple[str, ...]
    uint8: bool = False          # MHIST's loader returns uint8 pixels; the others standardised floats


SHAPES = {
    "cifar10": Shape("CIFAR-10", 3, 32, tuple(f"class {i}" for i in range(10))),
    "cifar100": Shape("CIFAR-100", 3, 32, tuple(f"class {i}" for i in range(100))),
    "mhist": Shape("MHIST", 3, 224, ("HP", "SSA"), uint8=True),
    "imagenet10": Shape("ImageNet-10", 3, 224, tuple(f"class {i}" for i in range(10))),
}
ROWS = {"train": 64, "val": 64, "test": 64, "full": 64}   # when the caller asks for the whole split


def synthetic(name: str, split: str, n: int | None = None, size: int | None = None, seed: int = 0) -> TensorData:
    """``n`` random images shaped like ``name``'s (``size`` px when given; at least one per class), labels
    0, 1, ..., C-1, 0, ..."""
    if name not in SHAPES:
        raise ValueError(f"no synthetic shape for {name!r}; known: {sorted(SHAPES)}")
    shape, rows = SHAPES[name], n if n is not None else ROWS.get(split, 64)
    rows = max(rows, len(shape.classes))   # every class at least once: per-class analyses need them all
    side = size or shape.size
    gen = torch.Generator().manual_seed(zlib.crc32(f"{name}/{split}/{seed}".encode()))
    if shape.uint8:
        x = torch.randint(0, 256, (rows, shape.channels, side, side), generator=gen, dtype=torch.uint8)
    else:
        x = torch.randn(rows, shape.channels, side, side, generator=gen)
    y = torch.arange(rows) % len(shape.classes)
    print(f"paper-dry: {shape.title} {split} is not on disk; using {rows} synthetic images of its shape "
          f"({shape.channels} x {side} x {side}, {len(shape.classes)} classes)")
    out = TensorData(x, y, name, split, f"synthetic {shape.title}-shaped data (paper-dry)", list(shape.classes))
    if not shape.uint8:   # like load_imagefolder's: the per-channel statistics the data is standardised with
        out.mean, out.std = [0.0] * shape.channels, [1.0] * shape.channels
    return out


def when_dry(shape_of: Callable[..., tuple]):
    """Decorate a loader: in a paper-dry run (KDCOURSE_DRY=1), data it cannot find becomes :func:`synthetic`.

    ``shape_of(*args, **kwargs)`` maps the loader's arguments to ``(name, split, n, size)``.  Outside a
    paper-dry run the loader's DataNotFoundError (what was tried, how to get the data) goes through."""
    def wrap(loader):
        @functools.wraps(loader)
        def load(*args, **kwargs):
            try:
                return loader(*args, **kwargs)
            except DataNotFoundError:
                if not config.dry():
                    raise
                name, split, n, size = shape_of(*args, **kwargs)
                return synthetic(name, split, n, size)
        return load
    return wrap
