"""Issue 4: WRN, flexible networks, ipkd_loss (seed 003 eqs. 4-7), fit on sub-models, BAN, export, CIFAR;
notebooks 05 and 06's specs (paper profiles pinned to seeds 002 and 003), runs and tables."""
import dataclasses
import math
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kdcourse import ban, config, data, engine, experiments, losses, models
from kdcourse.distillers import InPlace, LogitMSE, Softened, SoftTargets
from kdcourse.engine import Selection, TrainSpec
from kdcourse.experiments import born_again, ipkd

# --------------------------------------------------------------------------- ipkd_loss by hand
# three sub-models (smallest first), a batch of two images, three classes
A1 = [[1.0, 0.0, -1.0], [0.5, 0.5, 0.0]]
A2 = [[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]]
A3 = [[3.0, 0.0, -2.0], [-1.0, 2.0, 0.5]]
Y = [0, 1]
T, LAM = 2.0, 0.8


def _softmax(z, T=1.0):
    e = [math.exp(v / T) for v in z]
    return [v / sum(e) for v in e]


def _ce(a):  # eq. (1), batch mean
    return sum(-math.log(_softmax(z)[y]) for z, y in zip(a, Y)) / len(Y)


def _kd(s, t):  # eq. (2): tau^2 KL(softmax(t / tau) || softmax(s / tau)), batch mean
    total = 0.0
    for zs, zt in zip(s, t):
        p, q = _softmax(zs, T), _softmax(zt, T)
        total += sum(qi * math.log(qi / pi) for qi, pi in zip(q, p))
    return T * T * total / len(s)


def _hce(s, t):  # tau^2 H(softmax(t / tau), softmax(s / tau)), batch mean
    return T * T * sum(-sum(qi * math.log(pi) for qi, pi in zip(_softmax(zt, T), _softmax(zs, T)))
                       for zs, zt in zip(s, t)) / len(s)


HEAD = _ce(A3) + (1 - LAM) * (_ce(A1) + _ce(A2))
BY_HAND = {
    "none": _ce(A1) + _ce(A2) + _ce(A3),                                                      # eq. (4)
    "ipkd": HEAD + LAM * (_kd(A1, A3) + _kd(A2, A3)),                                         # eq. (5)
    "ta1": HEAD + LAM * (_kd(A1, A2) + _kd(A2, A3)),                                          # eq. (6)
    "tam": HEAD + LAM * (0.5 * (_kd(A1, A2) + _kd(A1, A3)) + _kd(A2, A3)),                    # eq. (7)
}


def _logits(requires_grad=False):
    return [torch.tensor(a, requires_grad=requires_grad) for a in (A1, A2, A3)]


@pytest.mark.parametrize("scheme", ["none", "ipkd", "ta1", "tam"])
def test_ipkd_loss_matches_each_equation_worked_by_hand(scheme):
    parts = losses.ipkd_loss(_logits(), torch.tensor(Y), T, LAM, scheme)
    assert float(parts["total"]) == pytest.approx(BY_HAND[scheme], rel=1e-6)
    assert float(parts["ce_largest"]) == pytest.approx(_ce(A3), rel=1e-6)
    assert float(parts["ce"]) == pytest.approx(_ce(A1) + _ce(A2), rel=1e-6)


def test_ipkd_loss_pinned_values():
    # the hand-worked numbers themselves, so that a change in the helpers above cannot hide a change
    got = {s: round(float(losses.ipkd_loss(_logits(), torch.tensor(Y), T, LAM, s)["total"]), 4)
           for s in losses.SCHEMES}
    assert got == {s: round(v, 4) for s, v in BY_HAND.items()}
    assert got == {"none": 1.2273, "ipkd": 1.0706, "ta1": 0.6433, "tam": 0.8569}


def test_soft_ce_replaces_kl_and_keeps_its_gradient():
    y = torch.tensor(Y)
    kl = losses.ipkd_loss(_logits(True), y, T, LAM, "tam")
    ce = losses.ipkd_loss(_logits(True), y, T, LAM, "tam", soft_ce=True)
    expected = HEAD + LAM * (0.5 * (_hce(A1, A2) + _hce(A1, A3)) + _hce(A2, A3))
    assert float(ce["total"].detach()) == pytest.approx(expected, rel=1e-6)
    a, b = _logits(True), _logits(True)
    g_kl = torch.autograd.grad(losses.ipkd_loss(a, y, T, LAM, "tam")["total"], a)
    g_ce = torch.autograd.grad(losses.ipkd_loss(b, y, T, LAM, "tam", soft_ce=True)["total"], b)
    for u, v in zip(g_kl, g_ce):
        assert torch.allclose(u, v, atol=1e-6)
    assert float(ce["kd"].detach()) > float(kl["kd"].detach())  # they differ by the teachers' entropies


def test_teacher_terms_are_detached():
    y = torch.tensor(Y)
    a = _logits(True)
    total = losses.ipkd_loss(a, y, T, LAM, "ta1")["total"]
    g1, g2, g3 = torch.autograd.grad(total, a)
    # the largest sub-model only learns from the labels
    a3 = torch.tensor(A3, requires_grad=True)
    assert torch.allclose(g3, torch.autograd.grad(F.cross_entropy(a3, y), a3)[0], atol=1e-6)
    # the middle one from its labels and its own teacher a3, not from teaching a1
    a2 = torch.tensor(A2, requires_grad=True)
    own = (1 - LAM) * F.cross_entropy(a2, y) + LAM * losses.kd_loss(a2, torch.tensor(A3), T)
    assert torch.allclose(g2, torch.autograd.grad(own, a2)[0], atol=1e-6)


def test_ipkd_loss_rejects_bad_input():
    y = torch.tensor(Y)
    with pytest.raises(ValueError, match="scheme must be one of"):
        losses.ipkd_loss(_logits(), y, T, LAM, "ta2")
    with pytest.raises(ValueError, match="at least 2 sub-models"):
        losses.ipkd_loss(_logits()[:1], y, T, LAM, "ipkd")
    with pytest.raises(ValueError, match="at least 2 sub-models"):
        losses.ipkd_loss(torch.tensor(A1), y, T, LAM, "ipkd")
    with pytest.raises(ValueError, match="same"):
        losses.ipkd_loss([torch.zeros(2, 3), torch.zeros(2, 4)], y, T, LAM, "ipkd")
    with pytest.raises(ValueError, match="alpha must be in"):
        losses.ipkd_loss(_logits(), y, T, 1.5, "ipkd")


# --------------------------------------------------------------------------- flexible networks
def tiny_slimmable():
    # widths 0.5 / 1.0: stem 2 / 4 channels, one depthwise-separable block to 4 / 8 channels, 3 classes
    config.seed_everything(0)
    return models.SlimmableMobileNetV1(3, 1, widths=(0.5, 1.0), stem=4, blocks=((8, 1),), divisor=1)


def test_width_switch_changes_the_parameter_count_as_expected():
    net = tiny_slimmable()
    # width 0.5: stem conv 2*1*9 + BN 2*2, depthwise 2*9 + BN 2*2, pointwise 4*2 + BN 2*4, linear 3*(4+1)
    assert net.active_params(0.5) == 18 + 4 + 18 + 4 + 8 + 8 + 15 == 75
    # width 1.0: 4*9 + 8, 4*9 + 8, 8*4 + 16, 3*(8+1)
    assert net.active_params(1.0) == 36 + 8 + 36 + 8 + 32 + 16 + 27 == 163
    # every weight is shared; only the batch norms are per width
    assert sum(p.numel() for p in net.parameters()) == 163 + (4 + 4 + 8)
    # a forward pass at width 0.5 touches only the first channels of the shared weights
    net.set_width(0.5)
    net(torch.randn(4, 1, 8, 8)).sum().backward()
    pointwise = net.features[3]
    assert pointwise.weight.grad[4:].abs().sum() == 0 and pointwise.weight.grad[:4, 2:].abs().sum() == 0
    assert pointwise.weight.grad[:4, :2].abs().sum() > 0
    with pytest.raises(ValueError, match="width must be one of"):
        net.set_width(0.75)


def test_switchable_batch_norm_keeps_separate_statistics_per_width():
    net = tiny_slimmable().train()
    bns = [m for m in net.modules() if isinstance(m, models.flexible.SwitchableBatchNorm2d)]
    net.set_width(0.5)(torch.randn(8, 1, 8, 8))
    for bn in bns:
        assert bn.bn[0].num_batches_tracked == 1 and bn.bn[1].num_batches_tracked == 0
        assert torch.equal(bn.bn[1].running_mean, torch.zeros_like(bn.bn[1].running_mean))
    before = [bn.bn[0].running_mean.clone() for bn in bns]
    net.set_width(1.0)(torch.randn(8, 1, 8, 8) * 3 + 1)
    for bn, old in zip(bns, before):
        assert bn.bn[1].num_batches_tracked == 1 and torch.equal(bn.bn[0].running_mean, old)
    # in eval mode each width normalises with its own statistics
    net.eval().set_width(None)
    x = torch.randn(2, 1, 8, 8)
    small, large = net(x)
    assert torch.allclose(small, net.set_width(0.5)(x)) and torch.allclose(large, net.set_width(1.0)(x))


def test_slimmable_cifar_configuration_and_strides():
    net = models.SlimmableMobileNetV1(10, 3)
    assert net.widths == (0.25, 0.5, 0.75, 1.0)
    assert [net.active_params(w) for w in net.widths] == sorted(net.active_params(w) for w in net.widths)
    assert net.classifier.in_list == [256, 512, 768, 1024]
    out = net.eval()(torch.randn(1, 3, 32, 32))
    assert len(out) == 4 and all(o.shape == (1, 10) for o in out)
    feats = net.set_width(1.0).features(torch.randn(1, 3, 32, 32))
    assert feats.shape[-2:] == (2, 2)  # stride-1 stem, four stride-2 blocks (pytorch-cifar100)


def tiny_msdnet(classes=10):
    config.seed_everything(0)
    return models.MSDNet(classes, 1, n_blocks=3, step=1, base=1, channels=4, growth=2, exit_channels=8)


def test_msdnet_exits_each_produce_logits():
    net = tiny_msdnet().eval()
    x = torch.randn(5, 1, 8, 8)
    out = net(x)
    assert isinstance(out, list) and len(out) == net.n_exits == 3
    assert all(o.shape == (5, 10) for o in out)
    for k in range(3):
        assert torch.allclose(net.set_exit(k)(x), out[k], atol=1e-6)
    # anytime: stopping at exit 0 never runs the later blocks
    calls = []
    net.blocks[1].register_forward_hook(lambda *a: calls.append(1))
    net.set_exit(0)(x)
    assert not calls
    assert net.active_params(0) < net.active_params(1) < net.active_params(2)
    with pytest.raises(ValueError, match="exit must be"):
        net.set_exit(3)


def test_msdnet_anytime_cifar_configuration_has_seven_exits():
    net = models.MSDNet(100, 3)  # Huang et al.'s anytime CIFAR network: seed 003 Table I's 7 exits
    assert net.n_exits == 7 and net.steps == [4, 2, 2, 2, 2, 2, 2]
    out = net.eval()(torch.randn(1, 3, 32, 32))
    assert [o.shape for o in out] == [torch.Size([1, 100])] * 7


def test_wide_resnet_sizes_and_depth_rule():
    counts = {(d, k): sum(p.numel() for p in models.WideResNet(d, k, 10, 3).parameters())
              for d, k in [(28, 1), (16, 4), (28, 10)]}
    assert counts == {(28, 1): 369_498, (16, 4): 2_748_890, (28, 10): 36_479_194}
    assert models.WideResNet(10, 1, 10, 1)(torch.randn(2, 1, 14, 14)).shape == (2, 10)
    with pytest.raises(ValueError, match=r"\(d - 4\) % 6 == 0.*got 27"):
        models.WideResNet(27, 1)


# --------------------------------------------------------------------------- fit on flexible networks
@pytest.fixture(scope="module")
def digits():
    return data.load("digits", "train"), data.load("digits", "val"), data.load("digits", "test")


def test_fit_trains_every_sub_model_and_selects_on_their_mean(digits):
    tr, va, te = digits
    result = engine.fit(InPlace(tiny_msdnet(), "tam", 5.0, 0.8), tr, va, TrainSpec(epochs=3, lr=3e-3),
                        progress=False)
    h = result.history
    for split in ("train", "val"):
        cols = [f"{split}_acc_{i}" for i in range(3)]
        assert set(cols) <= set(h)
        assert np.allclose(h[f"{split}_acc"], h[cols].mean(axis=1))
    assert {"train_ce_largest", "train_ce", "train_kd", "val_kd"} <= set(h)
    assert result.best_epoch == int(h.epoch[h.val_acc.idxmax()])
    out = engine.predict(result.model, va)
    assert isinstance(out, list) and len(out) == 3
    best = result.best()
    for i, logits in enumerate(out):
        assert float((logits.argmax(1) == va.y).float().mean()) == pytest.approx(best[f"val_acc_{i}"])
    assert best.val_acc > 0.5


# --------------------------------------------------------------------------- Born-Again Networks
def test_soft_target_objective_and_variants_by_hand():
    s, t, y = torch.tensor([[1.0, 2.0, 0.0]]), torch.tensor([[3.0, 1.0, 0.0]]), torch.tensor([0])
    p_t, log_p = _softmax([3.0, 1.0, 0.0]), [math.log(v) for v in _softmax([1.0, 2.0, 0.0])]
    h = -sum(a * b for a, b in zip(p_t, log_p))
    net, teacher = nn.Identity(), nn.Identity()   # the distillers' losses on given logits
    plain = SoftTargets(net, teacher).losses(s, y, t)
    assert float(plain["total"]) == pytest.approx(h, rel=1e-6) and float(plain["ce"]) == pytest.approx(-log_p[0])
    mixed = SoftTargets(net, teacher, 0.25).losses(s, y, t)
    assert float(mixed["total"]) == pytest.approx(0.75 * h - 0.25 * log_p[0], rel=1e-6)
    assert float(LogitMSE(net, teacher).losses(s, y, t)["total"]) == pytest.approx((4 + 1 + 0) / 3)
    q, p3 = _softmax([3.0, 1.0, 0.0], 3.0), _softmax([1.0, 2.0, 0.0], 3.0)
    assert float(Softened(net, teacher, 3.0).losses(s, y, t)["total"]) == pytest.approx(
        9 * -sum(a * math.log(b) for a, b in zip(q, p3)), rel=1e-6)
    with pytest.raises(ValueError, match="ground_truth_weight"):
        SoftTargets(net, teacher, 1.5)


class _Fixed(nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale))

    def forward(self, x):
        return x * self.scale


def test_ensemble_averages_softmax_outputs():
    members = [_Fixed(1.0), _Fixed(2.0), _Fixed(-1.0)]
    x = torch.tensor([[1.0, 0.0, -1.0], [0.2, 0.3, 0.1]])
    with torch.no_grad():
        out = ban.Ensemble(members)(x)
        mean = sum(torch.softmax(m(x), -1) for m in members) / 3
        member_losses = [float(F.cross_entropy(m(x), torch.tensor([0, 1]))) for m in members]
    assert torch.allclose(torch.softmax(out, -1), mean, atol=1e-6)
    assert torch.allclose(out.exp(), mean, atol=1e-6)
    y = torch.tensor([0, 1])
    assert float(F.cross_entropy(out, y)) <= sum(member_losses) / 3
    with pytest.raises(ValueError):
        ban.Ensemble([])


def test_born_again_teaches_each_generation_with_the_previous_one(digits, monkeypatch):
    tr, va, _ = digits
    seen, real_fit = [], ban.fit

    def spy(distiller, *args, **kwargs):
        teacher = distiller.teacher
        result = real_fit(distiller, *args, **kwargs)
        seen.append((teacher.teacher if teacher is not None else None, result.model))
        return result
    monkeypatch.setattr(ban, "fit", spy)
    chain = ban.born_again(lambda: models.MLP(64, (16,)), tr, va, TrainSpec(epochs=1), 2, progress=False)
    assert chain.names == ["Teacher", "BAN-1", "BAN-2"] and len(chain.fits) == 3
    assert seen[0][0] is None                       # generation 0 learns from the labels
    assert seen[1][0] is seen[0][1] and seen[2][0] is seen[1][1]
    assert len({id(m) for m in chain.models}) == 3
    table = ban.table(dict(zip(chain.names, chain.models)) | {"Ensemble": chain.ensemble()}, va)
    assert list(table.columns) == ["accuracy", "loss"] and len(table) == 4
    assert set(chain.history().generation) == {"Teacher", "BAN-1", "BAN-2"}


def test_build_by_name():
    assert isinstance(ban.build("wrn-16-4", 10), models.WideResNet)
    mobilenet = ban.build("mobilenet_v1", 10, 1, stem=8, blocks=((16, 2),), divisor=4)
    assert mobilenet(torch.randn(2, 1, 14, 14)).shape == (2, 10)   # one width: a plain network
    with pytest.raises(ValueError, match=r"\(d - 4\) % 6"):
        ban.build("wrn-12-1", 10)
    with pytest.raises(ValueError, match="unknown architecture"):
        ban.build("resnet", 10)


@pytest.mark.parametrize("method,suffix", [("torch.export", "pt2"), ("torchscript", "ts")])
def test_export_round_trip(digits, tmp_path, method, suffix):
    _, _, te = digits
    config.seed_everything(0)
    net = models.WideResNet(10, 1, 10, 1).eval()
    report = ban.export(net, te, tmp_path / f"model.{suffix}", method, atol=1e-4)
    assert (tmp_path / f"model.{suffix}").is_file() and report["size_mb"] > 0
    assert report["max_abs_diff"] <= 1e-4 and report["top1_agreement"] == 1.0
    with pytest.raises(RuntimeError, match="differs from the PyTorch model"):
        ban.export(net, te, tmp_path / f"again.{suffix}", method, atol=-1.0)


# --------------------------------------------------------------------------- CIFAR on fake files
def _write_cifar(folder, n_per_batch=40, hundred=False, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    key = "fine_labels" if hundred else "labels"
    k = 100 if hundred else 10
    files = (["train"], "test", "meta", "fine_label_names") if hundred else \
        ([f"data_batch_{i}" for i in range(1, 6)], "test_batch", "batches.meta", "label_names")
    arrays = {}
    for part, names in (("train", files[0]), ("test", [files[1]])):
        xs, ys = [], []
        for name in names:
            y = rng.integers(0, k, n_per_batch * (5 if hundred and part == "train" else 1))
            x = rng.integers(0, 256, (len(y), 3072)).astype(np.uint8)
            with open(folder / name, "wb") as f:
                pickle.dump({"data": x, key: y.tolist()}, f)
            xs.append(x)
            ys.append(y)
        arrays[part] = (np.concatenate(xs), np.concatenate(ys))
    with open(folder / files[2], "wb") as f:
        pickle.dump({files[3]: [f"class{i}" for i in range(k)]}, f)
    return arrays


def test_cifar10_loader_reads_the_batches_then_its_cache(tmp_path):
    arrays = _write_cifar(tmp_path / "cifar-10-batches-py")
    test = data.load_cifar("cifar10", "test", root=tmp_path, offline=True)
    assert test.source.startswith("CIFAR batches at") and (tmp_path / "cache" / "cifar10.pt").is_file()
    assert test.x.shape == (40, 3, 32, 32) and test.y.tolist() == arrays["test"][1].tolist()
    assert test.classes[:2] == ["class0", "class1"]
    spec = data.CIFAR["cifar10"]
    raw = torch.from_numpy(arrays["test"][0]).view(-1, 3, 32, 32).float() / 255
    expected = (raw - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1)
    assert torch.allclose(test.x, expected, atol=1e-6)
    train_, val = (data.load_cifar("cifar10", s, root=tmp_path, offline=True) for s in ("train", "val"))
    assert len(train_) + len(val) == 200 and len(val) == 40
    assert train_.source.startswith("cache ")
    assert len(data.load_cifar("cifar10", "train", 25, root=tmp_path, offline=True)) == 25


def test_cifar100_loader_uses_fine_labels(tmp_path):
    arrays = _write_cifar(tmp_path / "cifar-100-python", hundred=True)
    test = data.load_cifar("cifar100", "test", root=tmp_path, offline=True)
    assert test.y.tolist() == arrays["test"][1].tolist() and len(test.classes) == 100


def test_cifar_absent_offline_is_a_clear_error(tmp_path):
    with pytest.raises(data.DataNotFoundError, match=r"CIFAR-10 is not available.*skipped: KDCOURSE_OFFLINE=1"):
        data.load_cifar("cifar10", "train", root=tmp_path)   # the conftest sets KDCOURSE_OFFLINE=1
    with pytest.raises(ValueError, match="unknown CIFAR"):
        data.load_cifar("cifar1000", "train", root=tmp_path)


def test_augmentation_shrink_and_two_classes(digits):
    tr, _, _ = digits
    torch.manual_seed(0)
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4)
    flipped = data.random_shift_flip(x, max_shift=0)
    assert all(torch.equal(f, o) or torch.equal(f, o.flip(-1)) for f, o in zip(flipped, x))
    shifted = data.random_shift_flip(x, max_shift=1, flip=False)
    assert shifted.shape == x.shape and all((s == 0).any() or torch.equal(s, o) for s, o in zip(shifted, x))
    small = data.shrink(tr, 2)
    assert small.x.shape[-2:] == (4, 4) and torch.allclose(small.x[0, 0, 0, 0], tr.x[0, 0, :2, :2].mean())
    pair = data.two_classes(tr, 3, 8)
    assert set(pair.y.tolist()) == {0, 1} and pair.classes == ["3", "8"]
    assert len(pair) == int(((tr.y == 3) | (tr.y == 8)).sum())
    with pytest.raises(ValueError):
        data.two_classes(tr, 3, 3)


# --------------------------------------------------------------------------- the specs of notebooks 05 and 06
@pytest.mark.parametrize("notebook,module", [("05_born_again", born_again), ("06_ipkd_teacher_assistants", ipkd)])
def test_every_profile_exists_and_is_a_typed_spec(notebook, module):
    assert set(module.PROFILES) == {"paper", "cpu", "smoke"}
    assert experiments.module(notebook) is module
    assert module.PROFILES["paper"] is module.PAPER and dataclasses.is_dataclass(module.PAPER)
    for profile, spec in module.PROFILES.items():
        assert type(spec) is type(module.PAPER), profile


def test_paper_profile_of_05_matches_seed_002():
    p = born_again.PAPER
    assert (p.data, p.arch, p.generations, p.ground_truth_weight) == ("cifar10", "wrn-28-1", 3, None)
    # Listings 6-7: batch 32, Adam (Keras' lr 1e-3), 100 epochs; the seed's EarlyStopping watched the images Table 1
    # reports, so the full training set and the final epoch: tests/test_protocol_ban.py
    for spec in (p.teacher, p.student):
        assert (spec.epochs, spec.batch_size, spec.optimizer, spec.lr) == (100, 32, "adam", 1e-3)
        assert spec.selection == Selection("last")
    assert (p.binary.train.epochs, p.binary.train.selection.patience) == (150, 15)      # Listing 11
    assert (p.pair.teacher, p.pair.student) == ("mobilenet_v2", "wrn-16-4")             # section 4.2.2
    v = p.variants                                                                      # Listings 12-13
    assert (v.T, v.generations, v.mse.epochs, v.mse.selection.patience) == (3.0, 2, 100, 5)
    assert (v.softened.epochs, v.softened.selection.patience) == (150, 8)
    assert len(born_again.PROFILES["cpu"].seeds) >= 2
    # seed 002 Table 1 as printed
    assert born_again.SEED_TABLE1["accuracy"] == {"Teacher": 0.8570, "BAN-1": 0.8580, "BAN-2": 0.8574,
                                                  "BAN-3": 0.8514, "Ensemble": 0.8747}


def test_cpu_and_smoke_profiles_of_05_are_the_committed_runs():
    cpu, smoke = born_again.PROFILES["cpu"], born_again.PROFILES["smoke"]
    assert (cpu.data, cpu.shrink, cpu.arch, cpu.n_train, cpu.n_val, cpu.n_test) == (
        "fashion_mnist", 2, "wrn-10-1", 5000, 1000, None)
    assert cpu.teacher == cpu.student == TrainSpec(epochs=4, batch_size=64, lr=2e-3, optimizer="adam", step_size=3,
                                                   gamma=0.1)
    assert (cpu.min_teacher_acc, cpu.ensemble_margin) == (0.78, 0.005)
    assert (smoke.n_train, smoke.n_val, smoke.n_test, smoke.binary.n_train, smoke.variants.generations) == (
        400, 200, 500, 300, 1)
    assert smoke.student == TrainSpec(epochs=2, batch_size=32, lr=2e-3, optimizer="adam")
    assert (smoke.min_teacher_acc, smoke.ensemble_margin) == (0.45, 0.03)


def test_paper_profile_of_06_matches_seed_003():
    p = ipkd.PAPER
    assert p.datasets == ("cifar10", "cifar100") and p.lam == 0.8
    assert p.schemes == ("none", "ipkd", "ta1", "tam") == losses.SCHEMES
    m, w = p.msdnet, p.slimmable
    assert (m.T, m.soft_ce, w.T, w.soft_ce) == (5.0, False, 1.0, True)    # section IV-B
    assert (m.train.epochs, w.train.epochs) == (300, 200)
    for spec in (m.train, w.train):
        assert (spec.optimizer, spec.lr) == ("sgd", 0.1)
        assert spec.selection == Selection("last")   # full training set, final epoch: tests/test_protocol_ipkd.py
    assert m.arch == {} and w.arch == {}   # the classes' defaults: anytime MSDNet, full MobileNet-V1
    assert w.widths == (0.25, 0.5, 0.75, 1.0)
    assert ipkd.SEED_AVG["msdnet", "CIFAR-10"]["IPKD-TA-M"] == 93.10        # Table I's Avg row as printed
    assert ipkd.SEED_TABLE2["CIFAR-100"]["IPKD-TA-M"] == [64.19, 63.96, 62.47, 59.18]


def test_cpu_and_smoke_profiles_of_06_are_the_committed_runs():
    cpu, smoke = ipkd.PROFILES["cpu"], ipkd.PROFILES["smoke"]
    assert (cpu.datasets, cpu.shrink, cpu.n_train, cpu.n_val, cpu.augment) == (("fashion_mnist",), 2, 2000, 1000, False)
    assert (cpu.seeds, smoke.seeds) == ((0, 1, 2), (0, 1))   # every compared scheme over 3 seeds (issue 13)
    assert cpu.msdnet.train == cpu.slimmable.train == TrainSpec(epochs=4, batch_size=64, lr=2e-3, optimizer="adam",
                                                                step_size=3, gamma=0.1)
    assert cpu.msdnet.arch == dict(n_blocks=4, step=1, base=1, channels=8, growth=4, exit_channels=32)
    assert (cpu.min_sub_model_acc, cpu.max_order_drop, cpu.max_scheme_spread) == (50.0, 3.0, 6.0)
    assert smoke.msdnet.train == TrainSpec(epochs=2, batch_size=32, lr=2e-3, optimizer="adam")
    assert (smoke.n_train, smoke.n_val, smoke.n_test, smoke.min_sub_model_acc) == (400, 200, 500, 15.0)


def test_runs_are_named_by_network_and_scheme():
    schemes = ("none", "ipkd", "ta1", "tam")
    assert set(ipkd.RUNS) == ({f"{n}-{s}" for n in ("msdnet", "slimmable") for s in schemes}
                              | {f"slimmable-wide-{s}" for s in schemes})   # the controlled variant (issue 13)
    assert set(born_again.RUNS) == {"teacher", "ban", "noise"}
    assert experiments.runs("06_ipkd_teacher_assistants") is ipkd.RUNS


# --------------------------------------------------------------------------- runs on digits, checkpointed
def _run(notebook, cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("KDCOURSE_DATA", str(tmp_path))
    return config.Run(notebook, "smoke", cfg, torch.device("cpu"), 0)


def test_an_ipkd_run_is_checkpointed_and_loaded(tmp_path, monkeypatch):
    small = dict(n_blocks=3, step=1, base=1, channels=4, growth=2, exit_channels=8)
    cfg = dataclasses.replace(ipkd.PROFILES["smoke"], datasets=("digits",), shrink=1, n_train=300, n_val=100,
                              n_test=100, msdnet=dataclasses.replace(ipkd.PAPER.msdnet, arch=small,
                                                                     train=TrainSpec(epochs=2, lr=3e-3)))
    run = _run("06_ipkd_teacher_assistants", cfg, tmp_path, monkeypatch)
    first = ipkd.RUNS["msdnet-tam"](run, 0)
    path = run.checkpoints / "msdnet-tam-digits-seed0.pt"
    assert path.is_file() and len(first.history) == 2 and first.resumed_from == 0
    again = ipkd.RUNS["msdnet-tam"](run, 0)
    assert again.resumed_from == 2 and again.best_epoch == first.best_epoch   # loaded, not trained again
    for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)
    rows = ipkd.accuracy_rows(again.model, data.load("digits", "test", 100), "msdnet", data="d", scheme="tam", seed=0)
    assert [r["sub-model"] for r in rows] == ["Exit 1", "Exit 2", "Exit 3"] and all(0 <= r["accuracy"] <= 100
                                                                                       for r in rows)


def test_born_again_checkpoints_every_generation_and_loads_them(tmp_path, monkeypatch):
    cfg = dataclasses.replace(born_again.PROFILES["smoke"], data="digits", shrink=1, n_train=200, n_val=100,
                              n_test=100, generations=2, teacher=TrainSpec(epochs=1), student=TrainSpec(epochs=1))
    run = _run("05_born_again", cfg, tmp_path, monkeypatch)
    sets = born_again.load(cfg)
    assert sets.title.endswith(" 8 px (stand-in for CIFAR-10)") and len(sets.test) == 100
    chain = born_again.generations(run, 0, sets)
    assert chain.names == ["Teacher", "BAN-1", "BAN-2"] and chain.fits[0].model is chain.models[0]
    assert sorted(p.name for p in run.checkpoints.glob("*.pt")) == ["ban1-seed0.pt", "ban2-seed0.pt",
                                                                    "teacher-seed0.pt"]
    last = born_again.RUNS["ban"](run, 0)           # the headless run: everything loaded from the checkpoints
    assert last.resumed_from == 1
    for a, b in zip(chain.models[2].state_dict().values(), last.model.state_dict().values()):
        assert torch.equal(a, b)


# --------------------------------------------------------------------------- the tables, on numbers by hand
def _ipkd_results():
    rows = []
    for scheme, accs in {"none": [50.0, 60.0], "ipkd": [54.0, 62.0]}.items():
        for seed, shift in ((0, 0.0), (1, 2.0)):
            rows += [{"data": "D", "network": "msdnet", "scheme": scheme, "seed": seed, "index": k + 1,
                      "sub-model": f"Exit {k + 1}", "accuracy": a + shift} for k, a in enumerate(accs)]
    return pd.DataFrame(rows)


def test_ipkd_tables_beside_the_seed():
    results = _ipkd_results()
    mine = ipkd.ours(results, "msdnet", "D")
    assert list(mine.columns) == ["No dist.", "IPKD"] and list(mine.index) == ["Exit 1", "Exit 2", "Avg"]
    assert mine.loc["Exit 1", "IPKD"] == 55.0 and mine.loc["Avg", "No dist."] == 56.0   # (51 + 61) / 2
    table = ipkd.beside_seed(results, "msdnet", "D", "CIFAR-10")
    assert list(table.index) == [f"Exit {k}" for k in range(1, 8)] + ["Avg"]
    assert table.loc["Exit 2", "IPKD, seed 003"] == 92.43 and np.isnan(table.loc["Exit 3", "IPKD"])
    assert table.loc["Avg", "No dist., seed 003"] == 92.39           # the Avg row as printed
    avg = ipkd.averages(results, {"D": "CIFAR-10"})
    row = avg.loc[("MSDNet", "IPKD")]
    assert row["average accuracy (%)"] == 59.0 and row["sd over seeds"] == pytest.approx(2 ** 0.5)
    assert row["seed 003 source"] == "Table I, Avg row, CIFAR-10" and row["seeds"] == 2
    slim = ipkd.seed_table("slimmable")
    assert list(slim.index)[:2] == ["Switch 1 (x0.25)", "Switch 2 (x0.5)"]
    assert slim.loc["Avg", ("CIFAR-10", "No dist.")] == 88.80                      # the Avg row as printed
    ours = ipkd.seed_table("slimmable", recomputed=True).loc[ipkd.RECOMPUTED_AVG, ("CIFAR-10", "No dist.")]
    assert ours == pytest.approx((90.46 + 89.97 + 88.74 + 86.04) / 4)                # the rows' mean, labelled ours


def test_born_again_table1_and_gains_against_seed_noise():
    rows = [{"model": m, "accuracy": a + d, "loss": 0.5, "seed": seed}
            for seed, d in ((0, 0.0), (1, 0.01))
            for m, a in (("Teacher", 0.80), ("BAN-1", 0.85), ("Ensemble", 0.805), ("Ensemble of students", 0.85))]
    results = pd.DataFrame(rows)
    table = born_again.table1(results, ["Teacher", "BAN-1", "Ensemble"], "wrn-10-1")
    assert table.index.name == "model (WRN-10-1)" and table.loc["BAN-1", "accuracy (mean)"] == pytest.approx(0.855)
    assert table.loc["Teacher", "seed 002 accuracy (CIFAR-10, WRN-28-1)"] == 0.8570
    assert np.isnan(table.loc["Ensemble of students", "seed 002 loss"])
    gains = born_again.gains(results, ["BAN-1", "Ensemble"])
    # gain 5 points, 2 std = 2 * 0.01 / sqrt(2) * 100 = 1.41 points
    assert gains.loc["BAN-1", "ours: gain over the teacher (points)"] == pytest.approx(5.0)
    assert gains.loc["BAN-1", "2 std (points)"] == pytest.approx(2 * 100 * 0.01 / 2 ** 0.5)
    assert gains.loc["BAN-1", "verdict"] == "above the teacher beyond 2 std"
    assert gains.loc["Ensemble", "verdict"] == "within noise"
    assert gains.loc["BAN-1", "seed 002: gain over the teacher (points)"] == pytest.approx(0.10)


# --------------------------------------------------------------------------- the controlled variants (issue 13)
def test_variant_settings_per_profile():
    assert born_again.PAPER.label_noise is None and ipkd.PAPER.wide_widths is None   # the seeds' runs only
    for name in ("cpu", "smoke"):
        assert born_again.PROFILES[name].label_noise == 0.4
        assert ipkd.PROFILES[name].wide_widths == (0.125, 0.25, 0.5, 1.0)
    assert ipkd.PROFILES["cpu"].slimmable.widths == (0.25, 0.5, 0.75, 1.0)   # the gap the variant widens


def test_scheme_verdicts_by_hand():
    v = ipkd.scheme_verdicts(_ipkd_results(), "msdnet", "D")
    # per-seed averages over the exits: none 55, 57; ipkd 58, 60 -> gain 3, 2 std = 2 * sqrt(2)
    assert list(v.index) == ["IPKD"]
    assert v.loc["IPKD", "average over sub-models: gain (points)"] == pytest.approx(3.0)
    assert v.loc["IPKD", "average over sub-models: 2 std"] == pytest.approx(2 * 2 ** 0.5)
    assert v.loc["IPKD", "average over sub-models: verdict"] == "better beyond 2 std"
    # exit 1 alone: none 50, 52; ipkd 54, 56 -> gain 4
    assert v.loc["IPKD", "smallest sub-model: gain (points)"] == pytest.approx(4.0)
    assert v.loc["IPKD", "smallest sub-model: verdict"] == "better beyond 2 std"


def test_wide_variant_trains_the_slimmable_network_with_its_own_widths(tmp_path, monkeypatch):
    cfg = dataclasses.replace(ipkd.PROFILES["smoke"], datasets=("digits",), shrink=1, n_train=120, n_val=60,
                              n_test=60, slimmable=dataclasses.replace(ipkd.PROFILES["smoke"].slimmable,
                                                                       train=TrainSpec(epochs=1, lr=3e-3)))
    run = _run("06_ipkd_teacher_assistants", cfg, tmp_path, monkeypatch)
    res = ipkd.RUNS["slimmable-wide-tam"](run, 0)
    assert res.model.widths == (0.125, 0.25, 0.5, 1.0)
    assert (run.checkpoints / "slimmable-w0.125-0.25-0.5-1-tam-digits-seed0.pt").is_file()
    with pytest.raises(ValueError, match="MSDNet's sub-models are its exits"):
        ipkd.build("msdnet", cfg, data.load("digits", "test", 10), (0.5, 1.0))
    run.cfg = dataclasses.replace(cfg, wide_widths=None)
    with pytest.raises(ValueError, match="no wide_widths"):
        ipkd.train_wide(run, 0, "none")


def test_noisy_label_variant_trains_teacher_and_ban1_on_flipped_labels(tmp_path, monkeypatch):
    cfg = dataclasses.replace(born_again.PROFILES["smoke"], data="digits", shrink=1, n_train=200, n_val=100,
                              n_test=100, teacher=TrainSpec(epochs=1), student=TrainSpec(epochs=1))
    run = _run("05_born_again", cfg, tmp_path, monkeypatch)
    sets = born_again.load(cfg)
    chain = born_again.noisy_chain(run, 0, sets)
    assert chain.names == ["Teacher", "BAN-1"]
    assert sorted(p.name for p in run.checkpoints.glob("*.pt")) == ["noise40-ban0-seed0.pt", "noise40-ban1-seed0.pt"]
    flipped = born_again.flipped_fit(chain, sets.train, 0.4, 0)
    assert list(flipped.index) == ["Teacher", "BAN-1"]
    both = flipped["predicts the flipped label"] + flipped["predicts the true label"]
    assert ((both >= 0) & (both <= 1)).all()      # a flipped image's two labels differ: at most one is predicted
    assert born_again.RUNS["noise"](run, 0).resumed_from == 1      # headless: loaded from the checkpoints
    run.cfg = dataclasses.replace(cfg, label_noise=None)
    with pytest.raises(ValueError, match="no label_noise"):
        born_again.noisy_chain(run, 0, sets)
