"""engine.fit: learning, selection, early stopping, resume, checkpoints, the teacher cache, hooks and bad input.

Every guarantee the old ``train.fit`` tests pinned, on the new API:
``engine.fit(distiller, train, val, TrainSpec(...), ...)``.  The data are
scikit-learn's 8x8 digits (1,257 / 180 / 360 images), so each fit takes a
fraction of a second.
"""
import dataclasses
import math

import pandas as pd
import pytest
import torch
from torch import nn

from kdcourse import config, data, engine, losses, models
from kdcourse.distillers import KD, CrossEntropy, FeatureKD, InPlace
from kdcourse.engine import Selection, Selector, TeacherCache, TrainSpec, fit


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", "train"), data.load("digits", "val"), data.load("digits", "test")


def student(seed=0, classes=10):
    config.seed_everything(seed)
    return models.MLP(64, (32,), classes, dropout=0.1)


def ce(seed=0, classes=10):
    return CrossEntropy(student(seed, classes))


def no_seconds(history: pd.DataFrame) -> pd.DataFrame:
    return history[[c for c in history if c != "seconds"]]


def hooks_on(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.fixture(scope="module")
def teacher(digits):
    tr, va, _ = digits
    config.seed_everything(0)
    return fit(CrossEntropy(models.MLP(64, (128,))), tr, va, TrainSpec(epochs=8), progress=False).model


# --------------------------------------------------------------------------- learning and selection
def test_fit_improves_accuracy(digits):
    tr, va, te = digits
    d = ce()
    before = engine.accuracy(d.student, te)
    result = fit(d, tr, va, TrainSpec(epochs=6, lr=3e-3), track={"test": te}, progress=False)
    after = engine.accuracy(result.model, te)
    assert before < 0.3 and after > 0.85
    assert result.model is d.student and result.distiller is d and result.resumed_from == 0
    h = result.history
    assert list(h.epoch) == [1, 2, 3, 4, 5, 6]
    assert {"train_total", "train_ce", "train_acc", "val_total", "val_acc", "test_acc", "lr", "seconds"} <= set(h)
    assert h.train_total.iloc[-1] < h.train_total.iloc[0]


def test_best_epoch_weights_are_restored(digits):
    tr, va, _ = digits
    result = fit(ce(), tr, va, TrainSpec(epochs=5, lr=3e-3), progress=False)
    best = result.best()
    assert best.val_acc == result.history.val_acc.max()
    assert engine.accuracy(result.model, va) == pytest.approx(best.val_acc)
    assert not result.model.training


def test_kd_records_every_loss_part(digits, teacher):
    tr, va, te = digits
    result = fit(KD(student(), teacher, T=4.0, alpha=0.7), tr, va, TrainSpec(epochs=2), track={"test": te},
                 progress=False)
    h = result.history
    for split in ("train", "val", "test"):
        assert {f"{split}_total", f"{split}_ce", f"{split}_kd"} <= set(h)
        assert torch.allclose(torch.tensor(h[f"{split}_total"].values),
                              torch.tensor(0.7 * h[f"{split}_kd"].values + 0.3 * h[f"{split}_ce"].values),
                              atol=1e-5)


def test_selection_never_uses_test_metrics():
    for bad in (dict(primary="test_acc"), dict(secondary="test_total"), dict(primary="acc")):
        with pytest.raises(ValueError, match="no model is chosen on test data"):
            Selection(**bad)
    with pytest.raises(ValueError, match="no model is chosen on test data"):
        TrainSpec(selection={"primary": "test_acc"})
    assert not Selection("train_total", None).needs_val and Selection().needs_val
    assert Selection("last").secondary is None
    with pytest.raises(ValueError, match="cannot stop early"):
        Selection("last", patience=3)
    with pytest.raises(ValueError, match="patience must be >= 1"):
        Selection(patience=0)


def test_tracked_sets_never_change_the_selection(digits):
    # the same run, with and without the test set tracked: the same epoch, the same weights
    tr, va, te = digits
    spec = TrainSpec(epochs=4, lr=3e-3, selection=Selection(patience=2))
    plain = fit(ce(), tr, va, spec, seed=1, progress=False)
    tracked = fit(ce(), tr, va, spec, seed=1, track={"test": te}, progress=False)
    assert plain.best_epoch == tracked.best_epoch and plain.stopped_early == tracked.stopped_early
    for a, b in zip(plain.model.state_dict().values(), tracked.model.state_dict().values()):
        assert torch.equal(a, b)


def test_selector_picks_the_best_primary_and_stops_after_patience():
    model = nn.Linear(1, 1)
    sel = Selector(Selection("val_acc", "val_total", patience=2))
    rows = [(0.5, 1.0), (0.7, 0.9), (0.7, 0.8),  # epoch 3 ties on acc, wins on the secondary (loss)
            (0.6, 0.85), (0.7, 0.95),            # nothing beats its own best: stale 1, then 2 -> stop
            ]
    stopped = []
    for epoch, (acc, loss) in enumerate(rows, 1):
        sel.update({"epoch": epoch, "val_acc": acc, "val_total": loss}, model)
        stopped.append(sel.stopped)
    assert sel.best_epoch == 3 and stopped == [False, False, False, False, True]
    # a secondary that improves alone resets the patience, without making the epoch the best
    sel = Selector(Selection("val_acc", "val_total", patience=2))
    for epoch, (acc, loss) in enumerate([(0.9, 1.0), (0.8, 0.9), (0.8, 0.8), (0.8, 0.7)], 1):
        sel.update({"epoch": epoch, "val_acc": acc, "val_total": loss}, model)
    assert sel.best_epoch == 1 and not sel.stopped and sel.stale == 0
    # the state a checkpoint stores resumes the selection exactly
    again = Selector(sel.selection, sel.state)
    assert (again.best_epoch, again.stale, again.stopped) == (1, 0, False)


class Frozen(nn.Module):
    """A frozen MLP plus one trainable parameter multiplied by zero: training changes nothing."""

    def __init__(self):
        super().__init__()
        config.seed_everything(0)
        self.net = models.MLP(64, (16,)).requires_grad_(False)
        self.zero = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return self.net(x) + 0.0 * self.zero


def test_early_stopping_on_two_metrics(digits):
    tr, va, _ = digits
    # nothing ever improves after epoch 1, so training stops after `patience` more epochs
    result = fit(CrossEntropy(Frozen()), tr, va, TrainSpec(epochs=20, selection=Selection(patience=3)),
                 progress=False)
    assert result.stopped_early and len(result.history) == 4 and result.best_epoch == 1
    assert result.history.val_total.nunique() == 1
    # without patience every epoch runs
    result = fit(CrossEntropy(Frozen()), tr, va, TrainSpec(epochs=5), progress=False)
    assert not result.stopped_early and len(result.history) == 5


# --------------------------------------------------------------------------- the teacher's outputs
def test_cached_and_live_teacher_logits_give_the_same_losses(digits, teacher):
    tr, va, _ = digits
    cache = TeacherCache(teacher)
    cached = fit(KD(student(), cache, T=3.0, alpha=0.5), tr, va, TrainSpec(epochs=2), progress=False).history
    # an identity "augmentation" makes fit run the teacher live on every batch
    live = fit(KD(student(), teacher, T=3.0, alpha=0.5), tr, va, TrainSpec(epochs=2), augment=lambda x: x,
               progress=False).history
    pd.testing.assert_frame_equal(no_seconds(cached), no_seconds(live), rtol=1e-5, atol=1e-6)


def test_teacher_cache_runs_the_teacher_once_per_data_set(digits):
    tr, va, _ = digits
    calls = []
    net = models.MLP(64, (16,))
    net.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    cache = TeacherCache(net)
    first = cache.logits(tr)
    n = sum(calls)
    assert n == len(tr)
    assert torch.equal(cache.logits(tr), first) and sum(calls) == n
    assert torch.allclose(first, engine.predict(net, tr))
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    # one cache shared by two students: the teacher never runs over the training set again
    n = sum(calls)
    for seed in (0, 1):
        fit(KD(student(seed), cache, T=2.0, alpha=0.5), tr, va, TrainSpec(epochs=1), progress=False)
    per_set = sum(calls) - n
    assert per_set < len(tr)   # the validation set and the class checks only, never the training set again


# --------------------------------------------------------------------------- reproducibility and resume
def test_same_seed_same_numbers(digits, teacher):
    # same machine, same seed: identical histories, for plain training and for KD with a (cached) teacher;
    # another seed (shuffling and dropout) gives other numbers, so the comparison can fail
    tr, va, _ = digits
    spec = TrainSpec(epochs=2)
    kd = lambda: KD(student(), teacher, T=4.0, alpha=0.5)  # noqa: E731
    runs = {name: no_seconds(fit(make(), tr, va, spec, seed=seed, progress=False).history)
            for name, seed, make in (("ce", 7, ce), ("ce again", 7, ce), ("ce seed 8", 8, ce),
                                     ("kd", 7, kd), ("kd again", 7, kd))}
    pd.testing.assert_frame_equal(runs["ce"], runs["ce again"])
    pd.testing.assert_frame_equal(runs["kd"], runs["kd again"])
    assert not runs["ce"]["train_total"].equals(runs["ce seed 8"]["train_total"])


def test_resume_after_interruption_equals_an_uninterrupted_run(digits, tmp_path):
    tr, va, _ = digits
    spec = TrainSpec(epochs=4, lr=3e-3, step_size=2, gamma=0.5)
    straight = fit(ce(), tr, va, spec, checkpoint=tmp_path / "a.pt", seed=3, progress=False)

    interrupted = ce()
    per_epoch = math.ceil(len(tr) / spec.batch_size) + 1   # training batches + one validation pass
    calls = {"n": 0}
    plain = interrupted.losses

    def flaky(out, y, t):  # dies in the middle of epoch 3
        calls["n"] += 1
        if calls["n"] == 2 * per_epoch + 5:
            raise KeyboardInterrupt
        return plain(out, y, t)

    interrupted.losses = flaky   # an instance attribute: the distiller's repr (its signature) is unchanged
    with pytest.raises(KeyboardInterrupt):
        fit(interrupted, tr, va, spec, checkpoint=tmp_path / "b.pt", seed=3, progress=False)
    assert engine.load_checkpoint(tmp_path / "b.pt")["epoch"] == 2
    resumed = fit(ce(seed=99), tr, va, spec, checkpoint=tmp_path / "b.pt", seed=3, progress=False)
    assert resumed.resumed_from == 2
    pd.testing.assert_frame_equal(no_seconds(straight.history), no_seconds(resumed.history))
    assert straight.best_epoch == resumed.best_epoch
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


def test_a_finished_run_returns_at_once(digits, tmp_path):
    tr, va, _ = digits
    spec = TrainSpec(epochs=3, lr=3e-3)
    first = fit(ce(), tr, va, spec, checkpoint=tmp_path / "a.pt", progress=False)
    again = ce(seed=5)

    def never(*args):
        raise AssertionError("a finished run must not train or evaluate again")

    again.losses = never
    result = fit(again, tr, va, spec, checkpoint=tmp_path / "a.pt", progress=False)
    assert result.resumed_from == 3 and result.best_epoch == first.best_epoch
    pd.testing.assert_frame_equal(result.history, first.history)   # the stored rows, timings included
    for a, b in zip(first.model.state_dict().values(), result.model.state_dict().values()):
        assert torch.equal(a, b)


def test_a_finished_checkpoint_drops_the_optimizer_state_and_an_unfinished_one_keeps_it(digits, tmp_path):
    tr, va, _ = digits
    spec = TrainSpec(epochs=2, lr=3e-3, optimizer="adam")
    interrupted = ce()
    plain, calls = interrupted.losses, {"n": 0}
    per_epoch = math.ceil(len(tr) / spec.batch_size) + 1

    def flaky(out, y, t):   # dies in epoch 2, after epoch 1's checkpoint
        calls["n"] += 1
        if calls["n"] == per_epoch + 3:
            raise KeyboardInterrupt
        return plain(out, y, t)

    interrupted.losses = flaky
    with pytest.raises(KeyboardInterrupt):
        fit(interrupted, tr, va, spec, checkpoint=tmp_path / "a.pt", progress=False)
    mid = engine.load_checkpoint(tmp_path / "a.pt")
    assert mid["epoch"] == 1 and mid["optimizer"]["state"]          # Adam's moments, to resume with
    mid_bytes = (tmp_path / "a.pt").stat().st_size
    fit(ce(), tr, va, spec, checkpoint=tmp_path / "a.pt", progress=False)
    done = engine.load_checkpoint(tmp_path / "a.pt")
    assert done["epoch"] == 2 and done["optimizer"] is None
    assert (tmp_path / "a.pt").stat().st_size < mid_bytes
    again = fit(ce(seed=5), tr, va, spec, checkpoint=tmp_path / "a.pt", progress=False)   # still loads
    assert again.resumed_from == 2

    # an unfinished checkpoint without the optimizer's state cannot be continued: it says so
    mid["optimizer"] = None
    torch.save(mid, tmp_path / "b.pt")
    with pytest.raises(RuntimeError, match="epoch 1 of 2 has no optimizer state.*delete it"):
        fit(ce(), tr, va, spec, checkpoint=tmp_path / "b.pt", progress=False)


def test_checkpoints_are_written_atomically(digits, tmp_path, monkeypatch):
    # the save of epoch 2 dies half-way: epoch 1's checkpoint is still whole, no partial file is left,
    # and the run resumes from epoch 1
    tr, va, _ = digits
    path = tmp_path / "run.pt"
    spec = TrainSpec(epochs=3, lr=3e-3)
    real_save, saves = torch.save, []

    def dying_save(obj, f, *args, **kwargs):
        saves.append(f)
        if len(saves) == 2:
            with open(f, "wb") as out:
                out.write(b"half a checkpoint")
            raise OSError("disk full")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(OSError, match="disk full"):
        fit(ce(), tr, va, spec, checkpoint=path, progress=False)
    monkeypatch.setattr(torch, "save", real_save)
    assert all(str(f) != str(path) for f in saves)         # never written in place
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["run.pt"]
    assert engine.load_checkpoint(path)["epoch"] == 1
    resumed = fit(ce(), tr, va, spec, checkpoint=path, progress=False)
    assert resumed.resumed_from == 1 and list(resumed.history.epoch) == [1, 2, 3]


def test_corrupt_checkpoint_is_reported_and_kept(digits, tmp_path):
    tr, va, _ = digits
    bad = tmp_path / "run.pt"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(RuntimeError, match="corrupt.*left untouched"):
        fit(ce(), tr, va, TrainSpec(epochs=1), checkpoint=bad, progress=False)
    assert bad.read_bytes() == b"\x00garbage"


def test_checkpoint_of_another_run_is_refused(digits, tmp_path):
    tr, va, _ = digits
    fit(ce(), tr, va, TrainSpec(epochs=1), checkpoint=tmp_path / "c.pt", progress=False)
    before = (tmp_path / "c.pt").read_bytes()
    for other in (dict(spec=TrainSpec(epochs=1, lr=0.5)), dict(spec=TrainSpec(epochs=1), seed=1),
                  dict(spec=TrainSpec(epochs=1), make=lambda: ce(classes=12))):
        make = other.pop("make", ce)
        with pytest.raises(ValueError, match="different run"):
            fit(make(), tr, va, checkpoint=tmp_path / "c.pt", progress=False, **other)
    assert (tmp_path / "c.pt").read_bytes() == before


def test_a_feature_method_with_other_weights_is_another_run(digits, teacher, tmp_path):
    # beta, ce, kd and T change what is trained: a checkpoint of beta = 1 must not be resumed with beta = 50
    tr, va, _ = digits
    layers = engine.Layers(engine.hooks.penultimate(student()), engine.hooks.penultimate(teacher))
    loss = lambda f_s, f_t: (f_s.pow(2).mean() - f_t.pow(2).mean()).pow(2)  # noqa: E731
    fit(FeatureKD(student(), teacher, loss, layers, beta=1.0), tr, va, TrainSpec(epochs=1),
        checkpoint=tmp_path / "f.pt", progress=False)
    for other in (dict(beta=50.0), dict(ce=0.5), dict(kd=0.9), dict(kd=0.9, T=2.0)):
        with pytest.raises(ValueError, match="different run"):
            fit(FeatureKD(student(), teacher, loss, layers, **other), tr, va, TrainSpec(epochs=1),
                checkpoint=tmp_path / "f.pt", progress=False)


# --------------------------------------------------------------------------- feature hooks
def _feature_kd(teacher, loss):
    s = student()
    layer = engine.hooks.penultimate(s)
    return FeatureKD(s, teacher, loss, engine.Layers(layer, engine.hooks.penultimate(teacher)), name="mse")


def test_feature_hooks_come_off_even_when_training_raises(digits, teacher, tmp_path):
    tr, va, _ = digits

    def boom(f_s, f_t):
        raise RuntimeError("boom")

    d = _feature_kd(teacher, boom)
    with pytest.raises(RuntimeError, match="boom"):
        fit(d, tr, va, TrainSpec(epochs=1), progress=False)
    assert hooks_on(d.student) == 0 and hooks_on(teacher) == 0
    # a checkpoint refused before the first epoch: the hooks come off too
    fit(CrossEntropy(student()), tr, va, TrainSpec(epochs=1), checkpoint=tmp_path / "x.pt", progress=False)
    d = _feature_kd(teacher, losses.FitNetsLoss(32, 128, spatial=False))   # student 32 -> teacher 128 features
    with pytest.raises(ValueError, match="different run"):
        fit(d, tr, va, TrainSpec(epochs=1), checkpoint=tmp_path / "x.pt", progress=False)
    assert hooks_on(d.student) == 0
    # and after a normal run
    result = fit(d, tr, va, TrainSpec(epochs=1), progress=False)
    assert hooks_on(result.model) == 0 and {"train_feat", "val_feat", "val_ce"} <= set(result.history)


# --------------------------------------------------------------------------- schedules and bad input
def test_milestones_decay_the_lr_at_those_epochs(digits):
    tr, va, _ = digits
    h = fit(ce(), tr, va, TrainSpec(epochs=5, lr=0.01, milestones=[2, 4], gamma=0.1), progress=False).history
    # the lr column is the rate used during each epoch: 0.01 for epochs 1-2, 0.001 for 3-4, 0.0001 for 5
    assert h["lr"].tolist() == pytest.approx([0.01, 0.01, 0.001, 0.001, 0.0001])
    h = fit(ce(), tr, va, TrainSpec(epochs=4, lr=0.01, step_size=3, gamma=0.5, optimizer="sgd"),
            progress=False).history
    assert h["lr"].tolist() == pytest.approx([0.01, 0.01, 0.01, 0.005])


def test_class_count_mismatch_is_caught_before_training(digits):
    tr, va, _ = digits
    with pytest.raises(ValueError, match="teacher predicts 10 classes but the student predicts 5"):
        fit(KD(student(classes=5), models.MLP(64, (8,)), T=2.0, alpha=0.5), tr, va, TrainSpec(epochs=1),
            progress=False)


def test_fit_needs_a_distiller(digits):
    tr, va, _ = digits
    with pytest.raises(TypeError, match=r"CrossEntropy\(model\)"):
        fit(student(), tr, va, TrainSpec(epochs=1), progress=False)


def test_kd_without_teacher_and_bad_settings():
    with pytest.raises(ValueError, match="needs a teacher"):
        KD(student(), None, T=2.0, alpha=0.5)
    with pytest.raises(ValueError, match="alpha must be in"):
        KD(student(), models.MLP(64, (8,)), T=2.0, alpha=1.3)
    with pytest.raises(ValueError, match="temperature T must be"):
        KD(student(), models.MLP(64, (8,)), T=0.0, alpha=0.5)


@pytest.mark.parametrize("fields, message", [
    (dict(epochs=0), "epochs must be an integer >= 1"),
    (dict(epochs=-3), "epochs must be an integer >= 1"),
    (dict(epochs=2.5), "epochs must be an integer >= 1"),
    (dict(batch_size=0), "batch_size must be an integer >= 1"),
    (dict(batch_size=-1), "batch_size must be an integer >= 1"),
    (dict(lr=0.0), "lr must be > 0"),
    (dict(lr=-1e-3), "lr must be > 0"),
    (dict(lr=float("nan")), "lr must be > 0"),
    (dict(optimizer="lbfgs"), "optimizer must be one of"),
    (dict(step_size=1, milestones=[1]), "not both"),
    (dict(milestones=[3, 2]), "increasing epochs >= 1"),
    (dict(milestones=[2, 2]), "increasing epochs >= 1"),
    (dict(milestones=[0, 2]), "increasing epochs >= 1"),
])
def test_train_spec_refuses_bad_settings(fields, message):
    with pytest.raises(ValueError, match=message):
        TrainSpec(**fields)


def test_train_spec_but_and_as_spec():
    spec = TrainSpec(epochs=12, batch_size=256, milestones=[5, 8])
    assert spec.milestones == (5, 8)                     # stored as a tuple: the spec is hashable and frozen
    shorter = spec.but(epochs=3, lr=3e-3)
    assert (shorter.epochs, shorter.lr, shorter.batch_size, shorter.milestones) == (3, 3e-3, 256, (5, 8))
    assert spec.epochs == 12 and spec.lr == 1e-3         # the original is unchanged
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.epochs = 1
    with pytest.raises(ValueError, match="epochs"):      # but() validates like the constructor
        spec.but(epochs=0)
    with pytest.raises(TypeError):
        spec.but(epoch=3)
    assert TrainSpec(selection={"patience": 4}).selection == Selection(patience=4)
    assert engine.as_spec({"epochs": 2}) == TrainSpec(epochs=2)
    assert engine.as_spec(None) == TrainSpec() and engine.as_spec(spec, epochs=1) == spec.but(epochs=1)
    with pytest.raises(TypeError, match="TrainSpec"):
        engine.as_spec(["epochs", 2])
    # bf16 / sync_bn change no setting, so a checkpoint written without them resumes with them
    assert spec.signature() == spec.but(bf16=True, sync_bn=True).signature()
    assert spec.signature() != spec.but(lr=3e-3).signature()


# --------------------------------------------------------------------------- flexible networks
class TwoHeads(nn.Module):
    """A toy flexible network: a small and a large sub-model sharing the first layer (smallest first)."""

    def __init__(self):
        super().__init__()
        config.seed_everything(0)
        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU())
        self.small = nn.Linear(32, 10)
        self.large = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        h = self.trunk(x)
        return [self.small(h), self.large(h)]


def test_flexible_network_gets_a_column_per_sub_model_and_their_mean(digits):
    tr, va, te = digits
    result = fit(InPlace(TwoHeads(), "ipkd", T=1.0, lam=0.5), tr, va, TrainSpec(epochs=2, lr=3e-3),
                 track={"test": te}, progress=False)
    h = result.history
    for split in ("train", "val", "test"):
        assert {f"{split}_acc_0", f"{split}_acc_1", f"{split}_acc"} <= set(h)
        assert f"{split}_acc_2" not in h
        assert h[f"{split}_acc"].tolist() == pytest.approx(((h[f"{split}_acc_0"] + h[f"{split}_acc_1"]) / 2).tolist())
    outs = engine.predict(result.model, va)
    assert isinstance(outs, list) and len(outs) == 2
    best = result.best()
    for i, out in enumerate(outs):
        assert float((out.argmax(1) == va.y).float().mean()) == pytest.approx(best[f"val_acc_{i}"])
    # the default selection picks the epoch on the mean over sub-models
    assert best.val_acc == h.val_acc.max()
    assert engine.accuracy(result.model, va) == pytest.approx(best.val_acc_1)   # the largest sub-model


def test_distributed_helpers_in_one_process():
    ddp = engine.distributed
    assert not ddp.active() and ddp.world_size() == 1 and ddp.rank() == 0 and ddp.is_main()
    x = torch.arange(6)
    assert ddp.shard(x)[0] is x
    assert ddp.all_sum([1.5, 2.0], torch.device("cpu")) == [1.5, 2.0]
    m = nn.Linear(2, 2)
    assert ddp.wrap(m, torch.device("cpu")) is m


def test_full_training_set_runs_report_the_final_epoch_or_a_training_rule(digits):
    """The seeds' CIFAR code bases train on all 50,000 images: fit(val=None) with Selection('last')."""
    tr, _, te = digits
    last = TrainSpec(epochs=3, selection=Selection("last"))
    result = fit(CrossEntropy(student()), tr, None, last, track={"test": te}, progress=False)
    assert result.best_epoch == 3 and "val_acc" not in result.history and "test_acc" in result.history
    by_loss = fit(CrossEntropy(student()), tr, None, last.but(selection=Selection("train_total", None)),
                  progress=False)
    h = by_loss.history
    assert by_loss.best_epoch == int(h.loc[h.train_total.idxmin(), "epoch"])
    with pytest.raises(ValueError, match=r"val=None.*Selection\('last'\)"):
        fit(CrossEntropy(student()), tr, None, TrainSpec(epochs=1), progress=False)


def test_warmup_follows_pytorch_cifar100_then_the_schedule(digits):
    """WarmUpLR: lr = base * k / total_iters for batch k of the warm-up; MultiStepLR after it."""
    tr, va, _ = digits
    seen = []

    class Spy(CrossEntropy):
        def forward(self, batch):
            seen.append(self._opt.param_groups[0]["lr"])
            return super().forward(batch)

    spec = TrainSpec(epochs=3, lr=0.1, batch_size=256, optimizer="sgd", milestones=(2,), gamma=0.2,
                     warmup_epochs=1)
    n = -(-len(tr) // 256)
    from kdcourse.engine import optim as optim_mod
    real = optim_mod.optimizer

    def spy_optimizer(params, s):
        opt = real(params, s)
        Spy._opt = opt
        return opt
    optim_mod.optimizer = spy_optimizer
    try:
        result = fit(Spy(student()), tr, va, spec, progress=False)
    finally:
        optim_mod.optimizer = real
    assert seen[:n] == pytest.approx([0.1 * k / n for k in range(n)])
    assert seen[n:2 * n] == pytest.approx([0.1] * n) and seen[2 * n:] == pytest.approx([0.02] * n)
    assert list(result.history.lr) == pytest.approx([0.1, 0.1, 0.02])
    assert spec.signature()["warmup_epochs"] == 1 and "warmup_epochs" not in spec.but(warmup_epochs=0).signature()
    with pytest.raises(ValueError, match="warmup_epochs"):
        TrainSpec(epochs=2, warmup_epochs=2)


def test_fit_tells_the_distiller_each_epoch(digits, tmp_path):
    """DKD's warm-up reads the epoch from Distiller.set_epoch, which fit calls before each epoch (from 1)."""
    train, val, _ = digits
    seen = []

    class Recording(CrossEntropy):
        def set_epoch(self, epoch):
            seen.append(epoch)

    fit(Recording(student()), train, val, TrainSpec(epochs=3, lr=3e-3), checkpoint=tmp_path / "rec.pt",
        progress=False)
    assert seen == [1, 2, 3]
    seen.clear()
    fit(Recording(student()), train, val, TrainSpec(epochs=3, lr=3e-3), checkpoint=tmp_path / "rec.pt",
        progress=False)
    assert seen == []           # a finished run is loaded: no epoch trained, none announced
