"""Distillation losses, pure functions first; one file per family, all re-exported here.

core       soft_targets, kd_loss, kd_objective, logit_mse, soft_cross_entropy, entropy
subclass   class_logits_from_subclass, subclass_aux_loss, subclass_kd_loss, subclass_teacher_loss,
           subclass_kd_objective (Mueller et al. 2020)
relational RRDLoss (seed 001 Algorithm 1), FitNetsLoss, attention_map, at_loss
ipkd       ipkd_loss: in-place KD of flexible networks, schemes none / ipkd / ta1 / tam (seed 003 eqs. 4-7)
logit      dkd_loss (Zhao et al. 2022), dist_loss (Huang et al. 2022), standardize_logits (Sun et al. 2024),
           check_weight
crd        CRDLoss: contrastive representation distillation with a momentum memory bank (Tian et al. 2020)
"""
from .core import (check_alpha, check_pair, check_temperature, entropy, kd_loss, kd_objective, logit_mse,
                   soft_cross_entropy, soft_targets)

__all__ = ["check_alpha", "check_pair", "check_temperature", "entropy", "kd_loss", "kd_objective",
           "logit_mse", "soft_cross_entropy", "soft_targets"]

from .subclass import (class_logits_from_subclass, normalise_subclass_logits, subclass_aux_loss,  # noqa: E402
                       subclass_kd_loss, subclass_kd_objective, subclass_teacher_loss)
__all__ += ["class_logits_from_subclass", "normalise_subclass_logits", "subclass_aux_loss", "subclass_kd_loss",
            "subclass_kd_objective", "subclass_teacher_loss"]

from .relational import FitNetsLoss, RRDLoss, at_loss, attention_map  # noqa: E402
__all__ += ["FitNetsLoss", "RRDLoss", "at_loss", "attention_map"]

from .ipkd import SCHEMES, ipkd_loss  # noqa: E402
__all__ += ["SCHEMES", "ipkd_loss"]

from .logit import check_weight, dist_loss, dkd_loss, standardize_logits  # noqa: E402
__all__ += ["check_weight", "dist_loss", "dkd_loss", "standardize_logits"]

from .crd import CRDLoss  # noqa: E402
__all__ += ["CRDLoss"]
