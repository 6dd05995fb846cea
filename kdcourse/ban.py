"""Born-Again Networks (Furlanello et al. 2018), as seed 002 builds and tests them.

Generation 0 (the teacher) is trained on the labels; generation k is a
fresh network of the same kind trained by :func:`kdcourse.engine.fit` on the
outputs of generation k - 1 (seed 002 Listings 3-4); the ensemble averages
the generations' softmax outputs (Listing 5).  Every generation is one
``fit`` call: only the distiller and its teacher change.

The methods are distillers (:mod:`kdcourse.distillers.logit`):
``SoftTargets(w)`` (Listing 3's targets, the default), ``LogitMSE`` (KD on
logits, section 4.2.3) and ``Softened(T)`` (softened logits, section 4.2.3).
Each also reports ``ce``, the cross-entropy against the labels, which is
what seed 002 calls "Loss" in its tables and what the paper profile selects
on (Keras' ``val_loss``).

Deployment (seed 002 section 5 exports to TensorFlow Lite; this is the
PyTorch side): :func:`export` writes a student with ``torch.export`` (or
TorchScript), reloads it and checks that its outputs match the PyTorch
model's within a stated tolerance.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from . import config, models
from .data import TensorData
from .distillers import CrossEntropy, Distiller, SoftTargets
from .engine import FitResult, TeacherCache, TrainSpec, fit, predict

Tensor = torch.Tensor


# --------------------------------------------------------------------------- ensemble
class Ensemble(nn.Module):
    """The mean of the members' softmax outputs (seed 002 Listing 5).

    ``forward`` returns log(mean_m softmax(z_m)): its argmax is the ensemble's
    prediction, its softmax the averaged probabilities, and its cross-entropy
    -log(mean_m p_m[y]), the ensemble's own loss.
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x):
        probs = torch.stack([torch.softmax(m(x), -1) for m in self.members]).mean(0)
        return probs.clamp_min(1e-12).log()


# --------------------------------------------------------------------------- architectures
def build(spec: str, num_classes: int, in_channels: int = 3, **options) -> nn.Module:
    """A network by name: ``"wrn-28-1"`` (any WRN-d-k), ``"mobilenet_v1"`` (one width of
    :class:`~kdcourse.models.SlimmableMobileNetV1`; ``options`` go to it) or ``"mobilenet_v2"``
    (torchvision's, stride-1 stem for small images, no pretraining).

    Every network here takes the data's tensors as they are: the loaders standardise each channel
    already (CIFAR's mean and std), so MobileNetV2's input pipeline does not normalise again with
    ImageNet's mean and std (``normalize=False``, which ``options`` may override)."""
    match = re.fullmatch(r"wrn-(\d+)-(\d+)", spec)
    if match:
        return models.WideResNet(int(match[1]), int(match[2]), num_classes, in_channels, **options)
    if spec == "mobilenet_v1":
        return models.SlimmableMobileNetV1(num_classes, in_channels, widths=(1.0,), **options).set_width(1.0)
    if spec == "mobilenet_v2":
        return models.transfer.build("mobilenet_v2", num_classes, **{"pretrained": False, "small_input": True,
                                                                      "normalize": False, **options})
    raise ValueError(f"unknown architecture {spec!r}: use 'wrn-<d>-<k>', 'mobilenet_v1' or 'mobilenet_v2'")


# --------------------------------------------------------------------------- generations
@dataclass
class Generations:
    """Generation 0 (the teacher) to k, and the ``fit`` result of each generation trained here."""

    models: list[nn.Module]
    fits: list[FitResult | None] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return ["Teacher"] + [f"BAN-{k}" for k in range(1, len(self.models))]

    def ensemble(self, include_teacher: bool = True) -> Ensemble:
        """The ensemble of the generations; seed 002's ``ban()`` puts the teacher in its list too."""
        return Ensemble(self.models if include_teacher else self.models[1:])

    def history(self) -> pd.DataFrame:
        """Every trained generation's history, one frame with a ``generation`` column."""
        return pd.concat([f.history.assign(generation=name) for name, f in zip(self.names, self.fits)
                          if f is not None], ignore_index=True)


def born_again(build_student: Callable[[], nn.Module], train_data: TensorData, val: TensorData | None,
               spec: TrainSpec, generations: int = 3, *, teacher: nn.Module | None = None,
               method: Callable[[nn.Module, TeacherCache], Distiller] = SoftTargets,
               seed: int = 0, desc: str = "", checkpoints: Callable[[int], str | Path] | None = None,
               **fit_options) -> Generations:
    """Train BAN-1 .. BAN-``generations``, each from the one before (seed 002 Listing 4).

    teacher      generation 0, already trained; None trains it here on the
                 labels (:class:`~kdcourse.distillers.CrossEntropy`) with the same spec.
    method       ``method(student, teacher_cache)`` is how generation k learns
                 from k - 1 (default :class:`~kdcourse.distillers.SoftTargets`,
                 the seed's soft targets).
    checkpoints  ``checkpoints(k)`` is generation k's checkpoint file (0: the teacher, when trained
                 here), so that a finished generation is loaded instead of trained again;
                 None: no checkpoints.
    fit_options  passed to every ``fit`` (augment, track, device, progress, ...).

    ``val`` None trains every generation on the full ``train_data``, as seed 002's CIFAR code holds
    no images out: ``spec.selection`` is then the final epoch or a rule on training metrics.

    Each generation is seeded with ``seed * 100 + k`` before it is built and
    trained, so a run is reproducible and seeds give independent replicates.
    """
    if generations < 1:
        raise ValueError(f"generations must be >= 1, got {generations}")
    path = (lambda k: None) if checkpoints is None else checkpoints
    fits: list[FitResult | None] = [None]
    if teacher is None:
        config.seed_everything(seed * 100)
        result = fit(CrossEntropy(build_student()), train_data, val, spec, seed=seed * 100,
                     checkpoint=path(0), desc=f"{desc}Teacher", **fit_options)
        teacher, fits = result.model, [result]
    chain = [teacher]
    for k in range(1, generations + 1):
        config.seed_everything(seed * 100 + k)
        result = fit(method(build_student(), TeacherCache(chain[-1])), train_data, val, spec,
                     seed=seed * 100 + k, checkpoint=path(k), desc=f"{desc}BAN-{k}", **fit_options)
        chain.append(result.model)
        fits.append(result)
    return Generations(chain, fits)


def table(named_models: dict[str, nn.Module], data: TensorData) -> pd.DataFrame:
    """Accuracy and loss (cross-entropy against the labels) of each model on ``data``: seed 002 Table 1's rows."""
    rows = {}
    for name, model in named_models.items():
        logits = predict(model, data)
        rows[name] = {"accuracy": float((logits.argmax(1) == data.y).float().mean()),
                      "loss": float(F.cross_entropy(logits, data.y))}
    return pd.DataFrame(rows).T.rename_axis("model")


# --------------------------------------------------------------------------- deployment
EXPORT_METHODS = ("torch.export", "torchscript")


def _run(module, x: Tensor, batch_size: int = 256) -> Tensor:
    with torch.inference_mode():
        return torch.cat([module(x[i:i + batch_size]).float() for i in range(0, len(x), batch_size)])


def export(model: nn.Module, data: TensorData, path: str | Path, method: str = "torch.export",
           atol: float = 1e-4) -> dict:
    """Export ``model`` (on the CPU, eval mode) to ``path``, reload it and check it on ``data``.

    torch.export  ``torch.export.export`` with a dynamic batch size, saved as a
                  ``.pt2`` archive and reloaded with ``torch.export.load``;
    torchscript   ``torch.jit.trace``, saved and reloaded with ``torch.jit``.

    The reloaded program must give logits within ``atol`` (absolute, float32)
    of the PyTorch model's on every sample of ``data``, else a RuntimeError.
    Returns the method, file, size in MB, the largest absolute difference and
    the top-1 agreement.
    """
    if method not in EXPORT_METHODS:
        raise ValueError(f"method must be one of {EXPORT_METHODS}, got {method!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    example = data.x[:2].cpu().clone()   # a copy: a view would save the whole tensor as the sample input
    if method == "torch.export":
        program = torch.export.export(model, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},))
        torch.export.save(program, path)
        reloaded = torch.export.load(path).module()
    else:   # deprecated by PyTorch in favour of torch.export, still read by LibTorch and older runtimes
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            torch.jit.save(torch.jit.trace(model, example), str(path))
            reloaded = torch.jit.load(str(path))
    expected = predict(model, data, device=torch.device("cpu"))
    got = _run(reloaded, data.x.cpu())
    diff = float((got - expected).abs().max())
    result = {"method": method, "file": path.name, "size_mb": path.stat().st_size / 1e6,
              "max_abs_diff": diff, "top1_agreement": float((got.argmax(1) == expected.argmax(1)).float().mean()),
              "atol": atol}
    if not diff <= atol:
        raise RuntimeError(f"the {method} export of {model.__class__.__name__} differs from the PyTorch model by "
                           f"{diff:.3g} > atol {atol:g} on {len(data)} samples")
    return result
