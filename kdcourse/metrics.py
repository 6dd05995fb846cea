"""Classification metrics on logits (or predicted labels) and integer targets."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import confusion_matrix, f1_score

Tensor = torch.Tensor


def _labels(pred: Tensor) -> np.ndarray:
    pred = torch.as_tensor(pred)
    return (pred.argmax(-1) if pred.dim() == 2 else pred).cpu().numpy()


def accuracy(pred: Tensor, targets: Tensor) -> float:
    """Top-1 accuracy; ``pred`` is logits (N, K) or labels (N,)."""
    return float((_labels(pred) == torch.as_tensor(targets).cpu().numpy()).mean())


def per_class_accuracy(pred: Tensor, targets: Tensor, classes: list[str] | None = None) -> pd.DataFrame:
    """Accuracy of each class: correct / support, with the counts (seed 004 Table I's 'x/y')."""
    y, p = torch.as_tensor(targets).cpu().numpy(), _labels(pred)
    k = len(classes) if classes else int(max(y.max(), p.max())) + 1
    rows = []
    for c in range(k):
        mask = y == c
        rows.append({"class": classes[c] if classes else c, "correct": int((p[mask] == c).sum()),
                     "support": int(mask.sum()),
                     "accuracy": float((p[mask] == c).mean()) if mask.any() else float("nan")})
    return pd.DataFrame(rows)


def confusion(pred: Tensor, targets: Tensor, num_classes: int) -> np.ndarray:
    """Confusion matrix, rows = true class, columns = predicted class."""
    return confusion_matrix(torch.as_tensor(targets).cpu().numpy(), _labels(pred),
                            labels=list(range(num_classes)))


def f1_scores(pred: Tensor, targets: Tensor, num_classes: int) -> dict:
    """Per-class F1 and weighted F1 (support-weighted mean), via scikit-learn."""
    y, p = torch.as_tensor(targets).cpu().numpy(), _labels(pred)
    labels = list(range(num_classes))
    return {"per_class": f1_score(y, p, labels=labels, average=None, zero_division=0).tolist(),
            "weighted": float(f1_score(y, p, labels=labels, average="weighted", zero_division=0))}


def expected_calibration_error(logits: Tensor, targets: Tensor, n_bins: int = 15) -> float:
    """ECE = sum_b |B_b|/N * |acc(B_b) - conf(B_b)| over equal-width confidence bins."""
    probs = torch.softmax(torch.as_tensor(logits).float(), -1)
    conf, pred = probs.max(-1)
    correct = (pred == torch.as_tensor(targets)).float()
    edges = torch.linspace(0, 1, n_bins + 1)
    ece = torch.zeros(())
    for lo, hi in zip(edges[:-1], edges[1:]):
        mask = (conf > lo) & (conf <= hi)
        if mask.any():
            ece += mask.float().mean() * (correct[mask].mean() - conf[mask].mean()).abs()
    return float(ece)


def agreement(logits_a: Tensor, logits_b: Tensor) -> float:
    """Fraction of samples on which two models predict the same top-1 class."""
    return float((_labels(logits_a) == _labels(logits_b)).mean())


def summary(logits: Tensor, targets: Tensor, teacher_logits: Tensor | None = None) -> dict:
    """Accuracy, weighted F1, ECE (and agreement with a teacher) in one dict."""
    k = torch.as_tensor(logits).shape[-1]
    out = {"accuracy": accuracy(logits, targets), "weighted_f1": f1_scores(logits, targets, k)["weighted"],
           "ece": expected_calibration_error(logits, targets)}
    if teacher_logits is not None:
        out["agreement"] = agreement(logits, teacher_logits)
    return out
