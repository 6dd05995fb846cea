"""The paper-run guide: a paper run stops before training when its data is missing, warns on a CPU with an
estimate, and its estimates follow the specs (no second table of sizes)."""
import dataclasses

import pytest
import torch

from kdcourse import config, data, experiments
from kdcourse.experiments import guide


def test_a_paper_run_without_its_data_stops_before_any_training(monkeypatch, tmp_path):
    monkeypatch.setenv("KDCOURSE_DATA", str(tmp_path))
    monkeypatch.setenv("KDCOURSE_OFFLINE", "1")
    monkeypatch.delenv("KDCOURSE_DRY", raising=False)
    with pytest.raises(data.DataNotFoundError) as err:
        experiments.start("07_rrd", profile="paper", show=False)
    message = str(err.value)
    assert "stops before any training" in message and "cifar-100-python" in message   # the layout expected
    assert "unset KDCOURSE_OFFLINE" in message                                          # how to fetch it online
    run = config.current()
    assert run is None or run.notebook != "07_rrd"   # the run never began


def test_a_paper_run_on_a_cpu_warns_with_the_estimated_time(monkeypatch):
    monkeypatch.delenv("KDCOURSE_DRY", raising=False)
    with pytest.warns(guide.PaperOnCPUWarning, match=r"02_mnist_kd: the paper profile .* about \d+\.\d h on 2 CPU"):
        guide.preflight("02_mnist_kd", experiments.module("02_mnist_kd").PAPER, torch.device("cpu"))


def test_estimates_follow_the_spec():
    nb = "02_mnist_kd"
    spec = experiments.module(nb).PAPER
    base = guide.work_02(spec, "paper")
    doubled = guide.work_02(dataclasses.replace(spec, student=spec.student.but(epochs=2 * spec.student.epochs),
                                                sweep_epochs=2 * spec.sweep_epochs), "paper")
    assert doubled[0].image_epochs == 2 * base[0].image_epochs
    # 5 seeds x 5 methods (no KD, KD, DKD, DIST, standardized KD) x 12 epochs + 3 alphas x 8 temperatures x 12
    # epochs, of 55,000 images
    assert base[0].image_epochs == (5 * 5 * 12 + 3 * 8 * 12) * 55_000
    est = guide.estimate(nb)
    assert est["paper_tflop"] > guide.tflop(nb, "cpu") > 0 and est["cpu_hours_estimate"] > 0
    assert est["gpu_hours_estimate"] > 0
    assert set(guide.GUIDES) == set(experiments.MODULES) - {"mnist"}


def test_the_guide_command_prints_every_notebook(capsys):
    from kdcourse.__main__ import main
    assert main(["guide"]) == 0
    out = capsys.readouterr().out
    assert all(f"| {nb} |" in out for nb in guide.GUIDES) and "estimates, not measurements" in out
    assert "| 07_rrd | cifar100 |" in out and "| 06_ipkd_teacher_assistants | cifar10, cifar100 |" in out
