"""Metrics against values worked by hand."""
import numpy as np
import pytest
import torch

from kdcourse import metrics

Y = torch.tensor([0, 0, 1, 1, 1, 2])
P = torch.tensor([0, 1, 1, 1, 0, 2])


def test_accuracy_from_labels_and_logits():
    assert metrics.accuracy(P, Y) == pytest.approx(4 / 6)
    logits = torch.nn.functional.one_hot(P, 3).float() * 5
    assert metrics.accuracy(logits, Y) == pytest.approx(4 / 6)


def test_per_class_accuracy_by_hand():
    df = metrics.per_class_accuracy(P, Y, ["a", "b", "c"])
    assert df["correct"].tolist() == [1, 2, 1] and df["support"].tolist() == [2, 3, 1]
    assert df["accuracy"].tolist() == pytest.approx([0.5, 2 / 3, 1.0])


def test_confusion_by_hand():
    assert metrics.confusion(P, Y, 3).tolist() == [[1, 1, 0], [1, 2, 0], [0, 0, 1]]


def test_f1_by_hand():
    out = metrics.f1_scores(P, Y, 3)
    # class 0: precision 1/2, recall 1/2 -> 0.5; class 1: P 2/3, R 2/3 -> 2/3; class 2: 1
    assert out["per_class"] == pytest.approx([0.5, 2 / 3, 1.0])
    assert out["weighted"] == pytest.approx((2 * 0.5 + 3 * 2 / 3 + 1 * 1.0) / 6)


def test_ece_by_hand():
    # two samples at confidence 0.9 (one right, one wrong) and one at 0.6 (right)
    probs = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4]])
    logits = probs.log()
    y = torch.tensor([0, 1, 0])
    # bins of width 0.1: |0.5 - 0.9| * 2/3 + |1 - 0.6| * 1/3 = 0.26667 + 0.13333
    assert metrics.expected_calibration_error(logits, y, n_bins=10) == pytest.approx(0.4, abs=1e-5)


def test_agreement_and_summary():
    a = torch.tensor([[2.0, 1.0], [0.0, 1.0], [3.0, 0.0]])
    b = torch.tensor([[1.0, 2.0], [0.0, 1.0], [1.0, 0.0]])
    assert metrics.agreement(a, b) == pytest.approx(2 / 3)
    s = metrics.summary(a, torch.tensor([0, 1, 1]), b)
    assert s["accuracy"] == pytest.approx(2 / 3) and s["agreement"] == pytest.approx(2 / 3)
    assert 0 <= s["ece"] <= 1 and 0 <= s["weighted_f1"] <= 1


def test_verdict_by_hand():
    # a: mean 0.92, std 0.02 (ddof 1); b: mean 0.85, std 0.01 -> gain 0.07, noise 2 x 0.02 = 0.04
    gain, noise, word = metrics.verdict([0.90, 0.92, 0.94], [0.84, 0.85, 0.86], better="KD beats no KD beyond 2 std")
    assert gain == pytest.approx(0.07) and noise == pytest.approx(0.04) and word == "KD beats no KD beyond 2 std"
    # the other way round: the same gain, negative, beyond the noise
    assert metrics.verdict([0.84, 0.85, 0.86], [0.90, 0.92, 0.94])[2] == "WORSE, beyond 2 std"
    # |gain| 0.01 < noise 0.04: within noise
    gain, noise, word = metrics.verdict([0.90, 0.92, 0.94], [0.91, 0.91, 0.91])
    assert gain == pytest.approx(0.01) and noise == pytest.approx(0.04) and word == "within noise"


def test_verdict_needs_two_seeds_per_side():
    with pytest.raises(ValueError, match="at least 2 seeds"):
        metrics.verdict([0.9], [0.8, 0.85])
