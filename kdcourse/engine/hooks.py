"""Read a model's intermediate and penultimate features with forward hooks.

Feature-based distillation (FitNets, attention transfer, RRD) compares what a
student and a teacher compute *inside* the network.  Hooks read those tensors
during the ordinary forward pass, so no model needs a ``is_feat=True``
argument or any other edit: a torchvision ResNet, a CIFAR ResNet and an MLP
are all read the same way (torchdistill's approach).

A layer is named by its module path in ``model.named_modules()``:

``"layer2"``     the output of module ``layer2``;
``"fc:in"``      the input of module ``fc`` (its first positional argument):
                 for a classifier head this is the penultimate feature,
                 :func:`penultimate` finds it.

:class:`Layers` tells a feature distiller (:class:`kdcourse.distillers.FeatureKD`)
which student and teacher layers its loss reads; it captures the student's
with :class:`FeatureHooks` during the student's forward pass and gets the
teacher's from the :class:`~kdcourse.engine.TeacherCache` (computed once per
data set when the inputs are not augmented).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

Tensor = torch.Tensor


def _as_tuple(layers: str | Sequence[str]) -> tuple[str, ...]:
    return (layers,) if isinstance(layers, str) else tuple(layers)


@dataclass(frozen=True)
class Layers:
    """Which layers a feature objective reads.

    student, teacher   one layer name (the loss then gets one tensor each) or
                       a sequence of names (it gets lists, in that order);
    teacher_transform  applied to every teacher feature *before* it is cached,
                       e.g. :func:`kdcourse.losses.attention_map`, so that only
                       the small transformed maps are stored.
    """

    student: str | tuple[str, ...]
    teacher: str | tuple[str, ...]
    teacher_transform: Callable[[Tensor], Tensor] | None = None

    def __post_init__(self):
        for side in ("student", "teacher"):
            value = getattr(self, side)
            if not isinstance(value, str):
                object.__setattr__(self, side, tuple(value))
        if len(_as_tuple(self.student)) != len(_as_tuple(self.teacher)):
            raise ValueError(f"student and teacher layers must pair up, got {self.student} and {self.teacher}")

    @property
    def single(self) -> bool:
        """True when one layer is named on each side (the loss receives tensors, not lists)."""
        return isinstance(self.student, str)


def _module(model: nn.Module, name: str) -> tuple[nn.Module, bool]:
    path, _, where = name.partition(":")
    if where not in ("", "in"):
        raise ValueError(f"layer {name!r}: the suffix must be ':in' (the module's input) or nothing (its output)")
    modules = dict(model.named_modules())
    if path not in modules:
        top = [n for n in modules if n and "." not in n]
        raise ValueError(f"{model.__class__.__name__} has no module {path!r}; its top-level modules are {top}")
    return modules[path], where == "in"


class FeatureHooks:
    """Forward hooks that keep the features of named layers from the latest forward pass.

    >>> hooks = FeatureHooks(model, ["layer1", "fc:in"])
    >>> logits = model(x)
    >>> f1, penultimate = hooks.features      # tensors of this very forward pass
    >>> hooks.remove()

    The features keep their autograd graph, so a loss on them trains the
    model.  Also a context manager that removes the hooks on exit.
    """

    def __init__(self, model: nn.Module, layers: str | Sequence[str]):
        self.layers = _as_tuple(layers)
        self._out: dict[str, Tensor] = {}
        self._handles = []
        for name in self.layers:
            module, read_input = _module(model, name)
            if read_input:
                hook = (lambda n: lambda mod, args: self._out.__setitem__(n, args[0]))(name)
                self._handles.append(module.register_forward_pre_hook(hook))
            else:
                hook = (lambda n: lambda mod, args, out: self._out.__setitem__(n, out))(name)
                self._handles.append(module.register_forward_hook(hook))

    @property
    def features(self) -> list[Tensor]:
        """The features of the last forward pass, in the order of ``layers``."""
        missing = [n for n in self.layers if n not in self._out]
        if missing:
            raise RuntimeError(f"layers {missing} did not run in the last forward pass")
        return [self._out[n] for n in self.layers]

    def clear(self) -> None:
        self._out.clear()

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._out.clear()

    def __enter__(self) -> "FeatureHooks":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def extract(model: nn.Module, x: Tensor, layers: str | Sequence[str], batch_size: int = 256,
            transform: Callable[[Tensor], Tensor] | None = None) -> tuple[Tensor, list[Tensor]]:
    """Logits and features at ``layers`` of every row of ``x``, in eval mode under inference mode.

    Returns ``(logits, [feature per layer])`` on the CPU; ``transform`` is
    applied to each feature batch before it is kept (to store less).
    """
    device = next(model.parameters()).device
    names = _as_tuple(layers)
    was = model.training
    model.eval()
    logits, feats = [], [[] for _ in names]
    try:
        with FeatureHooks(model, names) as hooks, torch.inference_mode():
            for i in range(0, len(x), batch_size):
                logits.append(model(x[i:i + batch_size].to(device)).float().cpu())
                for store, f in zip(feats, hooks.features):
                    f = f.float() if transform is None else transform(f.float())
                    store.append(f.cpu())
    finally:
        model.train(was)
    return torch.cat(logits), [torch.cat(f) for f in feats]


def penultimate(model: nn.Module) -> str:
    """The layer name of the penultimate feature: the input of the model's last ``nn.Linear``."""
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = name
    if last is None:
        raise ValueError(f"{model.__class__.__name__} has no nn.Linear head; name the feature layer yourself")
    return f"{last}:in"


def shapes(model: nn.Module, x: Tensor, layers: str | Sequence[str]) -> list[tuple[int, ...]]:
    """Shapes (without the batch axis) of the features at ``layers`` for inputs like ``x``."""
    _, feats = extract(model, x[:2], layers)
    return [tuple(f.shape[1:]) for f in feats]
