"""Image folders at seed 000's preprocessing (section III-C), and notebook 04's offline stand-in.

Seed 000 distils a ResNet34 into a ResNet18 on a 10-class ImageNet subset
(780 training and 260 validation images per class, 2,600 test images).  The
user supplies it in torchvision's ImageFolder layout::

    root/train/<class>/<image>   root/val/<class>/<image>   root/test/<class>/<image>

Section III-C's preprocessing, step by step (:func:`preprocess`):

1. every image to ``size`` x ``size`` (224): **symmetric zero padding** on a
   side shorter than ``size``, a **centre crop** on a side longer (no
   interpolation), RGB;
2. pixels to float32 in [0, 1];
3. each channel **standardised**: minus its mean, over its standard
   deviation, both measured on the *training* split, so the training pixels
   have mean 0 and standard deviation 1 per channel;
4. channels first (NCHW), as PyTorch expects;
5. saved as .pt tensors: the padded / cropped uint8 images of each split are
   cached under ``<KDCOURSE_DATA>/cache`` (4 times smaller than float32;
   steps 2-3 are exact and cheap on load).

:func:`imagenet10_standin` is the named offline stand-in: Fashion-MNIST's 10
classes at seed 000's sizes (780 / 260 / 260 images per class), 28 x 28
images padded symmetrically to ``size`` (32) by the same step 1, grey
repeated over 3 channels, standardised by the same step 3.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import config
from ..io import atomic_torch_save
from .core import DATASETS, DataNotFoundError, TensorData, _resolve, record, subset_rows

SPLIT_DIRS = {"train": ("train",), "val": ("val", "validation", "valid"), "test": ("test",)}
STANDIN_NAME = "Fashion-MNIST (stand-in for seed 000's ImageNet-10)"
STANDIN_PER_CLASS = {"train": 780, "val": 260, "test": 260}   # seed 000 section III-C


def pad_or_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """Symmetric zero padding where a side is shorter than ``size``, a centre crop where longer.

    Works on (..., H, W); an odd difference puts the extra pixel after
    (bottom / right) when padding and keeps it before when cropping.
    """
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    h, w = x.shape[-2:]
    ph, pw = max(size - h, 0), max(size - w, 0)
    if ph or pw:
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
    h, w = x.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top:top + size, left:left + size]


def channel_stats(x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of images (N, C, H, W), on the [0, 1] scale."""
    scale = 255.0 if x.dtype == torch.uint8 else 1.0
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    square = torch.zeros_like(total)
    for i in range(0, len(x), 512):
        chunk = x[i:i + 512].double() / scale
        total += chunk.sum((0, 2, 3))
        square += (chunk ** 2).sum((0, 2, 3))
    count = len(x) * x.shape[2] * x.shape[3]
    mean = total / count
    std = (square / count - mean ** 2).clamp_min(1e-12).sqrt()
    return mean.tolist(), std.tolist()


def standardise(x: torch.Tensor, mean, std) -> torch.Tensor:
    """float32 ``(x/255 - mean) / std`` per channel for uint8 images (N, C, H, W)."""
    mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    scale = 255.0 if x.dtype == torch.uint8 else 1.0
    return ((x.float() / scale - mean) / std).contiguous()


def preprocess(image, size: int = 224) -> torch.Tensor:
    """Step 1 for one image (PIL or H x W x C array): RGB, padded / cropped to size, uint8 (3, size, size)."""
    arr = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    return pad_or_crop(torch.from_numpy(arr.copy()).permute(2, 0, 1), size).contiguous()


def _split_dir(root: Path, split: str) -> Path:
    for name in SPLIT_DIRS[split]:
        if (root / name).is_dir():
            return root / name
    raise DataNotFoundError(
        f"no {split!r} folder in {root} (looked for {', '.join(SPLIT_DIRS[split])}). Seed 000's 10-class "
        "ImageNet subset is not distributed: build it from ImageNet (image-net.org) with the layout "
        "root/train/<class>/*.JPEG, root/val/<class>/..., root/test/<class>/...")


def _pixels(root: Path, split: str, size: int, cache: bool) -> dict:
    """The uint8 images of one split (step 1), from the .pt cache or read and cached."""
    from torchvision.datasets import ImageFolder
    from PIL import Image
    folder = _split_dir(root, split)
    listing = ImageFolder(str(folder), loader=lambda p: p)
    key = hashlib.sha1("\n".join(f"{p}|{Path(p).stat().st_size}|{Path(p).stat().st_mtime_ns}|{c}"
                                 for p, c in listing.samples).encode()).hexdigest()[:12]
    path = config.data_dir() / "cache" / f"imagefolder-{root.name}-{split}-{size}-{key}.pt"
    if cache and path.is_file():
        return torch.load(path, weights_only=True)
    images = []
    for file, _ in listing.samples:
        with Image.open(file) as img:
            images.append(preprocess(img, size))
    blob = {"x": torch.stack(images), "y": torch.tensor(listing.targets, dtype=torch.long),
            "classes": list(listing.classes)}
    if cache:
        atomic_torch_save(blob, path)
    return blob


def load_imagefolder(root: str | Path, split: str = "train", size: int = 224, n: int | None = None,
                     cache: bool = True, seed: int = 0) -> TensorData:
    """One split of an image folder as float32 NCHW tensors, preprocessed as seed 000 section III-C.

    The standardisation uses the training split's per-channel statistics for
    every split.  ``n`` keeps a seeded subset.  A clear error names what is missing.
    """
    root = Path(root).expanduser()
    if split not in SPLIT_DIRS:
        raise ValueError(f"split must be one of {tuple(SPLIT_DIRS)}, got {split!r}")
    if not root.is_dir():
        _split_dir(root, split)   # raises with the instructions
    blob = _pixels(root, split, size, cache)
    train = blob if split == "train" else _pixels(root, "train", size, cache)
    if blob["classes"] != train["classes"]:
        raise ValueError(f"the {split} folder's classes {blob['classes']} differ from train's {train['classes']}")
    mean, std = channel_stats(train["x"])
    x, y = subset_rows(blob["x"], blob["y"], n, seed)
    data = TensorData(standardise(x, mean, std), y, f"ImageFolder {root.name}", split,
                      f"image folder {root} (seed 000 III-C preprocessing at {size} px)", list(blob["classes"]))
    data.mean, data.std = mean, std
    return record(data)


def imagenet10_standin(split: str = "train", size: int = 32, n: int | None = None,
                       root: str | Path | None = None, offline: bool | None = None) -> TensorData:
    """The named offline stand-in for seed 000's 10-class ImageNet subset (module docstring).

    ``n`` keeps ``n // 10`` images of every class (at least 1).
    """
    if split not in STANDIN_PER_CLASS:
        raise ValueError(f"split must be one of {tuple(STANDIN_PER_CLASS)}, got {split!r}")
    root = Path(root) if root is not None else config.data_dir()
    arrays, origin = _resolve("fashion_mnist", root, config.offline() if offline is None else offline)

    def draw(part: str) -> dict[str, torch.Tensor]:
        # train and val come from Fashion-MNIST's training set (disjoint), test from its test set
        x_all, y_all = arrays[f"{part}_x"], arrays[f"{part}_y"].long()
        rng = np.random.default_rng(2025)
        picks = {s: [] for s in STANDIN_PER_CLASS}
        for c in range(10):
            idx = rng.permutation(np.flatnonzero((y_all == c).numpy()))
            if part == "train":
                picks["train"].append(idx[:780])
                picks["val"].append(idx[780:1040])
            else:
                picks["test"].append(idx[:260])
        return {s: np.sort(np.concatenate(v)) for s, v in picks.items() if v}

    def pixels(s: str) -> tuple[torch.Tensor, torch.Tensor]:
        part = "test" if s == "test" else "train"
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
    data = TensorData(standardise(x, mean, std), y, STANDIN_NAME, split,
                      f"stand-in: Fashion-MNIST, 780/260/260 images per class, padded 28 -> {size} px, from {origin}",
                      list(DATASETS["fashion_mnist"].classes))
    data.mean, data.std = mean, std
    return record(data)
