"""``data.load(name, split, n, **options)``: every data set of the course through one registry.

:data:`LOADERS` maps each name to the function that loads it; ``load`` looks
the name up there (no chain of ifs), checks the split and the options, and
calls it.  Every returned TensorData says in ``.source`` which source served
it; a data set that no source has raises :class:`DataNotFoundError`, whose
message lists each source tried (with its path) and how to get the data.

==============  ===========================  ==================================================
name            loader                       options (besides ``n``)
==============  ===========================  ==================================================
mnist           core.load_mnist_like         root, offline, seed
fashion_mnist   core.load_mnist_like         root, offline, seed
digits          core.load_mnist_like         root, offline, seed (bundled with scikit-learn)
cifar10         cifar.load_cifar             root, offline, seed
cifar100        cifar.load_cifar             root, offline, seed
mhist           mhist.load_mhist, real only  root, offline, size, val_fraction, seed
imagenet10      imagefolder.load_imagenet10  root, offline, size, cache, seed
==============  ===========================  ==================================================

The same keywords mean the same everywhere: ``root`` is where to look (the
data folder, default ``KDCOURSE_DATA``; for mhist and imagenet10 also the data
set's own folder), ``offline`` forbids downloads (default
``KDCOURSE_OFFLINE``; mhist and imagenet10 have none, so it changes nothing
there), ``seed`` seeds the ``n``-subset (and mhist's train / val division),
``size`` is the image side in pixels.

MNIST, Fashion-MNIST, digits and CIFAR come back as normalised float32;
MHIST as uint8 (the transfer models resize and normalise their inputs);
ImageNet-10 standardised by its training statistics (``.mean``, ``.std``).

The stand-ins are not here: ``load("mhist")`` and ``load("imagenet10")``
never fall back to them.  Ask for one by name (standins.py).
"""
from __future__ import annotations

import inspect
import numbers
import os
from functools import partial
from pathlib import Path
from typing import Callable

from .cifar import load_cifar
from .core import LOAD_SPLITS, TensorData, check_n, load_mnist_like
from .imagefolder import load_imagenet10
from .mhist import load_mhist


def _mhist(split: str = "train", n: int | None = None, *, root: str | Path | None = None,
           offline: bool | None = None, size: int | None = None, val_fraction: float = 0.15,
           seed: int = 0) -> TensorData:
    """Real MHIST or DataNotFoundError, never the stand-in; ``offline`` changes nothing (no download)."""
    return load_mhist(split, n, root=root, size=size, allow_standin=False, val_fraction=val_fraction, seed=seed)


LOADERS: dict[str, Callable[..., TensorData]] = {
    "mnist": partial(load_mnist_like, "mnist"),
    "fashion_mnist": partial(load_mnist_like, "fashion_mnist"),
    "digits": partial(load_mnist_like, "digits"),
    "cifar10": partial(load_cifar, "cifar10"),
    "cifar100": partial(load_cifar, "cifar100"),
    "mhist": _mhist,
    "imagenet10": load_imagenet10,
}


def options_of(name: str) -> list[str]:
    """The keyword options that data set ``name`` takes through :func:`load` (besides ``split`` and ``n``)."""
    params = inspect.signature(LOADERS[name]).parameters.values()
    return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]


class UnknownOption(TypeError, ValueError):
    """An option the data set does not take (a TypeError, as Python's own, and a ValueError, as every bad
    argument of :func:`load`)."""


def _whole(v, low: int) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= low


CHECKS: dict[str, tuple[Callable[[object], bool], str]] = {   # option -> (is it valid, what it must be)
    "root": (lambda v: isinstance(v, (str, os.PathLike)), "a folder (str or Path)"),
    "offline": (lambda v: isinstance(v, bool), "True or False"),
    "seed": (lambda v: _whole(v, 0), "a whole number >= 0"),
    "size": (lambda v: _whole(v, 1), "a whole number of pixels >= 1"),
    "val_fraction": (lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool) and 0 <= v < 1,
                     "a number in [0, 1)"),
    "cache": (lambda v: isinstance(v, bool), "True or False"),
}


def check_arguments(name, split, n, options: dict) -> None:
    """A ValueError naming the first bad argument of :func:`load` (data set, split, n or an option); None is
    valid for an option whose default is None (root, offline: the environment's; size: native)."""
    if not isinstance(name, str) or name not in LOADERS:
        raise ValueError(f"unknown data set {name!r}; known: {sorted(LOADERS)}")
    if not isinstance(split, str) or split not in LOAD_SPLITS:
        raise ValueError(f"split must be one of {LOAD_SPLITS}, got {split!r}")
    check_n(n)
    unknown = sorted(set(options) - set(options_of(name)))
    if unknown:
        raise UnknownOption(f"data set {name!r} takes no option(s) {unknown}; its options: {options_of(name)}")
    params = inspect.signature(LOADERS[name]).parameters
    for key, value in options.items():
        valid, what = CHECKS[key]
        none_ok = params[key].default is None
        if not (valid(value) or (value is None and none_ok)):
            raise ValueError(f"{name}: {key} must be {what}{' or None' if none_ok else ''}, got {value!r} "
                             f"({type(value).__name__})")


def load(name: str, split: str = "train", n: int | None = None, **options) -> TensorData:
    """Load ``split`` (train, val or test) of data set ``name`` through its loader in :data:`LOADERS`.

    ``n`` keeps a seeded subset of that many images (None: the whole split);
    ``options`` go to the loader (module docstring: which set takes which).
    A bad argument is a ValueError naming it, before anything is read.
    """
    check_arguments(name, split, n, options)
    return LOADERS[name](split, n, **options)
