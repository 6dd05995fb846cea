"""Methods as distillers: one small ``nn.Module`` per method (mdistiller's pattern).

base      Distiller (the student, the teacher's outputs, the method's trainable parts), Batch
logit     CrossEntropy (no KD), KD (Hinton), SoftTargets / LogitMSE / Softened (Born-Again Networks, seed 002)
flexible  InPlace: IPKD and its teacher-assistant schemes for flexible networks (seed 003 eqs. 4-7)
feature   FeatureKD: FitNets, AT, RRD and RRD+KD (seed 001 and its baselines)
subclass  SubclassTeacher, SubclassKD (Mueller et al. 2020)
modern    DKD (Zhao et al. 2022), DIST (Huang et al. 2022), StandardizedKD (KD on standardized logits, Sun et
          al. 2024), CRD and CRD+KD (Tian et al. 2020)

``METHODS`` maps each method's short name to its class, for the command line.
"""
from torch import nn

from .base import Batch, Distiller
from .feature import FeatureKD
from .flexible import InPlace
from .logit import KD, CrossEntropy, LogitMSE, Softened, SoftTargets
from .modern import CRD, DIST, DKD, LOGIT_BASELINES, R34_R18_BASELINES, StandardizedKD, logit_baseline
from .subclass import SubclassKD, SubclassTeacher

METHODS: dict[str, type[Distiller]] = {
    "ce": CrossEntropy, "kd": KD, "ban": SoftTargets, "logit_mse": LogitMSE, "softened": Softened,
    "ipkd": InPlace, "feature": FeatureKD, "subclass_teacher": SubclassTeacher, "subclass_kd": SubclassKD,
    "dkd": DKD, "dist": DIST, "kd_std": StandardizedKD, "crd": CRD,
}


def as_distiller(model_or_distiller: nn.Module) -> Distiller:
    """A distiller as it is; a bare model becomes :class:`CrossEntropy` (trained on the labels alone)."""
    if isinstance(model_or_distiller, Distiller):
        return model_or_distiller
    if not isinstance(model_or_distiller, nn.Module):
        raise TypeError(f"fit needs a Distiller or an nn.Module, got {type(model_or_distiller).__name__}")
    return CrossEntropy(model_or_distiller)


__all__ = ["Batch", "Distiller", "METHODS", "as_distiller", "CrossEntropy", "KD", "SoftTargets", "LogitMSE",
           "Softened", "InPlace", "FeatureKD", "SubclassTeacher", "SubclassKD", "DKD", "DIST", "StandardizedKD",
           "CRD", "LOGIT_BASELINES", "R34_R18_BASELINES", "logit_baseline"]
