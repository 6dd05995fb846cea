"""Every loss against values worked by hand, against torch primitives, and its bad-input errors."""
import math

import pytest
import torch
import torch.nn.functional as F

from kdcourse import losses

LN3 = math.log(3.0)


def test_soft_targets_by_hand():
    z = torch.tensor([[2.0, 1.0, 0.1]])
    # T = 1: e^2, e^1, e^0.1 = 7.38906, 2.71828, 1.10517; sum 11.21251
    assert torch.allclose(losses.soft_targets(z, 1.0), torch.tensor([[0.65900, 0.24243, 0.09857]]), atol=1e-5)
    # T = 2: e^1, e^0.5, e^0.05 = 2.71828, 1.64872, 1.05127; sum 5.41827
    assert torch.allclose(losses.soft_targets(z, 2.0), torch.tensor([[0.50169, 0.30429, 0.19402]]), atol=1e-5)


def test_soft_targets_limits():
    z = torch.tensor([[3.0, -1.0, 0.5, 2.0]])
    assert torch.allclose(losses.soft_targets(z, 1e6), torch.full((1, 4), 0.25), atol=1e-5)
    assert torch.allclose(losses.soft_targets(z, 1e-3), torch.tensor([[1.0, 0.0, 0.0, 0.0]]))


def test_kd_loss_by_hand_two_classes():
    s = torch.tensor([[0.0, 0.0]])
    t = torch.tensor([[LN3, 0.0]])
    # T = 1: q = (3/4, 1/4), p = (1/2, 1/2): KL = 3/4 ln(3/2) + 1/4 ln(1/2) = 0.130812
    assert losses.kd_loss(s, t, 1.0).item() == pytest.approx(0.130812, abs=1e-6)
    # T = 2: q = (sqrt3, 1)/(sqrt3 + 1) = (0.633975, 0.366025); KL = 0.036341; times T^2 = 4
    assert losses.kd_loss(s, t, 2.0).item() == pytest.approx(4 * 0.0363408, abs=1e-6)


def test_kd_loss_is_batch_mean():
    s = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    t = torch.tensor([[LN3, 0.0], [0.0, 0.0]])  # second row: identical distributions, KL = 0
    assert losses.kd_loss(s, t, 1.0).item() == pytest.approx(0.130812 / 2, abs=1e-6)


def test_kd_loss_matches_torch_kldivloss():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(16, 7, generator=g), torch.randn(16, 7, generator=g) * 3
    for T in (0.5, 1.0, 4.0, 20.0):
        ref = torch.nn.KLDivLoss(reduction="batchmean")(F.log_softmax(s / T, 1), F.softmax(t / T, 1)) * T * T
        assert torch.allclose(losses.kd_loss(s, t, T), ref, atol=1e-5)


def test_kd_objective_by_hand():
    s = torch.tensor([[0.0, 0.0]])
    t = torch.tensor([[LN3, 0.0]])
    out = losses.kd_objective(s, t, torch.tensor([0]), T=1.0, alpha=0.5)
    assert set(out) == {"total", "ce", "kd"}
    assert out["ce"].item() == pytest.approx(math.log(2), abs=1e-6)        # -ln(1/2)
    assert out["kd"].item() == pytest.approx(0.130812, abs=1e-6)
    assert out["total"].item() == pytest.approx(0.5 * 0.130812 + 0.5 * math.log(2), abs=1e-6)
    assert losses.kd_objective(s, t, torch.tensor([0]), 1.0, 0.0)["total"].item() == pytest.approx(math.log(2))
    assert losses.kd_objective(s, t, torch.tensor([0]), 1.0, 1.0)["total"].item() == pytest.approx(0.130812, abs=1e-6)


def test_logit_mse_by_hand():
    s = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    t = torch.zeros(2, 2)
    assert losses.logit_mse(s, t).item() == pytest.approx((1 + 4 + 0 + 1) / 4)
    assert torch.allclose(losses.logit_mse(s, t), F.mse_loss(s, t))


def test_soft_cross_entropy_by_hand_and_against_kl():
    s = torch.tensor([[0.0, 0.0]])
    q = torch.tensor([[0.75, 0.25]])
    assert losses.soft_cross_entropy(s, q).item() == pytest.approx(math.log(2), abs=1e-6)
    # CE(q, p) = H(q) + KL(q || p): H(3/4, 1/4) = 0.562335
    assert losses.soft_cross_entropy(s, q).item() == pytest.approx(0.562335 + 0.130812, abs=1e-6)
    with pytest.raises(ValueError, match="probabilities"):
        losses.soft_cross_entropy(s, torch.tensor([[2.0, 1.0]]))


def test_soft_cross_entropy_and_kd_loss_share_the_gradient():
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(8, 5, generator=g, requires_grad=True), torch.randn(8, 5, generator=g)
    T = 3.0
    (g_kl,) = torch.autograd.grad(losses.kd_loss(s, t, T) / T**2, s)
    (g_ce,) = torch.autograd.grad(losses.soft_cross_entropy(s, losses.soft_targets(t, T), T), s)
    assert torch.allclose(g_kl, g_ce, atol=1e-6)


def test_kd_gradient_formula_and_t_squared_scaling():
    """d kd_loss / d s = T (softmax(s/T) - softmax(t/T)) / B; with T^2 its size is flat in T."""
    g = torch.Generator().manual_seed(2)
    s0, t = torch.randn(4, 10, generator=g), torch.randn(4, 10, generator=g)
    s0, t = s0 - s0.mean(1, keepdim=True), t - t.mean(1, keepdim=True)
    norms = {}
    for T in (1.0, 10.0, 100.0):
        s = s0.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(losses.kd_loss(s, t, T), s)
        expected = T * (torch.softmax(s0 / T, 1) - torch.softmax(t / T, 1)) / len(s0)
        assert torch.allclose(grad, expected, atol=1e-6)
        norms[T] = grad.norm().item()
    # high-T limit: grad -> (s - t) / (K B), independent of T
    assert norms[100.0] / norms[10.0] == pytest.approx(1.0, rel=0.02)
    limit = ((s0 - t) / (10 * len(s0))).norm().item()
    assert norms[100.0] == pytest.approx(limit, rel=0.01)
    # without T^2 the same gradient shrinks like 1/T^2
    assert (norms[10.0] / 100) / (norms[100.0] / 10_000) == pytest.approx(100, rel=0.05)


@pytest.mark.parametrize("T", [0, -1.0, float("nan"), float("inf"), True, "4"])
def test_bad_temperature(T):
    z = torch.zeros(1, 3)
    with pytest.raises(ValueError, match="temperature T must be"):
        losses.kd_loss(z, z, T)
    with pytest.raises(ValueError, match="temperature T must be"):
        losses.soft_targets(z, T)


@pytest.mark.parametrize("alpha", [-0.1, 1.3, float("nan")])
def test_bad_alpha(alpha):
    z = torch.zeros(1, 3)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        losses.kd_objective(z, z, torch.tensor([0]), 2.0, alpha)


def test_class_count_mismatch():
    with pytest.raises(ValueError, match="same number of classes"):
        losses.kd_loss(torch.zeros(2, 10), torch.zeros(2, 5), 2.0)
    with pytest.raises(ValueError, match="same number of classes"):
        losses.logit_mse(torch.zeros(2, 10), torch.zeros(2, 5))


def test_entropy_by_hand():
    p = torch.tensor([[0.5, 0.5], [1.0, 0.0], [0.25, 0.75]])
    expected = torch.tensor([math.log(2), 0.0, -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))])
    assert torch.allclose(losses.entropy(p), expected, atol=1e-6)
