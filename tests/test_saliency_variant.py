"""Notebook 09's controlled variant (section 4b, issue 13): students with the teacher's architecture.

Fast: nothing is trained; the builder, the profiles, the checkpoint names and the helpers are checked on
stand-ins.  Expected values are worked by hand in the comments.
"""
import types

import numpy as np
import pandas as pd
import pytest
import torch

from kdcourse import config, experiments, models
from kdcourse.distillers import KD, CrossEntropy
from kdcourse.engine import TrainSpec
from kdcourse.experiments import saliency as exp
from kdcourse.experiments.base import clip


def test_variant_epochs_in_every_profile_with_the_mlp_students_trainspec():
    assert exp.PAPER.variant_student_epochs == exp.PAPER.student.epochs == 12     # the paper: the same TrainSpec
    assert exp.PROFILES["cpu"].variant_student_epochs == 3                       # an epoch of the CNN: 3-6 min
    assert exp.PROFILES["smoke"].variant_student_epochs == 2
    for name, cfg in exp.PROFILES.items():
        spec = exp.variant_spec(cfg)
        assert spec.epochs == cfg.variant_student_epochs, name
        assert spec.but(epochs=cfg.student.epochs) == cfg.student, name        # only the epochs differ
    assert exp.variant_spec(exp.PROFILES["cpu"]) == TrainSpec(epochs=3, batch_size=256, lr=1e-3, optimizer="adam")
    assert clip(exp.PAPER).variant_student_epochs == 1                           # paper-dry clips it as an epoch count


def test_cnn_student_is_the_teacher_architecture_freshly_initialised():
    a, b = exp.student_cnn(0), exp.student_cnn(0)
    assert isinstance(a, models.TeacherCNN) and type(a) is type(models.TeacherCNN())
    assert sum(p.numel() for p in a.parameters()) == 1_011_466                   # the teacher's parameter count
    same = lambda x, y: all(torch.equal(p, q) for p, q in zip(x.state_dict().values(), y.state_dict().values()))
    assert same(a, b)                                                            # KD and no KD: same initial weights
    config.seed_everything(0)                                                    # what mnist.teacher draws
    teacher_init = models.TeacherCNN()
    assert not any(torch.equal(p, q) for p, q in zip(a.state_dict().values(), teacher_init.state_dict().values()))
    assert not same(exp.student_cnn(1), a)


def test_distiller_uses_the_kd_settings_of_the_mlp_students():
    cfg = exp.PROFILES["cpu"]
    cache = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))    # a teacher stand-in
    kd = exp.distiller("cnn-kd", exp.student_cnn(0), cfg, cache)
    assert isinstance(kd, KD) and (kd.T, kd.alpha) == (cfg.kd_T, cfg.kd_alpha) == (20.0, 0.9)
    assert isinstance(kd.student, models.TeacherCNN)
    assert isinstance(exp.distiller("cnn-ce", exp.student_cnn(0), cfg, cache), CrossEntropy)
    mlp_kd = exp.distiller("kd", exp.student_cnn(0), cfg, cache)
    assert isinstance(mlp_kd, KD) and (mlp_kd.T, mlp_kd.alpha) == (kd.T, kd.alpha)
    with pytest.raises(ValueError, match="not 'cnn-dkd'"):
        exp.distiller("cnn-dkd", exp.student_cnn(0), cfg, cache)


def test_runs_and_checkpoint_names(monkeypatch, tmp_path):
    assert set(exp.RUNS) == {"kd", "ce", "cnn-kd", "cnn-ce"} == set(experiments.runs("09_saliency"))
    assert set(exp.CNN_METHODS) == {"cnn-kd", "cnn-ce"}
    calls = []

    def fake_fit(distiller, train, val, spec, **kw):
        calls.append((distiller, spec, kw))
        return "fitted"

    monkeypatch.setattr(exp, "fit", fake_fit)
    cfg = exp.PROFILES["smoke"]
    run = config.Run("09_saliency", "smoke", cfg, torch.device("cpu"), 0)
    monkeypatch.setattr(config, "checkpoints_dir", lambda profile=None: tmp_path)
    teacher = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))   # a teacher stand-in
    shared = types.SimpleNamespace(train="train", val="val", cache=teacher)
    assert [exp.RUNS[name](run, seed=0, shared=shared) for name in ("cnn-kd", "cnn-ce")] == ["fitted"] * 2
    assert [exp.RUNS[name](run, seed=3, shared=shared) for name in ("kd", "ce")] == ["fitted"] * 2
    names = [kw["checkpoint"].name for _, _, kw in calls]
    assert names == ["cnn-kd-seed0.pt", "cnn-ce-seed0.pt", "kd-seed3.pt", "ce-seed3.pt"]
    assert all(kw["checkpoint"].parent == tmp_path / "09_saliency" for _, _, kw in calls)
    (kd, kd_spec, _), (ce, ce_spec, _) = calls[:2]
    assert isinstance(kd, KD) and isinstance(ce, CrossEntropy)
    assert all(isinstance(d.student, models.TeacherCNN) for d in (kd, ce))
    assert kd_spec == ce_spec == exp.variant_spec(cfg)
    assert all(isinstance(d.student, models.MLP) for d, _, _ in calls[2:])
    assert calls[2][1] == cfg.student                                            # the MLP students' spec unchanged


def test_unknown_names_are_clear_errors():
    run = config.Run("09_saliency", "smoke", exp.PROFILES["smoke"], torch.device("cpu"), 0)
    with pytest.raises(ValueError, match=r"CNN students .* are \['cnn-ce', 'cnn-kd'\], not 'cnn'"):
        exp.train_cnn(run, "cnn")
    with pytest.raises(ValueError, match="an MLP student: experiment.train"):
        exp.train_cnn(run, "kd")
    with pytest.raises(ValueError, match="a CNN student of the variant: experiment.train_cnn"):
        exp.train(run, "cnn-kd")
    with pytest.raises(SystemExit, match="has no headless run 'cnn-dkd'"):
        from kdcourse.__main__ import train
        train("09_saliency", "cnn-dkd", "smoke", 0)


def test_output_match_by_hand():
    t = torch.tensor([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])
    # row 0: student = 2 t + 5 (correlation 1, same top-1); row 1: centred t [-1/3, 2/3, -1/3], student [0, 0, 1]
    # centred [-1/3, -1/3, 2/3]: r = (1/9 - 2/9 - 2/9) / (6/9) = -1/2; top-1 1 vs 2 disagree
    s = torch.tensor([[7.0, 9.0, 11.0], [0.0, 0.0, 1.0]])
    out = exp.output_match(s, t)
    assert out["top-1 agreement with teacher"] == pytest.approx(0.5)
    assert out["logit correlation with teacher"] == pytest.approx((1.0 - 0.5) / 2)


def test_variant_table_puts_the_paired_difference_on_the_kd_rows():
    torch.manual_seed(0)
    teacher = torch.rand(60, 6, 6)
    maps = {"t": teacher, "cnn kd": teacher + 0.1 * torch.rand(60, 6, 6), "cnn ce": torch.rand(60, 6, 6),
            "mlp kd": torch.rand(60, 6, 6), "mlp ce": torch.rand(60, 6, 6)}
    arms = {"MLP": ("mlp kd", "mlp ce"), "CNN": ("cnn kd", "cnn ce")}
    rhos, paired, tables = {}, {}, []
    for arch, (kd, ce) in arms.items():
        r = {("gradient", k): v for k, v in exp.pairs(maps, "t", (kd, ce)).items()}
        tables.append(exp.against_chance(r, (kd, ce)))
        paired[arch] = {"gradient": exp.paired_difference(r["gradient", f"teacher vs {kd}"],
                                                          r["gradient", f"teacher vs {ce}"])}
    acc = {k: {"test accuracy": 0.9 + i / 100} for i, k in enumerate(["mlp kd", "mlp ce", "cnn kd", "cnn ce"])}
    table = exp.variant_table(pd.concat(tables), paired, acc, arms)
    assert list(table.index) == [("gradient", "MLP", "with KD"), ("gradient", "MLP", "without KD"),
                                 ("gradient", "CNN", "with KD"), ("gradient", "CNN", "without KD")]
    assert table["test accuracy"].tolist() == pytest.approx([0.90, 0.91, 0.92, 0.93])
    cnn_kd, cnn_ce = table.loc[("gradient", "CNN", "with KD")], table.loc[("gradient", "CNN", "without KD")]
    assert cnn_kd["KD - no KD CI low"] > 0.5                                     # a near-copy against noise
    assert cnn_kd["KD - no KD"] == pytest.approx(paired["CNN"]["gradient"]["mean"])
    assert np.isnan(cnn_ce["KD - no KD"]) and np.isnan(cnn_ce["KD - no KD CI high"])
    assert cnn_kd["rho CI low"] < cnn_kd["rho"] < cnn_kd["rho CI high"]
    mlp = table.loc[("gradient", "MLP", "with KD")]
    assert mlp["KD - no KD CI low"] < 0 < mlp["KD - no KD CI high"]              # two unrelated maps


def test_direction_and_texts_of_a_paired_difference():
    p = lambda lo, hi: {"mean": (lo + hi) / 2, "ci": [lo, hi]}
    assert [exp.direction(p(0.01, 0.03)), exp.direction(p(-0.05, -0.03)), exp.direction(p(-0.01, 0.02))] == [
        "closer", "further", "neither"]
    assert exp.difference_text(p(0.004, 0.020)) == "+0.012 (95% CI +0.004 to +0.020)"
    row = pd.Series({"rho": 0.2478, "rho CI low": 0.2401, "rho CI high": 0.2554})
    assert exp.rho_text(row) == "0.248 [0.240, 0.255]"
