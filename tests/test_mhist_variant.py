"""Notebook 03's controlled variant (section 4b, issue 13): the students with and without KD on a seeded,
class-stratified fraction of the training images, the teacher and the validation split unchanged."""
import dataclasses

import pytest
import torch

from kdcourse import config, experiments
from kdcourse.data import TensorData
from kdcourse.engine.checkpoint import load_checkpoint
from kdcourse.engine import TrainSpec
from kdcourse.experiments import mhist
from kdcourse.models import transfer


def _data(counts=(40, 15), seed=0, size=8, split="train"):
    """An imbalanced two-class set, ``counts[c]`` rows of class c, shuffled, each row's pixels its index."""
    g = torch.Generator().manual_seed(seed)
    y = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])[torch.randperm(sum(counts), generator=g)]
    x = torch.arange(len(y), dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 3, size, size).clone()
    x = x + y.view(-1, 1, 1, 1) * 0.5                # the class shows in the pixels, for the tiny fits below
    return TensorData(x, y, "tiny", split, "test", ["a", "b"])


def test_profiles_run_the_variant_offline_only():
    assert mhist.PAPER.variant_fraction is None              # not run in the paper profile
    assert mhist.PROFILES["cpu"].variant_fraction == 0.05    # 93 of the stand-in's 1,849 training images
    assert mhist.PROFILES["smoke"].variant_fraction == 0.2   # 30 of smoke's 150
    assert {"ce-fewer", "kd-fewer"} <= set(experiments.runs("03_mhist_transfer_kd"))


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.5])
def test_a_fraction_outside_0_1_is_refused(bad):
    with pytest.raises(ValueError, match="variant_fraction must be in \\(0, 1\\]"):
        dataclasses.replace(mhist.PAPER, variant_fraction=bad)
    with pytest.raises(ValueError, match="fraction must be in \\(0, 1\\]"):
        mhist.stratified_fraction(_data(), bad, 0)
    assert dataclasses.replace(mhist.PAPER, variant_fraction=1.0).variant_fraction == 1.0


def test_the_draw_is_seeded_stratified_and_of_the_right_size():
    d = _data((40, 15))
    few = mhist.stratified_fraction(d, 0.2, 3)
    assert torch.bincount(few.y).tolist() == [8, 3]          # round(0.2 * 40), round(0.2 * 15) of each class
    rows = few.x[:, 0, 0, 0].long()                           # each row's index in d, from its pixels
    assert torch.equal(rows, rows.sort().values)              # kept in their original order
    assert torch.equal(d.y[rows], few.y) and torch.equal(d.x[rows], few.x)
    assert few.split == "train[0.2, seed 3]" and few.classes == d.classes
    again = mhist.stratified_fraction(d, 0.2, 3)
    assert torch.equal(again.x, few.x) and torch.equal(again.y, few.y)     # seeded: the same rows
    others = {tuple(mhist.stratified_fraction(d, 0.2, s).x[:, 0, 0, 0].long().tolist()) for s in range(5)}
    assert len(others) == 5                                   # another seed, another draw
    assert torch.bincount(mhist.stratified_fraction(d, 0.01, 0).y).tolist() == [1, 1]   # at least one per class
    whole = mhist.stratified_fraction(d, 1.0, 0)
    assert torch.equal(whole.x, d.x) and torch.equal(whole.y, d.y)


def test_the_cpu_draw_has_the_size_the_spec_comment_gives():
    y = torch.cat([torch.zeros(1313, dtype=torch.long), torch.ones(536, dtype=torch.long)])   # the stand-in's train
    d = TensorData(torch.zeros(len(y), 1), y, "tiny", "train", "test", ["HP", "SSA"])
    few = mhist.stratified_fraction(d, mhist.PROFILES["cpu"].variant_fraction, 0)
    assert torch.bincount(few.y).tolist() == [66, 27] and len(few) == 93


@pytest.fixture
def tiny_03(tmp_path, monkeypatch):
    """The smoke spec on tiny images with untrained ResNet18s for both backbones (no downloads, seconds)."""
    build = transfer.build

    def untrained(arch, n, pretrained=True, image_size=None, **kw):   # the same weights in every set-up
        torch.manual_seed(0 if arch == run.cfg.teacher_arch else 1)
        return build("resnet18", n, pretrained=False, image_size=None, normalize=False)
    monkeypatch.setattr(transfer, "build", untrained)
    monkeypatch.setenv("KDCOURSE_DATA", str(tmp_path))
    spec = TrainSpec(epochs=2, batch_size=8, selection=mhist.LOWEST_VAL_LOSS)
    cfg = dataclasses.replace(mhist.PROFILES["smoke"], teacher=spec, student=spec, variant_fraction=0.5)
    run = config.Run("03_mhist_transfer_kd", "smoke", cfg, torch.device("cpu"))
    sets = {"train": _data((12, 6), 0), "val": _data((4, 4), 1, split="val"), "test": _data((4, 4), 2, split="test")}
    return run, sets


def test_fewer_runs_checkpoint_apart_with_the_same_teacher_and_validation(tiny_03):
    run, sets = tiny_03
    m = mhist.setup(run, sets)
    kd = mhist.RUNS["kd-fewer"](run, seed=1, shared=m)      # trains the first seed's teacher, then the student
    ce = mhist.RUNS["ce-fewer"](run, seed=1, shared=m)
    names = {p.name for p in run.checkpoints.glob("*.pt")}
    assert names == {"teacher-seed0.pt", "student-kd-frac0.5-seed1.pt", "student-ce-frac0.5-seed1.pt"}
    assert {"train_kd", "val_kd"} <= set(kd.history) and "train_kd" not in ce.history
    sig = {n: load_checkpoint(run.checkpoints / f"student-{n}-frac0.5-seed1.pt")["signature"] for n in ("kd", "ce")}
    assert sig["kd"]["n_train"] == sig["ce"]["n_train"] == 9            # 6 + 3 of 12 + 6
    assert sig["kd"]["train_data"] == sig["ce"]["train_data"]           # both students of a seed: the same draw
    assert sig["kd"]["n_val"] == len(sets["val"])                       # the whole validation split
    main = mhist.RUNS["kd"](run, seed=1, shared=m)                      # the main run: its own checkpoint
    main_sig = load_checkpoint(run.checkpoints / "student-kd-seed1.pt")["signature"]
    assert main_sig["n_train"] == len(sets["train"]) and main_sig["teacher"] == sig["kd"]["teacher"]
    assert main_sig["val_data"] == sig["kd"]["val_data"] and main.resumed_from == 0
    headless = mhist.RUNS["kd-fewer"](run, seed=1, shared=mhist.setup(run, sets))   # a fresh process's call
    assert headless.resumed_from == 2 and headless.history.equals(kd.history)


def test_fewer_runs_need_a_fraction(tiny_03):
    run, sets = tiny_03
    off = dataclasses.replace(run, cfg=dataclasses.replace(run.cfg, variant_fraction=None))
    with pytest.raises(ValueError, match="no variant_fraction"):
        mhist.train_fewer(off, "kd", 0)                  # refused before any set-up or training
    with pytest.raises(ValueError, match="fraction must be in"):
        mhist.student(run, "ce", 0, fraction=1.5)
