"""The checks of notebooks 01 and 02's exercises: each passes its right answer and rejects plausible wrong ones."""
import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from kdcourse import exercises
from kdcourse.losses import entropy, soft_targets

check, Wrong = exercises.check, exercises.Wrong
Z = torch.tensor([2.0, 1.0, 0.1], dtype=torch.float64)


def test_registered_keys_levels_and_order():
    assert [(k, e.level) for k, e in exercises.registry("01").items()] == [
        ("01.1", "easy"), ("01.2", "easy"), ("01.3", "medium"), ("01.4", "medium"), ("01.5", "hard")]
    assert [(k, e.level) for k, e in exercises.registry("02").items()] == [
        ("02.1", "easy"), ("02.2", "easy"), ("02.3", "medium"), ("02.4", "medium"), ("02.5", "hard")]


@pytest.mark.parametrize("key", ["01.1", "01.2", "01.3", "01.4", "02.1", "02.2", "02.3", "02.4"])
def test_a_stub_is_not_answered(key):
    with pytest.raises(exercises.NotAnswered):
        check(key, None)


# ---- 01.1: soft targets of the toy logits at T = 3 (by hand: exp(2/3), exp(1/3), exp(0.1/3), normalised)
def test_01_1_toy_soft_targets():
    e = [math.exp(v / 3) for v in (2.0, 1.0, 0.1)]
    assert "0.4450" in check("01.1", [v / sum(e) for v in e], z=Z, T=3.0)
    with pytest.raises(Wrong, match="ordinary softmax"):
        check("01.1", torch.softmax(Z, 0).tolist(), z=Z, T=3.0)          # forgot T
    with pytest.raises(Wrong, match="multiplied by T"):
        check("01.1", torch.softmax(Z * 3, 0).tolist(), z=Z, T=3.0)
    with pytest.raises(Wrong, match="3 entries"):
        check("01.1", [0.5, 0.5], z=Z, T=3.0)
    with pytest.raises(Wrong, match="sum to 1"):
        check("01.1", [0.5, 0.5, 0.5], z=Z, T=3.0)


# ---- 01.2: mean entropy / log K read off the table
def _by_T():
    return pd.DataFrame({"T": [1.0, 4.0], "mean entropy": [0.03, 0.75]}).set_index("T")


def test_01_2_entropy_share():
    check("01.2", 0.75 / math.log(10), by_T=_by_T(), T=4.0, K=10)
    with pytest.raises(Wrong, match="in nats"):
        check("01.2", 0.75, by_T=_by_T(), T=4.0, K=10)                   # not divided by log K
    with pytest.raises(Wrong, match="not within"):
        check("01.2", 0.03 / math.log(10), by_T=_by_T(), T=4.0, K=10)    # the wrong row


# ---- 01.3: the unscaled gradient's fall from T = 256 to 1024, on the measured curve
def _grads(power=2.0):
    rows = [{"student": s, "T": T, "loss": "without", "grad norm": c / T ** power}
            for s, c in (("a", 3.0), ("b", 5.0)) for T in (64.0, 256.0, 1024.0)]
    return pd.DataFrame(rows)


def test_01_3_grad_fall():
    check("01.3", 16.0, grads=_grads(), without="without", student="b")
    check("01.3", 4 ** 1.98, grads=_grads(1.98), without="without", student="b")   # graded on the measured curve
    with pytest.raises(Wrong, match="1/T fall"):
        check("01.3", 4.0, grads=_grads(), without="without", student="b")
    with pytest.raises(Wrong, match="not within"):
        check("01.3", 64.0, grads=_grads(), without="without", student="b")


# ---- 01.4: the temperature of half the maximum entropy
def test_01_4_half_entropy():
    t = torch.randn(200, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 6
    lo, hi = math.log(1e-3), math.log(1e4)
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if float(entropy(soft_targets(t, math.exp(mid))).mean()) < 0.5 * math.log(10) else (lo, mid)
    T = math.exp(lo)
    check("01.4", T, t_test=t)
    with pytest.raises(Wrong, match="not 50 %"):
        check("01.4", 4 * T, t_test=t)
    with pytest.raises(Wrong, match="positive"):
        check("01.4", -1.0, t_test=t)


# ---- 01.5: the closed-form gradient of kd_loss
def test_01_5_kd_grad():
    check("01.5", lambda s, t, T: T * (torch.softmax(s / T, -1) - torch.softmax(t / T, -1)) / s.shape[0])
    wrong = {
        "factor T": lambda s, t, T: (torch.softmax(s / T, -1) - torch.softmax(t / T, -1)) / s.shape[0],
        "batch size": lambda s, t, T: T * (torch.softmax(s / T, -1) - torch.softmax(t / T, -1)),
        "inf or nan": lambda s, t, T: T * (torch.exp(s / T) / torch.exp(s / T).sum(-1, keepdim=True)
                                          - torch.exp(t / T) / torch.exp(t / T).sum(-1, keepdim=True)) / s.shape[0],
        "largest difference": lambda s, t, T: T * (torch.softmax(s, -1) - torch.softmax(t, -1)) / s.shape[0],
        "shaped like s": lambda s, t, T: (T * (torch.softmax(s / T, -1) - torch.softmax(t / T, -1))).sum(0),
    }
    for match, fn in wrong.items():
        with pytest.raises(Wrong, match=match):
            check("01.5", fn)
    with pytest.raises(NotImplementedError):
        check("01.5", lambda s, t, T: (_ for _ in ()).throw(NotImplementedError("stub")))


# ---- 02.1: the sweep's best cell on validation
def _avg():
    return pd.DataFrame({"alpha": [0.5, 0.5, 0.9, 0.9], "T": [4.0, 20.0, 4.0, 20.0],
                         "mean_val_acc": [0.97, 0.98, 0.96, 0.975], "mean_test_acc": [0.97, 0.975, 0.96, 0.978]})


def test_02_1_best_cell():
    check("02.1", (0.5, 20.0), avg=_avg())
    with pytest.raises(Wrong, match="test set"):
        check("02.1", (0.9, 20.0), avg=_avg())          # the best on test
    with pytest.raises(Wrong, match="best cell has"):
        check("02.1", (0.5, 4.0), avg=_avg())
    with pytest.raises(Wrong, match="not a cell"):
        check("02.1", (0.7, 20.0), avg=_avg())


# ---- 02.2: KD's gain in test images
def _finals():
    return pd.DataFrame({"method": ["KD", "KD", "no KD", "no KD"], "seed": [0, 1, 0, 1],
                         "test_acc": [0.9850, 0.9846, 0.9830, 0.9822]})


def test_02_2_gain_in_images():
    check("02.2", 22.0, finals=_finals(), kd="KD", no_kd="no KD")
    with pytest.raises(Wrong, match="sign"):
        check("02.2", -22.0, finals=_finals(), kd="KD", no_kd="no KD")
    with pytest.raises(Wrong, match="multiply by 10,000"):
        check("02.2", 0.0022, finals=_finals(), kd="KD", no_kd="no KD")


# ---- 02.3: Spearman's rho of T with the validation accuracy
def test_02_3_rank_correlation():
    avg = pd.DataFrame({"alpha": [0.9] * 4, "T": [1.0, 4.0, 20.0, 40.0],
                        "mean_val_acc": [0.970, 0.980, 0.979, 0.9795], "mean_test_acc": [0.97, 0.975, 0.976, 0.977]})
    rho = avg["T"].rank().corr(avg["mean_val_acc"].rank())                      # ranks 1, 4, 2, 3 -> 0.4
    assert rho == pytest.approx(0.4)
    check("02.3", 0.4, avg=avg, alpha=0.9)
    with pytest.raises(Wrong, match="test accuracy"):
        check("02.3", 1.0, avg=avg, alpha=0.9)                                    # on test: 1.0
    with pytest.raises(Wrong, match="Pearson"):
        check("02.3", float(avg["T"].corr(avg["mean_val_acc"])), avg=avg, alpha=0.9)
    tied = avg.assign(mean_val_acc=0.98)
    check("02.3", float("nan"), avg=tied, alpha=0.9)
    with pytest.raises(Wrong, match="undefined"):
        check("02.3", 0.0, avg=tied, alpha=0.9)


# ---- 02.4: gain and 2 x the larger sample std
def test_02_4_noise_band():
    small = pd.DataFrame({"fraction": [0.01] * 6, "method": ["KD"] * 3 + ["no KD"] * 3, "seed": [0, 1, 2] * 2,
                          "test_acc": [0.92, 0.93, 0.925, 0.88, 0.89, 0.87]})
    gain = 0.925 - 0.88                                                           # 0.045
    noise = 2 * 0.01                                                              # no KD's sample std is 0.01
    ctx = dict(small=small, fraction=0.01, kd="KD", no_kd="no KD")
    assert "beyond" in check("02.4", (gain, noise), **ctx)
    with pytest.raises(Wrong, match="ddof 0"):
        check("02.4", (gain, 2 * pd.Series([0.88, 0.89, 0.87]).std(ddof=0)), **ctx)
    with pytest.raises(Wrong, match="one std"):
        check("02.4", (gain, noise / 2), **ctx)
    with pytest.raises(Wrong, match="KD's gain"):
        check("02.4", (-gain, noise), **ctx)


# ---- 02.5: seed 004's eq. 4
def _eq4(s, t, y, T, lam):
    q = torch.softmax(t / T, -1)
    return lam * T**2 * -(q * torch.log_softmax(s / T, -1)).sum(-1).mean() + (1 - lam) * F.cross_entropy(s, y)


def test_02_5_eq4():
    check("02.5", _eq4)
    kl = lambda s, t, y, T, lam: lam * T**2 * F.kl_div(torch.log_softmax(s / T, -1), torch.log_softmax(t / T, -1),
                                                       reduction="batchmean", log_target=True) \
        + (1 - lam) * F.cross_entropy(s, y)
    no_T2 = lambda s, t, y, T, lam: _eq4(s, t, y, T, lam) - lam * (T**2 - 1) * \
        -(torch.softmax(t / T, -1) * torch.log_softmax(s / T, -1)).sum(-1).mean()
    naive = lambda s, t, y, T, lam: lam * T**2 * -(torch.softmax(t / T, -1) * torch.log(torch.softmax(s / T, -1))
                                                    ).sum(-1).mean() + (1 - lam) * F.cross_entropy(s, y)
    detached = lambda s, t, y, T, lam: _eq4(s, t, y, T, lam).detach()
    per_image = lambda s, t, y, T, lam: _eq4(s, t, y, T, lam) * len(s)
    for match, fn in (("KL form", kl), ("T\\^2 factor", no_T2), ("the loss is (nan|inf)", naive),
                      ("differentiable", detached), ("expected", per_image)):
        with pytest.raises(Wrong, match=match):
            check("02.5", fn)
