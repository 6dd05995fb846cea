"""Notebook 03, seed 004 Task 2 Q1b-f measured: the blocks of ResNet and MobileNet, and vanishing gradients.

blocks          one block of each kind at the same input / output channels ``c``
                (stride 1): a plain 3x3 convolution, ResNet v1's basic block
                (conv-BN-ReLU, conv-BN, + x, ReLU: He et al. 2016a), ResNet v2's
                pre-activation block (BN-ReLU-conv twice, + x, no ReLU after the
                sum: He et al. 2016b), MobileNet-V1's depthwise-separable
                convolution (3x3 depthwise, 1x1 pointwise, each with BN-ReLU) and
                MobileNet-V2's inverted residual (1x1 expansion by ``t``, 3x3
                depthwise, linear 1x1 projection, + x: Sandler et al. 2018).
block_costs     their parameters and FLOPs (``efficiency.flops``: convolutions and
                linear layers, one multiply-add = 2) at ``c`` channels and ``h`` px.
gradient_norms  the norm of the loss gradient at the first convolution of a deep
                stack of 3x3 convolutions (ReLU, optional BN), with and without an
                identity shortcut around every layer, at initialisation, on a batch.
"""
from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from .. import config, efficiency

Tensor = torch.Tensor


def _cbr(cin: int, cout: int, k: int, groups: int = 1, act: type[nn.Module] | None = nn.ReLU) -> list[nn.Module]:
    layers = [nn.Conv2d(cin, cout, k, padding=k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return layers + ([act()] if act is not None else [])


class Residual(nn.Module):
    """``post(body(x) + x)``: an identity shortcut around ``body`` (``post``: ReLU in v1, nothing in v2)."""

    def __init__(self, body: nn.Module, post: nn.Module | None = None):
        super().__init__()
        self.body, self.post = body, post or nn.Identity()

    def forward(self, x):
        return self.post(self.body(x) + x)


def plain_conv(c: int) -> nn.Module:
    return nn.Sequential(*_cbr(c, c, 3))


def resnet_v1_block(c: int) -> nn.Module:
    return Residual(nn.Sequential(*_cbr(c, c, 3), *_cbr(c, c, 3, act=None)), nn.ReLU())


def resnet_v2_block(c: int) -> nn.Module:
    pre = lambda: [nn.BatchNorm2d(c), nn.ReLU()]
    return Residual(nn.Sequential(*pre(), nn.Conv2d(c, c, 3, padding=1, bias=False),
                                  *pre(), nn.Conv2d(c, c, 3, padding=1, bias=False)))


def mobilenet_v1_block(c: int) -> nn.Module:
    return nn.Sequential(*_cbr(c, c, 3, groups=c), *_cbr(c, c, 1))


def mobilenet_v2_block(c: int, t: int = 6) -> nn.Module:
    return Residual(nn.Sequential(*_cbr(c, t * c, 1, act=nn.ReLU6), *_cbr(t * c, t * c, 3, groups=t * c, act=nn.ReLU6),
                                  *_cbr(t * c, c, 1, act=None)))


BLOCKS = {"plain 3x3 conv": plain_conv, "ResNet v1 basic block": resnet_v1_block,
          "ResNet v2 pre-activation block": resnet_v2_block,
          "MobileNet-V1 depthwise-separable": mobilenet_v1_block,
          "MobileNet-V2 inverted residual (t=6)": mobilenet_v2_block}


def block_costs(c: int = 64, h: int = 28, t: int = 6) -> pd.DataFrame:
    """Parameters and FLOPs of each block of :data:`BLOCKS` at ``c`` -> ``c`` channels on ``h`` x ``h`` px,
    with ratios to the plain 3x3 convolution (the MobileNet-V2 block with expansion ``t``), and a last row:
    a plain 3x3 convolution at ``t * c`` channels, the width inside the MobileNet-V2 block."""
    rows = []
    for name, make in BLOCKS.items():
        block = make(c, t) if make is mobilenet_v2_block else make(c)
        rows.append({"block": name, "params": efficiency.count_params(block),
                     "flops": efficiency.flops(block, (c, h, h)),
                     "3x3 convs": sum(1 for m in block.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)),
                     "shortcut": isinstance(block, Residual)})
    wide = plain_conv(t * c)   # the width at which the V2 block's depthwise convolution works
    rows.append({"block": f"plain 3x3 conv at {t}c (the V2 block's inner width)", "params": efficiency.count_params(wide),
                 "flops": efficiency.flops(wide, (t * c, h, h)), "3x3 convs": 1, "shortcut": False})
    df = pd.DataFrame(rows).set_index("block")
    base = df.loc["plain 3x3 conv"]
    df["params / plain"] = df["params"] / base["params"]
    df["flops / plain"] = df["flops"] / base["flops"]
    return df


def deep_stack(depth: int, width: int = 16, residual: bool = False, bn: bool = False, in_ch: int = 3,
               classes: int = 2) -> nn.Sequential:
    """A stem conv (``in_ch`` -> ``width``), ``depth`` 3x3 conv(-BN)-ReLU layers (each wrapped as x + f(x)
    when ``residual``), global pooling and a linear classifier; PyTorch's default initialisation."""
    layers: list[nn.Module] = [nn.Conv2d(in_ch, width, 3, padding=1)]
    for _ in range(depth):
        f = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), *([nn.BatchNorm2d(width)] if bn else []), nn.ReLU())
        layers.append(Residual(f) if residual else f)
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, classes))


def first_layer_grad_norm(net: nn.Sequential, x: Tensor, y: Tensor) -> float:
    """The L2 norm of d(cross-entropy)/d(weights of the first convolution after the stem) on one batch
    (train mode: batch norm uses the batch's statistics, as in the first training step)."""
    net.train()
    net.zero_grad()
    nn.functional.cross_entropy(net(x), y).backward()
    first = net[1].body[0] if isinstance(net[1], Residual) else net[1][0]
    return float(first.weight.grad.norm())


def gradient_norms(x: Tensor, y: Tensor, depths=(2, 8, 32, 64), width: int = 16, bn: bool = False,
                   seeds=(0, 1, 2)) -> pd.DataFrame:
    """Gradient norm at the first layer of :func:`deep_stack` with and without shortcuts, at initialisation,
    one row per (depth, residual, seed): same seed, same initial weights in both stacks."""
    rows = []
    for depth in depths:
        for residual in (False, True):
            for seed in seeds:
                config.seed_everything(seed)
                net = deep_stack(depth, width, residual, bn, in_ch=x.shape[1])
                rows.append({"depth": depth, "stack": "residual (x + f(x))" if residual else "plain (f(x))",
                             "seed": seed, "grad_norm": first_layer_grad_norm(net, x, y)})
    return pd.DataFrame(rows)
