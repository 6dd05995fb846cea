"""Checks of notebook 02's exercises (KD on MNIST): each grades against the runs the notebook made."""
from __future__ import annotations

import math

import pandas as pd
import torch
import torch.nn.functional as F

from .. import metrics
from ..losses import soft_cross_entropy, soft_targets
from . import Wrong, close, exercise, expect


def _pair(answer, what: str) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in answer)
    except (TypeError, ValueError):
        raise Wrong(f"{what} should be a pair of numbers, got {answer!r}") from None
    return a, b


@exercise("02.1", "easy", "read the sweep: the best (α, T) on the validation set")
def _best_cell(answer, *, avg: pd.DataFrame):
    alpha, T = _pair(answer, "(alpha, T)")
    cell = avg[(avg["alpha"] - alpha).abs().lt(1e-9) & (avg["T"] - T).abs().lt(1e-9)]
    expect(len(cell) == 1, f"(α = {alpha:g}, T = {T:g}) is not a cell of the sweep; the grid is "
                           f"α in {sorted(avg['alpha'].unique())}, T in {sorted(avg['T'].unique())}")
    best = avg["mean_val_acc"].max()
    got = float(cell["mean_val_acc"].iloc[0])
    if got < best and float(cell["mean_test_acc"].iloc[0]) == avg["mean_test_acc"].max():
        raise Wrong("that is the best cell on the test set; a setting is chosen on the validation set (mean_val_acc)")
    expect(got == best, f"(α = {alpha:g}, T = {T:g}) has mean val accuracy {got:.4f}; the best cell has {best:.4f}")
    return f"α = {alpha:g}, T = {T:g}: mean val accuracy {best:.4f}"


@exercise("02.2", "easy", "KD's gain on the full data in test images per 10,000")
def _gain_images(answer, *, finals: pd.DataFrame, kd: str, no_kd: str):
    acc = finals.groupby("method")["test_acc"].mean()
    images = float(acc[kd] - acc[no_kd]) * 1e4
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise Wrong(f"the gain should be a number of images, got {answer!r}") from None
    if abs(images) > 1 and abs(value + images) <= 0.5:
        raise Wrong("the sign is flipped: the gain is KD's accuracy minus no KD's")
    if abs(images) > 1 and abs(value - images / 1e4) < 1e-3:
        raise Wrong("that is a difference of accuracies; multiply by 10,000 to count test images")
    close(value, images, abs_=0.5, what="KD's gain in test images per 10,000")
    return f"{images:+.1f} test images per 10,000"


@exercise("02.3", "medium", "does the mean validation accuracy rise with T? (seed 004 Q6, on validation)")
def _rank_corr(answer, *, avg: pd.DataFrame, alpha: float):
    part = avg[(avg["alpha"] - alpha).abs() < 1e-9]
    expect(len(part) >= 2, f"the sweep has no cells at α = {alpha:g}")
    rho = float(part["T"].rank().corr(part["mean_val_acc"].rank()))
    if math.isnan(rho):       # every temperature gave the same accuracy: no ranking to correlate
        expect(answer != answer, "the accuracies are all tied, so the rank correlation is undefined (nan)")
        return "all tied: the rank correlation is undefined"
    pearson = float(part["T"].corr(part["mean_val_acc"]))
    on_test = float(part["T"].rank().corr(part["mean_test_acc"].rank()))
    for wrong, hint in ((pearson, "that is Pearson's correlation of the values; Spearman's correlates their ranks"),
                        (on_test, "that is on the test accuracy; the question asks for the validation accuracy")):
        if isinstance(answer, (int, float)) and abs(wrong - rho) > 0.02 and abs(answer - wrong) < 0.01:
            raise Wrong(hint)
    close(answer, rho, abs_=0.01, what=f"Spearman's rho at α = {alpha:g}")
    return f"Spearman's rho = {rho:+.2f} over {len(part)} temperatures"


@exercise("02.4", "medium", "KD's gain and the noise band at the smallest fraction (metrics.verdict's rule)")
def _noise_band(answer, *, small: pd.DataFrame, fraction: float, kd: str, no_kd: str):
    gain_ans, noise_ans = _pair(answer, "(gain, 2 std)")
    acc = small[small["fraction"] == fraction].set_index(["method", "seed"])["test_acc"]
    gain, noise, _ = metrics.verdict(acc[kd], acc[no_kd])
    ddof0 = 2 * max(acc[kd].std(ddof=0), acc[no_kd].std(ddof=0))
    if abs(ddof0 - noise) > 1e-5 and abs(noise_ans - ddof0) < 1e-6:
        raise Wrong("that noise uses the population std (ddof 0, numpy's default); verdict uses the sample std (ddof 1)")
    if abs(noise_ans - noise / 2) < 1e-6 and noise > 1e-5:
        raise Wrong("that is one std; the band is 2 x the larger of the two methods' std")
    close(gain_ans, gain, abs_=1e-6, what="KD's gain (mean KD - mean no KD)")
    close(noise_ans, noise, abs_=1e-6, what="the noise, 2 x the larger sample std")
    return f"gain {gain:+.4f} vs 2 std {noise:.4f}: {'beyond' if gain > noise else 'within'} the noise"


def _reference(s, t, y, T, lam):
    """Seed 004's eq. 4: lam T^2 CE(q(T), p(T)) + (1 - lam) CE(y, p(1)), batch means, stable."""
    return lam * T * T * soft_cross_entropy(s, soft_targets(t, T), T) + (1 - lam) * F.cross_entropy(s, y)


def _cases():
    gen = torch.Generator().manual_seed(2)
    r = lambda *shape, scale=1.0: torch.randn(*shape, generator=gen, dtype=torch.float64) * scale
    y = lambda b, k: torch.randint(0, k, (b,), generator=gen)
    return [(r(8, 10), r(8, 10, scale=4), y(8, 10), 4.0, 0.9, "a random batch, T = 4, λ = 0.9"),
            (r(5, 10), r(5, 10), y(5, 10), 20.0, 0.5, "T = 20, λ = 0.5"),
            (r(4, 3), r(4, 3), y(4, 3), 1.0, 0.3, "T = 1"),
            (r(6, 10), r(6, 10), y(6, 10), 2.0, 0.0, "λ = 0: only the labels (eq. 3)"),
            (r(6, 10), r(6, 10), y(6, 10), 8.0, 1.0, "λ = 1: only the teacher (eq. 2)"),
            (r(1, 2), r(1, 2), y(1, 2), 4.0, 0.7, "one image, two classes"),
            (r(3, 10, scale=300), r(3, 10, scale=300), y(3, 10), 1.0, 0.5,
             "logits of size ~300 (softmax underflows to 0: use log_softmax, not log(softmax))")]


@exercise("02.5", "hard", "seed 004's eq. 4, written from the equation")
def _eq4(answer, **_):
    expect(callable(answer), "the answer is a function eq4_loss(s, t, y, T, lam)")
    for s, t, y, T, lam, what in _cases():
        ref_s = s.clone().requires_grad_(True)
        ref = _reference(ref_s, t, y, T, lam)
        (ref_g,) = torch.autograd.grad(ref, ref_s)
        s_in = s.clone().requires_grad_(True)
        got = answer(s_in, t.clone(), y.clone(), T, lam)
        expect(isinstance(got, torch.Tensor) and got.dim() == 0, f"{what}: eq4_loss must return a scalar tensor (the "
                                                                  f"batch mean), got {getattr(got, 'shape', got)!r}")
        expect(bool(torch.isfinite(got.detach())), f"{what}: the loss is {float(got.detach())}")
        kl = ref - lam * T * T * (-(soft_targets(t, T) * torch.log_softmax(t / T, -1)).sum(-1).mean())
        if not torch.isclose(got.double(), ref.detach(), rtol=1e-6, atol=1e-9):
            if lam > 0 and torch.isclose(got.double(), kl.detach(), rtol=1e-6, atol=1e-9):
                raise Wrong(f"{what}: that is the KL form (kd_objective); eq. 2 is the cross-entropy -sum q log p, "
                            "which is KL + H(q)")
            if lam > 0 and T != 1 and torch.isclose(got.double(), (ref - lam * (T * T - 1) * soft_cross_entropy(
                    s, soft_targets(t, T), T)).detach(), rtol=1e-6, atol=1e-9):
                raise Wrong(f"{what}: the distillation term is missing its T^2 factor")
            raise Wrong(f"{what}: loss {float(got.detach()):.6g}, expected {float(ref.detach()):.6g}")
        expect(got.requires_grad, f"{what}: the loss must stay differentiable in s (no .detach(), no numpy)")
        (g,) = torch.autograd.grad(got, s_in)
        expect(torch.allclose(g.double(), ref_g, rtol=1e-5, atol=1e-9),
               f"{what}: the value is right but the gradient is not (largest difference "
               f"{float((g.double() - ref_g).abs().max()):.3g})")
    return "value and gradient match eq. 4 on every case, λ = 0 and 1 and large logits included"
