"""Streaming data (an image folder read from disk by DataLoader workers) through the same engine.fit."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from kdcourse import config
from kdcourse.data.stream import StreamingData, stream_imagefolder
from kdcourse.distillers import KD, CrossEntropy
from kdcourse.engine import TrainSpec, fit, predict


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 10), ("val", 4)):
        for c, name in enumerate(("ant", "bee")):
            (tmp_path / split / name).mkdir(parents=True)
            for i in range(n):   # class 0 dark, class 1 bright: learnable in an epoch or two
                arr = rng.integers(0, 100, (20, 24, 3), dtype=np.uint8) + 120 * c
                Image.fromarray(arr).save(tmp_path / split / name / f"{i}.png")
    return tmp_path


def tiny_cnn():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))


def test_stream_imagefolder_reads_the_split(folder):
    data = stream_imagefolder(folder, "train", size=16, num_workers=0)
    assert len(data) == 20 and data.classes == ["ant", "bee"] and data.y.tolist() == [0] * 10 + [1] * 10
    idx, x, y = next(iter(data.batches(8)))
    assert x.shape == (8, 3, 16, 16) and x.dtype == torch.float32 and idx.tolist() == list(range(8))
    assert "streamed" in data.source


def test_ranks_read_disjoint_shares_that_cover_the_epoch(folder):
    data = stream_imagefolder(folder, "train", size=16, num_workers=0)
    shares = []
    for rank in range(2):
        gen = torch.Generator().manual_seed(7)   # every rank draws the same epoch seed
        shares.append(torch.cat([idx for idx, _, _ in data.batches(4, True, gen, rank=rank, world=2)]).tolist())
    assert set(shares[0]).isdisjoint(shares[1]) and sorted(shares[0] + shares[1]) == list(range(20))
    assert shares[0] != list(range(0, 20, 2)), "the order must be shuffled"


def test_fit_trains_on_streaming_data_with_workers_as_without(folder):
    spec = TrainSpec(epochs=2, batch_size=4, lr=1e-2)
    results = []
    for workers in (0, 2):
        train = stream_imagefolder(folder, "train", size=16, num_workers=workers)
        val = stream_imagefolder(folder, "val", size=16, num_workers=workers)
        config.seed_everything(0)
        results.append(fit(CrossEntropy(tiny_cnn()), train, val, spec, seed=1, progress=False))
    cols = ["train_total", "val_total", "val_acc"]
    assert results[0].history[cols].equals(results[1].history[cols])
    assert len(predict(results[0].model, val)) == 8


def test_kd_on_streaming_data_runs_the_teacher_live(folder):
    train = stream_imagefolder(folder, "train", size=16, num_workers=0)
    val = stream_imagefolder(folder, "val", size=16, num_workers=0)
    config.seed_everything(0)
    teacher, student = tiny_cnn(), tiny_cnn()
    calls = []
    teacher.register_forward_hook(lambda m, a, o: calls.append(len(a[0])))
    res = fit(KD(student, teacher, T=4.0, alpha=0.5), train, val, TrainSpec(epochs=1, batch_size=4), progress=False)
    assert np.isfinite(res.history["val_kd"]).all()
    assert calls.count(4) >= 5, "the teacher ran on each training batch of 4 (no cache for streamed data)"


def test_streaming_data_rejects_mismatched_targets():
    with pytest.raises(ValueError, match="targets"):
        StreamingData([(torch.zeros(1), 0)] * 3, "x", "train", "here", ["a"], [0, 0])
