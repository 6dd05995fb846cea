"""A frozen teacher's outputs, computed once per data set and looked up by sample index.

When inputs are not augmented, a teacher's logits (and the features a
feature method reads) are the same every epoch, for every student and every
point of a sweep: :class:`TeacherCache` computes them once per data set and
the distillers index them by the batch's sample indices.  With augmented
inputs the teacher runs live on each batch instead.

The one pass runs the teacher's convolution stacks in oneDNN's own tensor layout
(:func:`onednn_runs`): the same numbers, bit for bit, as a plain ``teacher(x)``
loop (checked on every pass), about twice as fast for the MNIST teacher CNN on the CPU.
"""
from __future__ import annotations

import copy
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
            logits = self._on_disk(data, lambda: self._pass(data))
            hit = self._store[id(rows)] = (rows, logits)
        return hit[1]

    def _pass(self, data) -> Tensor:
        """``predict(teacher, data, batch_size)``, its full batches run through :func:`onednn_runs`: checked
        to give the plain forward pass's bits on the first batch (else the plain pass runs).  The last batch,
        ragged or not, runs plain: PyTorch picks its convolution kernel by batch shape (one image: another)."""
        plain = lambda d: predict(self.teacher, d, self.batch_size)  # noqa: E731
        x, bs = (data if isinstance(data, Tensor) else getattr(data, "x", None)), self.batch_size
        fast = onednn_runs(self.teacher)
        params = next(self.teacher.parameters(), None)
        if (fast is self.teacher or not isinstance(x, Tensor) or len(x) <= 2 * bs or x.dtype != torch.float32
                or x.device.type != "cpu" or (params is not None and params.device.type != "cpu")
                or not torch.backends.mkldnn.is_available()):
            return plain(data)
        tail = (len(x) - 1) // bs * bs
        try:
            first = predict(fast, x[:bs], bs)
            if not (isinstance(first, Tensor) and same_bits(first, plain(x[:bs]))):
                return plain(data)
            rest = predict(fast, x[bs:tail], bs)
        except RuntimeError:        # a layer oneDNN's layout does not take: the plain pass
            return plain(data)
        return torch.cat([first, rest, plain(x[tail:])])

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


def same_bits(a: Tensor, b: Tensor) -> bool:
    """Whether two tensors hold the same bits (``torch.equal`` also calls -0.0 and 0.0 equal, and NaN unequal)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if not a.dtype.is_floating_point or a.element_size() not in (2, 4, 8):
        return torch.equal(a, b)
    view = {2: torch.int16, 4: torch.int32, 8: torch.int64}[a.element_size()]
    return torch.equal(a.contiguous().view(view), b.contiguous().view(view))


# --------------------------------------------------------------------------- the one pass in oneDNN's layout
class OneDNNRun(nn.Module):
    """Consecutive Conv2d, ReLU and MaxPool2d layers run in oneDNN's blocked tensor layout from the first to the
    last, converted back once at the end.

    On the CPU, PyTorch computes a float32 NCHW convolution with oneDNN anyway: it converts the input to
    oneDNN's blocked layout, runs the kernel and converts the output back to NCHW, where ReLU and max-pooling
    then run on slow NCHW code paths.  Here the same kernels get the same inputs in the same layout, without
    the round trips; a ReLU right after a convolution is applied by that kernel before it stores its output
    (a oneDNN post-op: the same sums, then the same max(., 0)), other ReLUs in place.  ReLU and max-pooling
    are exact in any layout.  TeacherCache checks the bits on every pass.
    """

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        fuse = hasattr(torch.ops.mkldnn, "_convolution_pointwise")
        self.steps, i = [], 0           # (layer, whether the ReLU after it is fused into it)
        while i < len(layers):
            fused = (fuse and isinstance(layers[i], nn.Conv2d) and i + 1 < len(layers)
                     and isinstance(layers[i + 1], nn.ReLU))
            self.steps.append((layers[i], fused))
            i += 2 if fused else 1

    def forward(self, x: Tensor) -> Tensor:
        x = x.to_mkldnn()
        for layer, fused in self.steps:
            if fused:
                x = torch.ops.mkldnn._convolution_pointwise(x, layer.weight, layer.bias, layer.padding, layer.stride,
                                                            layer.dilation, layer.groups, "relu", [], "")
            elif isinstance(layer, nn.ReLU):
                x = x.relu_()            # x is this run's own intermediate output
            else:
                x = layer(x)
        return x.to_dense()


def _fits_onednn(m: nn.Module | None) -> bool:
    """A layer a OneDNNRun can take: a float32 Conv2d, a ReLU or a MaxPool2d, with no hooks to see its tensors."""
    if m is None or m._forward_hooks or m._forward_pre_hooks:
        return False
    if isinstance(m, nn.Conv2d):
        return m.padding_mode == "zeros" and not isinstance(m.padding, str) and m.weight.dtype == torch.float32
    return isinstance(m, (nn.ReLU, nn.MaxPool2d)) and not getattr(m, "return_indices", False)


def _group_runs(children: dict) -> dict:
    """A plain Sequential's children with each run of two or more layers that fit oneDNN (the first a Conv2d)
    replaced by one OneDNNRun; the Sequential's forward calls its children in order, whatever their names."""
    out, run = {}, []

    def close():
        if len(run) > 1:
            out[run[0][0]] = OneDNNRun([m for _, m in run])
        else:
            out.update(run)
        run.clear()

    for name, m in children.items():
        if _fits_onednn(m) and (run or isinstance(m, nn.Conv2d)):
            run.append((name, m))
        else:
            close()
            out[name] = m
    close()
    return out


def onednn_runs(module: nn.Module) -> nn.Module:
    """``module`` itself, or a shallow copy of it (sharing every weight; ``module`` is not changed) in which
    every run of Conv2d, ReLU and MaxPool2d layers in a plain ``nn.Sequential`` is a :class:`OneDNNRun`."""
    children = {name: (c if c is None else onednn_runs(c)) for name, c in module._modules.items()}
    if type(module) is nn.Sequential:
        children = _group_runs(children)
    if children.keys() == module._modules.keys() and all(children[k] is c for k, c in module._modules.items()):
        return module
    out = copy.copy(module)
    out.__dict__["_modules"] = children
    return out


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
