"""Feature methods: a loss on what student and teacher compute inside, beside the task loss.

Weighted as in the CRD / RRD code base (gamma, alpha, beta):

    total = ce * CE(y, s) + kd * T^2 KL(p_t^T || p_s^T) + beta * L_feature(f_s, f_t)

FitNets (``losses.FitNetsLoss``, a trainable regressor), attention transfer
(``losses.at_loss``), RRD and RRD+KD (``losses.RRDLoss``, trainable
embeddings and a queue) are all this one class with another loss and other
layers.  Student features are read by forward hooks during the student's
own forward pass (:mod:`kdcourse.engine.hooks`); the teacher's come from the
:class:`~kdcourse.engine.TeacherCache`, computed once per data set.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .. import losses
from ..data import TensorData
from ..engine import hooks
from .base import Batch, Distiller

Tensor = torch.Tensor


class FeatureKD(Distiller):
    """A feature loss at ``layers`` (a :class:`~kdcourse.engine.hooks.Layers`) beside CE and, if ``kd``, KD.

    ``loss(f_s, f_t)`` gets tensors when one layer is named on each side, else
    lists; when it is an ``nn.Module`` its parameters train with the student.
    Parts: total, ce, feat (unweighted) and kd when kd > 0.
    """

    needs_teacher = True

    def __init__(self, student: nn.Module, teacher, loss: Callable[..., Tensor] | nn.Module,
                 layers: hooks.Layers, *, ce: float = 1.0, kd: float = 0.0, T: float = 4.0, beta: float = 1.0,
                 name: str = "feature"):
        super().__init__(student, teacher)
        for label, weight in (("ce", ce), ("kd", kd), ("beta", beta)):
            if not weight >= 0:
                raise ValueError(f"weight {label} must be >= 0, got {weight!r}")
        self.loss, self.layers, self.T = loss, layers, losses.check_temperature(T)
        self.ce, self.kd, self.beta, self._name = ce, kd, beta, name
        self._hooks: hooks.FeatureHooks | None = None

    @property
    def name(self) -> str:
        kd = f", kd={self.kd:g}, T={self.T:g}" if self.kd else ""
        return f"{self._name}(ce={self.ce:g}{kd}, beta={self.beta:g})"

    def __enter__(self) -> "FeatureKD":
        self._hooks = hooks.FeatureHooks(self.student, self.layers.student)
        return self

    def __exit__(self, *exc) -> None:
        if self._hooks is not None:
            self._hooks.remove()
            self._hooks = None

    def teacher_features(self, batch: Batch) -> list[Tensor]:
        if batch.data is None:
            return self.teacher.live_features(batch.x, self.layers)
        return [f[batch.idx.cpu()].to(batch.x.device) for f in self.teacher.features_of(batch.data, self.layers)]

    def feature_losses(self, s: Tensor, y: Tensor, t: Tensor, f_s: list[Tensor], f_t: list[Tensor]) -> dict:
        if self.layers.single:
            f_s, f_t = f_s[0], f_t[0]
        parts = {"ce": F.cross_entropy(s, y), "feat": self.loss(f_s, f_t)}
        total = self.ce * parts["ce"] + self.beta * parts["feat"]
        if self.kd:
            parts["kd"] = losses.kd_loss(s, t, self.T)
            total = total + self.kd * parts["kd"]
        return {"total": total, **parts}

    def _step(self, batch: Batch):
        if self._hooks is None:
            raise RuntimeError(f"{self.name}: use the distiller inside `with distiller:` (fit does), "
                               "so that its feature hooks are attached")
        out = self.student(batch.x)
        f_t = self.teacher_features(batch)     # features first: a cache pass stores the logits too
        return out, self.feature_losses(out, batch.y, self.teacher_outputs(batch), self._hooks.features, f_t)

    def forward(self, batch: Batch):
        return self._step(batch)

    def evaluate(self, data: TensorData, device: torch.device) -> dict[str, float]:
        """Batch by batch: student features from the hooks, the method's own modules in eval mode."""
        self.eval()
        sums, correct = {}, 0
        cached = not getattr(data, "streaming", False)
        with torch.inference_mode():
            for idx, xb, yb in data.batches(256):
                xb, yb = xb.to(device), yb.to(device)
                logits, parts = self._step(Batch(xb, yb, idx, data if cached else None))
                sums = {k: sums.get(k, 0.0) + float(v) * len(yb) for k, v in parts.items()}
                correct += int((logits.argmax(1) == yb).sum())
        self.train()
        return {**{k: v / len(data) for k, v in sums.items()}, "acc": correct / len(data)}
