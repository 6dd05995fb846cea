"""Data sets as in-memory tensors; one file per family, all re-exported here.

core       the source chain (cache -> offline mirror -> download -> clear error), MNIST,
           Fashion-MNIST, scikit-learn digits, TensorData, fetch_offline_mirrors
mhist      MHIST(root, split, transform): the annotations.csv + images/ reader; load_mhist (MHIST or its
           named stand-in, Fashion-MNIST T-shirt/top vs Shirt at MHIST's sizes)
imagefolder  seed 000 section III-C preprocessing of an image folder (pad / crop, standardise, .pt
           cache); imagenet10_standin, notebook 04's named Fashion-MNIST stand-in
cifar      CIFAR-10/100 loader (cache -> unpacked batches -> torchvision download -> clear error),
           random_shift_flip augmentation, shrink (14-px stand-ins), two_classes (binary tasks)
"""
from .core import (DATASETS, SPLITS, DataNotFoundError, Spec, TensorData, fetch_offline_mirrors, load,
                   read_idx)

__all__ = ["DATASETS", "SPLITS", "DataNotFoundError", "Spec", "TensorData", "fetch_offline_mirrors", "load",
           "read_idx"]

from . import imagefolder, mhist  # noqa: E402
from .imagefolder import imagenet10_standin, load_imagefolder  # noqa: E402
from .mhist import MHIST, load_mhist  # noqa: E402
__all__ += ["imagefolder", "mhist", "imagenet10_standin", "load_imagefolder", "MHIST", "load_mhist"]

from .cifar import CIFAR, load_cifar, random_shift_flip, shrink, two_classes  # noqa: E402
__all__ += ["CIFAR", "load_cifar", "random_shift_flip", "shrink", "two_classes"]
