"""Wide Residual Networks, WRN-d-k (Zagoruyko & Komodakis 2016; seed 002 section 1.1).

A WRN-d-k has depth d and widening factor k: a 3x3 stem convolution with 16
channels, then three groups of N = (d - 4) / 6 pre-activation basic blocks
with 16k, 32k and 64k channels (the second and third groups start with a
stride-2 block), then BN-ReLU, global average pooling and a linear layer.
Each basic block is BN-ReLU-conv3x3-(dropout)-BN-ReLU-conv3x3 plus a shortcut
(a 1x1 convolution of the pre-activated input when the shape changes).

WRN-28-1 has 0.37M parameters on CIFAR-10 (seed 002 Table 1's model),
WRN-16-4 2.75M (the student of seed 002 section 4.2.2, "2.8M").

Differences from seed 002's Keras Listings 1-2, which follow the same paper:
the seed normalises the input with a BN layer and adds a 1x1 convolution to
16k channels before the first group; here the first block's shortcut does
that, as in the authors' PyTorch code, and a final BN-ReLU precedes pooling.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class WideBasicBlock(nn.Module):
    """Pre-activation basic block: BN-ReLU-conv3x3-(dropout)-BN-ReLU-conv3x3 + shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dropout: float = 0.0):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), _conv3x3(cin, cout, stride)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), _conv3x3(cout, cout)
        self.dropout = dropout
        self.shortcut = (nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
                         if stride != 1 or cin != cout else None)

    def forward(self, x):
        o = F.relu(self.bn1(x))
        y = self.conv1(o)
        y = F.relu(self.bn2(y))
        if self.dropout:
            y = F.dropout(y, self.dropout, self.training)
        y = self.conv2(y)
        return y + (self.shortcut(o) if self.shortcut is not None else x)


class WideResNet(nn.Module):
    """WRN-``depth``-``widen`` for small images (CIFAR-style: 32x32, or 28x28 stand-ins).

    ``depth`` must satisfy (depth - 4) % 6 == 0 (10, 16, 22, 28, 40, ...).
    """

    def __init__(self, depth: int = 28, widen: int = 1, num_classes: int = 10, in_channels: int = 3,
                 dropout: float = 0.0):
        super().__init__()
        if not isinstance(depth, int) or depth < 10 or (depth - 4) % 6 != 0:
            raise ValueError(f"WRN depth d must satisfy (d - 4) % 6 == 0 with d >= 10 "
                             f"(e.g. 10, 16, 22, 28, 40), got {depth!r}")
        if not isinstance(widen, int) or widen < 1:
            raise ValueError(f"WRN widening factor k must be an integer >= 1, got {widen!r}")
        self.depth, self.widen = depth, widen
        n = (depth - 4) // 6
        widths = [16, 16 * widen, 32 * widen, 64 * widen]
        self.stem = _conv3x3(in_channels, widths[0])
        blocks, cin = [], widths[0]
        for group, cout in enumerate(widths[1:]):
            for i in range(n):
                blocks.append(WideBasicBlock(cin, cout, stride=2 if group > 0 and i == 0 else 1,
                                             dropout=dropout))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(cin)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = F.relu(self.bn(self.blocks(self.stem(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))

    def extra_repr(self) -> str:
        return f"WRN-{self.depth}-{self.widen}"
