"""Subclass distillation (losses.subclass, models.subclass, distillers.subclass) and saliency maps.

The 08 / 09 profiles are pinned in tests/test_experiments_mnist.py.

Expected values are worked by hand in the comments.
"""
import math

import pytest
import torch
from torch import nn

from kdcourse import data, losses, metrics, models, saliency
from kdcourse.distillers import SubclassKD, SubclassTeacher
from kdcourse.engine import TrainSpec, fit


# --------------------------------------------------------------------------- class logits from subclasses
def test_class_logits_are_logsumexp_over_contiguous_groups():
    # C = 2 classes, s = 2 subclasses: class 0 owns columns 0-1, class 1 owns columns 2-3.
    # row 0: exp = [1, 3 | 5, 5]  -> class logits [ln 4, ln 10]
    # (a strided split, class 0 = columns 0 and 2, would give [ln 6, ln 8])
    z = torch.tensor([[0.0, math.log(3), math.log(5), math.log(5)],
                      [math.log(2), math.log(2), 0.0, math.log(7)]])  # row 1: [ln 4, ln 8]
    out = losses.class_logits_from_subclass(z, 2)
    assert torch.allclose(out, torch.tensor([[math.log(4), math.log(10)], [math.log(4), math.log(8)]]), atol=1e-6)
    # softmax of the class logits = summed subclass probabilities (seed 004 Listing 1): 4/14, 10/14
    assert torch.allclose(torch.softmax(out, 1)[0], torch.tensor([4 / 14, 10 / 14]), atol=1e-6)
    assert torch.allclose(torch.softmax(out, 1), torch.softmax(z, 1).reshape(2, 2, 2).sum(-1), atol=1e-6)


def test_class_logits_reject_a_bad_split():
    with pytest.raises(ValueError, match="cannot be split evenly into 3 classes"):
        losses.class_logits_from_subclass(torch.zeros(2, 10), 3)


# --------------------------------------------------------------------------- auxiliary loss
def test_aux_loss_two_anticorrelated_examples():
    # rows [1, -1] and [3, 5]: centred [1, -1] and [-1, 1], population std 1, / sqrt(2)
    # -> c = [[1, -1], [-1, 1]].  L = -mean_i log(e^{1/T} / ((e^{1/T} + e^{-1/T}) / 2))
    #                               = -(1/T - ln cosh(1/T))
    z = torch.tensor([[1.0, -1.0], [3.0, 5.0]])
    assert losses.subclass_aux_loss(z, T=1.0).item() == pytest.approx(-(1 - math.log(math.cosh(1))), abs=1e-6)
    assert losses.subclass_aux_loss(z, T=0.5).item() == pytest.approx(-(2 - math.log(math.cosh(2))), abs=1e-6)
    assert -(1 - math.log(math.cosh(1))) == pytest.approx(-0.566219, abs=1e-6)


def test_aux_loss_three_examples_pearson():
    # rows x1 = [0, 1, 2], x2 = [2, 1, 0], x3 = [0, 0, 3]
    # centred: [-1, 0, 1], [1, 0, -1], [-1, -1, 2];  r12 = -1,  r13 = 3 / sqrt(2 * 6) = sqrt(3)/2,  r23 = -sqrt(3)/2
    r = math.sqrt(3) / 2
    c = [[1, -1, r], [-1, 1, -r], [r, -r, 1]]
    expected = sum(math.log(sum(math.exp(v) for v in row) / 3) - 1 for row in c) / 3   # = -0.545104
    z = torch.tensor([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    assert expected == pytest.approx(-0.545104, abs=1e-5)
    assert losses.subclass_aux_loss(z).item() == pytest.approx(expected, abs=1e-6)
    # Pearson correlation: each row may be shifted and scaled (by a positive factor) freely
    z2 = z * torch.tensor([[3.0], [0.5], [10.0]]) + torch.tensor([[7.0], [-2.0], [1.0]])
    assert losses.subclass_aux_loss(z2).item() == pytest.approx(expected, abs=1e-5)
    n = losses.normalise_subclass_logits(z)
    assert torch.allclose(n @ n.T, torch.tensor(c), atol=1e-6)


def test_aux_loss_chunks_are_exact_and_differentiable():
    z = torch.randn(37, 10, generator=torch.Generator().manual_seed(0), requires_grad=True)
    full = losses.subclass_aux_loss(z)
    assert losses.subclass_aux_loss(z, chunk=5).item() == pytest.approx(full.item(), abs=1e-6)
    full.backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    # Mueller et al.'s form: mean_i logsumexp_j(c_ij / T) - 1/T - log B
    n = losses.normalise_subclass_logits(z.detach())
    mueller = (torch.logsumexp(n @ n.T / 0.5, 1).mean() - 1 / 0.5 - math.log(37)).item()
    assert losses.subclass_aux_loss(z.detach(), T=0.5).item() == pytest.approx(mueller, abs=1e-5)


def test_subclass_kd_is_kd_on_subclass_logits_and_objectives_add_up():
    s = torch.tensor([[1.0, 0.0, -1.0, 2.0]])
    t = torch.tensor([[3.0, 1.0, 0.0, 0.0]])
    y = torch.tensor([1])
    T, alpha = 4.0, 0.5
    assert losses.subclass_kd_loss(s, t, T).item() == pytest.approx(losses.kd_loss(s, t, T).item())
    # class logits of s (C = 2): [logsumexp(1, 0), logsumexp(-1, 2)]; CE with y = 1
    cls = torch.tensor([[math.log(math.e + 1), math.log(math.exp(-1) + math.exp(2))]])
    ce = -torch.log_softmax(cls, 1)[0, 1].item()
    parts = losses.subclass_kd_objective(s, t, y, 2, T, alpha)
    assert parts["ce"].item() == pytest.approx(ce, abs=1e-6)
    assert parts["total"].item() == pytest.approx(alpha * parts["kd"].item() + (1 - alpha) * ce, abs=1e-6)
    teacher = losses.subclass_teacher_loss(torch.cat([s, t]), torch.tensor([1, 0]), 2, beta=0.3)
    assert teacher["total"].item() == pytest.approx(teacher["ce"].item() + 0.3 * teacher["aux"].item(), abs=1e-6)
    with pytest.raises(ValueError, match="beta must be"):
        losses.subclass_teacher_loss(s.repeat(2, 1), y.repeat(2), 2, beta=-1)


# --------------------------------------------------------------------------- SubclassNet and fit
def test_subclassnet_forward_is_the_class_logits():
    net = models.SubclassNet(nn.Identity(), num_classes=2, subclasses=5)
    z = torch.randn(500, 10, generator=torch.Generator().manual_seed(1)) * 3
    z[0] = 0.0                                   # a tie everywhere: class 0 comes first
    z[1] = torch.tensor([-50.0] * 5 + [9.0] + [-50.0] * 4)   # one dominant subclass of class 1
    out = net(z)
    assert out.shape == (500, 2) and torch.equal(net.subclass_logits(z), z)
    assert torch.allclose(out, losses.class_logits_from_subclass(z, 2))
    assert out.argmax(1)[0].item() == 0 and out.argmax(1)[1].item() == 1
    # the subclass distillers read the subclass logits and score the class logits: fit's accuracy is the class's
    teacher = SubclassTeacher(net)
    assert torch.equal(teacher.outputs(z), z) and torch.allclose(teacher.scores(teacher.outputs(z)), out)
    with pytest.raises(ValueError, match="gives 10 outputs but 2 classes x 4 subclasses need 8"):
        models.SubclassNet(nn.Identity(), 2, 4)(z)


def _blobs(n, seed):
    # 4 "digits" at the corners of a square, 2 classes: {0, 1} -> 0, {2, 3} -> 1
    g = torch.Generator().manual_seed(seed)
    digit = torch.randint(0, 4, (n,), generator=g)
    centres = torch.tensor([[3.0, 3.0], [3.0, -3.0], [-3.0, 3.0], [-3.0, -3.0]])
    x = (centres[digit] + 0.3 * torch.randn(n, 2, generator=g)).view(n, 1, 1, 2)
    return data.TensorData(x, digit // 2, "blobs", "train", "test"), digit


def test_fit_trains_a_subclass_teacher_and_student_with_class_accuracy():
    tr, _ = _blobs(256, 0)
    va, digits = _blobs(128, 1)
    torch.manual_seed(0)
    teacher = models.SubclassNet(nn.Sequential(nn.Flatten(), nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 4)), 2, 2)
    res = fit(SubclassTeacher(teacher, beta=1.0), tr, va, TrainSpec(epochs=15, lr=1e-2, batch_size=64), progress=False)
    class_acc = metrics.accuracy(teacher(va.x).detach(), va.y)
    assert res.history["val_acc"].iloc[res.best_epoch - 1] == pytest.approx(class_acc)
    assert class_acc > 0.95 and {"train_aux", "val_aux", "val_ce"} <= set(res.history.columns)
    student = models.SubclassNet(nn.Sequential(nn.Flatten(), nn.Linear(2, 4)), 2, 2)
    res_s = fit(SubclassKD(student, teacher, T=4.0, alpha=0.5), tr, va, TrainSpec(epochs=10, lr=1e-2, batch_size=64),
                progress=False)
    assert res_s.best()["val_acc"] > 0.9 and "val_kd" in res_s.history.columns


# --------------------------------------------------------------------------- saliency
class Linear(nn.Module):
    def __init__(self, c=3, h=4, w=5, k=3):
        super().__init__()
        self.fc = nn.Linear(c * h * w, k)

    def forward(self, x):
        return self.fc(x.flatten(1))


def test_saliency_of_a_linear_model_is_its_weights():
    torch.manual_seed(0)
    model = Linear()
    x = torch.randn(6, 3, 4, 5)
    w = model.fc.weight.detach().view(3, 3, 4, 5)          # (classes, C, H, W)
    pred = model(x).argmax(1)
    per_channel = saliency.gradient(model, x, per_channel=True)
    assert per_channel.shape == (6, 3, 4, 5)
    assert torch.allclose(per_channel, w[pred].abs(), atol=1e-6)        # |dS_c/dx| = |W_c|
    reduced = saliency.gradient(model, x)
    assert reduced.shape == (6, 4, 5)
    assert torch.allclose(reduced, w[pred].abs().amax(1), atol=1e-6)    # Simonyan: max over channels
    signed = saliency.gradient(model, x, target=2, per_channel=True, absolute=False)
    assert torch.allclose(signed, w[2].expand(6, -1, -1, -1), atol=1e-6)
    assert all(p.grad is None for p in model.parameters())
    # a linear model's gradient does not depend on x: SmoothGrad changes nothing
    assert torch.allclose(saliency.smoothgrad(model, x, n=4, sigma=0.3, per_channel=True), per_channel, atol=1e-6)


def test_smoothgrad_with_sigma_zero_is_plain_saliency():
    torch.manual_seed(0)
    model = models.TeacherCNN(num_classes=10)
    x = torch.randn(3, 1, 28, 28)
    plain = saliency.gradient(model, x)
    assert plain.shape == (3, 28, 28)
    assert torch.allclose(saliency.smoothgrad(model, x, n=3, sigma=0.0), plain, atol=1e-6)
    noisy = saliency.smoothgrad(model, x, n=3, sigma=0.2)
    assert noisy.shape == plain.shape and not torch.allclose(noisy, plain)
    assert model.training  # the mode is restored
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        saliency.smoothgrad(model, x, sigma=-1)


def test_rank_correlation_by_hand():
    a = torch.tensor([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 2.0, 3.0]])
    b = torch.tensor([[4.0, 3.0, 2.0, 1.0], [1.0, 4.0, 9.0, 16.0], [1.0, 2.0, 3.0, 4.0]])
    # row 2: ranks [1, 2.5, 2.5, 4] vs [1, 2, 3, 4] -> 4.5 / sqrt(4.5 * 5) = 0.948683
    rho = saliency.rank_correlation(a, b)
    assert torch.allclose(rho, torch.tensor([-1.0, 1.0, 4.5 / math.sqrt(22.5)], dtype=torch.float64), atol=1e-9)
    assert saliency.rank_correlation(a.view(3, 1, 2, 2), b.view(3, 1, 2, 2)).shape == (3,)


def test_rho_summary_by_hand():
    # r = 0.1, 0.3, 0.5, -0.1: mean 0.2, std (ddof 1) 0.2582, one of four below 0;
    # 95 % CI: mean +- t(0.975, 3) std / 2 = 0.2 +- 3.182446 x 0.1291
    s = saliency.rho_summary(torch.tensor([0.1, 0.3, 0.5, -0.1], dtype=torch.float64))
    assert s["mean rho"] == pytest.approx(0.2) and s["std rho"] == pytest.approx(0.258199, abs=1e-6)
    assert s["median rho"] == pytest.approx(0.2) and s["fraction rho < 0"] == 0.25 and s["images"] == 4
    assert (s["95% CI low"], s["95% CI high"]) == pytest.approx((0.2 - 0.410848, 0.2 + 0.410848), abs=1e-5)


# --------------------------------------------------------------------------- cluster metrics
def test_purity_and_matched_accuracy_by_hand():
    clusters = torch.tensor([0, 0, 1, 1, 2])
    labels = torch.tensor([5, 5, 5, 6, 6])
    # purity: cluster 0 -> 5 (2), cluster 1 -> 5 or 6 (1), cluster 2 -> 6 (1): 4 / 5
    assert metrics.cluster_purity(clusters, labels) == pytest.approx(0.8)
    # one-to-one: 0 -> 5 (2), and 6 to either 1 or 2 (1): 3 / 5
    assert metrics.matched_accuracy(clusters, labels) == pytest.approx(0.6)
