"""The engine: the loop and the small parts it is made of.

spec         TrainSpec (optimizer, lr, schedule, epochs, batch, selection), Selection
loop         fit(distiller, train, val, spec) -> FitResult: the loop, and only the loop
selection    Selector: the best epoch and early stopping, on validation metrics only
checkpoint   atomic checkpoints, safe loading, resume only by the same run
cache        TeacherCache: a frozen teacher's outputs, once per data set, by sample index;
             FeatureCache / FeaturePair: a frozen backbone's features, once per data set
hooks        FeatureHooks / Layers: features read by forward hooks on unedited models
evaluate     predict (inference mode, batched), heads, accuracy
optim        the optimizer and lr schedule a TrainSpec names
distributed  torch.distributed under torchrun: DDP shards, all-reduced sums, rank-0 writes
batch        Batch: what the loop hands a distiller
"""
from . import distributed, hooks
from .batch import Batch
from .cache import FeatureCache, FeaturePair, TeacherCache, as_cache
from .checkpoint import load_checkpoint
from .evaluate import accuracy, heads, predict
from .hooks import FeatureHooks, Layers
from .loop import FitResult, fit
from .selection import Selector
from .spec import Selection, TrainSpec, as_spec

__all__ = ["Batch", "FeatureCache", "FeatureHooks", "FeaturePair", "FitResult", "Layers", "Selection", "Selector", "TeacherCache", "TrainSpec",
           "accuracy", "as_cache", "as_spec", "distributed", "fit", "heads", "hooks", "load_checkpoint",
           "predict"]
