"""Checks of notebook 01's exercises (temperature): each grades against the notebook's own logits and tables."""
from __future__ import annotations

import math

import pandas as pd
import torch

from ..losses import entropy, kd_loss, soft_targets
from . import Wrong, close, exercise, expect


def _vector(answer, n: int, what: str) -> torch.Tensor:
    try:
        v = torch.as_tensor(answer, dtype=torch.float64).flatten()
    except (TypeError, ValueError, RuntimeError):
        raise Wrong(f"{what} should be {n} numbers, got {answer!r}") from None
    expect(v.numel() == n, f"{what} should have {n} entries, one per class; got {v.numel()}")
    return v


@exercise("01.1", "easy", "change T: the toy logits' soft targets at a new temperature")
def _toy_soft_targets(answer, *, z, T):
    z = torch.as_tensor(z, dtype=torch.float64).flatten()
    p = _vector(answer, len(z), "the soft targets")
    expect(abs(float(p.sum()) - 1) < 1e-3, f"probabilities must sum to 1; yours sum to {float(p.sum()):.4f}")
    for wrong, hint in ((torch.softmax(z, 0), "that is the ordinary softmax (T = 1): divide the logits by T first"),
                        (torch.softmax(z * T, 0), "the logits were multiplied by T; divide them by T")):
        expect(not torch.allclose(p, wrong, atol=5e-4), hint)
    target = torch.softmax(z / T, 0)
    expect(torch.allclose(p, target, atol=5e-4), f"p = {[round(v, 4) for v in p.tolist()]} is not softmax(z / {T:g}); "
                                                 "check each exp(z_i / T) and the normalisation")
    return f"p = ({', '.join(f'{v:.4f}' for v in target.tolist())}), between the T = 2 and T = 5 rows of §1"


@exercise("01.2", "easy", "read the table: the teacher's entropy at T_hist as a share of log K")
def _entropy_share(answer, *, by_T: pd.DataFrame, T: float, K: int):
    H = float(by_T.loc[T, "mean entropy"])
    share = H / math.log(K)
    if isinstance(answer, (int, float)) and abs(answer - H) < 1e-3 and abs(H - share) > 0.01:
        raise Wrong("that is the mean entropy in nats; the question asks for it as a share of its maximum log K")
    close(answer, share, abs_=0.005, what=f"the mean entropy / log K at T = {T:g}")
    return f"{share:.1%} of the maximum log {K} at T = {T:g}"


@exercise("01.3", "medium", "the T^2 factor: how much does the unscaled gradient fall from T = 256 to T = 1024?")
def _grad_fall(answer, *, grads: pd.DataFrame, without: str, student: str):
    g = grads[(grads["loss"] == without) & (grads["student"] == student)].set_index("T")["grad norm"]
    measured = float(g.loc[256.0] / g.loc[1024.0])
    if abs(float(answer) - 4) < 0.2 and abs(measured - 4) > 1:
        raise Wrong("4 = 1024 / 256 would be a 1/T fall; the softmax's 1/T and the shrinking p - q each contribute one")
    close(answer, measured, rel=0.03, what="the factor grad(256) / grad(1024)")
    return f"measured factor {measured:.2f}: (1024 / 256)^2 = 16, a 1/T^2 fall"


@exercise("01.4", "medium", "find the temperature at which the teacher's mean entropy is half of log K")
def _half_entropy(answer, *, t_test: torch.Tensor):
    try:
        T = float(answer)
    except (TypeError, ValueError):
        raise Wrong(f"the temperature should be a number, got {answer!r}") from None
    expect(math.isfinite(T) and T > 0, f"a temperature must be positive and finite, got {T}")
    K = t_test.shape[1]
    share = float(entropy(soft_targets(t_test.double(), T)).mean()) / math.log(K)
    expect(abs(share - 0.5) < 0.01, f"at T = {T:.4g} the mean entropy is {share:.1%} of log {K}, not 50 %; the entropy "
                                    "grows with T, so bisect: raise T if the share is below 50 %, lower it if above")
    return f"at T = {T:.3g} the teacher's mean entropy is {share:.1%} of log {K}"


def _reference_grad(s: torch.Tensor, t: torch.Tensor, T: float) -> torch.Tensor:
    s = s.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(kd_loss(s, t, T), s)
    return g


def _cases():
    """(student logits, teacher logits, T, what): random batches plus the edge cases a softmax must survive."""
    gen = torch.Generator().manual_seed(1)
    r = lambda *shape, scale=1.0: torch.randn(*shape, generator=gen, dtype=torch.float64) * scale
    return [(r(8, 10), r(8, 10, scale=3), 4.0, "a random batch of 8, 10 classes, T = 4"),
            (r(5, 3), r(5, 3), 1.0, "T = 1"), (r(4, 10), r(4, 10, scale=5), 0.5, "T = 0.5 (sharper than T = 1)"),
            (r(6, 10), r(6, 10), 100.0, "T = 100"), (r(1, 2), r(1, 2), 2.0, "a batch of one image, 2 classes"),
            (r(3, 10, scale=800), r(3, 10, scale=800), 1.0, "logits of size ~800 (exp overflows: use log_softmax)"),
            (torch.zeros(2, 10, dtype=torch.float64), torch.zeros(2, 10, dtype=torch.float64), 4.0,
             "equal student and teacher logits (the gradient is 0)")]


@exercise("01.5", "hard", "the gradient of T^2 KL in closed form")
def _kd_grad(answer, **_):
    expect(callable(answer), "the answer is a function kd_grad(s, t, T)")
    for s, t, T, what in _cases():
        ref = _reference_grad(s, t, T)
        got = answer(s.clone(), t.clone(), T)
        expect(isinstance(got, torch.Tensor) and got.shape == s.shape,
               f"{what}: kd_grad must return a tensor shaped like s {tuple(s.shape)}, got "
               f"{getattr(got, 'shape', type(got).__name__)}")
        got = got.detach().double()
        expect(bool(torch.isfinite(got).all()), f"{what}: your gradient has inf or nan entries")
        if torch.allclose(got, ref, rtol=1e-6, atol=1e-12):
            continue
        for factor, hint in ((1 / T, "off by a factor T: kd_loss is T^2 x KL, and d KL / d s_i = (p_i - q_i) / T"),
                             (T, "off by a factor T: the softmax's 1/T and the T^2 leave a single T"),
                             (len(s), "off by the batch size: kd_loss averages over the batch ('batchmean')")):
            if factor != 1 and torch.allclose(got, ref * factor, rtol=1e-6, atol=1e-12):
                raise Wrong(f"{what}: {hint}")
        raise Wrong(f"{what}: largest difference from autograd {float((got - ref).abs().max()):.3g}")
    return "T (p - q) / B matches autograd on every case, large logits and T = 0.5 included"
