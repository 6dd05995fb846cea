"""In-place distillation of flexible networks, with teacher assistants (seed 003, eqs. 4-7).

A flexible network has n sub-models sharing their weights, enumerated from
the smallest (i = 1) to the largest (i = n); ``logits`` is the list of their
outputs a[1..n] in that order.  With CE(a, y) the cross-entropy (eq. 1) and
KD(a_s, a_t) = tau^2 KL(softmax(a_t / tau) || softmax(a_s / tau)) (eq. 2,
``kd_loss``), the four training schemes are

  none  (eq. 4)  L = sum_{i=1..n} CE(a[i], y)
  ipkd  (eq. 5)  L = CE(a[n], y) + (1 - lam) sum_{i<n} CE(a[i], y) + lam sum_{i<n} KD(a[i], a[n])
  ta1   (eq. 6)  ... + lam sum_{i<n} KD(a[i], a[i+1])
  tam   (eq. 7)  ... + lam sum_{i<n} 1/(n-i) sum_{j=i+1..n} KD(a[i], a[j])

A sub-model in the role of a teacher is detached: it is just an input to the
loss (seed 003 footnote 3), so no gradient flows from a KD term into it.
``soft_ce=True`` uses the soft cross-entropy tau^2 H(softmax(a_t/tau),
softmax(a_s/tau)) in place of the KL divergence, as seed 003 does for the
slimmable network (after the slimmable code base); it differs from the KL
term by the teacher's entropy, a constant in the student, so the gradients
are the same and only the reported value changes.

Seed 003 prints eq. (2) as D_KL(softmax(a_s/tau), softmax(a_t/tau)) with
D_KL(x, z) = sum x log(x / z), i.e. the student first; it cites Hinton et al.
for it, whose term is KL(teacher || student), which is what ``kd_loss``
computes and what this module uses.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from .core import check_alpha, check_temperature, kd_loss, soft_cross_entropy, soft_targets

Tensor = torch.Tensor
SCHEMES = ("none", "ipkd", "ta1", "tam")


def check_scheme(scheme: str) -> str:
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES} (eqs. 4, 5, 6, 7 of seed 003), got {scheme!r}")
    return scheme


def teachers_of(i: int, n: int, scheme: str) -> list[tuple[int, float]]:
    """(teacher index, weight) pairs for sub-model ``i`` (0-based, i < n - 1) under ``scheme``."""
    check_scheme(scheme)
    if scheme == "none":
        return []
    if scheme == "ipkd":
        return [(n - 1, 1.0)]
    if scheme == "ta1":
        return [(i + 1, 1.0)]
    return [(j, 1.0 / (n - 1 - i)) for j in range(i + 1, n)]


def ipkd_loss(logits: Sequence[Tensor], targets: Tensor, T: float, lam: float, scheme: str,
              soft_ce: bool = False) -> dict[str, Tensor]:
    """Seed 003 eqs. (4)-(7) on a flexible network's sub-model logits (smallest first), batch-averaged.

    Returns the named parts ``total``, ``ce_largest`` = CE(a[n], y),
    ``ce`` = sum_{i<n} CE(a[i], y) and ``kd`` = the (weighted) sum of KD
    terms (zero for ``none``), so that total = ce_largest + ce for ``none``
    and total = ce_largest + (1 - lam) ce + lam kd for the others.
    """
    check_scheme(scheme)
    T, lam = check_temperature(T), check_alpha(lam)
    if not isinstance(logits, (list, tuple)) or len(logits) < 2:
        got = f"a list of {len(logits)}" if isinstance(logits, (list, tuple)) else type(logits).__name__
        raise ValueError(f"logits must be a list of at least 2 sub-models' logits (smallest first), got {got}")
    shapes = {tuple(a.shape) for a in logits}
    if len(shapes) != 1 or logits[0].dim() != 2:
        raise ValueError(f"every sub-model's logits must have the same (batch, classes) shape, got {sorted(shapes)}")
    n = len(logits)

    def kd(student: Tensor, teacher: Tensor) -> Tensor:
        teacher = teacher.detach()
        if soft_ce:
            return soft_cross_entropy(student, soft_targets(teacher, T), T) * (T * T)
        return kd_loss(student, teacher, T)

    ce_largest = F.cross_entropy(logits[-1], targets)
    ce = sum(F.cross_entropy(a, targets) for a in logits[:-1])
    kd_sum = sum((w * kd(logits[i], logits[j]) for i in range(n - 1) for j, w in teachers_of(i, n, scheme)),
                 torch.zeros((), device=ce_largest.device))
    if scheme == "none":
        total = ce_largest + ce
    else:
        total = ce_largest + (1.0 - lam) * ce + lam * kd_sum
    return {"total": total, "ce_largest": ce_largest, "ce": ce, "kd": kd_sum}
