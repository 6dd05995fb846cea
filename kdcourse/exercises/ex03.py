"""Exercises of notebook 03 (MHIST transfer learning and KD): graded on what the notebook measured."""
from __future__ import annotations

import numpy as np
import torch

from . import close, exercise, expect


@exercise("03.1", "easy", "read the best temperature off the Fig. 8 sweep (validation)")
def _(answer, *, sweep):
    best = float(sweep.groupby("T")["val_weighted_f1"].mean().idxmax())
    close(answer, best, abs_=1e-9, what="T")
    return f"T = {answer:g} has the highest mean validation weighted F1"


def weighted_f1_from_confusion(mat) -> float:
    """Support-weighted F1 of a confusion matrix (rows: true class, columns: predicted)."""
    mat = np.asarray(mat, dtype=float)
    tp = np.diag(mat)
    precision = np.divide(tp, mat.sum(0), out=np.zeros_like(tp), where=mat.sum(0) > 0)
    recall = np.divide(tp, mat.sum(1), out=np.zeros_like(tp), where=mat.sum(1) > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=precision + recall > 0)
    return float((f1 * mat.sum(1)).sum() / mat.sum())


@exercise("03.2", "medium", "the weighted F1 of a confusion matrix, by hand")
def _(answer, *, confusion):
    target = weighted_f1_from_confusion(confusion)
    mat = np.asarray(confusion, dtype=float)
    expect(answer == answer, "the answer is nan: a class the model never predicts has precision 0/0; count its F1 "
                             "as 0 (as scikit-learn's zero_division=0 does)")
    expect(abs(float(answer) - float(np.trace(mat) / mat.sum())) > 1e-6 or abs(float(answer) - target) < 1e-4,
           "that is the accuracy, not the weighted F1")
    close(answer, target, abs_=1e-4, what="weighted F1")
    return f"weighted F1 = {float(answer):.4f}"


@exercise("03.3", "medium", "FLOPs of a depthwise-separable block relative to a 3x3 convolution")
def _(answer, *, blocks, c):
    measured = float(blocks.loc["MobileNet-V1 depthwise-separable", "flops / plain"])
    close(answer, measured, rel=0.02, what=f"FLOPs ratio at c = {c}")
    return f"{float(answer):.4f} matches the measured {measured:.4f} (1/9 + 1/c)"


def _cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(3)
    a, b = torch.rand(4, 3, 6, 5, generator=gen), torch.rand(4, 3, 6, 5, generator=gen)
    ties_a = torch.randint(0, 3, (3, 2, 4, 4), generator=gen).float()    # many ties: average ranks
    ties_b = torch.randint(0, 3, (3, 2, 4, 4), generator=gen).float()
    const = a.clone()
    const[1, 2] = 0.5                                                     # a constant map: NaN
    return [(a, b), (a, a), (a, -a), (ties_a, ties_b), (const, b)]


@exercise("03.4", "hard", "Spearman rank correlation per image and channel")
def _(answer, *, reference):
    for i, (a, b) in enumerate(_cases()):
        got = torch.as_tensor(answer(a, b), dtype=torch.float64)
        want = torch.as_tensor(reference(a, b), dtype=torch.float64)
        expect(tuple(got.shape) == tuple(want.shape), f"case {i}: shape {tuple(got.shape)}, expected {tuple(want.shape)} "
               "(one value per image and channel)")
        expect(bool((got.isnan() == want.isnan()).all()), f"case {i}: a constant map must give NaN, and only it")
        ok = ~want.isnan()
        expect(torch.allclose(got[ok], want[ok], atol=1e-6),
               f"case {i}: max deviation {float((got[ok] - want[ok]).abs().max()):.3g} from Spearman's rho "
               "(ties get their average rank)")
    return "matches saliency.channel_rank_correlation on random maps, ties and a constant map"
