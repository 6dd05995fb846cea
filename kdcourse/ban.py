"""Born-Again Networks (Furlanello et al. 2018), as seed 002 builds and tests them.

Generation 0 (the teacher) is trained on the labels; generation k is a
fresh network of the same kind trained by :func:`kdcourse.train.fit` on the
outputs of generation k - 1 (seed 002 Listings 3-4); the ensemble averages
the generations' softmax outputs (Listing 5).  Every generation is one
``fit`` call: only the objective and the teacher change.

Objectives (``student logits s``, ``teacher logits t``, labels ``y``)
------------------------------------------------------------------------
soft_target_objective(w)  H(q, softmax(s)) with q = (1 - w) softmax(t) + w onehot(y):
                          Listing 3's targets, w = ``ground_truth_weight`` (None = 0)
logit_mse_objective()     mean (s - t)^2, KD on logits (section 4.2.3, after Caruana)
softened_objective(T)     T^2 H(softmax(t / T), softmax(s / T)), softened logits (section 4.2.3)

H(q, p) = -sum_i q_i log p_i.  Each objective also reports ``ce``, the
cross-entropy against the labels, which is what seed 002 calls "Loss" in
its tables and what the paper profile selects on (Keras' ``val_loss``).

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

from . import config, losses, models, train
from .data import TensorData

Tensor = torch.Tensor


# --------------------------------------------------------------------------- objectives
def soft_target_objective(ground_truth_weight: float | None = None) -> train.Objective:
    """Seed 002 Listing 3: targets q = (1 - w) softmax(t) + w onehot(y), loss H(q, softmax(s)).

    ``None`` (the seed's default) is w = 0: the teacher's softmax alone.  The
    loss is linear in q, so it equals (1 - w) H(softmax(t), softmax(s)) + w CE(y, s);
    parts: total, ce (against the labels) and kd = H(softmax(t), softmax(s)).
    """
    w = 0.0 if ground_truth_weight is None else ground_truth_weight
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0.0 <= w <= 1.0:
        raise ValueError(f"ground_truth_weight must be in [0, 1] or None, got {ground_truth_weight!r}")
    w = float(w)

    def fn(s, y, t):
        q = (1.0 - w) * torch.softmax(t, -1) + w * F.one_hot(y, s.shape[-1]).to(s.dtype)
        log_p = F.log_softmax(s, -1)
        total = -(q * log_p).sum(-1).mean()
        return {"total": total, "ce": F.nll_loss(log_p, y),
                "kd": losses.soft_cross_entropy(s, torch.softmax(t, -1))}
    return train.Objective(f"soft targets (w={w:g})", fn, needs_teacher=True)


def logit_mse_objective() -> train.Objective:
    """KD on logits with the mean squared error (seed 002 section 4.2.3); the labels are not used."""
    def fn(s, y, t):
        return {"total": losses.logit_mse(s, t), "ce": F.cross_entropy(s, y)}
    return train.Objective("logit MSE", fn, needs_teacher=True)


def softened_objective(T: float) -> train.Objective:
    """Softened logits (seed 002 eq. 1, section 4.2.3): T^2 H(softmax(t / T), softmax(s / T)).

    Seed 002's Keras version divides both networks' logits by T before the
    softmax and trains on categorical cross-entropy; the T^2 factor (Hinton et
    al.) keeps the gradients' scale independent of T.
    """
    T = losses.check_temperature(T)

    def fn(s, y, t):
        return {"total": losses.soft_cross_entropy(s, losses.soft_targets(t, T), T) * (T * T),
                "ce": F.cross_entropy(s, y)}
    return train.Objective(f"softened logits (T={T:g})", fn, needs_teacher=True)


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
    (torchvision's, stride-1 stem for small images, no pretraining)."""
    match = re.fullmatch(r"wrn-(\d+)-(\d+)", spec)
    if match:
        return models.WideResNet(int(match[1]), int(match[2]), num_classes, in_channels, **options)
    if spec == "mobilenet_v1":
        return models.SlimmableMobileNetV1(num_classes, in_channels, widths=(1.0,), **options).set_width(1.0)
    if spec == "mobilenet_v2":
        return models.transfer.build("mobilenet_v2", num_classes, pretrained=False, small_input=True, **options)
    raise ValueError(f"unknown architecture {spec!r}: use 'wrn-<d>-<k>', 'mobilenet_v1' or 'mobilenet_v2'")


# --------------------------------------------------------------------------- generations
@dataclass
class Generations:
    """Generation 0 (the teacher) to k, and the ``fit`` result of each generation trained here."""

    models: list[nn.Module]
    fits: list[train.FitResult | None] = field(default_factory=list)

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


def born_again(build_student: Callable[[], nn.Module], train_data: TensorData, val: TensorData,
               generations: int = 3, *, teacher: nn.Module | None = None, objective: train.Objective | None = None,
               seed: int = 0, desc: str = "", **fit_kwargs) -> Generations:
    """Train BAN-1 .. BAN-``generations``, each from the one before (seed 002 Listing 4).

    teacher      generation 0, already trained; None trains it here on the
                 labels (``train.cross_entropy()``) with the same settings.
    objective    how generation k learns from k - 1 (default
                 :func:`soft_target_objective`, the seed's soft targets).
    fit_kwargs   passed to every ``fit`` (epochs, lr, batch_size, selection,
                 augment, track, device, progress, ...).

    Each generation is seeded with ``seed * 100 + k`` before it is built and
    trained, so a run is reproducible and seeds give independent replicates.
    """
    if generations < 1:
        raise ValueError(f"generations must be >= 1, got {generations}")
    objective = objective or soft_target_objective()
    fits: list[train.FitResult | None] = []
    if teacher is None:
        config.seed_everything(seed * 100)
        result = train.fit(build_student(), train_data, val, objective=train.cross_entropy(), seed=seed * 100,
                           desc=f"{desc}Teacher", **fit_kwargs)
        teacher, fits = result.model, [result]
    else:
        fits = [None]
    chain = [teacher]
    for k in range(1, generations + 1):
        config.seed_everything(seed * 100 + k)
        result = train.fit(build_student(), train_data, val, objective=objective,
                           teacher=train.TeacherCache(chain[-1]), seed=seed * 100 + k, desc=f"{desc}BAN-{k}",
                           **fit_kwargs)
        chain.append(result.model)
        fits.append(result)
    return Generations(chain, fits)


def table(named_models: dict[str, nn.Module], data: TensorData) -> pd.DataFrame:
    """Accuracy and loss (cross-entropy against the labels) of each model on ``data``: seed 002 Table 1's rows."""
    rows = {}
    for name, model in named_models.items():
        logits = train.predict(model, data)
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
    expected = train.predict(model, data, device=torch.device("cpu"))
    got = _run(reloaded, data.x.cpu())
    diff = float((got - expected).abs().max())
    result = {"method": method, "file": path.name, "size_mb": path.stat().st_size / 1e6,
              "max_abs_diff": diff, "top1_agreement": float((got.argmax(1) == expected.argmax(1)).float().mean()),
              "atol": atol}
    if not diff <= atol:
        raise RuntimeError(f"the {method} export of {model.__class__.__name__} differs from the PyTorch model by "
                           f"{diff:.3g} > atol {atol:g} on {len(data)} samples")
    return result
