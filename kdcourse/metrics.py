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


def cluster_purity(clusters: Tensor, labels: Tensor) -> float:
    """Purity of a clustering against labels: each cluster votes for its majority label.

    purity = (1/N) sum_k max_l |{i : cluster_i = k, label_i = l}|; 1 when every
    cluster holds a single label (several clusters may share one).
    """
    c, y = torch.as_tensor(clusters).cpu().numpy(), torch.as_tensor(labels).cpu().numpy()
    if c.shape != y.shape or c.ndim != 1:
        raise ValueError(f"clusters and labels must be 1-D of the same length, got {c.shape} and {y.shape}")
    table = pd.crosstab(c, y).to_numpy()
    return float(table.max(1).sum() / len(y))


def matched_accuracy(clusters: Tensor, labels: Tensor) -> float:
    """Accuracy of the best one-to-one assignment of clusters to labels (Hungarian algorithm).

    Unlike :func:`cluster_purity`, two clusters cannot both claim the same label:
    it asks whether each cluster recovers a *different* label.
    """
    from scipy.optimize import linear_sum_assignment
    c, y = torch.as_tensor(clusters).cpu().numpy(), torch.as_tensor(labels).cpu().numpy()
    if c.shape != y.shape or c.ndim != 1:
        raise ValueError(f"clusters and labels must be 1-D of the same length, got {c.shape} and {y.shape}")
    table = pd.crosstab(c, y).to_numpy()
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / len(y))


def class_logit_matrix(logits: Tensor, targets: Tensor, num_classes: int, standardize: bool = True) -> np.ndarray:
    """M[c, j] = mean, over the images of true class c, of logit j (each row standardised first).

    The "correlation matrix of the logits" of CRD (Tian et al., Fig. 3) and RRD
    (seed 001, Fig. 1) as their code computes it: with ``standardize`` each
    image's logits are shifted to mean 0 and scaled to standard deviation 1
    (over the classes, unbiased) before the class means are taken.
    """
    z = torch.as_tensor(logits).detach().float().cpu()
    y = torch.as_tensor(targets).cpu().long()
    if z.dim() != 2 or len(z) != len(y) or z.shape[1] != num_classes:
        raise ValueError(f"logits must be (N, {num_classes}) with one target per row, got {tuple(z.shape)} "
                         f"and {tuple(y.shape)}")
    if standardize:
        z = (z - z.mean(1, keepdim=True)) / z.std(1, keepdim=True)
    counts = torch.bincount(y, minlength=num_classes).float()
    if (counts == 0).any():
        raise ValueError(f"classes {torch.nonzero(counts == 0).flatten().tolist()} have no image")
    sums = torch.zeros(num_classes, num_classes).index_add_(0, y, z)
    return (sums / counts[:, None]).numpy()


def correlation_difference(teacher_logits: Tensor, student_logits: Tensor, targets: Tensor,
                           num_classes: int) -> tuple[np.ndarray, float]:
    """|M_teacher - M_student| of :func:`class_logit_matrix`, diagonal set to 0, and its mean.

    Seed 001 Fig. 1 (and the RRD code's ``plot_corr.py``): the smaller the
    differences, the better the student reproduces the teacher's inter-class
    structure.  The mean is over all K^2 entries, the zeroed diagonal included,
    as that code reports it.
    """
    diff = np.abs(class_logit_matrix(teacher_logits, targets, num_classes)
                  - class_logit_matrix(student_logits, targets, num_classes))
    np.fill_diagonal(diff, 0.0)
    return diff, float(diff.mean())


def verdict(a, b, better: str = "beyond 2 std") -> tuple[float, float, str]:
    """Is the mean of ``a`` above the mean of ``b`` beyond seed-to-seed noise?

    ``a`` and ``b`` are one score per seed (sequences or Series); ``b`` may also be one number, a reference
    measured once (one shared teacher), whose spread then counts as 0.  The gain is mean(a) - mean(b); the
    noise is 2 x the larger of the two sample standard deviations (ddof 1).  Returns ``(gain, noise, word)``,
    ``word`` one of "within noise" (|gain| < noise), ``better`` (gain above noise) or "WORSE, beyond 2 std".
    Two seeds give a rough std; say so where it matters.
    """
    a = pd.Series(a, dtype=float)
    b = pd.Series([b] if np.ndim(b) == 0 else b, dtype=float)   # any scalar: numpy's float32 as well
    if len(a) < 2 or len(b) < 1:
        raise ValueError(f"verdict needs at least 2 seeds on each side (or one reference number as b), got "
                         f"{len(a)} and {len(b)}")
    spread_b = b.std() if len(b) > 1 else 0.0
    gain, noise = a.mean() - b.mean(), 2 * max(a.std(), spread_b)
    word = "within noise" if abs(gain) < noise else (better if gain > 0 else "WORSE, beyond 2 std")
    return float(gain), float(noise), word
