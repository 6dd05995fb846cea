"""Grade functions of notebooks 08 and 09: the right answer passes, plausible wrong answers raise Wrong."""
import pandas as pd
import pytest
import torch
from torch import nn

from kdcourse import exercises, losses, metrics
from kdcourse.exercises import NotAnswered, Wrong


def _sweep():
    return pd.DataFrame({"s": [2, 5, 10, 5, 5, 5], "beta": [1.0, 1.0, 1.0, 0.0, 10.0, 1.0],
                         "n": [100, 100, 100, 100, 100, 20],
                         "effective subclasses": [3.0, 6.0, 7.0, 2.5, 5.0, 1.5]})


def test_08_1_reads_the_fewest_effective_subclasses():
    exercises.check("08.1", 0.0, sweep=_sweep(), subclasses=5)
    with pytest.raises(Wrong):     # the small-data row has fewer, but is not at the larger n
        exercises.check("08.1", 1.0, sweep=_sweep(), subclasses=5)
    with pytest.raises(Wrong):
        exercises.check("08.1", 10.0, sweep=_sweep(), subclasses=5)
    with pytest.raises(NotAnswered):
        exercises.check("08.1", None, sweep=_sweep(), subclasses=5)


def test_08_2_purity_not_the_per_digit_share():
    assigned = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 3])
    digits = torch.tensor([1, 1, 2, 2, 2, 3, 3, 4, 4, 4])
    matrix = pd.crosstab(pd.Series(digits.numpy()), pd.Series(assigned.numpy()))
    right = float(matrix.max(axis=0).sum() / matrix.to_numpy().sum())
    assert right == pytest.approx(metrics.cluster_purity(assigned, digits))
    exercises.check("08.2", right, assigned=assigned, digits=digits)
    wrong = float(matrix.max(axis=1).sum() / matrix.to_numpy().sum())     # each digit's majority subclass
    assert wrong != pytest.approx(right)
    with pytest.raises(Wrong):
        exercises.check("08.2", wrong, assigned=assigned, digits=digits)


def test_08_3_listing1():
    def right(z, C):
        return torch.softmax(z, 1).reshape(len(z), C, -1).sum(-1)

    def interleaved(z, C):          # class c owns columns c, c + C, ... : the wrong grouping
        return torch.softmax(z, 1).reshape(len(z), -1, C).sum(1)

    def naive(z, C):                # overflows for large logits
        e = torch.exp(z)
        return (e / e.sum(1, keepdim=True)).reshape(len(z), C, -1).sum(-1)

    def per_class_softmax(z, C):    # softmax within each class: not a class distribution
        return torch.softmax(z.reshape(len(z), C, -1), -1).mean(-1)

    exercises.check("08.3", right)
    for wrong in (interleaved, naive, per_class_softmax):
        with pytest.raises(Wrong):
            exercises.check("08.3", wrong)

    def stub(z, C):
        raise NotImplementedError
    with pytest.raises(NotImplementedError):
        exercises.check("08.3", stub)


def test_08_4_aux_loss():
    def right(z, T=1.0):
        n = (z - z.mean(1, keepdim=True)) / z.std(1, unbiased=False, keepdim=True) / z.shape[1] ** 0.5
        c = n @ n.T / T
        return -(c.diagonal() - torch.logsumexp(c, 1) + torch.log(torch.tensor(float(len(z))))).mean()

    def unbiased_std(z, T=1.0):
        n = (z - z.mean(1, keepdim=True)) / z.std(1, keepdim=True) / z.shape[1] ** 0.5
        c = n @ n.T / T
        return -(c.diagonal() - torch.logsumexp(c, 1) + torch.log(torch.tensor(float(len(z))))).mean()

    def sum_not_mean(z, T=1.0):
        n = losses.normalise_subclass_logits(z)
        c = n @ n.T / T
        return -(c.diagonal() - torch.logsumexp(c, 1)).mean()

    def no_temperature(z, T=1.0):
        return right(z, 1.0)

    exercises.check("08.4", right)
    for wrong in (unbiased_std, sum_not_mean, no_temperature):
        with pytest.raises(Wrong):
            exercises.check("08.4", wrong)


def _similarity(frac):
    idx = pd.MultiIndex.from_tuples([("gradient", "teacher vs student with KD"),
                                     ("gradient", "teacher vs student without KD")])
    return pd.DataFrame({"fraction rho < 0": [frac, 0.0]}, index=idx)


def test_09_1_reads_the_fraction():
    exercises.check("09.1", 0.053, similarity=_similarity(0.053))
    with pytest.raises(Wrong):
        exercises.check("09.1", 5.3, similarity=_similarity(0.053))      # a percentage, not a fraction
    with pytest.raises(Wrong):
        exercises.check("09.1", 0.0, similarity=_similarity(0.053))      # the other student's row


def test_09_2_uses_the_ci():
    paired = {"SmoothGrad": {"mean": 0.011, "ci": [-0.002, 0.023], "kd_closer_on": 0.63}}
    exercises.check("09.2", "neither", paired=paired)
    with pytest.raises(Wrong):
        exercises.check("09.2", "with KD", paired=paired)                # the mean's sign alone
    exercises.check("09.2", "without KD", paired={"SmoothGrad": {"ci": [-0.05, -0.02]}})
    with pytest.raises(Wrong):
        exercises.check("09.2", "yes", paired=paired)


def test_09_3_spearman():
    from scipy.stats import rankdata

    def right(a, b):
        ra = torch.as_tensor(rankdata(a.flatten(1).numpy(), axis=1))
        rb = torch.as_tensor(rankdata(b.flatten(1).numpy(), axis=1))
        ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
        return (ra * rb).sum(1) / (ra.norm(dim=1) * rb.norm(dim=1))

    def pearson(a, b):              # no ranks
        a, b = a.flatten(1).double(), b.flatten(1).double()
        a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
        return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))

    def ordinal_ranks(a, b):        # ties broken by position instead of averaged
        ra = a.flatten(1).argsort(1, stable=True).argsort(1).double()
        rb = b.flatten(1).argsort(1, stable=True).argsort(1).double()
        ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
        return (ra * rb).sum(1) / (ra.norm(dim=1) * rb.norm(dim=1))

    exercises.check("09.3", right)
    for wrong in (pearson, ordinal_ranks):
        with pytest.raises(Wrong):
            exercises.check("09.3", wrong)


def test_09_4_smoothgrad():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3)).eval()
    x, target = torch.rand(5, 1, 4, 4), torch.tensor([0, 1, 2, 1, 0])

    def right(model, x, target, noise):
        total = 0
        for eps in noise:
            xn = (x + eps).detach().requires_grad_(True)
            g, = torch.autograd.grad(model(xn).gather(1, target[:, None]).sum(), xn)
            total = total + g.abs()
        return (total / len(noise)).amax(1)

    def max_then_mean(model, x, target, noise):        # reduces channels before averaging
        maps = []
        for eps in noise:
            xn = (x + eps).detach().requires_grad_(True)
            g, = torch.autograd.grad(model(xn).gather(1, target[:, None]).sum(), xn)
            maps.append(g.abs().amax(1))
        return torch.stack(maps).mean(0)

    def no_noise(model, x, target, noise):
        return right(model, x, target, noise[:1] * 0)

    def signed(model, x, target, noise):
        total = 0
        for eps in noise:
            xn = (x + eps).detach().requires_grad_(True)
            g, = torch.autograd.grad(model(xn).gather(1, target[:, None]).sum(), xn)
            total = total + g
        return (total / len(noise)).amax(1)

    def with_backward(model, x, target, noise):        # right maps, but leaves gradients on the parameters
        total = 0
        for eps in noise:
            xn = (x + eps).detach().requires_grad_(True)
            model(xn).gather(1, target[:, None]).sum().backward()
            total = total + xn.grad.abs()
        return (total / len(noise)).amax(1)

    exercises.check("09.4", right, model=model, x=x, target=target)
    for wrong in (max_then_mean, no_noise, signed, with_backward):
        with pytest.raises(Wrong):
            exercises.check("09.4", wrong, model=model, x=x, target=target)
        for p in model.parameters():
            p.grad = None


# --------------------------------------------------------------------------- notebook 09's corrected verdicts
def _row(lo, hi, chance_lo, chance_hi, above_lo, above_hi):
    return pd.Series({"rho": (lo + hi) / 2, "rho CI low": lo, "rho CI high": hi, "chance": (chance_lo + chance_hi) / 2,
                      "chance CI low": chance_lo, "chance CI high": chance_hi, "above chance": (above_lo + above_hi) / 2,
                      "above chance CI low": above_lo, "above chance CI high": above_hi})


def test_09_inversion_verdict_decides_above_chance_by_the_paired_ci():
    from kdcourse.experiments import saliency as exp
    assert exp.inversion_verdict(_row(-0.3, -0.1, 0.0, 0.1, -0.4, -0.2)).startswith("INVERTED")
    assert exp.inversion_verdict(_row(0.27, 0.29, 0.25, 0.27, 0.01, 0.03)).startswith("NOT inverted: positively")
    # the CI's lower end (0.27) is above chance's mean (0.26), but the paired difference's CI includes 0
    assert exp.inversion_verdict(_row(0.27, 0.29, 0.25, 0.27, -0.01, 0.03)).startswith("NOT inverted, but no closer")
    assert exp.inversion_verdict(_row(-0.1, 0.3, 0.0, 0.1, -0.2, 0.2)).startswith("inconclusive")


def test_09_closeness_says_which_student_both_ways():
    from kdcourse.experiments import saliency as exp
    p = lambda lo, hi: {"mean": (lo + hi) / 2, "ci": [lo, hi], "kd_closer_on": 0.5}
    assert "WITH KD is closer" in exp.closeness(p(0.01, 0.03))
    assert "WITHOUT KD is closer" in exp.closeness(p(-0.05, -0.03))
    assert exp.closeness(p(-0.01, 0.02)).startswith("no significant difference")


def test_09_against_chance_pairs_the_same_teacher_map():
    from kdcourse.experiments import saliency as exp
    torch.manual_seed(0)
    teacher = torch.rand(50, 6, 6)
    maps = {"t": teacher, "kd": teacher + 0.1 * torch.rand(50, 6, 6), "no": torch.rand(50, 6, 6)}
    rhos = {("gradient", k): v for k, v in exp.pairs(maps, "t", ("kd", "no")).items()}
    table = exp.against_chance(rhos, ("kd", "no"))
    assert table.loc[("gradient", "kd"), "above chance CI low"] > 0.5          # near-copy: far above chance
    no = table.loc[("gradient", "no")]
    assert no["above chance CI low"] < 0 < no["above chance CI high"]          # unrelated maps: chance level


def test_09_smoothness_and_background_share():
    from kdcourse.experiments import saliency as exp
    blob = torch.arange(64.0).view(1, 8, 8)
    speckle = torch.tensor([[(-1.0) ** (i + j) for j in range(8)] for i in range(8)])[None] + 1
    assert exp.smoothness(blob).item() > 0.9 and exp.smoothness(speckle).item() < -0.9
    x = torch.zeros(1, 1, 8, 8)
    x[..., 2:6, 2:6] = 1.0                                                      # 16 ink pixels of 64
    assert exp.background_share(torch.ones(1, 8, 8), x).item() == pytest.approx(48 / 64)


def test_08_q11_configs_and_effective_subclasses():
    from kdcourse.experiments import subclass
    cfg = subclass.PROFILES["cpu"]
    points = subclass.q11_configs(cfg)
    keys = [(p["s"], p["beta"], p["n"]) for p in points]
    assert len(keys) == len(set(keys)) == len(cfg.q11_subclasses) + len(cfg.q11_betas) - 1 + 1
    assert (cfg.two_class.subclasses, 1.0, cfg.n_q11_small) in keys
    assert subclass._effective(torch.tensor([0, 1, 2, 3] * 5)) == pytest.approx(4.0)
    assert subclass._effective(torch.zeros(10, dtype=torch.long)) == pytest.approx(1.0)
