"""Methods on the logits: the student alone, Hinton's KD, and Born-Again Networks' variants (seed 002).

s, t: student and teacher logits; y: labels; H(q, p) = -sum_i q_i log p_i.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import losses
from .base import Distiller


class CrossEntropy(Distiller):
    """No distillation: total = ce = CE(y, softmax(s))."""

    def __init__(self, student, teacher=None):
        super().__init__(student)   # a teacher, if given, is not used

    @property
    def name(self) -> str:
        return "cross_entropy"

    def losses(self, out, y, t):
        ce = F.cross_entropy(out, y)
        return {"total": ce, "ce": ce}


class KD(Distiller):
    """Hinton et al. 2015 (seed 004 eq. 4): total = alpha T^2 KL(p_t^T || p_s^T) + (1 - alpha) CE(y, p_s).

    ``losses.kd_objective``; parts total, ce and kd (kd includes T^2)."""

    needs_teacher = True

    def __init__(self, student, teacher, T: float = 4.0, alpha: float = 0.9):
        super().__init__(student, teacher)
        self.T, self.alpha = losses.check_temperature(T), losses.check_alpha(alpha)

    @property
    def name(self) -> str:
        return f"kd(T={self.T:g}, alpha={self.alpha:g})"

    def losses(self, out, y, t):
        return losses.kd_objective(out, t, y, self.T, self.alpha)


class SoftTargets(Distiller):
    """Born-Again Networks (seed 002 Listing 3): H(q, softmax(s)) with q = (1 - w) softmax(t) + w onehot(y).

    ``ground_truth_weight`` w (None, the seed's default, is 0: the teacher's
    softmax alone).  The loss is linear in q, so it equals
    (1 - w) H(softmax(t), softmax(s)) + w CE(y, s); parts total, ce (against
    the labels: what seed 002 calls "Loss") and kd = H(softmax(t), softmax(s)).
    """

    needs_teacher = True

    def __init__(self, student, teacher, ground_truth_weight: float | None = None):
        super().__init__(student, teacher)
        w = 0.0 if ground_truth_weight is None else ground_truth_weight
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0.0 <= w <= 1.0:
            raise ValueError(f"ground_truth_weight must be in [0, 1] or None, got {ground_truth_weight!r}")
        self.w = float(w)

    @property
    def name(self) -> str:
        return f"soft targets (w={self.w:g})"

    def losses(self, out, y, t):
        q = (1.0 - self.w) * torch.softmax(t, -1) + self.w * F.one_hot(y, out.shape[-1]).to(out.dtype)
        log_p = F.log_softmax(out, -1)
        return {"total": -(q * log_p).sum(-1).mean(), "ce": F.nll_loss(log_p, y),
                "kd": losses.soft_cross_entropy(out, torch.softmax(t, -1))}


class LogitMSE(Distiller):
    """KD on logits with the mean squared error (seed 002 section 4.2.3, after Caruana): the labels are
    not used; ce is reported beside it."""

    needs_teacher = True

    @property
    def name(self) -> str:
        return "logit MSE"

    def losses(self, out, y, t):
        return {"total": losses.logit_mse(out, t), "ce": F.cross_entropy(out, y)}


class Softened(Distiller):
    """Softened logits (seed 002 eq. 1, section 4.2.3): T^2 H(softmax(t / T), softmax(s / T)).

    Seed 002's Keras version divides both networks' logits by T before the
    softmax and trains on categorical cross-entropy; the T^2 factor (Hinton et
    al.) keeps the gradients' scale independent of T.
    """

    needs_teacher = True

    def __init__(self, student, teacher, T: float = 3.0):
        super().__init__(student, teacher)
        self.T = losses.check_temperature(T)

    @property
    def name(self) -> str:
        return f"softened logits (T={self.T:g})"

    def losses(self, out, y, t):
        return {"total": losses.soft_cross_entropy(out, losses.soft_targets(t, self.T), self.T) * (self.T * self.T),
                "ce": F.cross_entropy(out, y)}
