"""Methods after Hinton's KD: DKD, DIST and KD on standardized logits (on the logits), CRD (on features).

s, t: student and teacher logits; y: labels.  The logit methods are

    total = ce * CE(y, s) + w * L_method(s, t, y)

with parts total, ce and kd (L_method, before its weight w); CRD is a
:class:`~kdcourse.distillers.FeatureKD` whose loss also reads the batch's
sample indices.  Every default is the authors' CIFAR-100 setting unless a
comment says otherwise, with its source beside it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import losses
from ..engine import hooks
from .base import Batch, Distiller
from .feature import FeatureKD

Tensor = torch.Tensor


class _CEPlus(Distiller):
    """total = ce * CE(y, s) + :meth:`weight` * :meth:`term`; parts total, ce and kd (the unweighted term)."""

    needs_teacher = True

    def __init__(self, student, teacher, ce: float):
        super().__init__(student, teacher)
        self.ce = losses.check_weight("ce", ce)

    def term(self, out: Tensor, t: Tensor, y: Tensor) -> Tensor:
        raise NotImplementedError

    def weight(self) -> float:
        return 1.0

    def losses(self, out, y, t):
        ce, kd = F.cross_entropy(out, y), self.term(out, t, y)
        return {"total": self.ce * ce + self.weight() * kd, "ce": ce, "kd": kd}


class DKD(_CEPlus):
    """Decoupled KD (Zhao et al., CVPR 2022): total = ce CE(y, s) + w(epoch) DKD(s, t, y).

    ``losses.dkd_loss`` = T^2 (alpha TCKD + beta NCKD); kd is that term before
    the warm-up weight w.  The DKD term is warmed up linearly over the first
    ``warmup`` epochs, w = min(epoch / warmup, 1), epoch counted from 1 (the
    authors' mdistiller: ``min(kwargs["epoch"] / self.warmup, 1.0)``).
    ``fit`` calls :meth:`set_epoch` before each epoch; outside ``fit``, until
    it is called, w = 1 (no warm-up).  ``warmup=0`` turns warm-up off.
    """

    # mdistiller's cfg.py, DKD: CE_WEIGHT 1.0, ALPHA 1.0, BETA 8.0, T 4.0, WARMUP 20 (every CIFAR-100 pair)
    def __init__(self, student, teacher, T: float = 4.0, alpha: float = 1.0, beta: float = 8.0, ce: float = 1.0,
                 warmup: int = 20):
        super().__init__(student, teacher, ce)
        self.T = losses.check_temperature(T)
        self.alpha, self.beta = losses.check_weight("alpha", alpha), losses.check_weight("beta", beta)
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise ValueError(f"warmup must be a whole number of epochs >= 0, got {warmup!r}")
        self.warmup, self.epoch = warmup, None

    def set_epoch(self, epoch: int) -> None:
        """The epoch about to be trained, counted from 1 (the history's ``epoch``): sets the warm-up weight."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
            raise ValueError(f"epoch must be a whole number >= 1 (counted from 1), got {epoch!r}")
        self.epoch = epoch

    def weight(self) -> float:
        if self.epoch is None or not self.warmup:
            return 1.0
        return min(self.epoch / self.warmup, 1.0)

    @property
    def name(self) -> str:
        return (f"dkd(T={self.T:g}, alpha={self.alpha:g}, beta={self.beta:g}, ce={self.ce:g}, "
                f"warmup={self.warmup})")

    def term(self, out, t, y):
        return losses.dkd_loss(out, t, y, self.T, self.alpha, self.beta)


class DIST(_CEPlus):
    """DIST (Huang et al., NeurIPS 2022): total = ce CE(y, s) + T^2 (beta inter + gamma intra).

    ``losses.dist_loss``: one minus the mean Pearson correlation of the
    student's and the teacher's softmax at T, per sample (inter-class) and
    per class across the batch (intra-class).  T = 1 is the paper's ImageNet
    setting; the authors' CIFAR-100 runs use T = 4 (pass ``T=4.0``).
    """

    # the authors' DIST_KD / torchdistill's DISTLoss defaults: beta = gamma = 1, tau = 1; CE weight 1
    def __init__(self, student, teacher, T: float = 1.0, beta: float = 1.0, gamma: float = 1.0, ce: float = 1.0):
        super().__init__(student, teacher, ce)
        self.T = losses.check_temperature(T)
        self.beta, self.gamma = losses.check_weight("beta", beta), losses.check_weight("gamma", gamma)

    @property
    def name(self) -> str:
        return f"dist(T={self.T:g}, beta={self.beta:g}, gamma={self.gamma:g}, ce={self.ce:g})"

    def term(self, out, t, y):
        return losses.dist_loss(out, t, self.T, self.beta, self.gamma)


class StandardizedKD(_CEPlus):
    """KD on standardized logits (Sun et al., CVPR 2024): total = ce CE(y, s) + kd T^2 KL(q_t || q_s).

    q = softmax(standardize_logits(z) / T), a per-sample Z-score of the
    logits before the softmax (``losses.standardize_logits``); kd (the part)
    is T^2 KL before its weight.  The weights are not KD's alpha / (1 - alpha).
    """

    # the authors' CIFAR-100 command `--logit-stand --base-temp 2 --kd-weight 9`; CE weight 0.1 is mdistiller's
    # KD setting, which they kept (logit-standardization-KD issue #8)
    def __init__(self, student, teacher, T: float = 2.0, kd: float = 9.0, ce: float = 0.1):
        super().__init__(student, teacher, ce)
        self.T, self.kd = losses.check_temperature(T), losses.check_weight("kd", kd)

    @property
    def name(self) -> str:
        return f"kd_std(T={self.T:g}, kd={self.kd:g}, ce={self.ce:g})"

    def weight(self) -> float:
        return self.kd

    def term(self, out, t, y):
        return losses.kd_loss(losses.standardize_logits(out), losses.standardize_logits(t), self.T)


class _Indexed(nn.Module):
    """A :class:`~kdcourse.losses.CRDLoss` called as ``loss(f_s, f_t)``, with the batch's indices set beforehand."""

    def __init__(self, crd: losses.CRDLoss):
        super().__init__()
        self.crd, self.idx = crd, None

    def forward(self, f_s: Tensor, f_t: Tensor) -> Tensor:
        return self.crd(f_s, f_t, self.idx)


class CRD(FeatureKD):
    """CRD and CRD+KD (Tian et al., ICLR 2020): total = ce CE(y, s) + kd T^2 KL + beta L_CRD(f_s, f_t, idx).

    ``loss`` is a :class:`~kdcourse.losses.CRDLoss` built for the training
    set (n_data = its size: the batch's sample indices address its memory
    bank); ``layers`` names one layer on each side, the penultimate features
    (e.g. ``Layers("fc:in", "fc:in")``).  Its embeddings train with the
    student.  Parts total, ce, feat (L_CRD) and kd when kd > 0.
    """

    # RepDistiller's README: CRD `-r 1 -a 0 -b 0.8` (ce 1, kd 0, beta 0.8), CRD+KD `-a 1` (kd 1); --kd_T 4
    def __init__(self, student, teacher, loss: losses.CRDLoss, layers: hooks.Layers, *, ce: float = 1.0,
                 kd: float = 0.0, T: float = 4.0, beta: float = 0.8, name: str = "CRD"):
        if not isinstance(loss, losses.CRDLoss):
            raise TypeError(f"CRD needs a kdcourse.losses.CRDLoss, got {type(loss).__name__}")
        if not layers.single:
            raise ValueError(f"CRD reads one layer on each side (the penultimate features), got {layers}")
        super().__init__(student, teacher, _Indexed(loss), layers, ce=ce, kd=kd, T=T, beta=beta, name=name)

    @property
    def crd(self) -> losses.CRDLoss:
        return self.loss.crd

    @property
    def name(self) -> str:
        return f"{super().name[:-1]}, n_negatives={self.crd.n_negatives}, nce_t={self.crd.nce_t:g})"

    def _step(self, batch: Batch):
        self.loss.idx = batch.idx
        try:
            return super()._step(batch)
        finally:
            self.loss.idx = None


# the logit baselines a notebook runs beside its KD, by their command-line names, and their labels in tables
LOGIT_BASELINES = {"dkd": "DKD", "dist": "DIST", "kd_std": "KD (standardized)"}
# a setting its authors gave for one pair: mdistiller's configs/imagenet/r34_r18/dkd.yaml (notebook 04's pair)
R34_R18_BASELINES = {"dkd_imagenet": "DKD (ImageNet setting)"}


def logit_baseline(name: str, student, teacher, epochs: int) -> Distiller:
    """``name`` (a key of :data:`LOGIT_BASELINES` or :data:`R34_R18_BASELINES`) with its authors' settings, for
    a run of ``epochs`` epochs:

    dkd     mdistiller's CIFAR-100 setting: T 4, alpha 1, beta 8, CE 1; its warm-up of 20 epochs of 240 scaled
            to this run, max(1, round(epochs x 20 / 240))
    dkd_imagenet  mdistiller's ImageNet ResNet34 -> ResNet18 configuration (configs/imagenet/r34_r18/dkd.yaml):
            T 1, beta 0.5, CE 1, alpha 1 (cfg.py's default), its warm-up of 1 epoch of 100 scaled to this run,
            max(1, round(epochs / 100)): one epoch, which the warm-up's min(epoch / 1, 1) makes full weight
    dist    the paper's ImageNet setting: T 1, beta = gamma = 1, CE 1
    kd_std  the authors' CIFAR-100 command: base temperature 2, KD weight 9, CE 0.1
    """
    builders = {"dkd": lambda: DKD(student, teacher, T=4.0, alpha=1.0, beta=8.0,
                                   warmup=max(1, round(epochs * 20 / 240))),
                "dkd_imagenet": lambda: DKD(student, teacher, T=1.0, alpha=1.0, beta=0.5,
                                            warmup=max(1, round(epochs / 100))),
                "dist": lambda: DIST(student, teacher, T=1.0, beta=1.0, gamma=1.0),
                "kd_std": lambda: StandardizedKD(student, teacher, T=2.0, kd=9.0, ce=0.1)}
    if name not in builders:
        raise ValueError(f"the logit baselines are {sorted(builders)}, not {name!r}")
    return builders[name]()
