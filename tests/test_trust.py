"""Runs that used to return a wrong model, or fail late, now stop with a clear error (issue 15, first part)."""
from __future__ import annotations

import os

import pytest
import torch

from kdcourse import config, data, models
from kdcourse.data import TensorData
from kdcourse.data.core import NonFiniteWarning
from kdcourse.distillers import KD, CrossEntropy
from kdcourse.engine import TeacherCache, TrainSpec, fit, predict
from kdcourse.engine.checkpoint import remove_partial_files
from kdcourse.engine.loop import TrainingDiverged

SPEC = TrainSpec(epochs=2, batch_size=100, lr=1e-3)


@pytest.fixture(scope="module")
def mnist():
    return data.load("mnist", "train", 600), data.load("mnist", "val", 200)


def mlp(seed=0):
    config.seed_everything(seed)
    return models.MLP(784, (32,))


def test_a_nan_pixel_stops_training_with_the_epoch_batch_and_part(mnist):
    tr, va = mnist
    x = tr.x.clone()
    x[0, 0, 5, 5] = float("nan")
    with pytest.warns(NonFiniteWarning, match="1 non-finite input value"):   # said when the set is built
        bad = TensorData(x, tr.y, tr.name, tr.split, tr.source, tr.classes)
    with pytest.raises(TrainingDiverged, match=r"epoch 1, batch \d+: total = nan.*Lower the learning rate"):
        fit(CrossEntropy(mlp()), bad, va, SPEC, progress=False)


def test_a_huge_learning_rate_stops_and_keeps_the_last_good_checkpoint(mnist, tmp_path):
    tr, va = mnist
    path = tmp_path / "run.pt"
    good = fit(CrossEntropy(mlp()), tr, va, SPEC.but(epochs=1, lr=1e-3), checkpoint=path, progress=False)
    before = path.read_bytes()
    with pytest.raises(TrainingDiverged, match="diverged"):
        fit(CrossEntropy(mlp()), tr, va, SPEC.but(lr=1e9, optimizer="sgd"), checkpoint=tmp_path / "huge.pt",
            progress=False)
    assert path.read_bytes() == before and good.history["val_acc"].notna().all()
    assert not list(tmp_path.glob(".huge.pt.*.pt")), "no partial file is left behind"


def test_a_checkpoint_of_another_data_set_or_teacher_or_epochs_names_the_fields(mnist, tmp_path):
    tr, va = mnist
    path = tmp_path / "kd.pt"
    config.seed_everything(5)
    teacher = TeacherCache(models.MLP(784, (16,)))
    fit(KD(mlp(), teacher, 4.0, 0.9), tr, va, SPEC, checkpoint=path, progress=False)
    fashion = data.load("fashion_mnist", "train", 600)
    with pytest.raises(ValueError, match=r"train_data: checkpoint '\w+', this run '\w+'"):
        fit(KD(mlp(), teacher, 4.0, 0.9), fashion, va, SPEC, checkpoint=path, progress=False)
    config.seed_everything(6)
    other = TeacherCache(models.MLP(784, (16,)))
    with pytest.raises(ValueError, match=r"different run \(teacher: checkpoint"):
        fit(KD(mlp(), other, 4.0, 0.9), tr, va, SPEC, checkpoint=path, progress=False)
    with pytest.raises(ValueError, match=r"epochs: checkpoint 2, this run 1"):
        fit(KD(mlp(), teacher, 4.0, 0.9), tr, va, SPEC.but(epochs=1), checkpoint=path, progress=False)
    with pytest.raises(ValueError, match=r"layout: .*params: checkpoint"):
        fit(KD(models.MLP(784, (48,)), teacher, 4.0, 0.9), tr, va, SPEC, checkpoint=path, progress=False)


def test_a_checkpoint_without_the_expected_entries_is_refused(mnist, tmp_path):
    tr, va = mnist
    path = tmp_path / "foreign.pt"
    torch.save({"model": mlp().state_dict()}, path)
    with pytest.raises(RuntimeError, match=r"lacks \['signature'.*left untouched"):
        fit(CrossEntropy(mlp()), tr, va, SPEC, checkpoint=path, progress=False)
    assert torch.load(path, weights_only=True).keys() == {"model"}


def test_partial_files_of_a_killed_write_are_removed_by_the_next_run(mnist, tmp_path):
    tr, va = mnist
    path = tmp_path / "run.pt"
    stale = [tmp_path / ".run.pt.a1b2c3d4.pt", tmp_path / ".run.pt.zz_9yy_8.pt"]
    keep = [tmp_path / ".other.pt.a1b2c3d4.pt", tmp_path / "run.pt.bak", tmp_path / ".run.pt.short.pt"]
    for p in stale + keep:
        p.write_bytes(b"partial")
    fit(CrossEntropy(mlp()), tr, va, SPEC.but(epochs=1), checkpoint=path, progress=False)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in keep)
    assert remove_partial_files(tmp_path / "absent" / "x.pt") == []


def test_an_unwritable_checkpoint_folder_fails_before_training(mnist, tmp_path, monkeypatch):
    tr, va = mnist
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    calls = []
    model = mlp()
    model.register_forward_hook(lambda *a: calls.append(1))
    with pytest.raises(PermissionError, match="not writable.*KDCOURSE_DATA"):
        fit(CrossEntropy(model), tr, va, SPEC, checkpoint=tmp_path / "run.pt", progress=False)
    assert len(calls) <= 1, "only the two-sample class check ran, no training"


def test_teacher_logits_on_disk_equal_live_ones_and_spare_the_teacher(mnist, tmp_path):
    tr, _ = mnist
    config.seed_everything(3)
    teacher = models.MLP(784, (16,))
    first = TeacherCache(teacher, store=tmp_path).logits(tr)
    assert torch.equal(first, predict(teacher, tr)) and len(list(tmp_path.glob("logits-*.pt"))) == 1
    calls = []
    teacher.register_forward_hook(lambda *a: calls.append(1))
    again = TeacherCache(teacher, store=tmp_path).logits(tr)   # another process would do the same
    assert torch.equal(again, first) and not calls, "the second cache reads the disk, not the teacher"
    with torch.no_grad():
        next(teacher.parameters()).add_(1.0)
    changed = TeacherCache(teacher, store=tmp_path).logits(tr)
    assert calls and not torch.equal(changed, first), "other weights, other key: the teacher runs again"


JOB = """
import sys, time
from kdcourse import config, data, models
from kdcourse.distillers import CrossEntropy
from kdcourse.engine import TrainSpec, fit
tr, va = data.load("mnist", "train", 600), data.load("mnist", "val", 200)
config.seed_everything(0)
res = fit(CrossEntropy(models.MLP(784, (32,))), tr, va, TrainSpec(epochs=3, batch_size=50), checkpoint=sys.argv[1],
          progress=False)
print("loaded" if res.resumed_from == 3 else "trained", float(res.history["val_acc"].iloc[-1]))
"""


def test_two_processes_racing_for_one_checkpoint_train_it_once(tmp_path):
    import subprocess
    import sys
    path = tmp_path / "shared_teacher.pt"
    env = {**os.environ, "PYTHONPATH": str(config.REPO), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", JOB, str(path)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    words = sorted(out.split()[0] for out, _ in outs)
    assert words == ["loaded", "trained"], outs
    assert len({out.split()[1] for out, _ in outs}) == 1, "both processes end with the same model"


def test_an_empty_training_or_validation_set_is_a_clear_error(mnist):
    tr, va = mnist
    with pytest.raises(ValueError, match="the training set is empty"):
        fit(CrossEntropy(mlp()), tr.subset([]), va, SPEC, progress=False)
    with pytest.raises(ValueError, match="the validation set is empty"):
        fit(CrossEntropy(mlp()), tr, va.subset([]), SPEC, progress=False)


KILL_JOB = """
import sys
from kdcourse import config, data, models
from kdcourse.distillers import CrossEntropy
from kdcourse.engine import TrainSpec, fit
tr, va = data.load("mnist", "train", 300), data.load("mnist", "val", 100)
config.seed_everything(0)
res = fit(CrossEntropy(models.MLP(784, (1024, 1024))), tr, va, TrainSpec(epochs=int(sys.argv[2]), batch_size=100),
          checkpoint=sys.argv[1], progress=False)
print("epochs", len(res.history))
"""


def test_kill_9_leaves_no_partial_file_after_the_next_run(tmp_path):
    """A 2-million-parameter MLP (a 26 MB checkpoint) is killed at several moments; the next run resumes,
    finishes, and leaves only its checkpoint and lock behind."""
    import signal
    import subprocess
    import sys
    import time
    path = tmp_path / "big.pt"
    env = {**os.environ, "PYTHONPATH": str(config.REPO), "OMP_NUM_THREADS": "1"}
    for delay in (2.0, 2.6, 3.3, 4.1):
        proc = subprocess.Popen([sys.executable, "-c", KILL_JOB, str(path), "40"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = subprocess.run([sys.executable, "-c", KILL_JOB, str(path), "40"], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0 and "epochs 40" in done.stdout, done.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".big.pt.lock", "big.pt"]


def test_fingerprints_cover_zero_dim_tensors_such_as_batch_norm_counters():
    from kdcourse.engine.fingerprint import fingerprint
    bn = torch.nn.BatchNorm1d(3)
    assert bn.num_batches_tracked.dim() == 0
    a = fingerprint(*bn.state_dict().values())
    bn.num_batches_tracked += 1
    assert fingerprint(*bn.state_dict().values()) != a


def test_teacher_outputs_on_disk_are_keyed_by_the_module_not_only_its_weights(mnist, tmp_path):
    """A SubclassNet and its backbone share every weight; their logits (C vs C*s columns) must not collide."""
    tr, _ = mnist
    config.seed_everything(4)
    net = models.SubclassNet(models.MLP(784, (16,), num_classes=20), 10, 2)
    class_logits = TeacherCache(net, store=tmp_path).logits(tr)
    subclass_logits = TeacherCache(net.backbone, store=tmp_path).logits(tr)
    assert class_logits.shape == (600, 10) and subclass_logits.shape == (600, 20)
    assert len(list(tmp_path.glob("logits-*.pt"))) == 2


def test_live_teacher_outputs_on_augmented_batches_train_every_logit_method(mnist):
    """With augmentation the teacher runs live under inference mode; its logits must still be usable in a
    loss that saves them for backward (found by make paper-dry: notebook 05's paper branch augments)."""
    from kdcourse.distillers import LogitMSE, Softened, SoftTargets
    tr, va = mnist
    config.seed_everything(2)
    teacher = TeacherCache(models.MLP(784, (16,)))
    for method in (lambda s: SoftTargets(s, teacher, 0.3), lambda s: LogitMSE(s, teacher),
                   lambda s: Softened(s, teacher, 3.0), lambda s: KD(s, teacher, 4.0, 0.9)):
        res = fit(method(mlp()), tr, va, SPEC.but(epochs=1), augment=lambda x: x + 0.01 * torch.randn_like(x),
                  progress=False)
        assert res.history["train_total"].notna().all()
