"""Exercises of notebook 04 (ResNet34 -> ResNet18, seed 000), graded on the notebook's own measurements."""
from __future__ import annotations

import math

import torch

from . import close, exercise, expect
from .. import losses


@exercise("04.1", "easy", "read the per-class table: where does the student lose most?")
def _(answer, *, drops):
    """``drops``: class -> teacher accuracy minus KD-student accuracy (test set)."""
    expect(isinstance(answer, str), f"give the class name as a string (one of {sorted(drops)}), got {answer!r}")
    expect(answer in drops, f"{answer!r} is not a class of this data set; the classes are {sorted(drops)}")
    worst = max(drops.values())
    expect(drops[answer] >= worst - 1e-9,
           f"the student loses {drops[answer]:+.3f} on {answer!r}, but {max(drops, key=drops.get)!r} has a larger "
           f"drop ({worst:+.3f}); sort the table by the 'drop' column")
    return f"{answer}: teacher - student = {drops[answer]:+.3f}"


@exercise("04.2", "easy", "how many % fewer parameters has the student?")
def _(answer, *, teacher_params, student_params):
    """``teacher_params`` / ``student_params``: the parameter counts of Table IV's two networks."""
    target = 100.0 * (1.0 - student_params / teacher_params)
    close(answer, target, abs_=0.1, what="the reduction in %")
    return (f"{target:.1f} % fewer parameters: less than the 'over 50 %' of seed 000's abstract "
            f"(the student keeps {student_params / teacher_params:.1%} of the teacher's)")


@exercise("04.3", "medium", "the teacher's entropy at another temperature")
def _(answer, *, teacher_logits, T):
    """``teacher_logits``: the teacher's cached validation logits; ``T``: the temperature asked for."""
    target = float(losses.entropy(losses.soft_targets(teacher_logits, T)).median())
    at_4 = float(losses.entropy(losses.soft_targets(teacher_logits, 4.0)).median())
    try:
        value = float(answer)
    except (TypeError, ValueError):
        value = None
    expect(value is None or abs(value - at_4) > 1e-3 or abs(target - at_4) <= 1e-3,
           f"{answer} is the median entropy at T = 4 (Fig. 8); divide the logits by T = {T:g} instead")
    expect(value is None or abs(value - target / math.log(2)) > 1e-3 or abs(target - target / math.log(2)) <= 1e-3,
           "that is the entropy in bits; the notebook measures nats (natural logarithm)")
    close(answer, target, abs_=2e-3, what=f"the median entropy at T = {T:g} (nats)")
    return f"median entropy at T = {T:g}: {target:.3f} nats (T = 4: {at_4:.3f}, maximum log C = " \
           f"{math.log(teacher_logits.shape[1]):.3f})"


def _kd_cases(student_logits, teacher_logits, T):
    """(name, s, t, T) cases on which a student's eq. 2 must agree with ``losses.kd_loss``."""
    g = torch.Generator().manual_seed(4)
    cases = [("the notebook's validation logits", student_logits, teacher_logits, T)]
    for b, c, temp in ((8, 10, 4.0), (64, 100, 1.0), (5, 3, 20.0), (1, 2, 2.5)):
        cases.append((f"random logits, batch {b}, {c} classes, T = {temp:g}",
                      3 * torch.randn(b, c, generator=g), 3 * torch.randn(b, c, generator=g), temp))
    t = torch.randn(6, 10, generator=g)
    cases.append(("identical student and teacher (the divergence is 0)", t.clone(), t, 4.0))
    cases.append(("the student = the teacher + a constant per image (softmax ignores it: 0)",
                  t + torch.arange(6.0).unsqueeze(1), t, 4.0))
    cases.append(("large logits at T = 1 (use log_softmax, not log(softmax))",
                  100 * torch.randn(4, 10, generator=g), 100 * torch.randn(4, 10, generator=g), 1.0))
    return cases


@exercise("04.4", "hard", "implement eq. 2 correctly with nn.KLDivLoss")
def _(answer, *, student_logits, teacher_logits, T):
    """``answer``: a function ``(student_logits, teacher_logits, T) -> scalar tensor``, T^2 KL(p_t || p_s)
    averaged over the batch; compared with ``losses.kd_loss`` on the notebook's logits and random ones."""
    expect(callable(answer), "define a function kd_term(student_logits, teacher_logits, T)")
    for name, s, t, temp in _kd_cases(student_logits, teacher_logits, T):
        ref = losses.kd_loss(s, t, temp)
        got = answer(s.clone(), t.clone(), temp)
        expect(isinstance(got, torch.Tensor) and got.numel() == 1,
               f"{name}: return a scalar tensor (the batch average), got {type(got).__name__}"
               + (f" of shape {tuple(got.shape)}" if isinstance(got, torch.Tensor) else ""))
        got = got.detach().float().reshape(())
        expect(bool(torch.isfinite(got)), f"{name}: got {got.item()}; compute the log-probabilities with "
                                          "log_softmax, which stays finite where softmax underflows to 0")
        expect(got.item() >= -1e-5, f"{name}: got {got.item():.4f} < 0, which a KL divergence never is: "
                                    "KLDivLoss's first argument must be the student's LOG-probabilities")
        ok = torch.allclose(got, ref.float(), rtol=1e-4, atol=1e-5)
        expect(ok, f"{name}: got {got.item():.6g}, expected {ref.item():.6g}. Check: the student's log_softmax(s / T) "
                   "first, the teacher's softmax(t / T) second, reduction='batchmean' (not 'mean', which also "
                   "divides by the classes), times T**2")
    return "matches losses.kd_loss on the notebook's logits and on random, identical, shifted and large logits"
