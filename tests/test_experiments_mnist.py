"""The MNIST notebooks' specs (01, 02, 08, 09 and their shared teacher): every profile exists, the paper
profile is pinned to the sources' settings, and the helpers of the experiment modules give hand-worked values."""
import dataclasses

import pandas as pd
import pytest

from kdcourse import experiments
from kdcourse.engine import TrainSpec
from kdcourse.experiments import mnist, mnist_kd

MODULES = {"mnist": mnist, "02_mnist_kd": mnist_kd}


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
    assert set(mnist_kd.RUNS) == {"ce", "kd"}
    assert mnist_kd.labels(mnist_kd.PAPER) == {"ce": "no KD", "kd": "KD (α=0.9, T=20)"}
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
