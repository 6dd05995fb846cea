"""Distillation losses, pure functions first; one file per family, all re-exported here.

core       soft_targets, kd_loss, kd_objective, logit_mse, soft_cross_entropy, entropy
"""
from .core import (check_alpha, check_pair, check_temperature, entropy, kd_loss, kd_objective, logit_mse,
                   soft_cross_entropy, soft_targets)

__all__ = ["check_alpha", "check_pair", "check_temperature", "entropy", "kd_loss", "kd_objective",
           "logit_mse", "soft_cross_entropy", "soft_targets"]
