"""Exercises of notebook 09 (saliency maps)."""
from __future__ import annotations

import torch
from torch import nn

from . import call_student, close, exercise, expect

_KD = ("gradient", "teacher vs student with KD")


@exercise("09.1", "easy", "read the tail of Fig. 7: how often is the KD student's map anti-correlated")
def _ex1(answer, *, similarity):
    target = float(similarity.loc[_KD, "fraction rho < 0"])
    close(answer, target, abs_=0.0015, what="the fraction")
    return f"{target:.1%} of the images"


@exercise("09.2", "medium", "which student's SmoothGrad maps are closer to the teacher's")
def _ex2(answer, *, paired):
    ci = paired["SmoothGrad"]["ci"]
    target = "with KD" if ci[0] > 0 else "without KD" if ci[1] < 0 else "neither"
    options = ("with KD", "without KD", "neither")
    expect(answer in options, f"answer one of {options}, got {answer!r}")
    expect(answer == target, f"not {answer!r}: look at the sign of the 95% CI's two ends, not at the mean alone "
                             "(or at the share of images)")
    return f"{target} (95% CI {ci[0]:+.3f} to {ci[1]:+.3f})"


@exercise("09.3", "medium", "Spearman's rank correlation between two maps")
def _ex3(answer, **_):
    from .. import saliency
    expect(callable(answer), "define the function my_rank_correlation(a, b)")
    gen = torch.Generator().manual_seed(9)
    a = torch.rand(6, 1, 7, 7, generator=gen)
    ties = torch.randint(0, 3, (4, 30), generator=gen).float()       # many ties: averaged ranks
    cases = [(a, torch.rand(6, 1, 7, 7, generator=gen)), (a, 10 * a + 3), (a, a.max() - a),
             (a, a ** 3 + 0.1 * torch.rand(a.shape, generator=gen)), (ties, torch.randint(0, 4, (4, 30), generator=gen).float())]
    for x, y in cases:
        got = torch.as_tensor(call_student(answer, x.clone(), y.clone())).double().flatten()
        want = saliency.rank_correlation(x, y).double()
        expect(got.shape == want.shape, f"return one value per image: {tuple(want.shape)}, got {tuple(got.shape)}")
        expect(torch.allclose(got, want, atol=1e-6),
               f"got {got.numpy().round(4)}, expected {want.numpy().round(4)}: rank each map (ties averaged), then "
               "take the Pearson correlation of the ranks")
    return "matches kdcourse.saliency.rank_correlation, ties included"


def _tiny_conv() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5)).eval()


@exercise("09.4", "hard", "SmoothGrad from its definition, with the noise given")
def _ex4(answer, *, model, x, target):
    from .. import saliency
    expect(callable(answer), "define the function my_smoothgrad(model, x, target, noise)")
    gen = torch.Generator().manual_seed(90)
    conv_x = torch.rand(3, 3, 6, 6, generator=gen)
    cases = [(model, x, torch.as_tensor(target)), (_tiny_conv(), conv_x, torch.tensor([0, 3, 4]))]
    for net, xb, tb in cases:
        noise = 0.15 * torch.randn(4, *xb.shape, generator=gen)
        want = torch.stack([saliency.gradient(net, xb + eps, target=tb, per_channel=True) for eps in noise]
                           ).mean(0).amax(1)
        before = [None if p.grad is None else p.grad.clone() for p in net.parameters()]
        got = call_student(answer, net, xb.clone(), tb.clone(), noise.clone())
        got = torch.as_tensor(got).detach()
        expect(tuple(got.shape) == tuple(want.shape),
               f"the maps should have shape {tuple(want.shape)} (B, H, W), got {tuple(got.shape)}")
        expect(torch.allclose(got.double(), want.double(), rtol=1e-4, atol=1e-6),
               "wrong maps: the absolute gradient of the target's logit at each noisy copy, averaged over the copies, "
               "then the maximum over channels (average first, then the maximum)")
        expect(all((g0 is None and p.grad is None) or (g0 is not None and p.grad is not None and torch.equal(g0, p.grad))
                   for g0, p in zip(before, net.parameters())),
               "your function left gradients on the model's parameters: use torch.autograd.grad on the input")
    return "matches kdcourse.saliency.gradient averaged over the noisy copies (1- and 3-channel models)"
