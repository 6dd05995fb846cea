"""Checks of notebook 06's exercises (in-place distillation with teacher assistants, seed 003)."""
from __future__ import annotations

import math

import torch

from . import close, exercise, expect


@exercise("06.1", "easy", "read a gain off the MSDNet table")
def _(answer, *, table):
    """``table``: ``ipkd.ours(results, "msdnet", title)`` of the run (rows Exit 1 ..., Avg; columns schemes)."""
    target = float(table.loc["Exit 1", "IPKD-TA-M"] - table.loc["Exit 1", "No dist."])
    close(answer, target, abs_=0.011, what="IPKD-TA-M - No dist. at Exit 1 (points)")
    return f"at Exit 1, IPKD-TA-M - No dist. = {target:+.2f} points in this run"


@exercise("06.2", "medium", "channel counts of a slimmed layer (make_divisible)")
def _(answer, *, divisor=8):
    """``answer``: the student's ``my_channels(c, w, divisor)``; graded against ``models.flexible.make_divisible``
    on a grid of channel counts and widths, including the floor at ``divisor`` and the 10 % rule."""
    from ..models.flexible import make_divisible
    expect(callable(answer), "define the function my_channels(c, w, divisor)")
    cases = [(c, w, d) for d in sorted({4, 8, int(divisor)}) for w in (0.25, 0.3, 0.35, 0.5, 0.75, 1.0)
             for c in (1, 3, 8, 16, 20, 24, 32, 44, 48, 64, 100, 128, 250, 512, 1000, 1024)]
    for c, w, d in cases:
        got, want = answer(c, w, d), make_divisible(c * w, d)
        expect(isinstance(got, (int,)) or (isinstance(got, float) and got.is_integer()),
               f"my_channels({c}, {w}, {d}) should be a whole number of channels, got {got!r}")
        expect(int(got) == want, f"my_channels({c}, {w}, {d}) = {got}, but the slimmable code keeps {want} channels "
                                 f"(c*w = {c * w:g}, ceil = {math.ceil(c * w)}): round to the nearest multiple of "
                                 f"the divisor, at least the divisor, and add one divisor if that lost over 10 %")
    return f"matches make_divisible on {len(cases)} (c, w, divisor) cases"


def _ta1_reference(logits, targets, T, lam):
    from ..losses import ipkd_loss
    return ipkd_loss(logits, targets, T, lam, "ta1")["total"]


@exercise("06.3", "hard", "implement IPKD-TA-1 (eq. 6)")
def _(answer, *, seed=0):
    """``answer``: the student's ``my_ipkd_ta1(logits, targets, T, lam)``; its value and its gradients with
    respect to every sub-model's logits must match ``losses.ipkd_loss(..., "ta1")`` (teachers detached)."""
    expect(callable(answer), "define the function my_ipkd_ta1(logits, targets, T, lam)")
    gen = torch.Generator().manual_seed(seed)
    cases = [(2, 1, 3, 1.0, 0.8), (3, 5, 4, 5.0, 0.8), (4, 8, 10, 2.0, 0.0), (4, 8, 10, 2.0, 1.0),
             (7, 3, 100, 5.0, 0.8), (3, 4, 2, 0.5, 0.3)]
    for n, batch, classes, T, lam in cases:
        base = [torch.randn(batch, classes, generator=gen) * 3 for _ in range(n)]
        y = torch.randint(0, classes, (batch,), generator=gen)
        mine_in = [a.clone().requires_grad_(True) for a in base]
        ref_in = [a.clone().requires_grad_(True) for a in base]
        mine = answer(mine_in, y, T, lam)
        expect(isinstance(mine, torch.Tensor) and mine.dim() == 0,
               f"my_ipkd_ta1 should return a scalar tensor, got {type(mine).__name__}"
               + (f" of shape {tuple(mine.shape)}" if isinstance(mine, torch.Tensor) else ""))
        ref = _ta1_reference(ref_in, y, T, lam)
        case = f"n = {n} sub-models, batch {batch}, {classes} classes, T = {T:g}, lambda = {lam:g}"
        expect(torch.allclose(mine.detach(), ref.detach(), rtol=1e-5, atol=1e-6),
               f"{case}: loss {float(mine.detach()):.6f}, expected {float(ref.detach()):.6f}. Sub-model i learns from i + 1 (not from "
               f"the largest), KD = tau^2 KL(teacher || student) averaged over the batch, weights 1 - lambda and "
               f"lambda, and the largest sub-model on the labels only")
        expect(mine.requires_grad, f"{case}: the loss carries no gradient; do not detach the students' logits")
        mine.backward()
        ref.backward()
        for i, (a, b) in enumerate(zip(mine_in, ref_in)):
            ga = torch.zeros_like(a) if a.grad is None else a.grad
            expect(torch.allclose(ga, b.grad, rtol=1e-4, atol=1e-6),
                   f"{case}: the gradient with respect to sub-model {i + 1}'s logits is wrong. The loss value is "
                   f"right, so look at the teachers: a sub-model in the role of a teacher is only an input "
                   f"(seed 003 footnote 3), detach it")
    return f"value and gradients match losses.ipkd_loss(..., 'ta1') in {len(cases)} cases"
