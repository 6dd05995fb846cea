"""The grade functions of notebooks 04 and 05: a right answer passes, plausible wrong ones raise Wrong."""
import math

import pytest
import torch
import torch.nn.functional as F

from kdcourse import exercises, losses
from kdcourse.exercises import NotAnswered, Wrong

G = torch.Generator().manual_seed(0)
TEACHER = 3 * torch.randn(50, 10, generator=G)
STUDENT = TEACHER + torch.randn(50, 10, generator=G)
LABELS = torch.randint(0, 10, (50,), generator=G)


def test_registry_levels():
    for nb, n in (("04", 4), ("05", 4)):
        table = exercises.registry(nb)
        assert len(table) == n
        levels = [ex.level for ex in table.values()]
        assert levels[0] == "easy" and "hard" in levels


# --------------------------------------------------------------------------- 04
DROPS = {"shirt": 0.12, "coat": 0.05, "bag": -0.01}


def test_04_1():
    exercises.check("04.1", "shirt", drops=DROPS)
    for wrong in ("coat", "bag", "sunglasses", 0.12):
        with pytest.raises(Wrong):
            exercises.check("04.1", wrong, drops=DROPS)
    with pytest.raises(NotAnswered):
        exercises.check("04.1", None, drops=DROPS)


def test_04_2():
    ctx = {"teacher_params": 21_289_802, "student_params": 11_181_642}
    exercises.check("04.2", 100 * (1 - 11_181_642 / 21_289_802), **ctx)
    for wrong in (50.0, 100 * 11_181_642 / 21_289_802, 1 - 11_181_642 / 21_289_802):
        with pytest.raises(Wrong):
            exercises.check("04.2", wrong, **ctx)


def test_04_3():
    median = lambda T: float(losses.entropy(losses.soft_targets(TEACHER, T)).median())
    exercises.check("04.3", median(2.0), teacher_logits=TEACHER, T=2.0)
    for wrong in (median(4.0), median(2.0) / math.log(2), median(1.0), "high"):
        with pytest.raises(Wrong):
            exercises.check("04.3", wrong, teacher_logits=TEACHER, T=2.0)


def kd_right(s, t, T):
    return torch.nn.KLDivLoss(reduction="batchmean")(F.log_softmax(s / T, 1), F.softmax(t / T, 1)) * T ** 2


def kd_as_printed(s, t, T):       # seed 000's eq. 2: probabilities where log-probabilities are expected
    return torch.nn.KLDivLoss(reduction="batchmean")(F.softmax(s / T, 1), F.softmax(t / T, 1)) * T ** 2


def kd_mean(s, t, T):             # the default reduction: divides by the classes too
    return torch.nn.KLDivLoss()(F.log_softmax(s / T, 1), F.softmax(t / T, 1)) * T ** 2


def kd_no_t2(s, t, T):
    return torch.nn.KLDivLoss(reduction="batchmean")(F.log_softmax(s / T, 1), F.softmax(t / T, 1))


def kd_unstable(s, t, T):         # log(softmax): -inf where softmax underflows
    q = torch.softmax(t / T, 1)
    return (q * (q.log() - torch.softmax(s / T, 1).log())).sum(1).mean() * T ** 2


def test_04_4():
    ctx = {"student_logits": STUDENT, "teacher_logits": TEACHER, "T": 4.0}
    exercises.check("04.4", kd_right, **ctx)
    for wrong in (kd_as_printed, kd_mean, kd_no_t2, kd_unstable, lambda s, t, T: losses.kd_loss(s, t, T).repeat(2)):
        with pytest.raises(Wrong):
            exercises.check("04.4", wrong, **ctx)

    def stub(s, t, T):
        raise NotImplementedError
    with pytest.raises(NotImplementedError):
        exercises.check("04.4", stub, **ctx)


# --------------------------------------------------------------------------- 05
def test_05_1():
    ctx = {"teacher_params": 49_866, "student_params": 174_778}
    exercises.check("05.1", 174_778 / 49_866, **ctx)
    for wrong in (1.0, 49_866 / 174_778, 174_778 - 49_866):
        with pytest.raises(Wrong):
            exercises.check("05.1", wrong, **ctx)


def test_05_2():
    logits = {"Teacher": TEACHER, "BAN-1": STUDENT, "BAN-2": TEACHER + 2 * torch.randn(50, 10, generator=G)}
    ctx = {"logits": logits, "labels": TEACHER.argmax(1), "members": ["BAN-1", "BAN-2"]}
    p = (torch.softmax(logits["BAN-1"], 1) + torch.softmax(logits["BAN-2"], 1)) / 2
    right = float((p.argmax(1) == ctx["labels"]).float().mean())
    exercises.check("05.2", right, **ctx)
    for wrong in (right * 100, right - 0.1, 0.0):
        with pytest.raises(Wrong):
            exercises.check("05.2", wrong, **ctx)


def mse_right(s, t):
    return ((s - t) ** 2).mean()


def test_05_3():
    ctx = {"student_logits": STUDENT, "teacher_logits": TEACHER}
    exercises.check("05.3", mse_right, **ctx)
    for wrong in (lambda s, t: ((s - t) ** 2).sum(), lambda s, t: ((s - t) ** 2).sum(1).mean(),
                  lambda s, t: ((s.softmax(1) - t.softmax(1)) ** 2).mean()):
        with pytest.raises(Wrong):
            exercises.check("05.3", wrong, **ctx)


def ban_right(s, t, y, w):
    w = 0.0 if w is None else w
    q = (1 - w) * torch.softmax(t, -1) + w * F.one_hot(y, s.shape[-1]).float()
    return -(q * F.log_softmax(s, -1)).sum(-1).mean()


def ban_unstable(s, t, y, w):
    w = 0.0 if w is None else w
    q = (1 - w) * torch.softmax(t, -1) + w * F.one_hot(y, s.shape[-1]).float()
    return -(q * torch.softmax(s, -1).log()).sum(-1).mean()


def ban_wrong_weight(s, t, y, w):     # the weight on the wrong side
    w = 0.0 if w is None else w
    return ban_right(s, t, y, 1 - w)


def ban_kl(s, t, y, w):               # the teacher part as a KL: differs by the teacher's entropy
    w = 0.0 if w is None else w
    return (1 - w) * F.kl_div(F.log_softmax(s, -1), F.softmax(t, -1), reduction="batchmean") + \
        w * F.cross_entropy(s, y)


def test_05_4():
    ctx = {"student_logits": STUDENT, "teacher_logits": TEACHER, "labels": LABELS}
    exercises.check("05.4", ban_right, **ctx)
    for wrong in (ban_unstable, ban_wrong_weight, ban_kl, lambda s, t, y, w: F.cross_entropy(s, y)):
        with pytest.raises(Wrong):
            exercises.check("05.4", wrong, **ctx)
