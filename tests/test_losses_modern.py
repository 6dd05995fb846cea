"""DKD, DIST and logit standardization: values worked by hand, invariances, the authors' formulas and
torchdistill's implementations, bad-input errors, and their distillers' training steps.

The hand example: two samples, three classes, T = 1, chosen so every softmax is a simple fraction:

    student  s = [0, 0, 0]        -> p_s = (1/3, 1/3, 1/3)      target 0
                 [ln 2, 0, 0]     -> p_s = (1/2, 1/4, 1/4)      target 2
    teacher  t = [ln 2, 0, 0]     -> p_t = (1/2, 1/4, 1/4)
                 [0, ln 2, ln 3]  -> p_t = (1/6, 1/3, 1/2)

torchdistill (a test requirement, requirements-test.txt) is imported inside the tests that use it: without
it they fail, they are not skipped.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kdcourse import data, distillers, losses
from kdcourse.distillers import DIST, DKD, Batch, StandardizedKD

LN2, LN3 = math.log(2.0), math.log(3.0)
S = [[0.0, 0.0, 0.0], [LN2, 0.0, 0.0]]
T_ = [[LN2, 0.0, 0.0], [0.0, LN2, LN3]]
Y = [0, 2]
ST, TT, YT = torch.tensor(S), torch.tensor(T_), torch.tensor(Y)


# --------------------------------------------------------------------------- by hand, in plain Python
def softmax(z, T=1.0):
    e = [math.exp(v / T) for v in z]
    return [v / sum(e) for v in e]


def kl(q, p):
    return sum(a * math.log(a / b) for a, b in zip(q, p))


def mean(v):
    return sum(v) / len(v)


def pearson(a, b, eps=1e-8):
    da, db = [v - mean(a) for v in a], [v - mean(b) for v in b]
    norm = math.sqrt(sum(v * v for v in da)) * math.sqrt(sum(v * v for v in db))
    return sum(x * y for x, y in zip(da, db)) / (norm + eps)


def dkd_by_hand(s, t, y, T, alpha, beta):
    """T^2 (alpha KL(b_t || b_s) + beta KL(p^_t || p^_s)), averaged over the rows."""
    total = 0.0
    for zs, zt, c in zip(s, t, y):
        ps, pt = softmax(zs, T), softmax(zt, T)
        b_s, b_t = [ps[c], 1 - ps[c]], [pt[c], 1 - pt[c]]
        q_s = [v / (1 - ps[c]) for i, v in enumerate(ps) if i != c]
        q_t = [v / (1 - pt[c]) for i, v in enumerate(pt) if i != c]
        total += alpha * kl(b_t, b_s) + beta * kl(q_t, q_s)
    return T * T * total / len(s)


def dist_by_hand(s, t, T, beta, gamma):
    p_s, p_t = [softmax(z, T) for z in s], [softmax(z, T) for z in t]
    inter = 1 - mean([pearson(a, b) for a, b in zip(p_s, p_t)])
    cols = range(len(p_s[0]))
    intra = 1 - mean([pearson([r[c] for r in p_s], [r[c] for r in p_t]) for c in cols])
    return T * T * (beta * inter + gamma * intra)


def standardize_by_hand(z):
    m = mean(z)
    std = math.sqrt(sum((v - m) ** 2 for v in z) / (len(z) - 1))     # Bessel's correction
    return [(v - m) / (std + 1e-7) for v in z]


def std_kd_by_hand(s, t, T):
    return T * T * mean([kl(softmax(standardize_by_hand(zt), T), softmax(standardize_by_hand(zs), T))
                         for zs, zt in zip(s, t)])


def torchdistill_mid_level():
    """torchdistill's loss module, or a failure (not a skip) that says how to install it."""
    try:
        from torchdistill.losses import mid_level
    except ImportError as e:   # pragma: no cover - the environment's fault
        pytest.fail(f"torchdistill is a test requirement (pip install -r requirements-test.txt): {e}")
    return mid_level


def random_logits(seed, shape=(16, 7), scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale, torch.randn(*shape, generator=g) * scale


# --------------------------------------------------------------------------- DKD
def test_dkd_by_hand():
    # row 0 (target 0): b_s = (1/3, 2/3), b_t = (1/2, 1/2): KL = 1/2 ln(3/2) + 1/2 ln(3/4) = 1/2 ln(9/8);
    #                   non-target p^_s = p^_t = (1/2, 1/2): KL = 0
    # row 1 (target 2): b_s = (1/4, 3/4), b_t = (1/2, 1/2): KL = 1/2 ln 2 + 1/2 ln(2/3) = 1/2 ln(4/3);
    #                   p^_s = (2/3, 1/3), p^_t = (1/3, 2/3): KL = -1/3 ln 2 + 2/3 ln 2 = 1/3 ln 2
    tckd = (0.5 * math.log(9 / 8) + 0.5 * math.log(4 / 3)) / 2        # = 1/4 ln(3/2) = 0.101366
    nckd = (0.0 + LN2 / 3) / 2                                         # = ln(2) / 6  = 0.115525
    assert tckd == pytest.approx(0.101366, abs=1e-6) and nckd == pytest.approx(0.115525, abs=1e-6)
    assert losses.dkd_loss(ST, TT, YT, 1.0, alpha=1.0, beta=0.0).item() == pytest.approx(tckd, abs=1e-6)
    assert losses.dkd_loss(ST, TT, YT, 1.0, alpha=0.0, beta=1.0).item() == pytest.approx(nckd, abs=1e-6)
    # the defaults alpha = 1, beta = 8: 0.101366 + 8 * 0.115525 = 1.025562
    assert losses.dkd_loss(ST, TT, YT, 1.0).item() == pytest.approx(1.025562, abs=1e-5)
    assert dkd_by_hand(S, T_, Y, 1.0, 1.0, 8.0) == pytest.approx(1.025562, abs=1e-6)
    for T, alpha, beta in [(2.0, 1.0, 8.0), (4.0, 0.5, 2.0), (0.5, 2.0, 1.0)]:
        got = losses.dkd_loss(ST, TT, YT, T, alpha, beta).item()
        assert got == pytest.approx(dkd_by_hand(S, T_, Y, T, alpha, beta), rel=1e-5)


def test_dkd_with_beta_0_is_alpha_t2_kl_of_the_binary_distributions():
    s, t = random_logits(0)
    y = torch.randint(0, 7, (16,), generator=torch.Generator().manual_seed(1))
    for T, alpha in [(1.0, 1.0), (4.0, 0.7), (2.0, 3.0)]:
        p_s, p_t = (torch.softmax(z.double() / T, 1).gather(1, y[:, None]).squeeze(1) for z in (s, t))
        b_kl = p_t * torch.log(p_t / p_s) + (1 - p_t) * torch.log((1 - p_t) / (1 - p_s))
        want = alpha * T * T * b_kl.mean().item()
        assert losses.dkd_loss(s, t, y, T, alpha=alpha, beta=0.0).item() == pytest.approx(want, rel=1e-4)


def test_kd_is_tckd_plus_teacher_weighted_nckd():
    # Zhao et al.'s decomposition, one sample: KD = TCKD + (1 - p_t,y) NCKD
    s, t = random_logits(2, (1, 5))
    for T in (1.0, 4.0):
        p_ty = torch.softmax(t / T, 1)[0, 3].item()
        dkd = losses.dkd_loss(s, t, torch.tensor([3]), T, alpha=1.0, beta=1.0 - p_ty)
        assert dkd.item() == pytest.approx(losses.kd_loss(s, t, T).item(), rel=1e-5)


def authors_dkd(s, t, y, alpha, beta, T):
    """mdistiller's dkd_loss, restated: probabilities, cat_mask and ``logits / T - 1000 * gt_mask``."""
    gt = F.one_hot(y, s.shape[1]).to(s.dtype)
    p_s, p_t = F.softmax(s / T, 1), F.softmax(t / T, 1)
    b_s = torch.stack([(p_s * gt).sum(1), (p_s * (1 - gt)).sum(1)], 1)
    b_t = torch.stack([(p_t * gt).sum(1), (p_t * (1 - gt)).sum(1)], 1)
    tckd = F.kl_div(torch.log(b_s), b_t, reduction="sum") * T ** 2 / len(y)
    nckd = F.kl_div(F.log_softmax(s / T - 1000.0 * gt, 1), F.softmax(t / T - 1000.0 * gt, 1),
                    reduction="sum") * T ** 2 / len(y)
    return alpha * tckd + beta * nckd


@pytest.mark.parametrize("T, alpha, beta", [(4.0, 1.0, 8.0), (1.0, 1.0, 2.0), (2.0, 0.5, 4.0)])
def test_dkd_matches_the_authors_masked_formula(T, alpha, beta):
    s, t = random_logits(3, (32, 10))
    y = torch.randint(0, 10, (32,), generator=torch.Generator().manual_seed(4))
    want = authors_dkd(s.double(), t.double(), y, alpha, beta, T).item()
    assert losses.dkd_loss(s, t, y, T, alpha, beta).item() == pytest.approx(want, rel=1e-5)


def test_dkd_is_finite_where_one_minus_p_would_cancel():
    s = torch.tensor([[60.0, 0.0, -60.0], [0.0, 80.0, 1.0]])      # p_target = 1 in float32
    t = torch.tensor([[50.0, 1.0, 0.0], [0.0, 70.0, 2.0]])
    y = torch.tensor([0, 1])
    s.requires_grad_(True)
    loss = losses.dkd_loss(s, t, y, 1.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(s.grad).all()
    assert loss.item() == pytest.approx(authors_dkd(s.detach().double(), t.double(), y, 1.0, 8.0, 1.0).item(),
                                        rel=1e-4)


def test_dkd_gradient_flows_to_the_student_only():
    s, t = random_logits(5, (8, 6))
    s.requires_grad_(True)
    y = torch.randint(0, 6, (8,), generator=torch.Generator().manual_seed(6))
    losses.dkd_loss(s, t, y, 4.0).backward()
    assert torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0
    assert t.grad is None
    # the gradient of each row sums to zero (softmax is shift-invariant)
    assert torch.allclose(s.grad.sum(1), torch.zeros(8), atol=1e-6)


def test_dkd_refuses_bad_input():
    with pytest.raises(ValueError, match=r"targets must be class indices in \[0, 3\).*\(2, 3\)"):
        losses.dkd_loss(ST, TT, torch.tensor([0, 3]), 1.0)
    with pytest.raises(ValueError, match=r"got values in \[-1, 0\]"):
        losses.dkd_loss(ST, TT, torch.tensor([-1, 0]), 1.0)
    with pytest.raises(ValueError, match=r"at least two classes.*\(2, 1\)"):
        losses.dkd_loss(torch.zeros(2, 1), torch.zeros(2, 1), torch.tensor([0, 0]), 1.0)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        losses.dkd_loss(ST, TT, torch.tensor([0.0, 1.0]), 1.0)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        losses.dkd_loss(ST, TT, torch.tensor([0, 1, 2]), 1.0)
    for T in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="temperature T must be"):
            losses.dkd_loss(ST, TT, YT, T)
    with pytest.raises(ValueError, match="same shape"):
        losses.dkd_loss(ST, torch.zeros(2, 4), YT, 1.0)
    for name in ("alpha", "beta"):
        with pytest.raises(ValueError, match=f"weight {name} must be"):
            losses.dkd_loss(ST, TT, YT, 1.0, **{name: -0.5})


# --------------------------------------------------------------------------- DIST
def test_dist_by_hand():
    # inter-class: row 0 of p_s is constant, so its centred vector is 0 and rho = 0 / (0 + eps) = 0;
    #   row 1: a = p_s - 1/3 = (1/6, -1/12, -1/12), b = p_t - 1/3 = (-1/6, 0, 1/6): a.b = -1/24,
    #   |a| |b| = (sqrt 6 / 12)(sqrt 2 / 6) = sqrt 3 / 36, rho = -sqrt(3) / 2; inter = 1 + sqrt(3) / 4
    # intra-class: two samples, so every column's correlation is the sign of the product of the changes:
    #   class 0: p_s +1/6, p_t -1/3; class 1: -1/12, +1/12; class 2: -1/12, +1/4: all -1; intra = 2
    inter, intra = 1 + math.sqrt(3) / 4, 2.0
    assert inter + intra == pytest.approx(3.433013, abs=1e-6)
    # the eps of the correlation's denominator moves it by 1.5e-6 (the intra-class norms are small)
    assert dist_by_hand(S, T_, 1.0, 1.0, 1.0) == pytest.approx(3.4330112, abs=1e-7)
    assert losses.dist_loss(ST, TT).item() == pytest.approx(3.4330112, abs=1e-6)
    assert losses.dist_loss(ST, TT, beta=1.0, gamma=0.0).item() == pytest.approx(inter, abs=1e-5)
    assert losses.dist_loss(ST, TT, beta=0.0, gamma=1.0).item() == pytest.approx(intra, abs=1e-5)
    for T, beta, gamma in [(2.0, 1.0, 1.0), (4.0, 2.0, 0.5)]:
        got = losses.dist_loss(ST, TT, T, beta, gamma).item()
        assert got == pytest.approx(dist_by_hand(S, T_, T, beta, gamma), rel=1e-5)


def test_dist_of_identical_logits_is_zero():
    s, _ = random_logits(7, (64, 10))
    assert losses.dist_loss(s, s).item() == pytest.approx(0.0, abs=1e-4)     # the eps keeps rho just below 1
    assert losses.dist_loss(s, s, T=4.0).item() == pytest.approx(0.0, abs=1e-3)
    assert losses.dist_loss(s, -s).item() > 1.0                                # reversed relations


def test_dist_refuses_bad_input():
    for T in (0, -2.0):
        with pytest.raises(ValueError, match="temperature T must be"):
            losses.dist_loss(ST, TT, T)
    with pytest.raises(ValueError, match="same shape"):
        losses.dist_loss(ST, torch.zeros(3, 3))
    for name in ("beta", "gamma"):
        with pytest.raises(ValueError, match=f"weight {name} must be"):
            losses.dist_loss(ST, TT, **{name: -1.0})


@pytest.mark.parametrize("T, beta, gamma", [(1.0, 1.0, 1.0), (4.0, 1.0, 1.0), (2.0, 2.0, 0.5)])
def test_dist_matches_torchdistill(T, beta, gamma):
    mid_level = torchdistill_mid_level()
    ref = mid_level.DISTLoss(".", "output", ".", "output", beta=beta, gamma=gamma, tau=T)
    for seed in (8, 9):
        s, t = random_logits(seed, (32, 100))
        want = ref({".": {"output": s}}, {".": {"output": t}}).item()
        assert losses.dist_loss(s, t, T, beta, gamma).item() == pytest.approx(want, rel=1e-5, abs=1e-6)


# --------------------------------------------------------------------------- logit standardization
def test_standardize_logits_by_hand():
    # row [ln 2, 0, 0]: mean ln2 / 3, deviations (2, -1, -1) ln2 / 3, unbiased variance (4 + 1 + 1)/9 ln2^2 / 2
    # = ln2^2 / 3, std = ln2 / sqrt 3: Z = (2, -1, -1) / sqrt 3 (whatever the scale ln 2)
    z = losses.standardize_logits(ST)
    assert torch.equal(z[0], torch.zeros(3))
    assert z[1].tolist() == pytest.approx([2 / math.sqrt(3), -1 / math.sqrt(3), -1 / math.sqrt(3)], abs=1e-6)
    assert losses.standardize_logits(TT)[1].tolist() == pytest.approx(standardize_by_hand(T_[1]), abs=1e-6)
    # the authors' code: torch's std, unbiased (Bessel's correction)
    assert torch.allclose(z, (ST - ST.mean(1, keepdim=True)) / (ST.std(1, keepdim=True) + 1e-7))


def test_standardize_logits_of_constant_logits_is_finite():
    for z in (torch.zeros(2, 5), torch.full((3, 4), 7.5), torch.full((1, 10), -1e4)):
        out = losses.standardize_logits(z)
        assert torch.isfinite(out).all() and torch.equal(out, torch.zeros_like(z))
    with pytest.raises(ValueError, match="at least two logits"):
        losses.standardize_logits(torch.zeros(4, 1))


def test_standardized_kd_by_hand():
    for T in (1.0, 2.0):
        got = losses.kd_loss(losses.standardize_logits(ST), losses.standardize_logits(TT), T).item()
        assert got == pytest.approx(std_kd_by_hand(S, T_, T), rel=1e-5)


def test_standardized_kd_is_unchanged_by_scaling_and_shifting_each_sample():
    s, t = random_logits(10, (12, 9))
    g = torch.Generator().manual_seed(11)
    scale = lambda: torch.rand(12, 1, generator=g) * 5 + 0.2   # noqa: E731  a positive factor per sample
    shift = lambda: torch.randn(12, 1, generator=g) * 10      # noqa: E731
    base = losses.kd_loss(losses.standardize_logits(s), losses.standardize_logits(t), 2.0)
    moved = losses.kd_loss(losses.standardize_logits(s * scale() + shift()),
                           losses.standardize_logits(t * scale() + shift()), 2.0)
    assert moved.item() == pytest.approx(base.item(), rel=1e-4)
    assert losses.kd_loss(s * 3, t, 2.0).item() != pytest.approx(losses.kd_loss(s, t, 2.0).item(), rel=1e-2)


def test_standardized_kd_matches_torchdistill():
    mid_level = torchdistill_mid_level()
    s, t = random_logits(12, (32, 100))
    y = torch.randint(0, 100, (32,), generator=torch.Generator().manual_seed(13))
    io_s, io_t = {".": {"output": s}}, {".": {"output": t}}
    for T in (1.0, 2.0, 4.0):
        # with alpha = 0 torchdistill returns the batch-mean KL alone (no T^2)
        soft = mid_level.LogitStdKDLoss(".", "output", ".", "output", temperature=T, alpha=0)(io_s, io_t).item()
        ours = losses.kd_loss(losses.standardize_logits(s), losses.standardize_logits(t), T).item()
        assert ours == pytest.approx(T * T * soft, rel=1e-5)
    # with alpha = 0.1 (CE) and beta = 9 (T^2 KL): the authors' weights, StandardizedKD's defaults
    ref = mid_level.LogitStdKDLoss(".", "output", ".", "output", temperature=2.0, alpha=0.1, beta=9.0)
    kd = StandardizedKD(nn.Identity(), nn.Identity())
    assert kd.losses(s, y, t)["total"].item() == pytest.approx(ref(io_s, io_t, y).item(), rel=1e-5)


# --------------------------------------------------------------------------- distillers
@pytest.fixture
def batch():
    """Twelve random samples of six features, three classes, and a batch of eight of them by index."""
    g = torch.Generator().manual_seed(0)
    d = data.TensorData(torch.randn(12, 6, generator=g), torch.randint(0, 3, (12,), generator=g), "rand", "train",
                        "random")
    idx = torch.tensor([5, 0, 3, 11, 7, 2, 9, 1])
    return Batch(d.x[idx], d.y[idx], idx, d)


def nets(seed=0):
    torch.manual_seed(seed)
    return nn.Linear(6, 3), nn.Linear(6, 3)


LOGIT_METHODS = [
    (DKD, {}, lambda s, t, y: F.cross_entropy(s, y) + losses.dkd_loss(s, t, y, 4.0, 1.0, 8.0)),
    (DKD, dict(T=2.0, alpha=0.5, beta=2.0, ce=0.3), lambda s, t, y: 0.3 * F.cross_entropy(s, y)
     + losses.dkd_loss(s, t, y, 2.0, 0.5, 2.0)),
    (DIST, {}, lambda s, t, y: F.cross_entropy(s, y) + losses.dist_loss(s, t, 1.0, 1.0, 1.0)),
    (DIST, dict(T=4.0, beta=2.0, gamma=0.5, ce=0.5), lambda s, t, y: 0.5 * F.cross_entropy(s, y)
     + losses.dist_loss(s, t, 4.0, 2.0, 0.5)),
    (StandardizedKD, {}, lambda s, t, y: 0.1 * F.cross_entropy(s, y)
     + 9.0 * losses.kd_loss(losses.standardize_logits(s), losses.standardize_logits(t), 2.0)),
]


@pytest.mark.parametrize("method, kwargs, want", LOGIT_METHODS)
def test_logit_distillers_train_on_their_objective(batch, method, kwargs, want):
    student, teacher = nets()
    distiller = method(student, teacher, **kwargs)
    scores, parts = distiller(batch)
    assert set(parts) == {"total", "ce", "kd"}
    with torch.no_grad():
        s, t = student(batch.x), teacher(batch.x)
    assert torch.equal(scores.detach(), s)
    assert parts["total"].item() == pytest.approx(want(s, t, batch.y).item(), rel=1e-5)
    assert parts["ce"].item() == pytest.approx(F.cross_entropy(s, batch.y).item(), rel=1e-6)
    # the teacher's logits come from its cache, by sample index
    assert torch.allclose(distiller.teacher_outputs(batch), t, atol=1e-6)
    # training steps: finite, the gradient reaches the student only, and the objective goes down
    opt = torch.optim.SGD(distiller.parameters(), lr=0.05)
    first = parts["total"].item()
    for _ in range(30):
        opt.zero_grad()
        loss = distiller(batch)[1]["total"]
        assert torch.isfinite(loss)
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in student.parameters())
        opt.step()
    assert distiller(batch)[1]["total"].item() < first
    assert all(p.grad is None for p in teacher.parameters())
    assert {n.split(".")[0] for n, _ in distiller.named_parameters()} == {"student"}


def test_dkd_warms_up_over_epochs_when_told_the_epoch(batch):
    student, teacher = nets()
    dkd = DKD(student, teacher)
    ce, kd = (dkd(batch)[1][k].item() for k in ("ce", "kd"))
    assert dkd(batch)[1]["total"].item() == pytest.approx(ce + kd, rel=1e-6)      # not told: weight 1
    for epoch, w in [(1, 1 / 20), (10, 0.5), (20, 1.0), (240, 1.0)]:
        dkd.set_epoch(epoch)
        parts = dkd(batch)[1]
        assert parts["total"].item() == pytest.approx(ce + w * kd, rel=1e-6)
        assert parts["kd"].item() == pytest.approx(kd, rel=1e-6)                  # kd: before the warm-up
    off = DKD(student, teacher, warmup=0)
    off.set_epoch(1)
    assert off(batch)[1]["total"].item() == pytest.approx(ce + kd, rel=1e-6)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="epoch must be a whole number"):
            dkd.set_epoch(bad)
    with pytest.raises(ValueError, match="warmup must be"):
        DKD(student, teacher, warmup=-1)


def test_the_authors_defaults():
    student, teacher = nets()
    dkd, dist, std = DKD(student, teacher), DIST(student, teacher), StandardizedKD(student, teacher)
    assert (dkd.T, dkd.alpha, dkd.beta, dkd.ce, dkd.warmup) == (4.0, 1.0, 8.0, 1.0, 20)    # mdistiller
    assert (dist.T, dist.beta, dist.gamma, dist.ce) == (1.0, 1.0, 1.0, 1.0)                 # DIST_KD
    assert (std.T, std.kd, std.ce) == (2.0, 9.0, 0.1)                                      # Sun et al.


def test_logit_distillers_refuse_bad_settings_and_need_a_teacher():
    student, teacher = nets()
    for method in (DKD, DIST, StandardizedKD):
        assert method.needs_teacher
        with pytest.raises(ValueError, match="needs a teacher"):
            method(student, None)
        with pytest.raises(ValueError, match="temperature T must be"):
            method(student, teacher, T=0.0)
        with pytest.raises(ValueError, match="weight ce must be"):
            method(student, teacher, ce=-1.0)
    with pytest.raises(ValueError, match="weight beta must be"):
        DKD(student, teacher, beta=-8.0)
    with pytest.raises(ValueError, match="weight gamma must be"):
        DIST(student, teacher, gamma=-1.0)
    with pytest.raises(ValueError, match="weight kd must be"):
        StandardizedKD(student, teacher, kd=-9.0)


def test_names_carry_the_settings_and_the_registry_has_them():
    student, teacher = nets()
    made = [DKD(student, teacher), DKD(student, teacher, T=2.0), DKD(student, teacher, alpha=2.0),
            DKD(student, teacher, beta=4.0), DKD(student, teacher, ce=0.5), DKD(student, teacher, warmup=5),
            DIST(student, teacher), DIST(student, teacher, T=4.0), DIST(student, teacher, beta=2.0),
            DIST(student, teacher, gamma=2.0), DIST(student, teacher, ce=0.5), StandardizedKD(student, teacher),
            StandardizedKD(student, teacher, T=3.0), StandardizedKD(student, teacher, kd=6.0),
            StandardizedKD(student, teacher, ce=1.0)]
    names = [d.name for d in made]
    assert len(set(names)) == len(names), names
    for name, cls in [("dkd", DKD), ("dist", DIST), ("kd_std", StandardizedKD), ("crd", distillers.CRD)]:
        assert distillers.METHODS[name] is cls and cls.__name__ in distillers.__all__
