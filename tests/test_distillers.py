"""Distillers: each method's losses equal the pure loss function's value (or a hand computation) on a small
example; what accuracy is measured on; the teacher's outputs by sample index or live; the method registry.

The example: four samples whose inputs are the student's and the teacher's logits side by side,
``x = [s | t]``; the student reads the first three columns, the teacher the last three, so a batch's
logits are known by hand.
"""
import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kdcourse import data, distillers, engine, losses, models
from kdcourse.distillers import (KD, Batch, CrossEntropy, Distiller, FeatureKD, InPlace, LogitMSE, Softened,
                                 SoftTargets, SubclassKD, SubclassTeacher)
from kdcourse.engine import Layers, TeacherCache

S = [[1.0, 0.0, -1.0], [0.5, 0.5, 0.0], [-0.3, 2.0, 0.1], [0.0, -1.0, 1.5]]
T_ = [[2.0, 0.5, -1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 3.0], [-2.0, 0.0, 0.5]]
Y = [0, 1, 2, 1]
IDX = [2, 0, 3]   # a shuffled batch of three of the four samples


class Columns(nn.Module):
    """Returns columns [start, stop) of its input: logits chosen by hand (one zero parameter, so it has a device)."""

    def __init__(self, start, stop):
        super().__init__()
        self.start, self.stop = start, stop
        self.zero = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return x[:, self.start:self.stop] + 0.0 * self.zero


class Heads(nn.Module):
    """A toy flexible network: the logits of its sub-models are consecutive column blocks of the input."""

    def __init__(self, n, k):
        super().__init__()
        self.heads = nn.ModuleList(Columns(i * k, (i + 1) * k) for i in range(n))

    def forward(self, x):
        return [h(x) for h in self.heads]


def dataset(x, y):
    return data.TensorData(torch.tensor(x), torch.tensor(y), "hand", "train", "by hand")


@pytest.fixture
def example():
    """The data set of the four samples, and a batch of three of them (by index, as the loop makes them)."""
    d = dataset([s + t for s, t in zip(S, T_)], Y)
    idx = torch.tensor(IDX)
    return d, Batch(d.x[idx], d.y[idx], idx, d)


def student():
    return Columns(0, 3)


def teacher():
    return Columns(3, 6)


# --------------------------------------------------------------------------- by hand
def softmax(z, T=1.0):
    e = [math.exp(v / T) for v in z]
    return [v / sum(e) for v in e]


def rows(table, idx=IDX):
    return [table[i] for i in idx]


def ce_by_hand(s, y):
    return sum(-math.log(softmax(z)[c]) for z, c in zip(s, y)) / len(y)


def h_by_hand(t, s, T=1.0):
    """mean over rows of H(softmax(t / T), softmax(s / T)) = - sum_i q_i log p_i."""
    return sum(-sum(q * math.log(p) for q, p in zip(softmax(zt, T), softmax(zs, T))) for zs, zt in zip(s, t)) / len(s)


def kl_by_hand(t, s, T):
    return sum(sum(q * math.log(q / p) for q, p in zip(softmax(zt, T), softmax(zs, T)))
               for zs, zt in zip(s, t)) / len(s)


def vals(named: dict) -> dict:
    return {k: float(v.detach()) for k, v in named.items()}


def parts(distiller, batch):
    return vals(distiller(batch)[1])


def flat(table):
    return [v for row in table for v in row]


S_B, T_B, Y_B = rows(S), rows(T_), rows(Y)
ST, TT, YT = torch.tensor(S_B), torch.tensor(T_B), torch.tensor(Y_B)


# --------------------------------------------------------------------------- logit methods
def test_cross_entropy_is_plain_ce(example):
    _, batch = example
    scores, got = CrossEntropy(student())(batch)
    assert torch.equal(scores.detach(), ST)
    got = vals(got)
    assert set(got) == {"total", "ce"}
    assert got["total"] == pytest.approx(ce_by_hand(S_B, Y_B), rel=1e-6) and got["ce"] == got["total"]


@pytest.mark.parametrize("T, alpha", [(1.0, 0.5), (4.0, 0.9), (20.0, 0.1)])
def test_kd_is_losses_kd_objective(example, T, alpha):
    _, batch = example
    got = parts(KD(student(), teacher(), T=T, alpha=alpha), batch)
    want = vals(losses.kd_objective(ST, TT, YT, T, alpha))
    assert got == pytest.approx(want, rel=1e-6)
    # and by hand: alpha T^2 KL(p_t^T || p_s^T) + (1 - alpha) CE
    kd = T * T * kl_by_hand(T_B, S_B, T)
    assert got["kd"] == pytest.approx(kd, rel=1e-4)      # float32 against float64: T^2 KL loses digits at T = 20
    assert got["total"] == pytest.approx(alpha * kd + (1 - alpha) * ce_by_hand(S_B, Y_B), rel=1e-4)


def test_soft_targets_with_w_0_and_w_1(example):
    _, batch = example
    ce, h = ce_by_hand(S_B, Y_B), h_by_hand(T_B, S_B)
    teacher_only = parts(SoftTargets(student(), teacher(), ground_truth_weight=0.0), batch)
    assert teacher_only["total"] == pytest.approx(h, rel=1e-6)     # H(softmax(t), softmax(s))
    assert teacher_only["kd"] == pytest.approx(h, rel=1e-6) and teacher_only["ce"] == pytest.approx(ce, rel=1e-6)
    labels_only = parts(SoftTargets(student(), teacher(), ground_truth_weight=1.0), batch)
    assert labels_only["total"] == pytest.approx(ce, rel=1e-6)     # plain CE
    # None is the seed's default, w = 0; in between, the loss is linear in w
    assert parts(SoftTargets(student(), teacher()), batch) == pytest.approx(teacher_only, rel=1e-6)
    mixed = parts(SoftTargets(student(), teacher(), ground_truth_weight=0.3), batch)
    assert mixed["total"] == pytest.approx(0.7 * h + 0.3 * ce, rel=1e-6)


@pytest.mark.parametrize("w", [-0.1, 1.5, True, "0.5"])
def test_soft_targets_refuses_bad_weights(w):
    with pytest.raises(ValueError, match="ground_truth_weight must be in"):
        SoftTargets(student(), teacher(), ground_truth_weight=w)


def test_logit_mse_is_the_mean_squared_difference(example):
    _, batch = example
    got = parts(LogitMSE(student(), teacher()), batch)
    by_hand = sum((a - b) ** 2 for s, t in zip(S_B, T_B) for a, b in zip(s, t)) / (len(S_B) * 3)
    assert got["total"] == pytest.approx(by_hand, rel=1e-6)
    assert got["total"] == pytest.approx(float(losses.logit_mse(ST, TT)), rel=1e-6)
    assert got["ce"] == pytest.approx(ce_by_hand(S_B, Y_B), rel=1e-6)


@pytest.mark.parametrize("T", [1.0, 3.0, 8.0])
def test_softened_is_t_squared_soft_ce(example, T):
    _, batch = example
    got = parts(Softened(student(), teacher(), T=T), batch)
    assert got["total"] == pytest.approx(T * T * h_by_hand(T_B, S_B, T), rel=1e-6)
    assert got["ce"] == pytest.approx(ce_by_hand(S_B, Y_B), rel=1e-6)


# --------------------------------------------------------------------------- flexible networks
@pytest.mark.parametrize("scheme", losses.SCHEMES)
@pytest.mark.parametrize("soft_ce", [False, True])
def test_in_place_is_losses_ipkd_loss(scheme, soft_ce):
    torch.manual_seed(0)
    a = [torch.randn(5, 4) for _ in range(3)]      # three sub-models, smallest first
    y = torch.tensor([0, 3, 1, 2, 1])
    d = dataset(torch.cat(a, 1).tolist(), y.tolist())
    idx = torch.arange(5)
    scores, got = InPlace(Heads(3, 4), scheme, T=2.0, lam=0.7, soft_ce=soft_ce)(Batch(d.x, d.y, idx, d))
    want = losses.ipkd_loss(a, y, 2.0, 0.7, scheme, soft_ce)
    assert vals(got) == pytest.approx(vals(want), rel=1e-6)
    assert isinstance(scores, list) and all(torch.equal(s, h) for s, h in zip(scores, a))
    # evaluation reports every sub-model's accuracy and their mean
    ev = InPlace(Heads(3, 4), scheme, T=2.0, lam=0.7, soft_ce=soft_ce).evaluate(d, torch.device("cpu"))
    accs = [float((h.argmax(1) == y).float().mean()) for h in a]
    assert [ev[f"acc_{i}"] for i in range(3)] == pytest.approx(accs) and ev["acc"] == pytest.approx(sum(accs) / 3)


def test_in_place_refuses_bad_settings():
    with pytest.raises(ValueError, match="scheme must be one of"):
        InPlace(Heads(2, 3), "all")
    with pytest.raises(ValueError, match="alpha must be in"):
        InPlace(Heads(2, 3), "ipkd", lam=1.5)


# --------------------------------------------------------------------------- subclass distillation
C, SUB = 2, 3   # two classes of three subclasses each: six subclass logits
ZS = [[1.0, 0.0, -1.0, 0.5, 0.2, 0.1], [0.3, -0.2, 0.0, 2.0, 1.0, -1.0], [0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
      [-1.0, 2.0, 0.5, 0.0, 0.3, 0.2]]
ZT = [[2.0, 0.5, -1.0, 0.0, 1.0, 0.0], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [1.0, -1.0, 0.0, 2.0, 0.0, 1.0],
      [0.0, 3.0, 1.0, -1.0, 0.0, 0.5]]
YC = [0, 1, 1, 0]


def subclass_net(start):
    return models.SubclassNet(Columns(start, start + C * SUB), C, SUB)


@pytest.fixture
def subclass_example():
    d = dataset([s + t for s, t in zip(ZS, ZT)], YC)
    idx = torch.tensor([3, 1, 0, 2])
    return d, Batch(d.x[idx], d.y[idx], idx, d), idx


def class_logits_by_hand(z):
    return [[math.log(sum(math.exp(v) for v in row[c * SUB:(c + 1) * SUB])) for c in range(C)] for row in z]


def test_subclass_teacher_is_subclass_teacher_loss_and_scores_class_logits(subclass_example):
    _, batch, idx = subclass_example
    net = subclass_net(0)
    scores, got = SubclassTeacher(net, beta=0.5, T_aux=2.0)(batch)
    z = torch.tensor(ZS)[idx]
    want = losses.subclass_teacher_loss(z, batch.y, C, 0.5, 2.0)
    assert vals(got) == pytest.approx(vals(want), rel=1e-6)
    assert scores.shape == (4, C)
    assert flat(scores.tolist()) == pytest.approx(flat(class_logits_by_hand(z.tolist())), rel=1e-6)
    assert torch.allclose(scores, net(batch.x))        # SubclassNet.forward gives the class logits too


def test_subclass_kd_is_subclass_kd_objective_on_the_teachers_subclass_logits(subclass_example):
    d, batch, idx = subclass_example
    t_net = subclass_net(C * SUB)
    for teacher_arg in (t_net, TeacherCache(t_net.backbone)):
        kd = SubclassKD(subclass_net(0), teacher_arg, T=4.0, alpha=0.6)
        scores, got = kd(batch)
        zs, zt = torch.tensor(ZS)[idx], torch.tensor(ZT)[idx]
        want = losses.subclass_kd_objective(zs, zt, batch.y, C, 4.0, 0.6)
        assert vals(got) == pytest.approx(vals(want),
                                                                       rel=1e-6)
        assert flat(scores.tolist()) == pytest.approx(flat(class_logits_by_hand(zs.tolist())), rel=1e-6)
        # the teacher's outputs distilled are its subclass logits, not its class logits
        assert torch.equal(kd.teacher_outputs(batch), zt)
        acc = kd.evaluate(d, torch.device("cpu"))["acc"]
        want_acc = sum(max(range(C), key=lambda c: r[c]) == y for r, y in zip(class_logits_by_hand(ZS), YC)) / 4
        assert acc == pytest.approx(want_acc)


# --------------------------------------------------------------------------- feature methods
class Tiny(nn.Module):
    """body -> head, with the body's output read by hooks."""

    def __init__(self, seed, width):
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(nn.Linear(6, width), nn.ReLU())
        self.head = nn.Linear(width, 3)

    def forward(self, x):
        return self.head(self.body(x))


@pytest.mark.parametrize("weights", [dict(ce=1.0, beta=2.0), dict(ce=0.5, beta=3.0, kd=0.7, T=2.0)])
def test_feature_kd_total_is_weighted_ce_feature_and_kd(example, weights):
    d, batch = example
    s_net, t_net = Tiny(0, 4), Tiny(1, 4)
    mse = lambda f_s, f_t: (f_s - f_t).pow(2).mean()  # noqa: E731
    fkd = FeatureKD(s_net, t_net, mse, Layers("body", "body"), **weights)
    with fkd:
        _, got = fkd(batch)
        _, live = fkd(Batch(batch.x, batch.y))          # augmented inputs: the teacher runs on the batch
    with torch.no_grad():
        s, t = s_net(batch.x), t_net(batch.x)
        ce, feat = F.cross_entropy(s, batch.y), mse(s_net.body(batch.x), t_net.body(batch.x))
    want = weights["ce"] * ce + weights["beta"] * feat
    got = vals(got)
    assert got["ce"] == pytest.approx(float(ce), rel=1e-6)
    assert got["feat"] == pytest.approx(float(feat), rel=1e-5)
    if weights.get("kd"):
        kd = losses.kd_loss(s, t, weights["T"])
        assert got["kd"] == pytest.approx(float(kd), rel=1e-5)
        want = want + weights["kd"] * kd
    else:
        assert "kd" not in got
    assert got["total"] == pytest.approx(float(want), rel=1e-5)
    assert vals(live) == pytest.approx(got, rel=1e-5)


def test_feature_kd_needs_its_hooks_and_trains_its_loss_module():
    fkd = FeatureKD(Tiny(0, 4), Tiny(1, 8), losses.FitNetsLoss(4, 8, spatial=False), Layers("body", "body"))
    x = torch.randn(2, 6)
    with pytest.raises(RuntimeError, match="inside `with distiller:`"):
        fkd(Batch(x, torch.tensor([0, 1])))
    names = {n for n, _ in fkd.named_parameters()}
    assert any(n.startswith("loss.") for n in names) and any(n.startswith("student.") for n in names)
    assert not any(n.startswith("teacher") for n in names)   # the teacher is never trained or checkpointed
    with pytest.raises(ValueError, match="weight beta must be >= 0"):
        FeatureKD(Tiny(0, 4), Tiny(1, 4), lambda a, b: 0, Layers("body", "body"), beta=-1.0)


# --------------------------------------------------------------------------- the teacher's outputs
def test_cached_teacher_outputs_follow_the_batch_indices_and_live_ones_the_inputs(example):
    d, batch = example
    kd = KD(student(), teacher(), T=2.0, alpha=0.5)
    assert torch.equal(kd.teacher_outputs(batch), TT)                 # rows 2, 0, 3 of the cache
    assert torch.equal(kd.teacher.logits(d), torch.tensor(T_))
    shifted = batch.x + 1.0                                          # "augmented": not the data set's rows
    assert torch.equal(kd.teacher_outputs(Batch(shifted, batch.y)), TT + 1.0)
    assert torch.equal(kd.teacher_outputs(Batch(shifted, batch.y, batch.idx, None)), TT + 1.0)
    # with the cache, the same indices give the same rows whatever the inputs
    assert torch.equal(kd.teacher_outputs(Batch(shifted, batch.y, batch.idx, d)), TT)


def test_a_shared_cache_is_used_as_it_is_and_the_teacher_is_no_submodule():
    cache = TeacherCache(teacher())
    a, b = KD(student(), cache), SoftTargets(student(), cache)
    assert a.teacher is cache and b.teacher is cache
    assert all(not n.startswith("teacher") for n in a.state_dict())
    with pytest.raises(TypeError, match="nn.Module or a TeacherCache"):
        KD(student(), "teacher")


@pytest.mark.parametrize("method, extra", [(KD, {}), (SoftTargets, {}), (LogitMSE, {}), (Softened, {}),
                                           (SubclassKD, {}),
                                           (FeatureKD, dict(loss=lambda a, b: 0, layers=Layers("body", "body")))])
def test_methods_that_need_a_teacher_refuse_none(method, extra):
    assert method.needs_teacher
    s = subclass_net(0) if method is SubclassKD else student()
    with pytest.raises(ValueError, match="needs a teacher"):
        method(s, None, **extra)


def test_methods_without_a_teacher():
    for method in (CrossEntropy, InPlace, SubclassTeacher):
        assert not method.needs_teacher
    assert CrossEntropy(student(), teacher()).teacher is None        # a teacher given to CE is not used
    assert "teacher" not in inspect.signature(InPlace).parameters
    assert "teacher" not in inspect.signature(SubclassTeacher).parameters


def test_evaluate_is_the_losses_on_the_whole_set(example):
    d, _ = example
    ev = KD(student(), teacher(), T=2.0, alpha=0.4).evaluate(d, torch.device("cpu"))
    want = losses.kd_objective(torch.tensor(S), torch.tensor(T_), torch.tensor(Y), 2.0, 0.4)
    assert {k: ev[k] for k in want} == pytest.approx(vals(want), rel=1e-6)
    assert ev["acc"] == pytest.approx(sum(max(range(3), key=lambda c: s[c]) == y for s, y in zip(S, Y)) / 4)


def test_the_name_carries_the_settings():
    # the name is a checkpoint's "objective": other settings must give another one
    t, net = teacher(), subclass_net(0)
    made = [KD(student(), t, 4.0, 0.9), KD(student(), t, 2.0, 0.9), KD(student(), t, 4.0, 0.5),
            SoftTargets(student(), t, 0.0), SoftTargets(student(), t, 0.5), Softened(student(), t, 3.0),
            Softened(student(), t, 2.0), LogitMSE(student(), t), InPlace(Heads(2, 3), "ipkd"),
            InPlace(Heads(2, 3), "tam"), InPlace(Heads(2, 3), "ipkd", soft_ce=True),
            InPlace(Heads(2, 3), "ipkd", T=2.0), InPlace(Heads(2, 3), "ipkd", lam=0.5), CrossEntropy(student()),
            SubclassTeacher(net, 1.0, 1.0), SubclassTeacher(net, 0.5, 1.0), SubclassTeacher(net, 1.0, 2.0),
            SubclassKD(net, subclass_net(6), 4.0, 0.5), SubclassKD(net, subclass_net(6), 2.0, 0.5),
            SubclassKD(net, subclass_net(6), 4.0, 0.7)]
    names = [d.name for d in made]
    assert len(set(names)) == len(names), names
    for d in made:
        assert d.name in repr(d)


# --------------------------------------------------------------------------- registry
def _all_distiller_classes():
    found, todo = set(), [Distiller]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("kdcourse.distillers") and not sub.__name__.startswith("_"):
                found.add(sub)
    return found


def test_methods_names_every_distiller():
    assert set(distillers.METHODS.values()) == _all_distiller_classes()
    assert len(set(distillers.METHODS.values())) == len(distillers.METHODS)     # one name per class
    exported = {getattr(distillers, n) for n in distillers.__all__ if inspect.isclass(getattr(distillers, n))}
    assert _all_distiller_classes() <= exported


def test_as_distiller():
    net = student()
    d = distillers.as_distiller(net)
    assert type(d) is CrossEntropy and d.student is net
    kd = KD(student(), teacher())
    assert distillers.as_distiller(kd) is kd
    with pytest.raises(TypeError, match="Distiller or an nn.Module"):
        distillers.as_distiller(lambda x: x)


def test_batch_is_the_engines():
    assert distillers.Batch is engine.Batch
    b = Batch(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))
    assert b.idx is None and b.data is None
