"""Logit losses after Hinton's KD: decoupled KD, DIST and logit standardization.

Notation as in :mod:`kdcourse.losses.core`: s, t are student and teacher
logits of shape (B, C); y are integer labels; T > 0 is the temperature;
p^T = softmax(z / T); KL(q || p) = sum_i q_i (log q_i - log p_i).

dkd_loss            Decoupled KD (Zhao et al., CVPR 2022): alpha TCKD + beta NCKD
dist_loss           DIST (Huang et al., NeurIPS 2022): inter- and intra-class Pearson correlation
standardize_logits  logit standardization (Sun et al., CVPR 2024): a per-sample Z-score before KD
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .core import check_pair, check_temperature

Tensor = torch.Tensor
DIST_EPS = 1e-8   # the DIST authors' eps in the correlation's denominator
STD_EPS = 1e-7    # the logit-standardization authors' eps added to the standard deviation


def check_weight(name: str, value: float) -> float:
    """A loss weight: a finite number >= 0."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise ValueError(f"weight {name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _target_mask(logits: Tensor, targets: Tensor) -> Tensor:
    """The (B, C) boolean mask of each row's target class, after checking the targets."""
    batch, classes = logits.shape
    if classes < 2:
        raise ValueError(f"DKD needs at least two classes: logits of shape {tuple(logits.shape)} have no "
                         "non-target class")
    if targets.shape != (batch,) or targets.dtype.is_floating_point or targets.dtype == torch.bool:
        raise ValueError(f"targets must be integer class indices of shape ({batch},) for logits of shape "
                         f"{tuple(logits.shape)}, got {targets.dtype} of shape {tuple(targets.shape)}")
    if batch and (int(targets.min()) < 0 or int(targets.max()) >= classes):
        raise ValueError(f"targets must be class indices in [0, {classes}) for logits of shape "
                         f"{tuple(logits.shape)} (targets of shape {tuple(targets.shape)}), got values in "
                         f"[{int(targets.min())}, {int(targets.max())}]")
    return F.one_hot(targets.long(), classes).bool()


def _binary_log_probs(z: Tensor, target: Tensor) -> Tensor:
    """log b = log [p_target, 1 - p_target] of softmax(z), (B, 2), from log-sum-exps (no 1 - p cancellation)."""
    batch, classes = z.shape
    log_all = torch.logsumexp(z, dim=1)
    log_other = torch.logsumexp(z[~target].view(batch, classes - 1), dim=1)
    return torch.stack([z[target] - log_all, log_other - log_all], dim=1)


def dkd_loss(student_logits: Tensor, teacher_logits: Tensor, targets: Tensor, T: float, alpha: float = 1.0,
             beta: float = 8.0) -> Tensor:
    """Decoupled knowledge distillation (Zhao et al., CVPR 2022), averaged over the batch.

        DKD = T^2 * (alpha * KL(b_t || b_s) + beta * KL(p^_t || p^_s))

    b = [p_y, 1 - p_y] is the binary target-vs-rest distribution of p^T (the
    target-class KD, TCKD); p^ is the softmax at T over the C - 1 non-target
    classes alone (the non-target-class KD, NCKD), p^_i = p_i / (1 - p_y).
    Hinton's KD is TCKD + (1 - p_t,y) NCKD: DKD frees NCKD of the teacher's
    confidence with its own weight beta.

    Computed in log space: log b from log-sum-exps over all and over the
    non-target logits, and the non-target log-softmax over those C - 1 logits
    alone (exactly what the authors' ``logits / T - 1000 * gt_mask`` masking
    approximates).  Needs C >= 2 and targets in [0, C).
    """
    T = check_temperature(T)
    check_pair(student_logits, teacher_logits)
    alpha, beta = check_weight("alpha", alpha), check_weight("beta", beta)
    target = _target_mask(student_logits, targets)
    s, t = student_logits / T, teacher_logits / T
    tckd = F.kl_div(_binary_log_probs(s, target), _binary_log_probs(t, target), reduction="batchmean",
                    log_target=True)
    batch, classes = s.shape
    log_q_s = F.log_softmax(s[~target].view(batch, classes - 1), dim=1)
    log_q_t = F.log_softmax(t[~target].view(batch, classes - 1), dim=1)
    nckd = F.kl_div(log_q_s, log_q_t, reduction="batchmean", log_target=True)
    return (alpha * tckd + beta * nckd) * (T * T)


def _pearson_rows(a: Tensor, b: Tensor) -> Tensor:
    """The Pearson correlation of each row pair: <a - mean a, b - mean b> / (|a - mean a| |b - mean b| + eps)."""
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + DIST_EPS)


def dist_loss(student_logits: Tensor, teacher_logits: Tensor, T: float = 1.0, beta: float = 1.0,
              gamma: float = 1.0) -> Tensor:
    """DIST, knowledge distillation from a stronger teacher (Huang et al., NeurIPS 2022).

        DIST = T^2 * (beta * (1 - mean_i rho(p_s[i, :], p_t[i, :]))      inter-class relation
                    + gamma * (1 - mean_c rho(p_s[:, c], p_t[:, c])))    intra-class relation

    with p = softmax(z / T) and rho the Pearson correlation: of each sample's
    class probabilities (a row), and of each class's probabilities across the
    batch (a column).  Only the relations are matched, not the values: a
    student whose probabilities are an increasing affine map of the
    teacher's has zero loss.  As in the authors' code, the correlation's
    denominator is |a - mean a| |b - mean b| + 1e-8, so a constant row or
    column (e.g. any column of a one-sample batch) has correlation 0.
    """
    T = check_temperature(T)
    check_pair(student_logits, teacher_logits)
    beta, gamma = check_weight("beta", beta), check_weight("gamma", gamma)
    p_s, p_t = torch.softmax(student_logits / T, dim=1), torch.softmax(teacher_logits / T, dim=1)
    inter = 1.0 - _pearson_rows(p_s, p_t).mean()
    intra = 1.0 - _pearson_rows(p_s.T, p_t.T).mean()
    return (beta * inter + gamma * intra) * (T * T)


def standardize_logits(z: Tensor) -> Tensor:
    """Logit standardization (Sun et al., CVPR 2024, Algorithm 1): a Z-score of each sample's logits.

        Z(z) = (z - mean(z)) / (std(z) + 1e-7),   mean and std over the classes (the last dimension)

    std with Bessel's correction (unbiased), as in the authors' code.  Z(a z + b)
    = Z(z) for any a > 0 and shift b of a sample's logits, so KD on
    standardized logits matches the teacher's logit *relations*, not their
    range.  Constant logits give zeros (finite; the gradient there is of
    order 1 / 1e-7, as in the authors' code).
    """
    if z.dim() < 1 or z.shape[-1] < 2:
        raise ValueError(f"standardize_logits needs at least two logits per sample, got shape {tuple(z.shape)}")
    return (z - z.mean(dim=-1, keepdim=True)) / (z.std(dim=-1, keepdim=True) + STD_EPS)
