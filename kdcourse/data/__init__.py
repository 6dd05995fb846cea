"""Data sets as in-memory tensors; one file per family, all re-exported here.

core       the source chain (cache -> offline mirror -> download -> clear error), MNIST,
           Fashion-MNIST, scikit-learn digits, TensorData, fetch_offline_mirrors
"""
from .core import (DATASETS, SPLITS, DataNotFoundError, Spec, TensorData, fetch_offline_mirrors, load,
                   read_idx)

__all__ = ["DATASETS", "SPLITS", "DataNotFoundError", "Spec", "TensorData", "fetch_offline_mirrors", "load",
           "read_idx"]
