"""fit(): learning, selection, early stopping, resume, teacher cache and bad input."""
import pandas as pd
import pytest
import torch
from torch import nn

from kdcourse import config, data, models, train


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", "train"), data.load("digits", "val"), data.load("digits", "test")


def student(seed=0, classes=10):
    config.seed_everything(seed)
    return models.MLP(64, (32,), classes, dropout=0.1)


@pytest.fixture(scope="module")
def teacher(digits):
    tr, va, _ = digits
    config.seed_everything(0)
    return train.fit(models.MLP(64, (128,)), tr, va, epochs=8, progress=False).model


def test_fit_improves_accuracy(digits):
    tr, va, te = digits
    model = student()
    before = (train.predict(model, te).argmax(1) == te.y).float().mean().item()
    result = train.fit(model, tr, va, epochs=6, lr=3e-3, track={"test": te}, progress=False)
    after = (train.predict(result.model, te).argmax(1) == te.y).float().mean().item()
    assert before < 0.3 and after > 0.85
    h = result.history
    assert list(h.epoch) == [1, 2, 3, 4, 5, 6]
    assert {"train_total", "train_ce", "train_acc", "val_total", "val_acc", "test_acc", "lr"} <= set(h)
    assert h.train_total.iloc[-1] < h.train_total.iloc[0]


def test_best_epoch_weights_are_restored(digits):
    tr, va, _ = digits
    result = train.fit(student(), tr, va, epochs=5, lr=3e-3, progress=False)
    best = result.best()
    assert best.val_acc == result.history.val_acc.max()
    acc = (train.predict(result.model, va).argmax(1) == va.y).float().mean().item()
    assert acc == pytest.approx(best.val_acc)


def test_kd_records_every_loss_part(digits, teacher):
    tr, va, te = digits
    result = train.fit(student(), tr, va, objective=train.distillation(4.0, 0.7), teacher=teacher,
                       epochs=2, track={"test": te}, progress=False)
    h = result.history
    for split in ("train", "val", "test"):
        assert {f"{split}_total", f"{split}_ce", f"{split}_kd"} <= set(h)
        assert torch.allclose(torch.tensor(h[f"{split}_total"].values),
                              torch.tensor(0.7 * h[f"{split}_kd"].values + 0.3 * h[f"{split}_ce"].values),
                              atol=1e-5)


def test_cached_and_live_teacher_logits_give_the_same_losses(digits, teacher):
    tr, va, _ = digits
    cache = train.TeacherCache(teacher)
    cached = train.fit(student(), tr, va, objective=train.distillation(3.0, 0.5), teacher=cache,
                       epochs=2, progress=False).history
    # an identity "augmentation" forces fit to run the teacher live on every batch
    live = train.fit(student(), tr, va, objective=train.distillation(3.0, 0.5), teacher=teacher,
                     epochs=2, augment=lambda x: x, progress=False).history
    cols = [c for c in cached if c != "seconds"]
    pd.testing.assert_frame_equal(cached[cols], live[cols], rtol=1e-5, atol=1e-6)


def test_teacher_cache_runs_the_teacher_once_per_data_set(digits):
    tr, _, _ = digits
    calls = []
    net = models.MLP(64, (16,))
    net.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    cache = train.TeacherCache(net)
    first = cache.logits(tr)
    n = sum(calls)
    assert n == len(tr)
    assert torch.equal(cache.logits(tr), first) and sum(calls) == n
    assert torch.allclose(first, train.predict(net, tr))
    assert not net.training and not any(p.requires_grad for p in net.parameters())


def test_resume_after_interruption_gives_the_same_history(digits, tmp_path):
    tr, va, _ = digits
    kwargs = dict(epochs=4, lr=3e-3, step_size=2, gamma=0.5, seed=3, progress=False)
    straight = train.fit(student(), tr, va, checkpoint=tmp_path / "a.pt", **kwargs)

    calls = {"n": 0}
    base = train.cross_entropy()

    def flaky(s, y, t=None):  # dies in the middle of epoch 3
        calls["n"] += 1
        if calls["n"] == 2 * 11 + 5:  # 10 batches + 1 validation per epoch
            raise KeyboardInterrupt
        return base(s, y, t)

    interrupted = train.Objective("cross_entropy", flaky, needs_teacher=False)
    with pytest.raises(KeyboardInterrupt):
        train.fit(student(), tr, va, objective=interrupted, checkpoint=tmp_path / "b.pt", **kwargs)
    assert train.load_checkpoint(tmp_path / "b.pt")["epoch"] == 2
    resumed = train.fit(student(seed=99), tr, va, checkpoint=tmp_path / "b.pt", **kwargs)
    assert resumed.resumed_from == 2
    cols = [c for c in straight.history if c != "seconds"]
    pd.testing.assert_frame_equal(straight.history[cols], resumed.history[cols])
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    # a finished run loads instantly from its checkpoint
    again = train.fit(student(seed=5), tr, va, checkpoint=tmp_path / "a.pt", **kwargs)
    assert again.resumed_from == 4 and again.best_epoch == straight.best_epoch


def test_early_stopping_on_two_metrics(digits):
    tr, va, _ = digits
    # lr = 0 : nothing ever improves after epoch 1, so training stops after `patience` more epochs
    result = train.fit(student(), tr, va, epochs=20, lr=0.0, progress=False,
                       selection=train.Selection("val_acc", "val_total", patience=3))
    assert result.stopped_early and len(result.history) == 4 and result.best_epoch == 1


def test_selection_never_uses_test_data():
    with pytest.raises(ValueError, match="validation metrics"):
        train.Selection(primary="test_acc")


def test_class_count_mismatch_is_caught_before_training(digits):
    tr, va, _ = digits
    with pytest.raises(ValueError, match="teacher predicts 10 classes but the student predicts 5"):
        train.fit(student(classes=5), tr, va, objective=train.distillation(2.0, 0.5),
                  teacher=models.MLP(64, (8,)), epochs=1, progress=False)


def test_kd_without_teacher_and_bad_settings(digits):
    tr, va, _ = digits
    with pytest.raises(ValueError, match="needs a teacher"):
        train.fit(student(), tr, va, objective=train.distillation(2.0, 0.5), epochs=1, progress=False)
    with pytest.raises(ValueError, match="alpha must be in"):
        train.distillation(2.0, 1.3)
    with pytest.raises(ValueError, match="temperature T must be"):
        train.distillation(0.0, 0.5)
    with pytest.raises(ValueError, match="optimizer"):
        train.fit(student(), tr, va, optimizer="lbfgs", epochs=1, progress=False)


def test_corrupt_checkpoint_is_reported_and_kept(digits, tmp_path):
    tr, va, _ = digits
    bad = tmp_path / "run.pt"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(RuntimeError, match="corrupt.*left untouched"):
        train.fit(student(), tr, va, epochs=1, checkpoint=bad, progress=False)
    assert bad.read_bytes() == b"\x00garbage"


def test_checkpoint_of_another_run_is_refused(digits, tmp_path):
    tr, va, _ = digits
    train.fit(student(), tr, va, epochs=1, checkpoint=tmp_path / "c.pt", progress=False)
    with pytest.raises(ValueError, match="different run"):
        train.fit(student(), tr, va, epochs=1, lr=0.5, checkpoint=tmp_path / "c.pt", progress=False)


def test_same_seed_same_numbers(digits, teacher):
    # same machine, same seed: identical histories, for plain training and for KD with a (cached) teacher;
    # another seed (shuffling and dropout) gives other numbers, so the comparison can fail
    tr, va, _ = digits
    runs = {}
    for name, seed, kw in (("ce", 7, {}), ("ce again", 7, {}), ("ce seed 8", 8, {}),
                           ("kd", 7, dict(objective=train.distillation(4.0, 0.5), teacher=teacher)),
                           ("kd again", 7, dict(objective=train.distillation(4.0, 0.5), teacher=teacher))):
        runs[name] = train.fit(student(), tr, va, epochs=2, seed=seed, progress=False, **kw).history
        runs[name] = runs[name][[c for c in runs[name] if c != "seconds"]]
    pd.testing.assert_frame_equal(runs["ce"], runs["ce again"])
    pd.testing.assert_frame_equal(runs["kd"], runs["kd again"])
    assert not runs["ce"]["train_total"].equals(runs["ce seed 8"]["train_total"])


def test_milestones_decay_the_lr_at_those_epochs(digits):
    tr, va, _ = digits
    h = train.fit(student(), tr, va, epochs=5, lr=0.01, milestones=[2, 4], gamma=0.1, progress=False).history
    # the lr column is the rate used during each epoch: 0.01 for epochs 1-2, 0.001 for 3-4, 0.0001 for 5
    assert h["lr"].tolist() == pytest.approx([0.01, 0.01, 0.001, 0.001, 0.0001])
    with pytest.raises(ValueError, match="not both"):
        train.fit(student(), tr, va, epochs=1, step_size=1, milestones=[1], progress=False)
    with pytest.raises(ValueError, match="increasing"):
        train.fit(student(), tr, va, epochs=1, milestones=[3, 2], progress=False)
