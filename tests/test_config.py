"""Profiles: the paper profile is pinned to the source reports' tables."""
from pathlib import Path
from types import SimpleNamespace

import pytest

from kdcourse import config


def test_paper_profile_matches_seed_000_tables_i_and_ii():
    s = config.settings("04_resnet34_to_resnet18", "paper")
    assert (s["T"], s["alpha"], s["image_size"]) == (4.0, 0.7, 224)
    # Table I (teacher): lr 0.001, Adam, weight decay 1e-4, step 10, gamma 0.1, batch 128, 20 epochs, patience 5
    assert s["teacher"] == dict(optimizer="adam", lr=1e-3, weight_decay=1e-4, step_size=10, gamma=0.1,
                                batch_size=128, epochs=20, patience=5, pretrained=True)
    # Table II (student): 80 epochs, Adam, lr 0.001, batch 64, patience 10, StepLR x0.5 every 10 epochs
    assert s["student"] == dict(optimizer="adam", lr=1e-3, weight_decay=1e-4, step_size=10, gamma=0.5,
                                batch_size=64, epochs=80, patience=10, pretrained=False)


def test_paper_profile_matches_seed_004():
    s = config.settings("02_mnist_kd", "paper")
    assert s["best"] == dict(alpha=0.9, T=20.0)  # Task 1 Q5
    assert 0.9 in s["alphas"] and 20 in s["temperatures"]
    m = config.settings("03_mhist_transfer_kd", "paper")
    assert (m["alpha"], m["T"], m["sweep_alpha"]) == (0.4, 2.0, 0.5)  # Table I; Fig. 8
    assert (m["teacher_arch"], m["student_arch"]) == ("resnet50", "mobilenet_v2")


def test_a_notebook_with_a_smoke_profile_has_all_three():
    for notebook, rows in config.PROFILES.items():
        if "smoke" in rows:
            assert set(rows) == set(config.PROFILE_NAMES), notebook


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv("KDCOURSE_PROFILE", "smoke")
    assert config.profile_name() == "smoke"
    monkeypatch.setenv("KDCOURSE_PROFILE", "laptop")
    with pytest.raises(ValueError, match="KDCOURSE_PROFILE must be one of"):
        config.profile_name()


def test_unknown_notebook_and_settings_are_copies(monkeypatch):
    with pytest.raises(ValueError, match="no settings for '99_nothing'"):
        config.settings("99_nothing", "cpu")
    monkeypatch.setitem(config.PROFILES, "99_paper_only", {"paper": {}})
    with pytest.raises(ValueError, match="has no 'smoke' profile yet"):
        config.settings("99_paper_only", "smoke")
    s = config.settings("mnist", "cpu")
    s["teacher"]["epochs"] = 999
    assert config.settings("mnist", "cpu")["teacher"]["epochs"] != 999


def test_smoke_figures_never_go_to_figures(monkeypatch):
    monkeypatch.delenv("KDCOURSE_FIGURES", raising=False)
    assert config.figures_dir("cpu") == config.REPO / "figures"
    assert config.REPO / "figures" not in config.figures_dir("smoke").parents


def test_start_seeds_and_records(monkeypatch, capsys):
    run = config.start("01_temperature", seed=3, profile="smoke")
    assert run.profile == "smoke" and run.seed == 3 and config.current() is run
    assert "profile smoke" in capsys.readouterr().out
    m = run.manifest()
    assert {"profile", "seed", "data_sources", "commit", "versions", "device", "wall_time_s"} <= set(m)


def test_recorded_sources_do_not_name_the_clone_folder():
    run = config.start("01_temperature", seed=0, profile="smoke", show=False)
    fake = SimpleNamespace(name="mnist", source=f"cache {config.REPO / 'data' / 'cache' / 'mnist.pt'} "
                                                f"(from {Path.home() / 'mirror'})")
    run.record_source(fake)
    assert run.manifest()["data_sources"]["mnist"] == "cache data/cache/mnist.pt (from ~/mirror)"
