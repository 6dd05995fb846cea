"""Subclass distillation (Mueller, Kornblith & Hinton 2020; seed 004 Task 1 Q12, Listings 1-2).

The teacher has ``C * s`` outputs: class ``c`` owns the contiguous subclass
indices ``[c*s, (c+1)*s)``.  It is trained on the class labels only, with an
auxiliary loss that makes it spread the examples over all the subclasses; the
student then matches the teacher's *subclass* distribution, which carries more
information than a distribution over a few classes.

Notation: z are subclass logits of shape (B, K), K = C * s; y are class labels.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .core import check_alpha, check_pair, check_temperature, kd_loss

Tensor = torch.Tensor


def _check_subclass_logits(subclass_logits: Tensor, num_classes: int) -> int:
    if subclass_logits.dim() != 2:
        raise ValueError(f"subclass logits must be (batch, classes * subclasses), got shape "
                         f"{tuple(subclass_logits.shape)}")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    k = subclass_logits.shape[1]
    if k % num_classes:
        raise ValueError(f"{k} subclass logits cannot be split evenly into {num_classes} classes: "
                         "give the model num_classes * subclasses_per_class outputs")
    return k // num_classes


def class_logits_from_subclass(subclass_logits: Tensor, num_classes: int) -> Tensor:
    """Class logits from subclass logits (seed 004 Listing 1, in log space).

    class c owns subclasses [c*s, (c+1)*s) and its logit is
    ``log sum_{k in c} exp(z_k)`` (logsumexp over the group), so that
    ``softmax(class logits)_c = sum_{k in c} softmax(z)_k``: the summed subclass
    probabilities of Listing 1, without leaving log space.
    """
    s = _check_subclass_logits(subclass_logits, num_classes)
    return torch.logsumexp(subclass_logits.reshape(len(subclass_logits), num_classes, s), dim=-1)


def normalise_subclass_logits(subclass_logits: Tensor, eps: float = 1e-9) -> Tensor:
    """Each row centred, divided by its population standard deviation and by sqrt(K).

    The rows then have unit L2 norm, so ``n_i . n_j`` is the Pearson correlation
    between examples i and j's subclass logits.
    """
    k = subclass_logits.shape[-1]
    mean = subclass_logits.mean(-1, keepdim=True)
    var = subclass_logits.var(-1, unbiased=False, keepdim=True)
    return (subclass_logits - mean) / torch.sqrt(var + eps) / math.sqrt(k)


def subclass_aux_loss(subclass_logits: Tensor, T: float = 1.0, chunk: int = 2048) -> Tensor:
    """The auxiliary loss that makes the teacher use all its subclasses (seed 004 Listing 2).

    With n_i the normalised logits of example i (:func:`normalise_subclass_logits`)
    and c_ij = n_i . n_j their Pearson correlation,

        L_aux = - mean_i log( exp(c_ii / T) / mean_j exp(c_ij / T) ),  j over the batch.

    It is a contrastive loss: each example should be similar to itself and
    unlike the others, which pushes different examples onto different
    subclasses.  It equals Mueller et al.'s
    ``mean_i logsumexp_j(c_ij / T) - 1/T - log B`` (c_ii = 1).  Rows are processed
    ``chunk`` at a time, so whole evaluation sets fit in memory; the value is exact.
    """
    T = check_temperature(T)
    if subclass_logits.dim() != 2 or len(subclass_logits) < 2:
        raise ValueError(f"subclass_aux_loss needs a (batch >= 2, K) tensor, got {tuple(subclass_logits.shape)}")
    n = normalise_subclass_logits(subclass_logits.float())
    lse = torch.cat([torch.logsumexp(n[i:i + chunk] @ n.T / T, dim=1) for i in range(0, len(n), chunk)])
    c_ii = (n * n).sum(-1)
    return (lse - math.log(len(n)) - c_ii / T).mean()


def subclass_kd_loss(student_subclass_logits: Tensor, teacher_subclass_logits: Tensor, T: float) -> Tensor:
    """Subclass distillation: T^2 KL(teacher's subclass distribution || student's) at temperature T.

    This is :func:`kdcourse.losses.kd_loss` applied to the subclass logits (the
    soft labels of seed 004 Q12 are the teacher's subclass probabilities).
    """
    check_pair(student_subclass_logits, teacher_subclass_logits)
    return kd_loss(student_subclass_logits, teacher_subclass_logits, T)


def subclass_teacher_loss(subclass_logits: Tensor, targets: Tensor, num_classes: int, beta: float = 1.0,
                          T_aux: float = 1.0) -> dict[str, Tensor]:
    """The subclass teacher's objective: total = CE(y, softmax(class logits)) + beta * L_aux.

    Returns the parts ``total``, ``ce`` and ``aux``.
    """
    if not isinstance(beta, (int, float)) or isinstance(beta, bool) or beta < 0:
        raise ValueError(f"beta must be a number >= 0, got {beta!r}")
    ce = F.cross_entropy(class_logits_from_subclass(subclass_logits, num_classes), targets)
    aux = subclass_aux_loss(subclass_logits, T_aux)
    return {"total": ce + beta * aux, "ce": ce, "aux": aux}


def subclass_kd_objective(student_subclass_logits: Tensor, teacher_subclass_logits: Tensor, targets: Tensor,
                          num_classes: int, T: float, alpha: float) -> dict[str, Tensor]:
    """The subclass-distilled student's objective (Mueller et al. 2020's demo colab):

    total = alpha * T^2 KL(p_t^T || p_s^T over subclasses) + (1 - alpha) * CE(y, softmax(class logits))
    Returns ``total``, ``ce`` and ``kd`` (``kd`` includes T^2).
    """
    alpha = check_alpha(alpha)
    kd = subclass_kd_loss(student_subclass_logits, teacher_subclass_logits, T)
    ce = F.cross_entropy(class_logits_from_subclass(student_subclass_logits, num_classes), targets)
    return {"total": alpha * kd + (1.0 - alpha) * ce, "ce": ce, "kd": kd}
