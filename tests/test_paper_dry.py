"""Paper-dry (issue 11): the paper specs clipped by one function, synthetic data of the real shapes where the
paper's data set is missing, random weights where ImageNet's are, and nothing of it outside KDCOURSE_DRY=1."""
from __future__ import annotations

import math

import pytest
import torch

from kdcourse import config, data, experiments
from kdcourse.data import DataNotFoundError
from kdcourse.engine import TrainSpec
from kdcourse.experiments.base import DRY_EPOCHS, DRY_ROWS, clip
from kdcourse.models import transfer


@pytest.fixture
def empty_data(tmp_path, monkeypatch):
    monkeypatch.setenv("KDCOURSE_DATA", str(tmp_path))
    monkeypatch.setenv("KDCOURSE_OFFLINE", "1")
    return tmp_path


@pytest.mark.parametrize("notebook", sorted(experiments.MODULES))
def test_clip_keeps_the_paper_and_clips_sizes_epochs_seeds_and_thresholds(notebook):
    paper = experiments.module(notebook).PROFILES["paper"]
    dry = clip(paper)
    assert type(dry) is type(paper)
    for name, value in vars(dry).items():
        old = getattr(paper, name)
        if isinstance(value, TrainSpec):
            assert value.epochs == min(old.epochs, DRY_EPOCHS)
            assert value.but(epochs=old.epochs) == old, "only the epochs of a TrainSpec change"
        elif name.startswith("n_") and (old is None or isinstance(old, int)):
            assert value == (DRY_ROWS if old is None else min(old, DRY_ROWS))
        elif name == "seeds":
            assert tuple(value) == tuple(old)[:2]
        elif name.startswith("min_") and isinstance(old, (int, float)) and not isinstance(old, bool):
            assert value == -math.inf
        elif name.startswith("max_") and isinstance(old, (int, float)) and not isinstance(old, bool):
            assert value == math.inf
        elif name.endswith("_negatives"):   # CRD's negatives come from a bank of the (clipped) training rows
            assert value == min(old, DRY_ROWS // 2) < DRY_ROWS


def test_spec_is_the_clipped_paper_only_under_kdcourse_dry(monkeypatch):
    monkeypatch.delenv("KDCOURSE_DRY", raising=False)
    paper = experiments.spec("02_mnist_kd", "paper")
    assert paper.student.epochs == 12 and config.label("paper") == "paper"
    monkeypatch.setenv("KDCOURSE_DRY", "1")
    assert experiments.spec("02_mnist_kd", "paper") == clip(paper)
    assert experiments.spec("02_mnist_kd", "cpu").student.epochs == 10, "dry changes the paper profile only"
    assert config.label("paper") == "paper-dry" and config.checkpoints_dir("paper").name == "paper-dry"
    assert config.figures_dir("paper").name == "figures-paper-dry"


@pytest.mark.parametrize("load, shape, dtype", [
    (lambda: data.load_cifar("cifar100", "train"), (100, 3, 32, 32), torch.float32),   # one image a class at least
    (lambda: data.load("cifar10", "val", 10), (10, 3, 32, 32), torch.float32),
    (lambda: data.load_mhist("test", 6, allow_standin=False, size=224), (6, 3, 224, 224), torch.uint8),
    (lambda: data.load("imagenet10", "train", 12), (12, 3, 224, 224), torch.float32),
    (lambda: data.load_imagefolder(config.data_dir() / "imagenet10", "val", 224, 3), (10, 3, 224, 224),
     torch.float32),
])
def test_missing_paper_data_is_synthetic_of_the_real_shape_in_a_dry_run(empty_data, monkeypatch, load, shape, dtype):
    with pytest.raises(DataNotFoundError, match="not available|not distributed"):   # says how to get it
        load()
    monkeypatch.setenv("KDCOURSE_DRY", "1")
    d = load()
    assert tuple(d.x.shape) == shape and d.x.dtype == dtype and "synthetic" in d.source
    assert d.y.tolist() == [i % len(d.classes) for i in range(len(d))]


def test_missing_imagenet_weights_are_random_in_a_dry_run_and_an_error_otherwise(empty_data, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(empty_data / "torch"))
    with pytest.raises(transfer.PretrainedWeightsError):
        transfer.build("resnet18", 10, pretrained=True)
    monkeypatch.setenv("KDCOURSE_DRY", "1")
    net = transfer.build("resnet18", 10, pretrained=True)
    assert isinstance(net, transfer.TransferNet) and "random initialisation" in capsys.readouterr().out
