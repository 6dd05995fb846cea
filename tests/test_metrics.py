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
