"""A frozen teacher's outputs, computed once per data set and looked up by sample index.

When inputs are not augmented, a teacher's logits (and the features a
feature method reads) are the same every epoch, for every student and every
point of a sweep: :class:`TeacherCache` computes them once per data set and
the distillers index them by the batch's sample indices.  With augmented
inputs the teacher runs live on each batch instead.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from ..data import TensorData
from ..io import atomic_torch_save
from . import hooks
from .fingerprint import data_fingerprint, fingerprint
from .evaluate import predict

Tensor = torch.Tensor


class TeacherCache:
    """A frozen teacher whose outputs are computed once per data set.

    ``logits(data)`` runs the teacher over ``data`` the first time and stores
    the result, aligned with the sample index; later calls cost nothing.
    ``live(x)`` runs it on a batch, for augmented inputs.  With ``store`` (a folder) the logits also
    go to disk, keyed by a hash of the teacher's weights and of the data, so other processes (another
    notebook, a headless run) load them instead of running the teacher again.  ``features_of(data,
    layers)`` and ``live_features(x, layers)`` do the same for features read by
    hooks (:mod:`kdcourse.engine.hooks`), for feature methods.  The cache is
    keyed by the identity of ``data.x``: pass the same TensorData each time.
    """

    def __init__(self, teacher: nn.Module, batch_size: int = 256, store: str | Path | None = None):
        self.teacher = teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        self.batch_size, self.store = batch_size, None if store is None else Path(store)
        self._store: dict[int, tuple[Tensor, Tensor]] = {}
        self._features: dict[tuple, tuple[Tensor, list[Tensor]]] = {}  # (data, layers) -> features
        self._weights: str | None = None

    def _on_disk(self, data, compute):
        """``compute()``, or its result from ``store`` (keyed by the teacher's weights and the data's content),
        written there atomically the first time.  Without a store, just ``compute()``."""
        if self.store is None or not hasattr(data, "x"):
            return compute()
        if self._weights is None:   # the teacher is frozen: its class, layout and weights are hashed once
            state = self.teacher.state_dict()
            self._weights = f"{type(self.teacher).__name__}-{fingerprint(*state.values())}-" + \
                fingerprint(torch.tensor([ord(c) for c in ",".join(state)], dtype=torch.int32))[:6]
        file = self.store / f"logits-{self._weights}-{data_fingerprint(data)}-b{self.batch_size}.pt"
        if file.is_file():
            logits = torch.load(file, weights_only=True)
            if logits.shape[0] == len(data):
                return logits
            print(f"teacher-output cache {file.name} does not fit this teacher and data: computing it again")
        logits = compute()
        atomic_torch_save(logits, file)
        return logits

    def logits(self, data: TensorData) -> Tensor:
        """The teacher's logits of every sample of ``data`` (on the CPU), computed the first time only."""
        rows = getattr(data, "x", data)   # a streaming set is keyed by itself
        hit = self._store.get(id(rows))
        if hit is None or hit[0] is not rows:
            logits = self._on_disk(data, lambda: predict(self.teacher, data, self.batch_size))
            hit = self._store[id(rows)] = (rows, logits)
        return hit[1]

    def live(self, x: Tensor) -> Tensor:
        """The teacher's logits of one batch (augmented inputs): an ordinary tensor, usable in any loss's
        backward (an inference-mode tensor is not, e.g. in SoftTargets' product with log p)."""
        self.teacher.eval()
        with torch.inference_mode():
            out = self.teacher(x).float()
        return out.clone()

    def features_of(self, data: TensorData, layers: hooks.Layers) -> list[Tensor]:
        """The teacher's features at ``layers.teacher`` (after ``layers.teacher_transform``) for every
        sample of ``data``, computed once (on the CPU, aligned with the sample index); the logits of
        the same pass are cached too.  Pass the same transform function each time, not a new lambda."""
        key = (id(data.x), layers.teacher, layers.teacher_transform)
        hit = self._features.get(key)
        if hit is None or hit[0] is not data.x:
            logits, feats = hooks.extract(self.teacher, data.x, layers.teacher, self.batch_size,
                                          layers.teacher_transform)
            hit = self._features[key] = (data.x, feats)
            self._store[id(data.x)] = (data.x, logits)
        return hit[1]

    def live_features(self, x: Tensor, layers: hooks.Layers) -> list[Tensor]:
        """The teacher's (transformed) features on one batch, for augmented inputs."""
        self.teacher.eval()
        with hooks.FeatureHooks(self.teacher, layers.teacher) as h, torch.inference_mode():
            self.teacher(x)
            out = [f.float() if layers.teacher_transform is None else layers.teacher_transform(f.float())
                   for f in h.features]
        return [f.clone() for f in out]  # ordinary tensors, usable in a loss's backward


def as_cache(teacher: nn.Module | TeacherCache | None) -> TeacherCache | None:
    """A TeacherCache for a teacher module (None stays None; a cache is shared as it is)."""
    if teacher is None or isinstance(teacher, TeacherCache):
        return teacher
    if not isinstance(teacher, nn.Module):
        raise TypeError(f"teacher must be an nn.Module or a TeacherCache, got {type(teacher).__name__}")
    return TeacherCache(teacher)


# --------------------------------------------------------------------------- cached features
class FeatureCache:
    """The frozen part of a :class:`TransferNet`, run once per data set.

    ``cache(data)`` returns a TensorData of features (the output of
    ``model.frozen_part()``) with ``data``'s labels; the features are a
    ``TeacherCache`` of the frozen part, so asking again for the same
    data set costs nothing.  Train ``model.trainable_part()`` on them.
    """

    def __init__(self, model: nn.Module, batch_size: int = 64):
        self.model = model
        self._cache = TeacherCache(model.frozen_part(), batch_size)

    def __call__(self, data: TensorData) -> TensorData:
        feats = self._cache.logits(data)
        return TensorData(feats, data.y, data.name, data.split,
                          f"{data.source}; features of the frozen {self.model.arch}", data.classes)


class Columns(nn.Module):
    """``module`` applied to columns ``[start, stop)`` of flat rows, reshaped to ``shape``."""

    def __init__(self, module: nn.Module, start: int, stop: int, shape: tuple[int, ...]):
        super().__init__()
        self.module, self.start, self.stop, self.shape = module, start, stop, tuple(shape)

    def forward(self, x):
        return self.module(x[:, self.start:self.stop].reshape(-1, *self.shape))


class FeaturePair:
    """A student's and a teacher's cached features side by side, for KD on frozen backbones.

    ``pair(data)`` is a TensorData whose rows are ``[student features |
    teacher features]`` of the same images (built once per data set).
    ``pair.student`` is the student's trainable part reading its columns (it
    shares the student's weights: train it with ``fit``); ``pair.teacher``
    is a ``TeacherCache`` of the teacher's trainable part reading its columns,
    so the teacher's logits are computed once per data set, from its own
    features.  Build the pair after the teacher is trained.
    """

    def __init__(self, student: FeatureCache, teacher: FeatureCache):
        self.features = (student, teacher)
        self._rows: dict[int, tuple[torch.Tensor, TensorData]] = {}
        self._views: tuple[nn.Module, object] | None = None

    def __call__(self, data: TensorData) -> TensorData:
        hit = self._rows.get(id(data.x))
        if hit is not None and hit[0] is data.x:
            return hit[1]
        s, t = (cache(data) for cache in self.features)
        if self._views is None:
            self._views = self._make_views(s.x.shape[1:], t.x.shape[1:])
        x = torch.cat([s.x.flatten(1), t.x.flatten(1)], 1)
        out = TensorData(x, data.y, data.name, data.split,
                         f"{data.source}; features of {self.features[0].model.arch} and "
                         f"{self.features[1].model.arch}", data.classes)
        self._rows[id(data.x)] = (data.x, out)
        return out

    def _make_views(self, s_shape, t_shape):
        ds, dt = math.prod(s_shape), math.prod(t_shape)
        student = Columns(self.features[0].model.trainable_part(), 0, ds, s_shape)
        teacher = TeacherCache(Columns(self.features[1].model.trainable_part(), ds, ds + dt, t_shape))
        return student, teacher

    def _ready(self):
        if self._views is None:
            raise RuntimeError("call pair(data) once first: the column layout comes from the features")
        return self._views

    @property
    def student(self) -> nn.Module:
        return self._ready()[0]

    @property
    def teacher(self):
        return self._ready()[1]
