"""Distillation losses as pure functions, each beside its equation.

Notation: s, t are student and teacher logits of shape (B, K); y are integer
labels; T > 0 is the temperature; p^T = softmax(z / T).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def check_temperature(T: float) -> float:
    if not isinstance(T, (int, float)) or isinstance(T, bool) or not math.isfinite(T) or T <= 0:
        raise ValueError(f"temperature T must be a finite number > 0, got {T!r}")
    return float(T)


def check_alpha(alpha: float) -> float:
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    return float(alpha)


def check_pair(student_logits: Tensor, teacher_logits: Tensor) -> None:
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student and teacher logits must have the same shape, got {tuple(student_logits.shape)} "
            f"and {tuple(teacher_logits.shape)}: do teacher and student predict the same number of classes?")
    if student_logits.dim() != 2:
        raise ValueError(f"logits must be (batch, classes), got shape {tuple(student_logits.shape)}")


def soft_targets(logits: Tensor, T: float) -> Tensor:
    """Softmax with temperature (seed 000 eq. 1): p_i = exp(z_i / T) / sum_j exp(z_j / T)."""
    T = check_temperature(T)
    return torch.softmax(logits / T, dim=-1)


def kd_loss(student_logits: Tensor, teacher_logits: Tensor, T: float) -> Tensor:
    """Hinton's distillation term, T^2 * KL(p_t^T || p_s^T), averaged over the batch.

    KL(q || p) = sum_i q_i (log q_i - log p_i).  The T^2 factor keeps the
    gradient's magnitude independent of T: d/ds_i [KL] = (p_s,i - q_i) / T.
    """
    T = check_temperature(T)
    check_pair(student_logits, teacher_logits)
    log_p = F.log_softmax(student_logits / T, dim=-1)
    log_q = F.log_softmax(teacher_logits / T, dim=-1)
    return F.kl_div(log_p, log_q, reduction="batchmean", log_target=True) * (T * T)


def kd_objective(student_logits: Tensor, teacher_logits: Tensor, targets: Tensor, T: float,
                 alpha: float) -> dict[str, Tensor]:
    """The KD objective (seed 000 eq. 3, seed 004 eq. 4).

    total = alpha * T^2 KL(p_t^T || p_s^T) + (1 - alpha) * CE(y, p_s^1)
    Returns the named parts ``total``, ``ce`` and ``kd`` (``kd`` includes T^2).
    """
    alpha = check_alpha(alpha)
    kd = kd_loss(student_logits, teacher_logits, T)
    ce = F.cross_entropy(student_logits, targets)
    return {"total": alpha * kd + (1.0 - alpha) * ce, "ce": ce, "kd": kd}


def logit_mse(student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
    """Logit matching (Caruana; seed 002 section 2.3): mean over batch and classes of (s - t)^2."""
    check_pair(student_logits, teacher_logits)
    return F.mse_loss(student_logits, teacher_logits)


def soft_cross_entropy(student_logits: Tensor, target_probs: Tensor, T: float = 1.0) -> Tensor:
    """Cross-entropy against soft targets (seed 004 eq. 2), averaged over the batch.

    L = - sum_i q_i log p_i^T,  with q the target distribution (rows sum to 1).
    It differs from KL(q || p^T) only by the entropy of q, a constant in s, so
    both give the same gradient.
    """
    T = check_temperature(T)
    check_pair(student_logits, target_probs)
    if target_probs.min() < 0 or not torch.allclose(target_probs.sum(-1), torch.ones(
            len(target_probs), dtype=target_probs.dtype, device=target_probs.device), atol=1e-4):
        raise ValueError("target_probs must be probabilities (non-negative rows summing to 1); "
                         "pass soft_targets(teacher_logits, T), not raw logits")
    return -(target_probs * F.log_softmax(student_logits / T, dim=-1)).sum(-1).mean()


def entropy(probs: Tensor) -> Tensor:
    """Shannon entropy in nats of each row: H(p) = - sum_i p_i log p_i."""
    return -(probs * probs.clamp_min(1e-12).log()).sum(-1)
