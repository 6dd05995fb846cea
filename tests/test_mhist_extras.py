"""Notebook 03's additions: per-channel saliency similarity, the Q1 block costs and gradient norms,
and the subclass / from-scratch runs' wiring."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from kdcourse import saliency
from kdcourse.experiments import architecture, mhist


def test_channel_rank_correlation_hand_made():
    a = torch.zeros(2, 3, 2, 2)
    a[:, :, 0, 0], a[:, :, 0, 1], a[:, :, 1, 0], a[:, :, 1, 1] = 1.0, 2.0, 3.0, 4.0
    b = a.clone()
    b[:, 1] = -a[:, 1]                       # channel G inverted: rho = -1
    b[1, 2] = torch.tensor([[1.0, 1.0], [2.0, 2.0]])   # ties: ranks 1.5 1.5 3.5 3.5 against 1 2 3 4
    r = saliency.channel_rank_correlation(a, b)
    assert r.shape == (2, 3)
    assert torch.allclose(r[:, 0], torch.ones(2, dtype=r.dtype))
    assert torch.allclose(r[:, 1], -torch.ones(2, dtype=r.dtype))
    assert r[0, 2] == pytest.approx(1.0)
    assert r[1, 2] == pytest.approx(4 / math.sqrt(20))  # (-1.5,-.5,.5,1.5).(-1,-1,1,1) / sqrt(5 * 4)
    c = a.clone()
    c[0, 0] = 7.0                            # a constant map
    assert torch.isnan(saliency.channel_rank_correlation(c, b)[0, 0])
    with pytest.raises(ValueError):
        saliency.channel_rank_correlation(a[0], b[0])


def test_channel_rank_correlation_matches_per_image_on_each_channel():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(5, 3, 4, 4, generator=g), torch.rand(5, 3, 4, 4, generator=g)
    r = saliency.channel_rank_correlation(a, b)
    for c in range(3):
        assert torch.allclose(r[:, c], saliency.rank_correlation(a[:, c], b[:, c]))


def test_paired_difference():
    x, y = torch.tensor([0.5, 0.6, 0.7, 0.8]), torch.tensor([0.4, 0.5, 0.6, 0.7])
    d = saliency.paired_difference(x, y)
    assert d["mean difference"] == pytest.approx(0.1) and d["pairs"] == 4
    assert d["95% CI low"] == pytest.approx(0.1, abs=1e-6) and d["95% CI high"] == pytest.approx(0.1, abs=1e-6)
    d = saliency.paired_difference(torch.tensor([1.0, -1.0, 2.0, -2.0, float("nan")]), torch.zeros(5))
    assert d["pairs"] == 4 and d["95% CI low"] < 0 < d["95% CI high"]


def test_block_costs():
    df = architecture.block_costs(c=8, h=6, t=6)
    c, hw = 8, 36
    assert df.loc["plain 3x3 conv", "flops"] == 2 * 9 * c * c * hw
    assert df.loc["MobileNet-V1 depthwise-separable", "flops"] == 2 * (9 * c + c * c) * hw
    assert df.loc["ResNet v1 basic block", "params"] == df.loc["ResNet v2 pre-activation block", "params"]
    assert df.loc["MobileNet-V2 inverted residual (t=6)", "flops"] == 2 * (6 * c * c + 9 * 6 * c + 6 * c * c) * hw
    for name, make in architecture.BLOCKS.items():
        x = torch.randn(2, c, 6, 6)
        assert make(c)(x).shape == x.shape, name


def test_resnet_v2_has_no_relu_after_the_sum():
    block = architecture.resnet_v2_block(4)
    with torch.no_grad():
        for p in block.body.parameters():
            p.zero_()
    x = -torch.ones(1, 4, 3, 3)
    assert torch.equal(block(x), x)                      # identity: negative values pass
    v1 = architecture.resnet_v1_block(4)
    with torch.no_grad():
        for p in v1.body.parameters():
            p.zero_()
    assert torch.equal(v1(x), torch.zeros_like(x))       # v1's ReLU after the sum


def test_gradient_norms_vanish_without_shortcuts():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 3, 8, 8, generator=g), torch.randint(0, 2, (8,), generator=g)
    df = architecture.gradient_norms(x, y, depths=(2, 24), width=8, seeds=(0,))
    t = df.set_index(["depth", "stack"])["grad_norm"]
    assert t[(24, "plain (f(x))")] < 1e-3 * t[(2, "plain (f(x))")]
    assert t[(24, "residual (x + f(x))")] > 1e3 * t[(24, "plain (f(x))")]


def test_runs_registered_and_subclass_head():
    assert {"teacher", "ce", "kd", "scratch", "subclass_teacher", "subclass_kd"} <= set(mhist.RUNS)
    src = mhist.Seed004()
    assert set(src.table_iii()) == {"subclass teacher", "subclass student"}
    assert src.table_iii()["subclass teacher"][-1] == pytest.approx(0.842726)
    for p in ("paper", "cpu", "smoke"):
        cfg = mhist.PROFILES[p]
        assert cfg.subclasses >= 2 and len(cfg.scratch_seeds) >= 1 and cfg.saliency_images >= 1


def test_subclass_head_trains_the_same_parameters_whether_or_not_the_teacher_was_cached():
    """A TeacherCache switches the teacher's gradients off; the subclass teacher built from it afterwards (the
    notebook's order) must train what a headless run trains, or its checkpoint does not load (found in 03)."""
    from kdcourse.engine import TeacherCache
    from kdcourse.models import transfer
    net = transfer.build("resnet18", 2, pretrained=False, normalize=False).freeze(train_last=1)
    fresh = mhist._subclass_head(net, 0, 6)
    TeacherCache(net)                                   # what the notebook does to its teacher first
    assert not any(p.requires_grad for p in net.parameters())
    cached = mhist._subclass_head(net, 0, 6)
    count = lambda m: sum(p.numel() for p in m.parameters() if p.requires_grad)   # noqa: E731
    assert count(cached) == count(fresh) == sum(p.numel() for p in fresh.parameters()) > 6 * 512
