"""Exercises of notebook 08 (subclass distillation)."""
from __future__ import annotations

import math

import torch

from . import Wrong, call_student, close, exercise, expect


@exercise("08.1", "easy", "read the auxiliary-weight sweep: which beta leaves the fewest effective subclasses")
def _ex1(answer, *, sweep, subclasses):
    rows = sweep[(sweep["s"] == subclasses) & (sweep["n"] == sweep["n"].max())]
    expect(len(rows) >= 2, "the sweep has fewer than two values of beta at this s; rerun section 6")
    best = float(rows.loc[rows["effective subclasses"].idxmin(), "beta"])
    close(answer, best, abs_=1e-9, what="beta")
    return f"beta = {best:g} leaves {rows['effective subclasses'].min():.2f} effective subclasses"


@exercise("08.2", "medium", "purity from the subclass-against-digit matrix")
def _ex2(answer, *, assigned, digits):
    from .. import metrics
    target = metrics.cluster_purity(assigned, digits)
    close(answer, target, abs_=1e-4, what="purity")
    return f"purity {target:.4f}"


def _reference_probs(z: torch.Tensor, C: int) -> torch.Tensor:
    from .. import losses
    return torch.softmax(losses.class_logits_from_subclass(z, C), 1)


@exercise("08.3", "medium", "class probabilities from subclass logits (Listing 1)")
def _ex3(answer, **_):
    expect(callable(answer), "define the function my_class_probs(z, C)")
    gen = torch.Generator().manual_seed(8)
    cases = [(torch.randn(6, 2 * 5, generator=gen), 2), (torch.randn(4, 10 * 2, generator=gen) * 3, 10),
             (torch.randn(3, 3, generator=gen), 3),                      # one subclass per class: a plain softmax
             (torch.randn(5, 4 * 3, generator=gen) * 1000, 4)]           # large logits: must stay finite
    for z, C in cases:
        got = torch.as_tensor(call_student(answer, z.clone(), C))
        want = _reference_probs(z, C)
        expect(tuple(got.shape) == tuple(want.shape),
               f"for z of shape {tuple(z.shape)} and C = {C} the result should have shape {tuple(want.shape)}, "
               f"got {tuple(got.shape)}")
        expect(bool(torch.isfinite(got).all()), f"non-finite probabilities for logits of size {z.abs().max():.0f}: "
               "use a numerically stable softmax")
        expect(torch.allclose(got.double(), want.double(), atol=1e-5),
               f"wrong class probabilities for C = {C}, s = {z.shape[1] // C}: class c owns columns [c s, (c+1) s); "
               "take the softmax over all columns first, then sum within each class")
    return "matches Listing 1 on 4 cases"


@exercise("08.4", "hard", "the subclass auxiliary loss from its equation")
def _ex4(answer, **_):
    from .. import losses
    expect(callable(answer), "define the function my_aux_loss(z, T=1.0)")
    gen = torch.Generator().manual_seed(80)
    cases = [(torch.randn(16, 10, generator=gen), 1.0), (torch.randn(32, 20, generator=gen), 0.5),
             (torch.randn(8, 4, generator=gen), 2.0), (torch.randn(2, 10, generator=gen), 1.0),   # B = 2
             (torch.randn(12, 6, generator=gen) * 1000, 1.0)]                                     # scale-free
    for z, T in cases:
        got = call_student(answer, z.clone(), T)
        want = losses.subclass_aux_loss(z, T).item()
        try:
            value = float(got)
        except (TypeError, ValueError):
            raise Wrong(f"my_aux_loss should return one number (a 0-d tensor), got {got!r}") from None
        expect(math.isfinite(value), f"non-finite loss for B = {len(z)}, K = {z.shape[1]}, T = {T}")
        expect(abs(value - want) <= 1e-4 + 1e-4 * abs(want),
               f"for B = {len(z)}, K = {z.shape[1]}, T = {T}: got {value:.6f}, expected {want:.6f}. Check the "
               "normalisation (population std, divided by sqrt(K)), the 1/T, and the mean (not the sum) over j")
    return "matches kdcourse.losses.subclass_aux_loss on 5 cases"
