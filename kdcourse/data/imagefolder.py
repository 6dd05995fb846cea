"""Image folders at seed 000's preprocessing (section III-C); ImageNet-10, seed 000's 10-class subset.

Seed 000 distils a ResNet34 into a ResNet18 on a 10-class ImageNet subset
(780 training and 260 validation images per class, 2,600 test images).  The
user supplies it in torchvision's ImageFolder layout::

    root/train/<class>/<image>   root/val/<class>/<image>   root/test/<class>/<image>

at ``<KDCOURSE_DATA>/imagenet10`` for ``data.load("imagenet10", split)``
(:func:`load_imagenet10`; or pass that folder, or the one above it, as
``root``), which raises :class:`DataNotFoundError` naming the folders it
looked at when they are absent; nothing is downloaded.
:func:`load_imagefolder` reads any folder of that layout.

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

Notebook 04's named offline stand-in, ``imagenet10_standin`` (Fashion-MNIST
at seed 000's sizes, through the same steps 1 and 3), lives in standins.py;
``imagefolder.imagenet10_standin`` and ``imagefolder.STANDIN_*`` still answer.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import config
from . import cachefile
from .synthetic import when_dry
from .core import DataNotFoundError, TensorData, check_n, not_available, record, subset_rows

SPLIT_DIRS = {"train": ("train",), "val": ("val", "validation", "valid"), "test": ("test",)}
IMAGENET10_TITLE = "ImageNet-10 (seed 000's 10-class ImageNet subset)"
IMAGENET10_HOW_TO_GET = (
    "it is not distributed: build it from ImageNet (image-net.org), 780 training, 260 validation and 260 test "
    "images of each of its 10 classes, in torchvision's ImageFolder layout <folder>/train/<class>/*.JPEG, "
    "<folder>/val/<class>/*.JPEG, <folder>/test/<class>/*.JPEG, and put <folder> at <KDCOURSE_DATA>/imagenet10 "
    "(here {default}) or pass it as root=. Nothing is downloaded, so KDCOURSE_OFFLINE changes nothing. The named "
    "stand-in is a separate call: kdcourse.data.standins.imagenet10_standin()")
_MOVED = {"imagenet10_standin": "imagenet10_standin", "STANDIN_NAME": "IMAGENET10_STANDIN_NAME",
          "STANDIN_PER_CLASS": "IMAGENET10_STANDIN_PER_CLASS"}


def __getattr__(name: str):
    """The stand-in's old names here (``imagenet10_standin``, ``STANDIN_*``): it lives in standins.py now."""
    if name in _MOVED:
        from . import standins
        return getattr(standins, _MOVED[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    """The uint8 images of one split (step 1), from the .pt cache or read and cached.

    The cache records the folder's listing (each file's path, size, time and class): a changed folder
    rebuilds it, with a line saying so.
    """
    from torchvision.datasets import ImageFolder
    from PIL import Image
    folder = _split_dir(root, split)
    listing = ImageFolder(str(folder), loader=lambda p: p)
    place = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:8]
    path = config.data_dir() / "cache" / f"imagefolder-{root.name}-{place}-{split}-{size}.pt"
    files = [Path(p) for p, _ in listing.samples]
    source = cachefile.signature(f"image folder {folder}", files)
    source["key"] = hashlib.sha256((source["key"] + repr(listing.samples)).encode()).hexdigest()[:32]
    layout = {"x": (torch.uint8, ("n", 3, size, size)), "y": (torch.int64, ("n",))}
    blob, note = (cachefile.read(path, layout, source, extras=("classes",), sizes={"n": len(files)}) if cache
                  else (None, "absent"))
    if blob is not None and blob.get("classes") == list(listing.classes):
        return blob
    images = []
    for file in files:
        with Image.open(file) as img:
            images.append(preprocess(img, size))
    blob = {"x": torch.stack(images), "y": torch.tensor(listing.targets, dtype=torch.long),
            "classes": list(listing.classes)}
    if cache:
        cachefile.write(path, blob, source, f"image folder {folder}", rebuilt=note)
    return blob


@when_dry(lambda root, split="train", size=224, n=None, *_, **__: ("imagenet10", split, n, size))
def load_imagefolder(root: str | Path, split: str = "train", size: int = 224, n: int | None = None,
                     cache: bool = True, seed: int = 0) -> TensorData:
    """One split of an image folder as float32 NCHW tensors, preprocessed as seed 000 section III-C.

    The standardisation uses the training split's per-channel statistics for
    every split.  ``n`` keeps a seeded subset.  A clear error names what is missing.
    """
    root = Path(root).expanduser()
    if split not in SPLIT_DIRS:
        raise ValueError(f"split must be one of {tuple(SPLIT_DIRS)}, got {split!r}")
    check_n(n)
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


def find_imagenet10(root: str | Path | None = None, split: str = "train") -> Path:
    """The ImageNet-10 folder holding ``train`` and ``split``: ``root`` or ``root/imagenet10`` if given, else
    ``<KDCOURSE_DATA>/imagenet10``; a DataNotFoundError naming each folder looked at when none has them."""
    base = Path(root).expanduser() if root is not None else None
    candidates = [base, base / "imagenet10"] if base is not None else [config.data_dir() / "imagenet10"]
    tried = []
    for folder in candidates:
        missing = [s for s in dict.fromkeys(("train", split))
                   if not any((folder / name).is_dir() for name in SPLIT_DIRS[s])]
        if not missing:
            return folder
        tried.append(f"{folder} (absent)" if not folder.is_dir() else
                     f"{folder} (no " + " or ".join(f"{s}/ folder (looked for {', '.join(SPLIT_DIRS[s])})"
                                                    for s in missing) + ")")
    tried.append("download (none: ImageNet-10 is built from ImageNet by the user)")
    how = IMAGENET10_HOW_TO_GET.format(default=config.data_dir() / "imagenet10")
    raise not_available(IMAGENET10_TITLE, tried, how)


@when_dry(lambda split="train", n=None, *_, size=224, **__: ("imagenet10", split, n, size))
def load_imagenet10(split: str = "train", n: int | None = None, *, root: str | Path | None = None,
                    offline: bool | None = None, size: int = 224, cache: bool = True, seed: int = 0) -> TensorData:
    """Seed 000's ImageNet-10 (what ``data.load("imagenet10", ...)`` calls): :func:`load_imagefolder` of the
    folder :func:`find_imagenet10` finds, at ``size`` px (224, section III-C).  Never the stand-in;
    ``offline`` is accepted for symmetry with the other loaders and changes nothing (there is no download)."""
    if split not in SPLIT_DIRS:
        raise ValueError(f"split must be one of {tuple(SPLIT_DIRS)}, got {split!r}")
    return load_imagefolder(find_imagenet10(root, split), split, size, n, cache, seed)
