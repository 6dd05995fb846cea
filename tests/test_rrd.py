"""RRD (seed 001 Algorithm 1), FitNets and AT losses, feature hooks, CIFAR ResNets, feature distillers in fit(),
and notebook 07's experiment module (its profiles, runs and tables)."""
import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from kdcourse import config, data, engine, losses, metrics, models
from kdcourse.distillers import KD, CrossEntropy, FeatureKD
from kdcourse.engine import TeacherCache, TrainSpec, fit
from kdcourse.experiments import rrd as exp07


# --------------------------------------------------------------------------- RRD
def hand_set_rrd(queue_size=3, t_s=0.5, t_t=1.0):
    """RRDLoss in 2-D with identity embeddings and the queue [[1, 0], [0, 1], [-1, 0]]."""
    rrd = losses.RRDLoss(2, 2, feat_dim=2, queue_size=queue_size, t_s=t_s, t_t=t_t)
    with torch.no_grad():
        for embed in (rrd.embed_s, rrd.embed_t):
            embed.weight.copy_(torch.eye(2))
            embed.bias.zero_()
        rrd.queue[:3] = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    return rrd


def cross_entropy_by_hand(l_t, l_s):
    """- sum_k softmax(l_t)_k log softmax(l_s)_k, written out with math.exp."""
    z_t = sum(math.exp(v) for v in l_t)
    log_z_s = math.log(sum(math.exp(v) for v in l_s))
    return -sum(math.exp(a) / z_t * (b - log_z_s) for a, b in zip(l_t, l_s))


def test_rrd_loss_matches_the_formula_on_a_hand_set_queue():
    rrd = hand_set_rrd()
    f_s = torch.tensor([[3.0, 4.0], [0.0, -1.0]])    # z_s = (0.6, 0.8) and (0, -1)
    f_t = torch.tensor([[2.0, 0.0], [0.0, 5.0]])     # z_t = (1, 0) and (0, 1)
    loss = rrd(f_s, f_t)
    # similarities to the queue rows, divided by t_s = 0.5 (student) and t_t = 1 (teacher)
    row1 = cross_entropy_by_hand([1.0, 0.0, -1.0], [0.6 / 0.5, 0.8 / 0.5, -0.6 / 0.5])
    row2 = cross_entropy_by_hand([0.0, 1.0, 0.0], [0.0, -1.0 / 0.5, 0.0])
    assert loss.item() == pytest.approx((row1 + row2) / 2, abs=1e-6)
    assert loss.item() == pytest.approx(1.4889071, abs=1e-6)   # the same number, stored


def test_rrd_enqueues_teacher_embeddings_after_the_loss_with_wrap_around():
    rrd = hand_set_rrd()
    old = rrd.queue.clone()
    rrd(torch.tensor([[3.0, 4.0], [0.0, -1.0]]), torch.tensor([[2.0, 0.0], [0.0, 5.0]]))
    assert int(rrd.queue_ptr) == 2
    assert torch.equal(rrd.queue[:2], torch.tensor([[1.0, 0.0], [0.0, 1.0]]))   # z_t of the batch
    assert torch.equal(rrd.queue[2], old[2])
    # the next batch of 2 fills slot 2, wraps around to slot 0 and leaves the pointer at 1
    rrd(torch.randn(2, 2), torch.tensor([[0.0, -3.0], [4.0, 3.0]]))
    assert int(rrd.queue_ptr) == 1
    assert torch.allclose(rrd.queue, torch.tensor([[0.8, 0.6], [0.0, 1.0], [0.0, -1.0]]))


def test_rrd_keeps_only_the_newest_keys_when_a_batch_outgrows_the_queue():
    rrd = losses.RRDLoss(1, 1, feat_dim=1, queue_size=5)
    rrd.queue_ptr[0] = 3
    keys = torch.arange(7.0).view(7, 1)               # key j would land in slot (3 + j) % 5
    rrd._dequeue_and_enqueue(keys)
    assert rrd.queue.flatten().tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]
    assert int(rrd.queue_ptr) == (3 + 7) % 5


def test_rrd_eval_mode_does_not_enqueue_and_the_teacher_target_is_detached_by_default():
    torch.manual_seed(0)
    rrd = losses.RRDLoss(6, 4, feat_dim=8, queue_size=16)
    assert torch.allclose(rrd.queue.norm(dim=1), torch.ones(16))   # unit rows from the start
    f_s, f_t = torch.randn(4, 6, requires_grad=True), torch.randn(4, 4)
    loss = rrd(f_s, f_t)                              # enqueues in place after the loss ...
    loss.backward()                                   # ... without breaking the autograd graph
    assert f_s.grad.abs().sum() > 0 and rrd.embed_s.weight.grad.abs().sum() > 0
    assert rrd.embed_t.weight.grad is None            # p_t is a fixed target (the authors' code)
    printed = losses.RRDLoss(6, 4, feat_dim=8, queue_size=16, detach_teacher=False)   # Algorithm 1 as printed
    printed.load_state_dict(rrd.state_dict())
    same = printed(f_s.detach(), f_t)
    same.backward()
    assert printed.embed_t.weight.grad.abs().sum() > 0
    rrd.eval()
    before = (rrd.queue.clone(), int(rrd.queue_ptr))
    assert rrd(f_s.detach(), f_t).item() == pytest.approx(same.item())   # same value, same queue
    assert torch.equal(rrd.queue, before[0]) and int(rrd.queue_ptr) == before[1] == 4


def test_rrd_defaults_and_bad_input():
    rrd = losses.RRDLoss(256, 256)
    assert rrd.queue.shape == (16384, 128) and (rrd.t_s, rrd.t_t) == (0.04, 0.07)   # Algorithm 1
    assert rrd.detach_teacher                                                      # the authors' code
    with pytest.raises(ValueError, match="penultimate"):
        rrd(torch.randn(2, 256, 1, 1), torch.randn(2, 256))
    with pytest.raises(ValueError, match="temperature t_s must be > 0"):
        losses.RRDLoss(2, 2, t_s=0)


# --------------------------------------------------------------------------- FitNets and AT
def test_fitnets_hint_loss_by_hand():
    hint = losses.FitNetsLoss(2, 3, spatial=False)
    with torch.no_grad():
        hint.regressor.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]))
        hint.regressor.bias.copy_(torch.tensor([0.0, 0.0, -1.0]))
    f_s = torch.tensor([[1.0, 2.0]])                  # r(f_s) = (1, 4, 2)
    f_t = torch.tensor([[0.0, 4.0, 5.0]])
    assert hint(f_s, f_t).item() == pytest.approx((1 + 0 + 9) / 3)
    conv = losses.FitNetsLoss(4, 6)                   # 3x3 conv + BN + ReLU for feature maps
    assert conv(torch.randn(2, 4, 5, 5), torch.rand(2, 6, 5, 5)).dim() == 0
    with pytest.raises(ValueError, match="same spatial size"):
        conv(torch.randn(2, 4, 5, 5), torch.rand(2, 6, 3, 3))


def test_attention_map_and_at_loss_by_hand():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 0.0]]]])  # B=1, C=2, H=1, W=2
    # mean over channels of a^2: (1 + 9) / 2 = 5 and (4 + 0) / 2 = 2, then L2-normalised
    q = losses.attention_map(f)
    assert torch.allclose(q, torch.tensor([[5.0, 2.0]]) / math.sqrt(29))
    g = torch.tensor([[[[0.0, 1.0]]]])                # one channel: map (0, 1)
    expected = ((5 / math.sqrt(29)) ** 2 + (2 / math.sqrt(29) - 1) ** 2) / 2
    assert losses.at_loss([f], [g]).item() == pytest.approx(expected)
    # a teacher given as its attention map (what a cache stores) gives the same loss; layers add up
    assert losses.at_loss([f], [losses.attention_map(g)]).item() == pytest.approx(expected)
    assert losses.at_loss([f, f], [g, f]).item() == pytest.approx(expected)
    with pytest.raises(ValueError, match="same spatial size"):
        losses.at_loss([f], [torch.rand(1, 2, 2, 2)])


# --------------------------------------------------------------------------- models and hooks
def test_cifar_resnets_have_the_crd_parameter_counts():
    assert sum(p.numel() for p in models.resnet8x4().parameters()) == 1_233_540
    assert sum(p.numel() for p in models.resnet32x4().parameters()) == 7_433_860
    with pytest.raises(ValueError, match="6n \\+ 2"):
        models.CifarResNet(10)


def test_hooks_read_intermediate_and_penultimate_features():
    net = models.CifarResNet(8, (8, 8, 16, 32), num_classes=10, in_channels=1).eval()
    x = torch.randn(3, 1, 28, 28)
    layers = ["layer1", "layer2", "layer3", engine.hooks.penultimate(net)]
    assert layers[-1] == "fc:in"
    with engine.hooks.FeatureHooks(net, layers) as hooks:
        logits = net(x)
        f1, f2, f3, pen = hooks.features
    assert (f1.shape, f2.shape, f3.shape, pen.shape) == ((3, 8, 28, 28), (3, 16, 14, 14), (3, 32, 7, 7), (3, 32))
    assert torch.allclose(pen, f3.mean((2, 3)), atol=1e-6)        # global average pooling of layer3
    assert torch.allclose(net.fc(pen), logits, atol=1e-6)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in net.modules())   # removed on exit
    # resnet8x4 on CIFAR-sized input, and a torchvision ResNet with no edits
    assert (engine.hooks.shapes(models.resnet8x4(), torch.randn(2, 3, 32, 32), ["layer3", "fc:in"])
            == [(256, 8, 8), (256,)])
    tv = torchvision.models.resnet18(num_classes=10)
    assert engine.hooks.penultimate(tv) == "fc:in"
    assert engine.hooks.shapes(tv, torch.randn(2, 3, 64, 64), ["layer4", "fc:in"]) == [(512, 2, 2), (512,)]
    with pytest.raises(ValueError, match="has no module 'layer9'"):
        engine.hooks.FeatureHooks(net, "layer9")


# --------------------------------------------------------------------------- fit with feature distillers
@pytest.fixture(scope="module")
def digits():
    return data.load("digits", "train"), data.load("digits", "val"), data.load("digits", "test")


@pytest.fixture(scope="module")
def teacher(digits):
    tr, va, _ = digits
    config.seed_everything(0)
    return fit(CrossEntropy(models.MLP(64, (48,))), tr, va, TrainSpec(epochs=4), progress=False).model


def mlp_student(seed=0):
    config.seed_everything(seed)
    return models.MLP(64, (32,), 10)


def rrd_distiller(student, teacher, queue_size=64):
    torch.manual_seed(0)
    rrd = losses.RRDLoss(32, 48, feat_dim=16, queue_size=queue_size, detach_teacher=False)
    return FeatureKD(student, teacher, rrd, engine.hooks.Layers("net.3:in", "net.3:in"), name="RRD"), rrd


class Hints(nn.Module):
    """A FitNets hint on the penultimate features plus a mean-matching term on the hidden ones."""

    def __init__(self):
        super().__init__()
        self.hint = losses.FitNetsLoss(32, 48, spatial=False)

    def forward(self, s, t):
        return self.hint(s[1], t[1]) + (s[0].mean() - t[0].mean()).pow(2)


def test_fit_trains_rrd_embeddings_with_the_student_and_never_enqueues_when_evaluating(digits, teacher):
    tr, va, te = digits
    cache = TeacherCache(teacher)
    distiller, rrd = rrd_distiller(mlp_student(), cache, queue_size=64)
    start = {k: v.clone() for k, v in rrd.state_dict().items()}
    result = fit(distiller, tr, va, TrainSpec(epochs=2, batch_size=64), track={"test": te}, progress=False)
    assert not torch.equal(rrd.embed_s.weight, start["embed_s.weight"])   # in the optimiser
    assert not torch.equal(rrd.embed_t.weight, start["embed_t.weight"])   # (trained: detach_teacher=False)
    assert int(rrd.queue_ptr) == (2 * len(tr)) % 64       # training batches only, not val / test
    h = result.history
    assert {"train_feat", "val_feat", "test_feat", "val_ce", "val_total"} <= set(h)
    assert torch.allclose(torch.tensor(h.val_total.values), torch.tensor((h.val_ce + h.val_feat).values), atol=1e-5)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in result.model.modules())


def test_cached_teacher_features_equal_live_ones(digits, teacher):
    tr, _, _ = digits
    cache = TeacherCache(teacher)
    layers = engine.hooks.Layers(["net.1", "net.3:in"], ["net.1", "net.3:in"], teacher_transform=torch.tanh)
    hidden, pen = cache.features_of(tr, layers)
    live = cache.live_features(tr.x[:50], layers)
    assert torch.allclose(hidden[:50], live[0], atol=1e-6) and torch.allclose(pen[:50], live[1], atol=1e-6)
    with torch.no_grad():
        assert torch.allclose(pen, torch.tanh(F.relu(teacher.net[1](tr.x.flatten(1)))), atol=1e-5)
    assert cache.features_of(tr, layers)[0] is hidden                  # computed once
    assert torch.allclose(cache.logits(tr), engine.predict(teacher, tr), atol=1e-5)


def test_live_features_under_augmentation_match_the_cache(digits, teacher):
    # an identity "augmentation" takes the live path; it must give the same run as the cached one
    tr, va, _ = digits
    layers = engine.hooks.Layers(["net.1", "net.3:in"], ["net.1", "net.3:in"], teacher_transform=torch.tanh)
    runs = []
    for augment in (None, lambda x: x):
        student = mlp_student()
        torch.manual_seed(0)
        distiller = FeatureKD(student, TeacherCache(teacher), Hints(), layers, kd=0.5, beta=2.0, name="hints")
        runs.append(fit(distiller, tr, va, TrainSpec(epochs=2), augment=augment, progress=False).history)
    cached, live = runs
    for col in ("train_total", "train_feat", "train_kd", "val_total", "val_acc"):
        assert torch.allclose(torch.tensor(cached[col].values), torch.tensor(live[col].values), atol=1e-4), col


def test_resume_restores_the_distillers_loss_module(tmp_path, digits, teacher):
    tr, va, _ = digits
    distiller, first = rrd_distiller(mlp_student(), teacher)
    fit(distiller, tr, va, TrainSpec(epochs=1), checkpoint=tmp_path / "c.pt", progress=False)
    distiller, again = rrd_distiller(mlp_student(), teacher)
    fit(distiller, tr, va, TrainSpec(epochs=1), checkpoint=tmp_path / "c.pt", progress=False)
    assert torch.equal(again.queue, first.queue) and torch.equal(again.embed_s.weight, first.embed_s.weight)


def test_feature_distillation_rejects_negative_weights(teacher):
    with pytest.raises(ValueError, match="weight beta must be >= 0"):
        FeatureKD(mlp_student(), teacher, losses.at_loss, engine.hooks.Layers("a", "b"), beta=-1)
    with pytest.raises(ValueError, match="must pair up"):
        engine.hooks.Layers(["a", "b"], ["c"])


# --------------------------------------------------------------------------- correlation figure
def test_correlation_difference_by_hand():
    y = torch.tensor([0, 0, 1])
    t = torch.tensor([[2.0, 0.0], [4.0, 2.0], [0.0, 1.0]])
    s = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    # two logits standardised (unbiased std): the larger becomes +1/sqrt(2), the smaller -1/sqrt(2)
    r = 1 / math.sqrt(2)
    assert metrics.class_logit_matrix(t, y, 2) == pytest.approx(np.array([[r, -r], [-r, r]]))
    # the student's class 0 rows (+r, -r) and (-r, +r) average to 0; its class 1 matches the teacher
    diff, mean = metrics.correlation_difference(t, s, y, 2)
    assert diff == pytest.approx(np.array([[0.0, r], [0.0, 0.0]]))        # diagonal set to 0
    assert mean == pytest.approx(r / 4)                          # over all K^2 = 4 entries
    with pytest.raises(ValueError, match="classes \\[1\\] have no image"):
        metrics.class_logit_matrix(t, torch.tensor([0, 0, 0]), 2)


# --------------------------------------------------------------------------- the experiment spec (notebook 07)
def test_profiles_are_paper_cpu_smoke_and_the_paper_profile_is_seed_001s():
    assert set(exp07.PROFILES) == {"paper", "cpu", "smoke"}
    s = exp07.PAPER
    assert exp07.PROFILES["paper"] is s
    assert s.data == "cifar100" and s.augment and len(s.seeds) == 3          # three trials
    assert (s.n_train, s.n_val, s.n_test) == (None, None, None) and s.train_split == "full"   # all 50,000 images
    assert (s.teacher_net.name, s.teacher_net.depth, s.teacher_net.widths) == ("resnet32x4", 32, (32, 64, 128, 256))
    assert (s.student_net.name, s.student_net.depth, s.student_net.widths) == ("resnet8x4", 8, (32, 64, 128, 256))
    # section 2.3: SGD, momentum 0.9, lr 0.05 decayed x0.1 after 150, 180, 210 of 240 epochs, batch 64, weight
    # decay 5e-4 (the teacher is trained with the same recipe in the CRD code base); plain momentum and the final
    # epoch as the authors' code (tests/test_protocol_rrd.py quotes the seed and the code for each)
    sgd = TrainSpec(epochs=240, lr=0.05, batch_size=64, optimizer="sgd", weight_decay=5e-4, momentum=0.9,
                    nesterov=False, milestones=(150, 180, 210), gamma=0.1, selection=engine.Selection("last"))
    assert s.student == sgd == s.teacher
    # Algorithm 1: 16384 queued teacher embeddings, t_s = 0.04; feat_dim 128 (the CRD default); the authors' code:
    # t_t = 0.10 (Algorithm 1 prints 0.07), with the queue order of the code version that has those defaults (after)
    assert dataclasses.asdict(s.rrd) == dict(feat_dim=128, queue_size=16384, t_s=0.04, t_t=0.10, enqueue="after")
    # the authors' scripts: KD gamma 0.1 alpha 0.9 T 4; FitNets beta 100; AT beta 1000; RRD beta 1; RRD+KD alpha 0.9
    w = s.weights
    assert dataclasses.asdict(w) == dict(T=4.0, kd_alpha=0.9, fitnets_beta=100.0, at_beta=1000.0, rrd_beta=1.0,
                                         rrd_kd_alpha=0.9, rrd_kd_beta=1.0)
    assert exp07.weights_table(s).loc["KD", "γ (CE)"] == 0.1
    for profile in ("smoke", "cpu"):     # the stand-ins keep the method settings and Algorithm 1's printed RRD
        row = exp07.PROFILES[profile]
        assert row.weights == w and (row.rrd.t_s, row.rrd.t_t, row.rrd.enqueue) == (0.04, 0.07, "after")
        assert row.data == "fashion_mnist" and row.train_split == "train"
        assert row.reported == s.reported
    # Table 1, resnet32x4 -> resnet8x4 column
    assert s.reported == {"teacher": 79.42, "student": 72.50, "KD": 73.33, "FitNets": 73.50, "AT": 73.44,
                          "CRD": 75.51, "CRD+KD": 75.46, "RRD": 74.48, "RRD+KD": 75.08}
    assert (s.min_teacher_acc, s.min_student_acc, s.max_kd_drop, s.max_rrd_drop) == (0.75, 0.70, 0.005, 0.005)
    assert (s.min_teacher_lead, s.min_kd_corr_reduction) == (0.0, 0.0)


def test_cpu_and_smoke_profiles_keep_the_settings_the_committed_figures_were_made_with():
    cpu, smoke = exp07.PROFILES["cpu"], exp07.PROFILES["smoke"]
    adam = dict(optimizer="adam", lr=3e-3, batch_size=64, weight_decay=0.0, gamma=0.1, milestones=None,
                nesterov=True, selection=engine.Selection())     # the committed runs' (inherited) values, kept
    assert {k: getattr(cpu.teacher, k) for k in adam} == adam == {k: getattr(cpu.student, k) for k in adam}
    assert (cpu.teacher.epochs, cpu.teacher.step_size, cpu.student.epochs, cpu.student.step_size) == (6, 4, 5, 4)
    assert (cpu.n_train, cpu.n_val, cpu.n_test, cpu.seeds, cpu.rrd.queue_size) == (5000, 1000, None, (0, 1, 2), 2048)
    assert smoke.seeds == (0, 1)
    assert cpu.teacher_net == exp07.Arch("resnet32x0.5", 32, (8, 8, 16, 32))
    assert cpu.student_net == smoke.student_net == exp07.Arch("resnet8x0.5", 8, (8, 8, 16, 32))
    assert (cpu.min_teacher_acc, cpu.min_student_acc, cpu.max_kd_drop, cpu.max_rrd_drop) == (0.83, 0.70, 0.02, 0.03)
    assert cpu.train_split == smoke.train_split == "train" and cpu.rrd.enqueue == smoke.rrd.enqueue == "after"
    assert {k: getattr(smoke.teacher, k) for k in adam} == adam == {k: getattr(smoke.student, k) for k in adam}
    assert smoke.teacher_net == exp07.Arch("resnet14x0.5", 14, (8, 8, 16, 32))
    assert (smoke.teacher.epochs, smoke.teacher.step_size, smoke.student.epochs,
            smoke.student.step_size) == (3, None, 3, None)
    assert (smoke.n_train, smoke.n_val, smoke.n_test, smoke.rrd.queue_size) == (600, 200, 500, 256)
    assert (smoke.min_teacher_acc, smoke.min_student_acc, smoke.max_kd_drop,
            smoke.max_rrd_drop) == (0.4, 0.2, 0.25, 0.2)
    # the controlled variant: fewer training images than the profile's, none in the seed's own setting
    assert (exp07.PAPER.variant_n_train, cpu.variant_n_train, smoke.variant_n_train) == (None, 2000, 300)


def test_runs_are_the_teacher_and_nine_students_and_the_variant():
    assert list(exp07.RUNS) == ["teacher", "ce", "kd", "fitnets", "at",
                                "crd", "crd_kd",                 # seed 001's CRD baselines (issue 14)
                                "rrd", "rrd_kd", "rrd_nostopgrad",
                                "rrd-fewer", "rrd_kd-fewer"]     # the controlled variant (issue 13)
    assert list(exp07.LABELS.values()) == ["no KD", "KD", "FitNets", "AT", "CRD", "CRD+KD", "RRD", "RRD+KD",
                                           "RRD, no stop-grad"]
    run = config.Run("07_rrd", "smoke", exp07.PROFILES["smoke"], torch.device("cpu"))
    with pytest.raises(ValueError, match="seed 0"):
        exp07.RUNS["teacher"](run, seed=1)


def fake_shared():
    """What ``setup`` hands ``method``: the feature sizes and a cache of an (untrained) teacher."""
    teacher = models.CifarResNet(14, (8, 8, 16, 32), num_classes=10, in_channels=1)
    return SimpleNamespace(dims=SimpleNamespace(s_dim=32, t_dim=32, s_ch=16, t_ch=16), cache=TeacherCache(teacher))


def test_each_method_builds_its_distiller_with_the_seed_001_weights(digits):
    tr = digits[0]
    cfg, shared = exp07.PROFILES["smoke"], fake_shared()
    built = {name: exp07.method(name, exp07.network(cfg.student_net, tr, 0), shared, cfg, tr) for name in exp07.LABELS}
    assert type(built["ce"]) is CrossEntropy
    assert type(built["kd"]) is KD and (built["kd"].T, built["kd"].alpha) == (4.0, 0.9)
    assert all(built[n].teacher is shared.cache for n in exp07.LABELS if n != "ce")   # one cache for all
    features_ = {n: built[n] for n in ("fitnets", "at", "rrd", "rrd_kd", "rrd_nostopgrad")}
    assert all(type(d) is FeatureKD for d in features_.values())
    assert [(d.ce, d.kd, d.beta) for d in features_.values()] == [(1.0, 0.0, 100.0), (1.0, 0.0, 1000.0),
                                                                   (1.0, 0.0, 1.0), (1.0, 0.9, 1.0), (1.0, 0.0, 1.0)]
    assert isinstance(built["fitnets"].loss, losses.FitNetsLoss) and built["fitnets"].layers.student == "layer2"
    assert built["at"].loss is losses.at_loss and built["at"].layers.teacher_transform is losses.attention_map
    assert built["at"].layers.student == ("layer1", "layer2", "layer3")
    for name in ("rrd", "rrd_kd", "rrd_nostopgrad"):
        rrd = built[name].loss
        assert (rrd.queue.shape, rrd.t_s, rrd.t_t) == ((256, 128), 0.04, 0.07)
        assert rrd.detach_teacher == (name != "rrd_nostopgrad")
        assert built[name].layers.student == "fc:in"
    with pytest.raises(ValueError, match="has the methods"):
        exp07.method("crd_plus", exp07.network(cfg.student_net, tr, 0), shared, cfg)


def test_crd_baselines_are_built_with_repdistillers_weights(digits):
    tr = digits[0]
    cfg, shared = exp07.PROFILES["smoke"], fake_shared()
    crd, crd_kd = (exp07.method(n, exp07.network(cfg.student_net, tr, 0), shared, cfg, tr) for n in exp07.BASELINES)
    assert [(d.ce, d.kd, d.beta) for d in (crd, crd_kd)] == [(1.0, 0.0, 0.8), (1.0, 1.0, 0.8)]   # -r 1 -a 0/1 -b 0.8
    assert crd_kd.T == 4.0 and crd.layers.student == "fc:in" and crd.teacher is shared.cache
    assert (crd.crd.n_data, crd.crd.n_negatives, crd.crd.nce_t) == (len(tr), 256, 0.07)   # the smoke profile's bank
    assert (exp07.PAPER.crd_negatives, exp07.PROFILES["cpu"].crd_negatives) == (16384, 2048)


def test_the_loss_module_is_built_after_the_student_from_the_same_seeded_stream(digits):
    # the order of the notebook before the redesign: seed, student, RRDLoss / FitNets regressor, fit
    tr = digits[0]
    cfg, shared = exp07.PROFILES["smoke"], fake_shared()
    for name, make_loss in (("rrd", lambda: losses.RRDLoss(32, 32, **dataclasses.asdict(cfg.rrd))),
                            ("fitnets", lambda: losses.FitNetsLoss(16, 16))):
        distiller = exp07.method(name, exp07.network(cfg.student_net, tr, 3), shared, cfg)
        config.seed_everything(3)
        student = models.CifarResNet(8, (8, 8, 16, 32), num_classes=10, in_channels=1)
        by_hand = make_loss()
        for key, value in by_hand.state_dict().items():
            assert torch.equal(distiller.loss.state_dict()[key], value), (name, key)
        for key, value in student.state_dict().items():
            assert torch.equal(distiller.student.state_dict()[key], value), (name, key)


@pytest.fixture
def tiny_07(monkeypatch, tmp_path):
    """Notebook 07's smoke profile on 8x8 digits, one epoch each, checkpoints in a temporary folder."""
    monkeypatch.setenv("KDCOURSE_DATA", str(tmp_path))
    smoke = exp07.PROFILES["smoke"]
    tiny = dataclasses.replace(smoke, data="digits", n_train=300, n_val=100, n_test=100,
                               teacher_net=exp07.Arch("resnet8x0.5", 8, (8, 8, 16, 32)),
                               teacher=smoke.teacher.but(epochs=1), student=smoke.student.but(epochs=1),
                               rrd=dataclasses.replace(smoke.rrd, queue_size=64))
    monkeypatch.setitem(exp07.PROFILES, "smoke", tiny)
    return config.Run("07_rrd", "smoke", tiny, torch.device("cpu"))


def test_a_headless_run_is_what_the_notebook_loads_and_equals_the_runs_by_hand(tiny_07):
    run, cfg = tiny_07, tiny_07.cfg
    shared = exp07.setup(run)
    assert (run.checkpoints / "teacher.pt").exists() and shared.dims.s_dim == 32 and shared.dims.s_ch == 16
    assert shared.pair == "resnet8x0.5 → resnet8x0.5" and "stand-in" in shared.label and shared.augment is None
    headless = exp07.RUNS["rrd"](run, seed=1)                    # its own setup: the teacher is loaded
    assert (run.checkpoints / "rrd-seed1.pt").exists() and headless.resumed_from == 0
    loaded = exp07.train(run, "rrd", 1, shared)                  # what the notebook does afterwards
    assert loaded.resumed_from == 1
    assert loaded.history.drop(columns="seconds").equals(headless.history.drop(columns="seconds"))
    # the same run by hand, in the old order: seed, student, RRDLoss, fit
    student = exp07.network(cfg.student_net, shared.train, 1)
    rrd = losses.RRDLoss(32, 32, **dataclasses.asdict(cfg.rrd))
    by_hand = fit(FeatureKD(student, shared.cache, rrd, engine.hooks.Layers("fc:in", "fc:in"), name="RRD"),
                  shared.train, shared.val, cfg.student, seed=1, progress=False)
    assert by_hand.history.drop(columns="seconds").equals(headless.history.drop(columns="seconds"))


def test_table1_by_hand():
    results = pd.DataFrame([{"method": m, "seed": seed, "test_acc": acc}
                            for m, accs in {"no KD": (0.50, 0.52), "KD": (0.54, 0.56), "FitNets": (0.53, 0.53),
                                            "AT": (0.50, 0.50), "CRD": (0.57, 0.57), "CRD+KD": (0.52, 0.54),
                                            "RRD": (0.60, 0.58), "RRD+KD": (0.55, 0.57),
                                            "RRD, no stop-grad": (0.40, 0.44)}.items()
                            for seed, acc in enumerate(accs)])
    table = exp07.table1(results, 0.70, exp07.PAPER.reported)
    assert list(table.index) == ["Teacher", "Student (no KD)", "KD", "FitNets", "AT", "CRD", "CRD+KD", "RRD",
                                 "RRD+KD", "RRD, no stop-grad"]
    assert table.loc["Teacher", "ours_mean"] == pytest.approx(70.0) and np.isnan(table.loc["Teacher", "ours_std"])
    assert table.loc["KD", "ours_mean"] == pytest.approx(55.0)
    assert table.loc["KD", "ours_std"] == pytest.approx(math.sqrt(2) * 1.0)      # (54, 56): std 1.414
    # ours: FitNets 53 < KD 55, CRD 57 > 55, CRD+KD 53 < 55, RRD 59 > 55, RRD+KD 56 > 55; seed 001: FitNets
    # 73.50 > KD 73.33, AT 73.44 > 73.33, CRD 75.51 and CRD+KD 75.46 > 73.33
    assert list(table.ours_mean_vs_KD) == ["", "", "", "↓", "↓", "↑", "↓", "↑", "↑", "↓"]
    assert list(table.seed001_vs_KD) == ["", "", "", "↑", "↑", "↑", "↑", "↑", "↑", ""]
    assert np.isnan(table.loc["RRD, no stop-grad", "seed001"])
    shown = exp07.table1_shown(table, "ours")
    assert shown.loc["KD", "ours"] == "55.00 ± 1.41" and shown.loc["RRD", "ours"] == "59.00 ± 1.41 (↑)"
    assert shown.iloc[0, 1] == "79.42" and shown.iloc[-1, 1] == "n/a"
    saved = exp07.table1_saved(table, results)
    assert list(saved["seeds"]) == [1, 2, 2, 2, 2, 2, 2, 2, 2, 2]


def test_fit_removes_the_feature_hooks_when_training_fails(digits, teacher):
    tr, va, _ = digits
    student = mlp_student()
    distiller, _ = rrd_distiller(student, teacher)

    def broken(x):
        raise KeyboardInterrupt("interrupted by the user")

    with pytest.raises(KeyboardInterrupt):
        fit(distiller, tr, va, TrainSpec(epochs=1), augment=broken, progress=False)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in student.modules())


def test_the_fewer_images_variant_trains_on_the_first_images_with_the_same_teacher(tiny_07):
    run = tiny_07
    run.cfg = dataclasses.replace(run.cfg, variant_n_train=120)
    shared = exp07.setup(run)
    res = exp07.RUNS["rrd_kd-fewer"](run, seed=0, shared=shared)
    assert (run.checkpoints / "rrd_kd-n120-seed0.pt").is_file() and res.resumed_from == 0
    assert not (run.checkpoints / "rrd_kd-seed0.pt").exists()          # the full run's checkpoint untouched
    for bad in (0, len(shared.train) + 1):
        with pytest.raises(ValueError, match="n_train must be in"):
            exp07.train(run, "rrd", 0, shared, n_train=bad)
    run.cfg = dataclasses.replace(run.cfg, variant_n_train=None)
    with pytest.raises(ValueError, match="no variant_n_train"):
        exp07.train_fewer(run, "rrd", 0, shared=shared)
