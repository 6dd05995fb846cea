"""Notebook 03's exercise checks: the right answer passes, plausible wrong ones raise Wrong, stubs fail."""
import numpy as np
import pandas as pd
import pytest
import torch

from kdcourse import exercises, saliency
from kdcourse.experiments import architecture


def _sweep():
    rows = [{"T": T, "seed": s, "val_weighted_f1": v + 0.001 * s, "test_weighted_f1": 0.8}
            for T, v in ((1.0, 0.80), (2.0, 0.85), (4.0, 0.82)) for s in (0, 1)]
    return pd.DataFrame(rows)


def test_03_1_best_temperature():
    assert exercises.check("03.1", 2.0, sweep=_sweep())
    with pytest.raises(exercises.Wrong):
        exercises.check("03.1", 4.0, sweep=_sweep())
    with pytest.raises(exercises.NotAnswered):
        exercises.check("03.1", None, sweep=_sweep())


def test_03_2_weighted_f1_by_hand():
    cm = np.array([[500, 117], [90, 270]])
    tp = np.diag(cm).astype(float)
    p, r = tp / cm.sum(0), tp / cm.sum(1)
    f1 = 2 * p * r / (p + r)
    right = float((f1 * cm.sum(1)).sum() / cm.sum())
    assert exercises.check("03.2", right, confusion=cm)
    with pytest.raises(exercises.Wrong):                     # the accuracy instead
        exercises.check("03.2", np.trace(cm) / cm.sum(), confusion=cm)
    with pytest.raises(exercises.Wrong):                     # the unweighted (macro) F1
        exercises.check("03.2", float(f1.mean()), confusion=cm)


def test_03_3_depthwise_ratio():
    blocks = architecture.block_costs(c=16, h=8)
    assert exercises.check("03.3", 1 / 16 + 1 / 9, blocks=blocks, c=16)
    with pytest.raises(exercises.Wrong):                     # the depthwise part alone
        exercises.check("03.3", 1 / 9, blocks=blocks, c=16)


def test_03_4_channel_rho():
    ref = saliency.channel_rank_correlation
    assert exercises.check("03.4", ref, reference=ref)

    def pearson_not_ranks(a, b):
        B, C = a.shape[:2]
        x, y = a.reshape(B * C, -1).double(), b.reshape(B * C, -1).double()
        x, y = x - x.mean(1, keepdim=True), y - y.mean(1, keepdim=True)
        return ((x * y).sum(1) / ((x ** 2).sum(1) * (y ** 2).sum(1)).sqrt()).reshape(B, C)

    def one_per_image(a, b):
        return saliency.rank_correlation(a, b)

    for wrong in (pearson_not_ranks, one_per_image):
        with pytest.raises(exercises.Wrong):
            exercises.check("03.4", wrong, reference=ref)

    def stub(a, b):
        raise NotImplementedError

    with pytest.raises(NotImplementedError):
        exercises.check("03.4", stub, reference=ref)
