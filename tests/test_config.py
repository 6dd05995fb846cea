"""config (profile, paths, the current run) and the experiment specs: paper written once, cpu and smoke as
overrides with their reasons, one module per notebook with exactly three typed, frozen profiles."""
import ast
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import kdcourse
from kdcourse import config, experiments
from kdcourse.engine import Selection, TrainSpec
from kdcourse.experiments import base

EXPERIMENTS = Path(experiments.__file__).parent


# --------------------------------------------------------------------------- config: profile and paths
def test_profile_from_environment(monkeypatch):
    monkeypatch.delenv("KDCOURSE_PROFILE", raising=False)
    assert config.profile_name() == "cpu"
    monkeypatch.setenv("KDCOURSE_PROFILE", " Smoke ")
    assert config.profile_name() == "smoke"
    monkeypatch.setenv("KDCOURSE_PROFILE", "laptop")
    with pytest.raises(ValueError, match="KDCOURSE_PROFILE must be one of"):
        config.profile_name()


def test_smoke_figures_never_go_to_figures(monkeypatch):
    monkeypatch.delenv("KDCOURSE_FIGURES", raising=False)
    assert config.figures_dir("cpu") == config.REPO / "figures"
    assert config.REPO / "figures" not in config.figures_dir("smoke").parents
    assert config.figures_dir("paper") == config.REPO / "figures" / "paper"
    monkeypatch.setenv("KDCOURSE_FIGURES", "/tmp/somewhere")
    assert config.figures_dir("cpu") == Path("/tmp/somewhere")


def test_data_and_checkpoint_folders_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KDCOURSE_DATA", str(tmp_path))
    assert config.data_dir() == tmp_path
    assert config.checkpoints_dir("smoke") == tmp_path / "checkpoints" / "smoke"
    monkeypatch.setenv("KDCOURSE_PROFILE", "paper")
    assert config.checkpoints_dir() == tmp_path / "checkpoints" / "paper"
    run = config.Run("02_mnist_kd", "smoke", None, torch.device("cpu"))
    assert run.checkpoints == tmp_path / "checkpoints" / "smoke" / "02_mnist_kd"
    monkeypatch.delenv("KDCOURSE_DATA")
    assert config.data_dir() == config.REPO / "data"


@pytest.mark.parametrize("value, offline", [("1", True), ("true", True), ("YES", True), ("on", True),
                                            ("0", False), ("", False), ("off", False), ("no", False)])
def test_offline_flag(monkeypatch, value, offline):
    monkeypatch.setenv("KDCOURSE_OFFLINE", value)
    assert config.offline() is offline


def test_offline_flag_refuses_other_values(monkeypatch):
    monkeypatch.setenv("KDCOURSE_OFFLINE", "maybe")
    with pytest.raises(ValueError, match="KDCOURSE_OFFLINE must be .* got 'maybe'"):
        config.offline()


# --------------------------------------------------------------------------- experiments.start
def test_start_seeds_records_and_prints_the_settings(capsys):
    run = experiments.start("02_mnist_kd", seed=3, profile="smoke")
    assert run.profile == "smoke" and run.seed == 3 and run.notebook == "02_mnist_kd"
    assert config.current() is run
    assert run.cfg is experiments.module("02_mnist_kd").PROFILES["smoke"]
    assert isinstance(run.cfg.student, TrainSpec)   # a typed spec: attribute access, no dicts
    out = capsys.readouterr().out
    assert "notebook 02_mnist_kd" in out and "profile smoke" in out and "seed 3" in out
    for line in experiments.describe(run.cfg):
        assert line in out
    assert "student = TrainSpec(" in out
    m = run.manifest()
    assert {"profile", "seed", "data_sources", "commit", "versions", "device", "wall_time_s"} <= set(m)


def test_start_seeds_everything():
    experiments.start("mnist", seed=11, profile="smoke", show=False)
    a = torch.rand(3)
    experiments.start("mnist", seed=11, profile="smoke", show=False)
    assert torch.equal(a, torch.rand(3))


def test_start_is_quiet_when_asked(capsys):
    run = experiments.start("mnist", profile="cpu", show=False)
    assert capsys.readouterr().out == "" and config.current() is run


def test_start_reads_the_profile_from_the_environment(monkeypatch):
    monkeypatch.setenv("KDCOURSE_PROFILE", "smoke")
    run = experiments.start("02_mnist_kd", show=False)
    assert run.profile == "smoke" and run.cfg == experiments.spec("02_mnist_kd", "smoke")
    assert experiments.spec("02_mnist_kd") is experiments.module("02_mnist_kd").PROFILES["smoke"]


def test_kdcourse_start_is_experiments_start():
    assert kdcourse.start is experiments.start
    assert not hasattr(config, "start") and not hasattr(config, "PROFILES") and not hasattr(config, "settings")


def test_unknown_profile_and_notebook_are_clear_errors():
    with pytest.raises(ValueError, match="unknown profile 'laptop'"):
        experiments.start("02_mnist_kd", profile="laptop", show=False)
    with pytest.raises(ValueError, match="unknown notebook '99_nothing'"):
        experiments.start("99_nothing", profile="smoke", show=False)
    with pytest.raises(ValueError, match="unknown notebook"):
        experiments.spec("99_nothing", "cpu")
    assert config.current() is None


def test_recorded_sources_do_not_name_the_clone_folder():
    run = experiments.start("02_mnist_kd", seed=0, profile="smoke", show=False)
    fake = SimpleNamespace(name="mnist", source=f"cache {config.REPO / 'data' / 'cache' / 'mnist.pt'} "
                                                f"(from {Path.home() / 'mirror'})")
    run.record_source(fake)
    assert run.manifest()["data_sources"]["mnist"] == "cache data/cache/mnist.pt (from ~/mirror)"


def test_runs_of_a_notebook():
    runs = experiments.runs("02_mnist_kd")
    assert set(runs) == {"ce", "kd", "dkd", "dist", "kd_std", "hinton-teacher", "hinton-ce", "hinton-kd"}
    assert all(callable(f) for f in runs.values())


# --------------------------------------------------------------------------- experiments.base
@dataclass(frozen=True)
class Toy:
    student: TrainSpec
    seeds: tuple[int, ...]
    min_acc: float


PAPER = Toy(TrainSpec(epochs=200, lr=0.05, batch_size=64, optimizer="sgd", milestones=(150, 180)), (0, 1, 2), 0.9)


def test_profiles_apply_cpu_to_paper_and_smoke_to_cpu():
    cpu = base.Override("fewer epochs", {"student.epochs": 20, "seeds": (0, 1), "student.milestones": (10, 15)})
    smoke = base.Override("CI", {"student.epochs": 2, "student.milestones": None, "min_acc": 0.5})
    p = base.profiles(PAPER, cpu=cpu, smoke=smoke)
    assert list(p) == list(base.PROFILE_ORDER) == ["paper", "cpu", "smoke"]
    assert p["paper"] is PAPER                                              # written once, unchanged
    assert p["cpu"] == Toy(PAPER.student.but(epochs=20, milestones=(10, 15)), (0, 1), 0.9)
    # smoke starts from cpu: its seeds are cpu's, not paper's
    assert p["smoke"] == Toy(PAPER.student.but(epochs=2, milestones=None), (0, 1), 0.5)
    assert p["smoke"].student.lr == 0.05 and p["smoke"].student.optimizer == "sgd"


def test_dotted_keys_change_nested_fields_and_are_validated():
    spec = base.replace(PAPER, "student.selection.patience", 5)
    assert spec.student.selection == Selection(patience=5) and spec.student.epochs == 200
    assert base.replace(PAPER, "student.lr", 0.1).student == PAPER.student.but(lr=0.1)
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):   # TrainSpec checks the new value
        base.replace(PAPER, "student.epochs", 0)


@pytest.mark.parametrize("key", ["epochs", "student.epoch", "student.selection.metric", "seeds.count", ""])
def test_unknown_keys_raise_key_error(key):
    with pytest.raises(KeyError, match="has no field"):
        base.apply(PAPER, base.Override("typo", {key: 1}))


def test_describe_has_one_line_per_field():
    lines = base.describe(PAPER)
    assert len(lines) == 3 and lines[0].strip().startswith("student = TrainSpec(epochs=200")
    assert lines[1].strip() == "seeds = (0, 1, 2)"


# --------------------------------------------------------------------------- every notebook's module
def _override_reasons(path: Path) -> list:
    """The reason of every ``Override(...)`` written in a module, as literals (None where not a literal)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Override":
            arg = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "reason"), None)
            try:
                out.append(ast.literal_eval(arg) if arg is not None else None)
            except ValueError:
                out.append(None)
    return out


@pytest.mark.parametrize("notebook", sorted(experiments.MODULES))
def test_every_notebook_has_paper_cpu_and_smoke_as_frozen_dataclasses(notebook):
    profiles = experiments.module(notebook).PROFILES
    assert list(profiles) == ["paper", "cpu", "smoke"], notebook
    kinds = {type(spec) for spec in profiles.values()}
    assert len(kinds) == 1, f"{notebook}: every profile must be the same spec class, got {kinds}"
    for name, spec in profiles.items():
        assert dataclasses.is_dataclass(spec) and not isinstance(spec, type), f"{notebook} {name}"
        assert type(spec).__dataclass_params__.frozen, f"{notebook}: {type(spec).__name__} must be frozen"
        field = dataclasses.fields(spec)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(spec, field, None)
        assert experiments.spec(notebook, name) is spec


@pytest.mark.parametrize("notebook", sorted(experiments.MODULES))
def test_every_override_says_why(notebook):
    path = EXPERIMENTS / f"{experiments.MODULES[notebook]}.py"
    assert path.is_file(), f"{notebook} has no experiment module kdcourse/experiments/{path.name} yet"
    reasons = _override_reasons(path)
    assert len(reasons) >= 2, f"{path.name}: cpu and smoke are each an Override with a reason"
    for reason in reasons:
        assert isinstance(reason, str) and reason.strip(), \
            f"{path.name}: every Override needs a non-empty reason, written as a string literal; got {reason!r}"


def test_override_reasons_are_read_from_the_source(tmp_path):
    # the reader above must see an empty or missing reason, else the test could never fail
    src = tmp_path / "m.py"
    src.write_text('A = Override("", {})\nB = base.Override(reason="  ")\nC = Override(WHY, {})\n'
                   'D = Override("2 cores", {"x": 1})\n')
    assert _override_reasons(src) == ["", "  ", None, "2 cores"]
