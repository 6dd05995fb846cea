"""The graders of notebooks 06 and 07's exercises: the right answer passes, plausible wrong ones raise Wrong."""
import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from kdcourse import exercises
from kdcourse.losses import RRDLoss
from kdcourse.models.flexible import make_divisible


# --------------------------------------------------------------------------- 06
def _msdnet_table():
    return pd.DataFrame({"No dist.": [80.0, 82.5, 81.25], "IPKD": [81.0, 82.0, 81.5], "IPKD-TA-M": [81.5, 83.0, 82.25]},
                        index=["Exit 1", "Exit 2", "Avg"])


def test_06_1_reads_the_gain_at_exit_1():
    table = _msdnet_table()
    exercises.check("06.1", 1.5, table=table)
    for wrong in (-1.5, 1.0, 81.5):        # sign flipped, the Avg row's gain, the accuracy instead of the gain
        with pytest.raises(exercises.Wrong):
            exercises.check("06.1", wrong, table=table)
    with pytest.raises(exercises.NotAnswered):
        exercises.check("06.1", None, table=table)


def test_06_2_make_divisible():
    exercises.check("06.2", lambda c, w, d=8: make_divisible(c * w, d), divisor=4)
    with pytest.raises(exercises.Wrong):                       # the naive ceil(c * w)
        exercises.check("06.2", lambda c, w, d=8: math.ceil(c * w), divisor=8)
    with pytest.raises(exercises.Wrong):                       # no floor at the divisor, no 10 % rule
        exercises.check("06.2", lambda c, w, d=8: int(c * w + d / 2) // d * d, divisor=8)
    with pytest.raises(exercises.Wrong):
        exercises.check("06.2", 8)


def _kd(s, t, T):
    return F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean") * T * T


def _ta1(logits, y, T, lam, detach=True, teacher=lambda i, n: i + 1):
    n = len(logits)
    loss = F.cross_entropy(logits[-1], y)
    for i in range(n - 1):
        t = logits[teacher(i, n)]
        loss = loss + (1 - lam) * F.cross_entropy(logits[i], y) + lam * _kd(logits[i], t.detach() if detach else t, T)
    return loss


def test_06_3_ipkd_ta1():
    exercises.check("06.3", _ta1)
    wrong = [lambda a, y, T, lam: _ta1(a, y, T, lam, detach=False),                    # teachers not detached
             lambda a, y, T, lam: _ta1(a, y, T, lam, teacher=lambda i, n: n - 1),     # IPKD: the largest teaches
             lambda a, y, T, lam: _ta1(a, y, T, lam) / T ** 2,                         # tau^2 forgotten (roughly)
             lambda a, y, T, lam: _ta1(a, y, T, lam).detach()]
    for fn in wrong:
        with pytest.raises(exercises.Wrong):
            exercises.check("06.3", fn)


# --------------------------------------------------------------------------- 07
def _results():
    rows = [{"method": m, "seed": s, "test_acc": a + 0.001 * s}
            for m, a in (("no KD", 0.85), ("KD", 0.84), ("RRD", 0.8550)) for s in (0, 1)]
    return pd.DataFrame(rows)


def test_07_1_reads_rrd_minus_kd():
    exercises.check("07.1", 1.5, results=_results())
    for wrong in (-1.5, 0.5, 0.015):     # sign, RRD - no KD, a fraction instead of points
        with pytest.raises(exercises.Wrong):
            exercises.check("07.1", wrong, results=_results())


def test_07_2_temperature():
    anchors = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    f_t = torch.tensor([[2.0, 0.0], [0.0, 5.0]])
    temps = (0.07, 1.0, 10.0)
    right = [float(torch.softmax(F.normalize(f_t[:1], dim=1) @ anchors.T / t, 1).max()) for t in temps]
    exercises.check("07.2", right, anchors=anchors, f_t=f_t, temperatures=temps)
    unnormalised = [float(torch.softmax(f_t[:1] @ anchors.T / t, 1).max()) for t in temps]
    for wrong in (unnormalised, right[::-1], right[:2]):
        with pytest.raises(exercises.Wrong):
            exercises.check("07.2", wrong, anchors=anchors, f_t=f_t, temperatures=temps)


def _rrd(f_s, f_t, embed_s, embed_t, queue, t_s, t_t, detach=True, normalise=True, mean=True):
    z_s, z_t = embed_s(f_s), embed_t(f_t)
    if normalise:
        z_s, z_t = F.normalize(z_s, dim=1), F.normalize(z_t, dim=1)
    p_t = F.softmax(z_t @ queue.T / t_t, dim=1)
    if detach:
        p_t = p_t.detach()
    per = -(p_t * F.log_softmax(z_s @ queue.T / t_s, dim=1)).sum(1)
    return per.mean() if mean else per.sum()


def test_07_3_rrd_loss():
    exercises.check("07.3", _rrd)
    wrong = [lambda *a: _rrd(*a, detach=False), lambda *a: _rrd(*a, normalise=False), lambda *a: _rrd(*a, mean=False),
             lambda f_s, f_t, es, et, q, t_s, t_t: _rrd(f_s, f_t, es, et, q, t_t, t_s)]      # temperatures swapped
    for fn in wrong:
        with pytest.raises(exercises.Wrong):
            exercises.check("07.3", fn)


def test_every_exercise_of_06_and_07_is_registered_easy_to_hard():
    for nb in ("06", "07"):
        table = exercises.registry(nb)
        levels = [ex.level for ex in table.values()]
        assert 3 <= len(table) <= 6 and levels[0] == "easy" and levels[-1] == "hard"
        assert levels == sorted(levels, key=exercises.LEVELS.index)
