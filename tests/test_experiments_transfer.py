"""The transfer-learning notebooks' specs (03 MHIST, 04 ResNet34 -> ResNet18): every profile exists, the
paper profile is pinned to the sources' settings and numbers, the offline profiles keep the settings they had
before the specs were typed, and the modules' runs and helpers do what the notebooks rely on."""
import dataclasses

import pandas as pd
import pytest
import torch

from kdcourse import config, experiments
from kdcourse.data import TensorData
from kdcourse.distillers import DIST, DKD, KD, CrossEntropy, StandardizedKD
from kdcourse.engine import Selection, TrainSpec
from kdcourse.experiments import mhist, resnet

MODULES = {"03_mhist_transfer_kd": mhist, "04_resnet34_to_resnet18": resnet}


@pytest.mark.parametrize("notebook", sorted(MODULES))
def test_every_profile_exists_and_is_a_typed_spec(notebook):
    module = MODULES[notebook]
    assert set(module.PROFILES) == {"paper", "cpu", "smoke"}
    assert experiments.module(notebook) is module
    assert module.PROFILES["paper"] is module.PAPER and dataclasses.is_dataclass(module.PAPER)
    for profile, spec in module.PROFILES.items():
        assert type(spec) is type(module.PAPER), profile
    extra = {"03_mhist_transfer_kd": {"scratch", "subclass_teacher", "subclass_kd",    # Q3's baseline, Table III
                                      "ce-fewer", "kd-fewer"},                         # issue 13's variant
             "04_resnet34_to_resnet18": {"pretrain",                                  # the stand-in's ImageNet
                                         "dkd", "dist", "kd_std",                     # issue 14's logit losses
                                         "dkd_imagenet"}}.get(notebook, set())        # DKD's setting for the pair
    assert set(experiments.runs(notebook)) == {"teacher", "ce", "kd"} | extra


# --------------------------------------------------------------------------- 04: seed 000
def test_04_paper_profile_matches_seed_000_tables_i_and_ii():
    s = resnet.PAPER
    assert (s.T, s.alpha, s.image_size) == (4.0, 0.7, 224)
    # seed 000: the 10-class ImageNet subset (an image folder), Table IV latency at 224 px
    assert (s.data, s.folder, s.latency_size) == ("imagefolder", "imagenet10", 224)
    # Table I (teacher): lr 0.001, Adam, weight decay 1e-4, step 10, gamma 0.1, batch 128, 20 epochs, patience 5,
    # fine-tuned from ImageNet weights
    assert s.teacher == TrainSpec(optimizer="adam", lr=1e-3, weight_decay=1e-4, step_size=10, gamma=0.1,
                                  batch_size=128, epochs=20, selection=Selection("val_acc", "val_total", 5))
    assert s.teacher_pretrained
    # Table II (student): 80 epochs, Adam, lr 0.001, batch 64, patience 10, StepLR x0.5 every 10 epochs, from scratch
    assert s.student == TrainSpec(optimizer="adam", lr=1e-3, weight_decay=1e-4, step_size=10, gamma=0.5,
                                  batch_size=64, epochs=80, selection=Selection("val_acc", "val_total", 10))
    assert not s.student_pretrained
    # section III-E: the dual-metric early stop, best validation accuracy with ties broken by the loss
    assert (s.teacher.selection.primary, s.teacher.selection.secondary) == ("val_acc", "val_total")


def test_04_sources_numbers():
    src = resnet.PAPER.source
    # Table III
    assert (src.teacher_val_acc, src.teacher_val_loss, src.student_val_acc, src.student_val_loss) == \
        (98.23, 0.0610, 89.81, 0.7094)
    # section III-C: 780 / 260 / 260 images per class; Table IV and the abstract
    assert src.images_per_class == (780, 260, 260)
    assert (src.params_m, src.size_mb, src.ms_per_image, src.abstract_speedup) == \
        ((21.8, 11.7), (83.3, 44.7), (95.77, 75.97), 2.4)
    # Table IV's rows as the notebook shows them; 95.77 / 75.97 = 1.26
    assert src.table_iv() == ["21.8 / 83.3 / 95.77", "11.7 / 44.7 / 75.97", "1.86 / 1.86 / 1.26"]
    assert all(spec.source == src for spec in resnet.PROFILES.values())


def test_04_offline_profiles_are_the_settings_they_had():
    for profile, seeds in (("smoke", (0, 1)), ("cpu", (0, 1, 2))):   # the report's KD settings, on the stand-in
        s = resnet.PROFILES[profile]
        assert (s.T, s.alpha, s.data, s.image_size, s.seeds, s.latency_size) == (4.0, 0.7, "standin", 32, seeds, 224)
        assert not s.teacher_pretrained and not s.student_pretrained   # ImageNet weights for ResNets are online only
    # ... so the teacher's head start is pre-training on the stand-in's other 49,600 images, a clear lead required
    # 3 epochs (2 left a 2.4-point lead), the last at a tenth of the lr
    assert resnet.PROFILES["cpu"].teacher_pretrain == TrainSpec(epochs=3, lr=1e-3, batch_size=128, optimizer="adam",
                                                                weight_decay=1e-4, step_size=2, gamma=0.1)
    assert (resnet.PROFILES["cpu"].n_pretrain, resnet.PROFILES["cpu"].min_teacher_lead) == (None, 0.03)
    assert resnet.PAPER.teacher_pretrain is None   # the paper's teacher starts from ImageNet weights
    cpu, smoke = resnet.PROFILES["cpu"], resnet.PROFILES["smoke"]
    base = dict(optimizer="adam", lr=1e-3, weight_decay=1e-4)
    # the fine-tuning at a tenth of Table I's lr (at 1e-3 one epoch undid the pre-training)
    assert cpu.teacher == TrainSpec(**{**base, "lr": 1e-4}, step_size=1, gamma=0.1, batch_size=128, epochs=2,
                                    selection=Selection("val_acc", "val_total", 2))
    assert cpu.student == TrainSpec(**base, step_size=1, gamma=0.5, batch_size=64, epochs=4,
                                    selection=Selection("val_acc", "val_total", 3))
    assert smoke.teacher == TrainSpec(**{**base, "lr": 1e-4}, step_size=1, gamma=0.5, batch_size=16, epochs=2,
                                      selection=Selection("val_acc", "val_total", 5))   # cpu's fine-tuning lr
    assert smoke.student == TrainSpec(**base, step_size=1, gamma=0.5, batch_size=16, epochs=2,
                                      selection=Selection("val_acc", "val_total", 10))
    assert (cpu.n_train, cpu.latency_reps, cpu.latency_rounds) == (None, 10, 3)
    assert (smoke.n_train, smoke.n_val, smoke.n_test, smoke.latency_reps, smoke.latency_rounds) == (200, 100, 200, 3, 1)
    # the quality floors of the old THRESH dict, per profile
    floors = lambda s: (s.min_teacher_val_acc, s.min_student_val_acc, s.min_agreement, s.max_median_confidence)
    assert floors(resnet.PAPER) == (0.95, 0.85, 0.85, 0.9)
    assert floors(cpu) == (0.85, 0.84, 0.85, 0.9)
    assert floors(smoke) == (0.25, 0.20, 0.20, 0.9)


def test_04_checkpoint_names_are_the_notebooks():
    assert resnet.teacher_checkpoint(0) == "teacher_resnet34.pt"
    assert resnet.teacher_checkpoint(2) == "teacher_resnet34_seed2.pt"
    assert resnet.teacher_checkpoint(0, pretrained=True) == "teacher_resnet34_pretrain_ft.pt"
    net, cfg = torch.nn.Linear(2, 2), resnet.PAPER
    kd = resnet.method("kd", net, torch.nn.Linear(2, 2), cfg)
    assert isinstance(kd, KD) and (kd.T, kd.alpha) == (4.0, 0.7)
    assert type(resnet.method("ce", net, None, cfg)) is CrossEntropy
    with pytest.raises(ValueError, match="notebook 04 has the methods"):
        resnet.method("fitnets", net, None, cfg)
    table = resnet.settings_table(resnet.PROFILES["cpu"], "cpu")
    assert table.loc["epochs"].tolist() == ["2", "4", "20", "80"]   # the teacher's 2: fine-tuning after pre-training
    assert table.loc["patience"].tolist() == ["2", "3", "5", "10"]


def test_04_teacher_pretrains_on_the_other_images_then_fine_tunes_from_those_weights(tmp_path, monkeypatch):
    run = _run(resnet, "04_resnet34_to_resnet18", tmp_path, monkeypatch, teacher_pretrain=TrainSpec(epochs=1, batch_size=8),
               teacher=TrainSpec(epochs=1, batch_size=8, lr=1e-12))   # fine-tuning all but leaves the weights alone
    extra = _images(24, 2, 3)
    monkeypatch.setattr(resnet.data, "imagenet10_standin", lambda split, size, n: extra if split == "pretrain" else None)
    sets = {"train": _images(16, 2, 0), "val": _images(8, 2, 1), "test": _images(8, 2, 2)}
    pre = resnet.RUNS["pretrain"](run, seed=0, sets=sets)
    assert len(pre.history) == 1
    tuned = resnet.RUNS["teacher"](run, seed=0, sets=sets)
    assert {p.name for p in run.checkpoints.glob("*.pt")} == {"teacher_resnet34_pretrain_seed0.pt",
                                                              "teacher_resnet34_pretrain_ft.pt"}
    # the fine-tuned teacher starts from the pre-trained weights (with a tiny lr it keeps them, BN statistics aside)
    before, after = pre.model.state_dict(), tuned.model.state_dict()
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before if "running" not in k and "num_batches" not in k)
    no_standin = dataclasses.replace(run.cfg, data="imagefolder")
    with pytest.raises(ValueError, match="needs data='standin'"):
        resnet.pretrain(config.Run(run.notebook, "smoke", no_standin, torch.device("cpu")), 0, sets)


def _images(n, classes, seed, size=32, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.rand(n, 3, size, size, generator=g) + y.view(-1, 1, 1, 1) / classes
    x = (x * 120).to(torch.uint8) if dtype == torch.uint8 else x
    return TensorData(x, y, "tiny", "train", "test", [str(c) for c in range(classes)])


def _run(module, notebook, tmp_path, monkeypatch, **changes):
    monkeypatch.setenv("KDCOURSE_DATA", str(tmp_path))
    cfg = dataclasses.replace(module.PROFILES["smoke"], **changes)
    return config.Run(notebook, "smoke", cfg, torch.device("cpu"))


def test_04_runs_train_once_and_a_second_call_loads_the_checkpoint(tmp_path, monkeypatch):
    run = _run(resnet, "04_resnet34_to_resnet18", tmp_path, monkeypatch, teacher_pretrain=None,
               teacher=TrainSpec(epochs=1, batch_size=8), student=TrainSpec(epochs=1, batch_size=8))
    sets = {"train": _images(16, 2, 0), "val": _images(8, 2, 1), "test": _images(8, 2, 2)}
    first = resnet.RUNS["ce"](run, seed=0, sets=sets)    # trains the teacher first, then the student
    assert {p.name for p in run.checkpoints.glob("*.pt")} == {"teacher_resnet34.pt", "student_resnet18_ce_seed0.pt"}
    again = resnet.RUNS["ce"](run, seed=0, sets=sets)
    assert again.resumed_from == 1 and again.history.equals(first.history)
    assert all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()))


def test_04_kd_run_with_a_batch_norm_teacher(tmp_path, monkeypatch):
    run = _run(resnet, "04_resnet34_to_resnet18", tmp_path, monkeypatch, teacher_pretrain=None,
               teacher=TrainSpec(epochs=1, batch_size=8), student=TrainSpec(epochs=1, batch_size=8))
    sets = {"train": _images(16, 2, 0), "val": _images(8, 2, 1), "test": _images(8, 2, 2)}
    res = resnet.RUNS["kd"](run, seed=0, sets=sets)
    assert (run.checkpoints / "student_resnet18_kd_seed0.pt").exists() and "train_kd" in res.history


# --------------------------------------------------------------------------- 03: seed 004 Task 2
def test_03_paper_profile_is_seed_004_task_2():
    m = mhist.PAPER
    # seed 004 Task 2: ResNet50 -> MobileNetV2 at 224 px, new heads on frozen ImageNet backbones (Q1a);
    # Table I at alpha 0.4, T 2; Fig. 8 sweeps T at alpha 0.5
    assert (m.teacher_arch, m.student_arch, m.teacher_size, m.student_size) == ("resnet50", "mobilenet_v2", 224, 224)
    assert (m.teacher_train_last, m.student_train_last) == (0, 0)
    assert (m.alpha, m.T, m.sweep_alpha) == (0.4, 2.0, 0.5) and 1 in m.temperatures
    # Listing 3 keeps the epoch of the lowest held-out loss (on validation here, never on test)
    for spec in (m.teacher, m.student):
        assert spec.selection == Selection(primary="val_total", secondary=None, patience=None)
    assert not m.allow_standin and m.val_fraction == 0.15
    for profile in ("smoke", "cpu"):   # the offline rows keep the report's KD settings
        s = mhist.PROFILES[profile]
        assert (s.alpha, s.T, s.sweep_alpha) == (0.4, 2.0, 0.5) and s.allow_standin
        assert (s.teacher_arch, s.student_arch) == ("efficientnet_lite2", "efficientnet_lite0")


def test_03_sources_numbers():
    src = mhist.PAPER.source
    # MHIST's partition (Wei et al. 2021): 1,545 HP + 630 SSA training, 617 HP + 360 SSA test images
    assert src.partition == ((1545, 630), (617, 360))
    # Tables I-II (SSA accuracy, HP accuracy, overall accuracy, F1 SSA, F1 HP, weighted F1)
    assert src.table() == {
        "teacher": [272 / 360, 537 / 617, 809 / 977, 0.764045, 0.864734, 0.827633],
        "student, KD (α=0.4, T=2)": [179 / 360, 545 / 617, 724 / 977, 0.585925, 0.811616, 0.728454],
        "student, no KD": [158 / 360, 561 / 617, 719 / 977, 0.550523, 0.813043, 0.716311]}
    assert src.rows[0] == "Test Accuracy (SSA)" and src.rows[-1] == "Weighted F1 Score" and src.best_T == 1.0
    assert all(spec.source == src for spec in mhist.PROFILES.values())


def test_03_offline_profiles_are_the_settings_they_had():
    cpu, smoke = mhist.PROFILES["cpu"], mhist.PROFILES["smoke"]
    sel = Selection("val_total", None)
    assert (cpu.teacher, cpu.student) == (TrainSpec(epochs=12, lr=1e-3, batch_size=64, selection=sel),
                                          TrainSpec(epochs=30, lr=1e-3, batch_size=64, selection=sel))
    assert (cpu.teacher_size, cpu.student_size, cpu.teacher_train_last, cpu.student_train_last) == (112, 96, 1, 0)
    assert (cpu.seeds, cpu.temperatures) == ((0, 1, 2, 3, 4), (1, 2, 4, 8, 16, 32))
    assert (cpu.latency_reps, cpu.n_train) == (20, None)
    assert (smoke.teacher, smoke.student) == (TrainSpec(epochs=4, lr=1e-3, batch_size=32, selection=sel),
                                              TrainSpec(epochs=4, lr=1e-3, batch_size=32, selection=sel))
    assert (smoke.teacher_size, smoke.student_size) == (48, 40)
    assert (smoke.teacher_train_last, smoke.student_train_last) == (0, 0)
    assert (smoke.n_train, smoke.n_val, smoke.n_test, smoke.seeds, smoke.temperatures, smoke.latency_reps) == \
        (150, 60, 150, (0, 1), (1, 4), 3)
    assert mhist.PAPER.teacher == TrainSpec(epochs=30, lr=1e-3, batch_size=32, selection=sel)
    # the quality floors of the old THRESH dict, per profile
    floors = lambda s: (s.min_teacher_wf1, s.min_student_wf1, s.min_kd_gain, s.min_minority_acc)
    assert floors(mhist.PAPER) == (0.78, 0.68, -0.03, 0.60)
    assert floors(cpu) == (0.84, 0.82, -0.02, 0.70)
    assert floors(smoke) == (0.60, 0.55, -0.10, 0.30)


def test_03_scores_by_hand():
    # 5 images: 3 of class 0 (HP), 2 of class 1 (SSA); predicted 0, 0, 1 | 1, 0
    logits = torch.tensor([[2.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 3.0], [1.0, 0.5]])
    y = torch.tensor([0, 0, 0, 1, 1])
    s = mhist.scores(logits, y, ["HP", "SSA"])
    assert list(s) == ["Test Accuracy (SSA)", "Test Accuracy (HP)", "Test Accuracy (Overall)", "F1 Score (SSA)",
                       "F1 Score (HP)", "Weighted F1 Score"]   # seed 004's row order, the minority first
    # HP: precision 2/3, recall 2/3, F1 2/3; SSA: precision 1/2, recall 1/2, F1 1/2; weighted (3 * 2/3 + 2 * 1/2) / 5
    expected = [1 / 2, 2 / 3, 3 / 5, 1 / 2, 2 / 3, 3 / 5]
    assert list(s.values()) == pytest.approx(expected)


def test_03_side_by_side_puts_the_reports_numbers_beside_ours():
    runs = pd.DataFrame([{"model": "teacher", "seed": s, **dict(zip(mhist.Seed004().rows, [0.5 + s / 10] * 6))}
                         for s in (0, 1)])
    stats = runs.groupby("model", sort=False)[list(mhist.Seed004().rows)].agg(["mean", "std"])
    table = mhist.side_by_side(stats, ["teacher"], ["teacher"], mhist.Seed004(), "stand-in, 2 seeds")
    assert list(table.columns) == ["teacher (stand-in, 2 seeds)", "teacher (seed 004, MHIST)"]
    assert table.iloc[0].tolist() == ["0.550 ± 0.071", "0.756"]      # 272 / 360 = 0.7556
    assert table.index[-1] == "Weighted F1 Score" and table.iloc[-1, 1] == "0.828"


def test_03_methods_and_unknown_names():
    with pytest.raises(ValueError, match="notebook 03 has the methods"):
        mhist.method("at", None, 2.0, 0.4)


def test_03_runs_checkpoint_and_a_headless_call_loads_the_notebooks_run(tmp_path, monkeypatch):
    run = _run(mhist, "03_mhist_transfer_kd", tmp_path, monkeypatch, teacher_size=32, student_size=32,
               teacher=TrainSpec(epochs=2, batch_size=8, selection=mhist.LOWEST_VAL_LOSS),
               student=TrainSpec(epochs=2, batch_size=8, selection=mhist.LOWEST_VAL_LOSS))
    sets = {s: _images(n, 2, i, size=28, dtype=torch.uint8) for i, (s, n) in enumerate((("train", 16), ("val", 8),
                                                                                         ("test", 8)))}
    m = mhist.setup(run, sets)
    assert m.T_feat["train"].x.shape == (16, 1280) and m.S_feat["train"].x.shape == (16, 1280)
    kd = mhist.RUNS["kd"](run, seed=1, shared=m)      # the first seed's teacher is trained, then the student
    assert {p.name for p in run.checkpoints.glob("*.pt")} == {"teacher-seed0.pt", "student-kd-seed1.pt"}
    assert {"train_kd", "val_kd"} <= set(kd.history)
    sweep = mhist.student(run, "kd", 1, m, T=4.0, alpha=0.5)
    assert (run.checkpoints / "student-kd-T4-alpha0.5-seed1.pt").exists() and sweep.resumed_from == 0
    headless = mhist.RUNS["kd"](run, seed=1, shared=mhist.setup(run, sets))   # a fresh process's call
    assert headless.resumed_from == 2 and headless.history.equals(kd.history)


def test_04_newer_logit_methods_with_their_authors_settings():
    cfg = resnet.PROFILES["cpu"]
    net, cache = torch.nn.Linear(4, 10), torch.nn.Linear(4, 10)     # any module stands for the teacher here
    built = {name: resnet.method(name, net, cache, cfg) for name in ("dkd", "dist", "kd_std")}
    assert type(built["dkd"]) is DKD and (built["dkd"].T, built["dkd"].alpha, built["dkd"].beta) == (4.0, 1.0, 8.0)
    assert built["dkd"].warmup == 1          # mdistiller's 20 of 240 epochs, scaled to 4 epochs (at least 1)
    assert resnet.method("dkd", net, cache, resnet.PAPER).warmup == 7    # 80 epochs * 20 / 240
    assert type(built["dist"]) is DIST and (built["dist"].T, built["dist"].beta, built["dist"].gamma) == (1.0, 1.0, 1.0)
    assert type(built["kd_std"]) is StandardizedKD and (built["kd_std"].T, built["kd_std"].kd,
                                                         built["kd_std"].ce) == (2.0, 9.0, 0.1)
    assert {"ce", "kd", "dkd", "dist", "kd_std"} <= set(resnet.RUNS)       # each a headless run
