"""The named offline stand-ins: data sets the course cannot ship, played by Fashion-MNIST at their sizes.

A stand-in is never served in place of the real data without being asked
for: ``data.load("mhist")`` and ``data.load("imagenet10")`` raise
:class:`DataNotFoundError` when the real data is absent, and a notebook that
runs on a stand-in calls it by name and says so in its tables and figures.
(``load_mhist`` keeps its documented ``allow_standin=True`` fallback, which
notebook 03 uses; the data it returns is named as the stand-in.)

mhist_standin       MHIST (Wei et al. 2021, seed 004 Task 2): Fashion-MNIST's
                    "T-shirt/top" in HP's role and "Shirt" in SSA's role, a
                    pair of classes that even good models confuse, drawn at
                    MHIST's exact sizes and imbalance (1,545 : 630 training,
                    617 : 360 test images; about 2.4 : 1 and 1.7 : 1) from
                    Fashion-MNIST's own training and test sets, as 28 x 28
                    grey images repeated over 3 channels, uint8.  It is a
                    stand-in, not histology.
imagenet10_standin  seed 000's 10-class ImageNet subset: Fashion-MNIST's 10
                    classes at seed 000's sizes (780 / 260 / 260 images per
                    class), 28 x 28 images padded symmetrically to ``size``
                    (32) by section III-C's step 1, grey repeated over 3
                    channels, standardised by step 3 (see imagefolder).

Both draw their rows with fixed generators (2021 and 2025): a stand-in is
one data set, not a seed of the experiment.  They moved here from mhist.py
(``mhist.standin``) and imagefolder.py (``imagenet10_standin``), which still
answer to the old names.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .. import config
from .core import DATASETS, TensorData, _resolve, check_n, record
from .imagefolder import channel_stats, pad_or_crop, standardise
from .mhist import CLASSES, PARTITION_SIZES, _check_split, _stratified_val, _subset

MHIST_STANDIN_NAME = "MHIST stand-in (Fashion-MNIST T-shirt/top vs Shirt)"
MHIST_STANDIN_CLASSES = ["T-shirt/top (as HP)", "Shirt (as SSA)"]
MHIST_STANDIN_SOURCE_LABELS = (0, 6)   # Fashion-MNIST labels playing HP and SSA
IMAGENET10_STANDIN_NAME = "Fashion-MNIST (stand-in for seed 000's ImageNet-10)"
IMAGENET10_STANDIN_PER_CLASS = {"train": 780, "val": 260, "test": 260}   # seed 000 section III-C
# "pretrain": the Fashion-MNIST training images outside train and val (4,960 per class), which notebook 04's
# cpu teacher sees first, as seed 000's teacher saw ImageNet before the subset; the student never sees them
IMAGENET10_STANDIN_SPLITS = (*IMAGENET10_STANDIN_PER_CLASS, "pretrain")


def mhist_standin(split: str = "train", n: int | None = None, val_fraction: float = 0.15, seed: int = 0,
                  root: str | Path | None = None, offline: bool | None = None) -> TensorData:
    """The named offline stand-in for MHIST (module docstring): uint8 (N, 3, 28, 28), HP = 0, SSA = 1.

    ``train`` / ``val`` divide the stand-in's training partition as MHIST's
    (``val_fraction`` of each class, seeded); ``n`` keeps a seeded subset
    with the class proportions.  ``root`` / ``offline`` choose where
    Fashion-MNIST comes from, as for ``data.load("fashion_mnist")``.
    """
    _check_split(split, val_fraction)
    check_n(n)
    root = Path(root) if root is not None else config.data_dir()
    arrays, origin = _resolve("fashion_mnist", root, config.offline() if offline is None else offline)
    part = "test" if split == "test" else "train"
    x_all, y_all = arrays[f"{part}_x"], arrays[f"{part}_y"].long()
    rng = np.random.default_rng(2021)   # fixed: the stand-in is one data set, not a seed of the experiment
    xs, ys = [], []
    for label, (role, source_label) in enumerate(zip(CLASSES, MHIST_STANDIN_SOURCE_LABELS)):
        idx = np.flatnonzero((y_all == source_label).numpy())
        if len(idx) < PARTITION_SIZES[part][role]:
            raise ValueError(f"Fashion-MNIST's {part} set has {len(idx)} images of label {source_label}, "
                             f"fewer than the {PARTITION_SIZES[part][role]} the stand-in needs")
        pick = np.sort(rng.permutation(idx)[:PARTITION_SIZES[part][role]])
        xs.append(x_all[pick])
        ys.append(torch.full((len(pick),), label, dtype=torch.long))
    x, y = torch.cat(xs), torch.cat(ys)
    if split != "test":
        in_val = _stratified_val(y.numpy(), val_fraction, seed)
        keep = torch.from_numpy(in_val if split == "val" else ~in_val)
        x, y = x[keep], y[keep]
    x = x.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()
    data = TensorData(x, y, MHIST_STANDIN_NAME, split,
                      f"stand-in: Fashion-MNIST T-shirt/top (as HP) vs Shirt (as SSA) at MHIST's sizes, from {origin}",
                      list(MHIST_STANDIN_CLASSES))
    data = _subset(data, n, seed)
    record(data)
    return data


def imagenet10_standin(split: str = "train", size: int = 32, n: int | None = None,
                       root: str | Path | None = None, offline: bool | None = None) -> TensorData:
    """The named offline stand-in for seed 000's 10-class ImageNet subset (module docstring).

    float32 (N, 3, size, size), standardised with the stand-in's training
    statistics (``.mean`` / ``.std``).  ``split`` is train / val / test, or
    ``pretrain``: the 49,600 Fashion-MNIST training images outside train and
    val, for a teacher's pre-training (notebook 04's stand-in for ImageNet).  ``n`` keeps ``n // 10`` images of
    every class (at least 1).  ``root`` / ``offline`` as for Fashion-MNIST.
    """
    if split not in IMAGENET10_STANDIN_SPLITS:
        raise ValueError(f"split must be one of {IMAGENET10_STANDIN_SPLITS}, got {split!r}")
    check_n(n)
    root = Path(root) if root is not None else config.data_dir()
    arrays, origin = _resolve("fashion_mnist", root, config.offline() if offline is None else offline)

    def draw(part: str) -> dict[str, torch.Tensor]:
        # train and val come from Fashion-MNIST's training set (disjoint), test from its test set
        x_all, y_all = arrays[f"{part}_x"], arrays[f"{part}_y"].long()
        rng = np.random.default_rng(2025)
        picks = {s: [] for s in IMAGENET10_STANDIN_SPLITS}
        for c in range(10):
            idx = rng.permutation(np.flatnonzero((y_all == c).numpy()))
            if part == "train":
                picks["train"].append(idx[:780])
                picks["val"].append(idx[780:1040])
                picks["pretrain"].append(idx[1040:])
            else:
                picks["test"].append(idx[:260])
        return {s: np.sort(np.concatenate(v)) for s, v in picks.items() if v}

    def pixels(s: str) -> tuple[torch.Tensor, torch.Tensor]:
        part = "test" if s == "test" else "train"   # pretrain, like train and val, from the training set
        pick = torch.from_numpy(draw(part)[s])
        x = pad_or_crop(arrays[f"{part}_x"][pick], size).unsqueeze(1).expand(-1, 3, -1, -1).contiguous()
        return x, arrays[f"{part}_y"][pick].long()

    x, y = pixels(split)
    mean, std = channel_stats(x if split == "train" else pixels("train")[0])
    if n is not None and n < len(y):
        per = max(1, n // 10)
        rng = np.random.default_rng(0)
        keep = np.sort(np.concatenate([rng.permutation(np.flatnonzero((y == c).numpy()))[:per] for c in range(10)]))
        x, y = x[keep], y[keep]
    data = TensorData(standardise(x, mean, std), y, IMAGENET10_STANDIN_NAME, split,
                      f"stand-in: Fashion-MNIST, 780/260/260 images per class, padded 28 -> {size} px, from {origin}",
                      list(DATASETS["fashion_mnist"].classes))
    data.mean, data.std = mean, std
    return record(data)
