"""The MNIST notebooks' specs (01, 02, 08, 09 and their shared teacher): every profile exists, the paper
profile is pinned to the sources' settings, and the helpers of the experiment modules give hand-worked values."""
import dataclasses
import types

import pandas as pd
import pytest
import torch

from kdcourse import experiments
from kdcourse.engine import TeacherCache, TrainSpec
from kdcourse import data, models
from kdcourse.experiments import mnist, mnist_kd, saliency, subclass, temperature

MODULES = {"mnist": mnist, "01_temperature": temperature, "02_mnist_kd": mnist_kd,
           "08_subclass_distillation": subclass, "09_saliency": saliency}


@pytest.mark.parametrize("notebook", sorted(MODULES))
def test_every_profile_exists_and_is_a_typed_spec(notebook):
    module = MODULES[notebook]
    assert set(module.PROFILES) == {"paper", "cpu", "smoke"}
    assert experiments.module(notebook) is module
    paper = module.PROFILES["paper"]
    assert paper is module.PAPER and dataclasses.is_dataclass(paper)
    for profile, spec in module.PROFILES.items():
        assert type(spec) is type(paper), profile


def test_mnist_teacher_paper_profile_is_the_colab_s():
    # Mueller et al. 2020 / the ECE1512 colab: 12 epochs, Adam, lr 1e-3, batch 256, the whole MNIST split
    p = mnist.PAPER
    assert p.teacher == TrainSpec(epochs=12, batch_size=256, lr=1e-3, optimizer="adam")
    assert (p.n_train, p.n_val, p.n_test) == (None, None, None)
    assert mnist.PROFILES["smoke"].teacher.epochs < p.teacher.epochs


def test_02_paper_profile_is_seed_004_task_1():
    p = mnist_kd.PAPER
    assert (p.best_alpha, p.best_T) == (0.9, 20.0)  # seed 004 Task 1 Q5, read off Fig. 1
    assert p.best_alpha in p.alphas and p.best_T in p.temperatures
    # seed 004: 12 epochs, Adam, lr 1e-3, batch 256; Hinton et al. 2015's small-data setting: 1 % and 3 %
    assert p.student == TrainSpec(epochs=12, batch_size=256, lr=1e-3, optimizer="adam")
    assert p.fractions == (0.01, 0.03) and len(p.seeds) >= 3
    # the small-data runs: batch 32 and twice the epochs, in every profile (the notebook says so)
    for spec in mnist_kd.PROFILES.values():
        assert spec.small.batch_size == 32 and spec.small.epochs == 2 * spec.student.epochs
    # Hinton et al. 2015, sec. 3 (test errors per 10,000) and Table 5 (speech frame accuracy, %)
    assert (p.source_teacher_errors, p.source_student_errors, p.source_kd_errors) == (67, 146, 74)
    assert (p.source_small_soft, p.source_small_hard) == (57.0, 44.5)


def test_02_sources_numbers_and_best_setting_are_the_same_in_every_profile():
    for spec in mnist_kd.PROFILES.values():
        for f in ("best_alpha", "best_T", "source_teacher_errors", "source_student_errors", "source_kd_errors",
                  "source_small_soft", "source_small_hard"):
            assert getattr(spec, f) == getattr(mnist_kd.PAPER, f), f


def test_02_runs_and_labels():
    assert set(mnist_kd.RUNS) == {"ce", "kd", "hinton-teacher", "hinton-ce", "hinton-kd",   # section 8: Hinton's own
                                  "dkd", "dist", "kd_std"}                              # section 8b: issue 14
    with pytest.raises(ValueError, match="Hinton setting has the methods"):
        mnist_kd.hinton_student(types.SimpleNamespace(cfg=mnist_kd.PAPER, profile="smoke"), "fitnets", 0,
                                sets={"train": None, "val": None, "test": None})
    assert mnist_kd.labels(mnist_kd.PAPER) == {"ce": "no KD", "kd": "KD (α=0.9, T=20)"}
    assert mnist_kd.baseline_labels() == {"dkd": "DKD", "dist": "DIST", "kd_std": "KD (standardized)"}
    net, cache = models.MLP(784, (16,)), TeacherCache(models.MLP(784, (16,)))
    dkd = mnist_kd.method("dkd", net, cache, mnist_kd.PROFILES["cpu"])   # the authors' settings, 10 epochs
    assert (dkd.T, dkd.alpha, dkd.beta, dkd.warmup) == (4.0, 1.0, 8.0, 1)
    with pytest.raises(ValueError, match="methods"):
        mnist_kd.method("fitnets", None, None, mnist_kd.PAPER)


def test_02_verdicts_by_hand():
    # fraction 0.05: KD 0.9, 0.8 (mean 0.85, std 0.0707); no KD 0.7, 0.7 -> gain 0.15 > 2 std 0.1414
    # fraction 1.0: KD 0.90, 0.92; no KD 0.91, 0.91 -> gain 0 < 2 std 0.0283: within noise
    rows = [(0.05, "KD", 0, 0.9), (0.05, "KD", 1, 0.8), (0.05, "no KD", 0, 0.7), (0.05, "no KD", 1, 0.7),
            (1.0, "KD", 0, 0.90), (1.0, "KD", 1, 0.92), (1.0, "no KD", 0, 0.91), (1.0, "no KD", 1, 0.91)]
    v = mnist_kd.verdicts(pd.DataFrame(rows, columns=["fraction", "method", "seed", "test_acc"]), "KD", "no KD")
    assert v.loc[0.05, "KD gain"] == pytest.approx(0.15) and v.loc[0.05, "2 std"] == pytest.approx(0.1414, abs=1e-4)
    assert v.loc[0.05, "verdict"] == "KD beats no KD beyond 2 std"
    assert v.loc[1.0, "KD gain"] == pytest.approx(0.0, abs=1e-12) and v.loc[1.0, "verdict"] == "within noise"


def test_02_results_table_quotes_the_sources_from_the_spec():
    t = mnist_kd.results_vs_source(mnist_kd.PAPER, teacher_acc=0.9933, ce=(0.98, 0.001), kd=(0.99, 0.0),
                                   full=(0.01, "KD beats no KD beyond 2 std"), small={0.01: (0.2, "within noise")},
                                   best=(0.5, 8.0), params=1.5, flops=0.125)
    assert t.loc["teacher test errors (per 10k)", "this run"] == "67"
    assert t.loc["teacher test errors (per 10k)", "source"].startswith("67 ")
    assert t.loc["student without KD, test errors (per 10k)", "this run"] == "200 ± 10"
    assert t.loc["KD vs no KD, 0.01 of the training set", "source"].startswith("soft targets 57.0 % vs hard 44.5 %")
    assert t.loc["best (α, T) of the sweep, by mean val accuracy", "source"] == "α = 0.9, T = 20"


def test_08_paper_profile_is_mueller_et_al_2020():
    p = subclass.PAPER
    # Mueller, Kornblith & Hinton 2020, MNIST 0-4 vs 5-9: 12 epochs, Adam, batch 256, 5 subclasses per class
    assert (p.two_class.classes, p.two_class.subclasses) == (2, 5)
    assert (p.ten_class.classes, p.ten_class.subclasses) == (10, 2)          # seed 004 Task 1 Q12
    assert p.teacher == TrainSpec(epochs=12, batch_size=256, lr=1e-3, optimizer="adam")
    assert p.student == TrainSpec(epochs=12, batch_size=256, lr=1e-3, optimizer="adam")
    # their demo colab: beta 1, negative-sampling temperature 1; student alpha 0.5, T 4; >= 3 seeds here
    assert (p.beta, p.T_aux, p.T, p.alpha) == (1.0, 1.0, 4.0, 0.5)
    assert len(p.seeds) >= 3 and len(subclass.PROFILES["cpu"].seeds) >= 3
    # the colab's test accuracies (one run each, last of 12 epochs)
    assert (p.source_teacher_acc, p.source_subclass_kd_acc, p.source_kd_acc, p.source_alone_acc) == \
        (0.9935, 0.9901, 0.9872, 0.9853)
    for spec in subclass.PROFILES.values():
        assert (spec.beta, spec.T_aux, spec.T, spec.alpha) == (p.beta, p.T_aux, p.T, p.alpha)
        assert spec.source_teacher_acc == p.source_teacher_acc


def test_08_runs_name_the_teacher_and_three_students_of_each_layout():
    assert {"teacher-2x5", "ce-2x5", "kd-2x5", "subclass_kd-2x5"} <= set(subclass.RUNS)
    assert {"teacher-10x2", "subclass_kd-10x2"} <= set(subclass.RUNS)
    assert subclass.PAPER.two_class.name == "2 classes x 5 subclasses"


def test_08_relabel_keeps_the_images_and_groups_the_digits():
    d = data.TensorData(torch.zeros(10, 1, 28, 28), torch.arange(10), "mnist", "test", "test",
                        [str(i) for i in range(10)])
    two = subclass.relabel(d, 2)
    assert two.x is d.x and two.y.tolist() == [0] * 5 + [1] * 5 and two.classes == ["0-4", "5-9"]
    assert torch.equal(subclass.relabel(d, 10).y, d.y)
    with pytest.raises(ValueError, match="10 or 2 classes"):
        subclass.relabel(d, 5)


def test_08_shuffle_within_class_keeps_each_class_s_subclass_counts():
    assigned = torch.tensor([0, 0, 1, 2, 5, 6, 6, 7])
    classes = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    out = subclass.shuffled_within_class(assigned, classes, seed=0)
    for c in (0, 1):
        assert sorted(out[classes == c].tolist()) == sorted(assigned[classes == c].tolist())
    assert torch.equal(out, subclass.shuffled_within_class(assigned, classes, seed=0))   # seeded


def test_08_recovery_by_hand():
    # subclasses [0, 0, 1, 1, 2] against digits [5, 5, 5, 6, 6]: purity 4/5, one-to-one 3/5, 3 subclasses used
    r = subclass.recovery({"t": torch.tensor([0, 0, 1, 1, 2])}, torch.tensor([5, 5, 5, 6, 6]))
    assert r.loc["t"].tolist() == pytest.approx([0.8, 0.6, 3])


def test_01_paper_profile_reads_seed_000_s_teacher():
    p = temperature.PAPER
    assert p.T_hist == 4.0                                   # seed 000 section IV-C reads its teacher at T = 4
    assert 1 in p.T_grid and 4 in p.T_grid and list(p.T_grid) == sorted(p.T_grid)
    # seed 000 Figs. 7-8: maximum probabilities "mostly fall between 0.4 and 0.5", entropy peak "around 1.8-1.9"
    assert p.source_confidence == (0.4, 0.5) and p.source_entropy_peak == (1.8, 1.9)
    assert p.brief == TrainSpec(epochs=1, lr=1e-3, batch_size=128) and p.brief_fraction == 0.2
    assert temperature.PROFILES["cpu"] == p                  # the cpu profile is the paper's
    assert set(temperature.RUNS) == {"ce_1epoch"}


def test_01_per_image_grad_norm_by_hand():
    # loss = mean_i (3 s_i0 + 4 s_i1): each image's own gradient is (3, 4), norm 5, whatever the batch size
    s = torch.zeros(7, 2)
    assert temperature.per_image_grad_norm(lambda x: (x @ torch.tensor([3.0, 4.0])).mean(), s) == pytest.approx(5.0)
    assert not s.requires_grad


def test_01_slopes_of_exact_power_laws():
    # without T^2: 1 / T^2 (slope -2); with T^2: constant (slope 0); Hinton: 1 / T^2 as well (ratio 1)
    T = 2.0 ** torch.arange(-2, 10.5, 0.5).double()
    rows = [{"student": "a", "T": float(t), "loss": loss, "grad norm": v}
            for t in T.tolist() for loss, v in (("with", 3.0), ("without", 3.0 / t**2), ("hinton", 3.0 / t**2))]
    r = temperature.slopes(pd.DataFrame(rows), "with", "without", "hinton").loc["a"]
    assert r["slope without T² (T ≥ 256)"] == pytest.approx(-2.0) and r["slope with T² (T ≥ 256)"] == pytest.approx(0.0)
    assert r["with T²: max/min over T ≥ 1"] == pytest.approx(1.0)
    assert r["without T²: max/min over T ≥ 1"] == pytest.approx(1024.0**2)
    assert r["measured / Hinton at T = 1024"] == pytest.approx(1.0)


def test_01_dark_table_by_hand():
    # image 0, digit 0: q1 = (0.7, 0.2, 0.1), q_hi = (0.5, 0.3, 0.2): wrong classes ranked 1 then 2
    q1, q_hi, y = torch.tensor([[0.7, 0.2, 0.1]]), torch.tensor([[0.5, 0.3, 0.2]]), torch.tensor([0])
    d = temperature.dark_table([0], torch.cat([q1, q1]), torch.cat([q_hi, q_hi]), torch.cat([y, y]), 4.0)
    d3 = d.set_index("wrong rank")
    assert d3.loc[1, "wrong class"] == 1 and d3.loc[1, "gain"] == pytest.approx(1.5)
    assert d3.loc[2, "wrong class"] == 2 and d3.loc[2, "gain"] == pytest.approx(2.0)
    assert d3.loc[1, "p(digit), T=4"] == pytest.approx(0.5)


def test_01_dark_picks_run_from_the_median_to_the_most_ambiguous():
    # 2,000 correct images whose wrong-class mass grows with the index: the picks grow from about the median
    n = 2000
    wrong = torch.linspace(0.001, 0.4, n)
    q1 = torch.stack([1 - wrong, wrong], 1)
    y = torch.zeros(n, dtype=torch.long)
    pick = temperature.dark_picks(q1, y, 4)
    assert pick == sorted(pick) and pick[0] == n // 2 and pick[-1] == n - 2


def test_01_confidence_table_quotes_seed_000_from_the_spec():
    conf, H = torch.tensor([0.42, 0.45, 0.9, 0.95]).numpy(), torch.tensor([1.85, 1.0, 0.5, 0.2]).numpy()
    t = temperature.confidence_vs_source(temperature.PAPER, conf, H, 10)
    assert t.iloc[1].tolist() == ["50.0%", "most images"] and t.iloc[3, 0] == "25.0%"
    assert t.iloc[0, 1] == "mostly 0.4-0.5" and t.iloc[2, 1] == "peak at 1.8-1.9"


def test_09_paper_profile_is_seed_004_s_students_and_smilkov_s_noise():
    p = saliency.PAPER
    assert (p.kd_alpha, p.kd_T) == (0.9, 20.0)                # seed 004 Task 1 Q5, as in notebook 02
    assert (p.kd_alpha, p.kd_T) == (mnist_kd.PAPER.best_alpha, mnist_kd.PAPER.best_T)
    assert p.student == TrainSpec(epochs=12, batch_size=256, lr=1e-3, optimizer="adam")   # seed 004's students
    assert p.smoothgrad_sigma == 0.15 and p.smoothgrad_n == 50    # Smilkov et al. 2017: sigma 10-20 %, n ~ 50
    assert (p.rgb_model, p.rgb_size) == ("efficientnet-lite0", 224)
    for name, spec in saliency.PROFILES.items():
        assert spec.n_compare >= spec.min_compare >= 200, name   # enough images for a CI on the mean rho
        assert spec.smoothgrad_sigma == p.smoothgrad_sigma and (spec.kd_alpha, spec.kd_T) == (0.9, 20.0)
    assert set(saliency.RUNS) == {"kd", "ce", "cnn-kd", "cnn-ce"}


def test_09_paired_difference_by_hand():
    # differences 0.1, 0.2, 0.3, -0.2: mean 0.1, KD closer on 3 of 4; t interval mean +- t(0.975, 3) s / 2
    a, b = torch.tensor([0.5, 0.6, 0.7, 0.1]).double(), torch.tensor([0.4, 0.4, 0.4, 0.3]).double()
    p = saliency.paired_difference(a, b)
    s = torch.tensor([0.1, 0.2, 0.3, -0.2]).double().std().item()
    assert p["mean"] == pytest.approx(0.1) and p["kd_closer_on"] == pytest.approx(0.75)
    assert p["ci"][1] - p["mean"] == pytest.approx(3.182446 * s / 2, rel=1e-5)
    assert 0 < p["wilcoxon_p"] <= 1


def test_09_map_table_quotes_seed_004_beside_the_verdict():
    sim = pd.DataFrame({"mean rho": [0.12345, 0.2], "images": [200.0, 200.0]},
                       index=["teacher vs student with KD", "teacher vs student without KD"])
    t = saliency.map_table(sim, "NOT inverted: ...")
    assert t["mean rho"].tolist() == [0.123, 0.2] and t["images"].dtype.kind == "i"
    assert t.iloc[0]["seed 004 (Q13, Fig. 7)"].startswith("inverted:") and t.iloc[1]["seed 004 (Q13, Fig. 7)"] == ""
    assert t["verdict (this run)"].tolist() == ["NOT inverted: ...", ""]


def test_09_channel_correlations_of_identical_and_inverted_channels():
    g = torch.arange(16.0).view(1, 1, 4, 4)
    maps = torch.cat([g, 2 * g + 1, -g], 1)                      # green ranks like red, blue inverted
    c = saliency.channel_correlations({"gradient": maps}, ["photo"]).iloc[0]
    assert (c["red vs green"], c["red vs blue"], c["green vs blue"]) == pytest.approx((1.0, -1.0, -1.0))
