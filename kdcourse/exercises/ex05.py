"""Exercises of notebook 05 (Born-Again Networks, seed 002), graded on the notebook's own measurements."""
from __future__ import annotations

import torch

from . import close, exercise, expect
from .. import distillers, losses


@exercise("05.1", "easy", "count parameters: how much larger is the §4.2.2 student?")
def _(answer, *, teacher_params, student_params):
    """``teacher_params`` / ``student_params``: the parameter counts in the §4.2.2 table."""
    target = student_params / teacher_params
    close(answer, target, rel=0.01, what="student parameters / teacher parameters")
    return f"the student has {target:.2f}x the teacher's {teacher_params:,} parameters"


@exercise("05.2", "medium", "an ensemble of two generations from their cached logits")
def _(answer, *, logits, labels, members):
    """``logits``: model name -> test logits (first seed); ``members``: the names to ensemble."""
    probs = torch.stack([torch.softmax(logits[m].float(), -1) for m in members]).mean(0)
    target = float((probs.argmax(-1) == labels).float().mean())
    singles = {m: float((logits[m].argmax(-1) == labels).float().mean()) for m in members}
    try:
        value = float(answer)
    except (TypeError, ValueError):
        value = None
    expect(value is None or value <= 1.0, "give the accuracy as a fraction in [0, 1], not in %")
    close(answer, target, abs_=0.5 / len(labels), what="the ensemble's test accuracy")
    return (f"ensemble of {' + '.join(members)}: {target:.4f} (alone: "
            + ", ".join(f"{m} {a:.4f}" for m, a in singles.items()) + ")")


def _random_cases(student_logits, teacher_logits):
    g = torch.Generator().manual_seed(5)
    cases = [("the notebook's test logits (BAN-1 against its teacher)", student_logits, teacher_logits)]
    for b, c in ((8, 10), (1, 2), (32, 100)):
        cases.append((f"random logits, batch {b}, {c} classes", 3 * torch.randn(b, c, generator=g),
                      3 * torch.randn(b, c, generator=g)))
    t = torch.randn(4, 10, generator=g)
    cases.append(("identical logits (0)", t.clone(), t))
    cases.append(("the student = the teacher + 2 everywhere (the MSE is 4: logits are not probabilities)", t + 2, t))
    return cases


@exercise("05.3", "medium", "implement KD on logits with the mean squared error")
def _(answer, *, student_logits, teacher_logits):
    """``answer``: a function ``(student_logits, teacher_logits) -> scalar``, the mean over the batch and the
    classes of (s - t)^2; compared with ``losses.logit_mse``."""
    expect(callable(answer), "define a function logit_mse_kd(student_logits, teacher_logits)")
    for name, s, t in _random_cases(student_logits, teacher_logits):
        ref = losses.logit_mse(s, t)
        got = answer(s.clone(), t.clone())
        expect(isinstance(got, torch.Tensor) and got.numel() == 1, f"{name}: return a scalar tensor")
        got = got.detach().float().reshape(())
        expect(torch.allclose(got, ref.float(), rtol=1e-4, atol=1e-6),
               f"{name}: got {got.item():.6g}, expected {ref.item():.6g}; the equation averages over the batch AND "
               "the classes, on the raw logits (no softmax)")
    return "matches losses.logit_mse"


def _ban_cases(student_logits, teacher_logits, labels):
    g = torch.Generator().manual_seed(6)
    cases = [("the notebook's test logits, w = 0.3", student_logits, teacher_logits, labels, 0.3)]
    for b, c, w in ((8, 10, 0.0), (16, 5, 0.5), (1, 3, 1.0), (32, 100, 0.1)):
        cases.append((f"random logits, batch {b}, {c} classes, w = {w:g}", 3 * torch.randn(b, c, generator=g),
                      3 * torch.randn(b, c, generator=g), torch.randint(0, c, (b,), generator=g), w))
    cases.append(("the seed's default w = None (the teacher alone)", 3 * torch.randn(8, 10, generator=g),
                  3 * torch.randn(8, 10, generator=g), torch.randint(0, 10, (8,), generator=g), None))
    cases.append(("large logits, w = 0.2 (use log_softmax, not log(softmax))", 200 * torch.randn(6, 10, generator=g),
                  200 * torch.randn(6, 10, generator=g), torch.randint(0, 10, (6,), generator=g), 0.2))
    return cases


@exercise("05.4", "hard", "implement the BAN objective with a ground-truth weight")
def _(answer, *, student_logits, teacher_logits, labels):
    """``answer``: a function ``(student_logits, teacher_logits, labels, w) -> scalar``,
    H((1 - w) softmax(t) + w onehot(y), softmax(s)) averaged over the batch (w = None means 0); compared with
    ``distillers.SoftTargets``' total loss."""
    expect(callable(answer), "define a function ban_loss(student_logits, teacher_logits, labels, w)")
    for name, s, t, y, w in _ban_cases(student_logits, teacher_logits, labels):
        ref = distillers.SoftTargets(torch.nn.Identity(), torch.nn.Identity(), w).losses(s, y, t)["total"]
        got = answer(s.clone(), t.clone(), y.clone(), w)
        expect(isinstance(got, torch.Tensor) and got.numel() == 1, f"{name}: return a scalar tensor")
        got = got.detach().float().reshape(())
        expect(bool(torch.isfinite(got)), f"{name}: got {got.item()}; take log_softmax(s), which stays finite")
        if w == 1.0:
            hint = "with w = 1 the targets are the labels alone: the loss is the cross-entropy F.cross_entropy(s, y)"
        else:
            hint = ("mix the teacher's softmax and the one-hot labels, q = (1 - w) softmax(t) + w onehot(y), then "
                    "-(q * log_softmax(s)).sum(-1).mean()")
        expect(torch.allclose(got, ref.float(), rtol=1e-4, atol=1e-5),
               f"{name}: got {got.item():.6g}, expected {ref.item():.6g}; {hint}")
    return "matches distillers.SoftTargets on the notebook's logits and on random, edge and large logits"

