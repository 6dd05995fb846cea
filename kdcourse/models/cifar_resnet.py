"""CIFAR-style ResNets as in the CRD / RRD code base (seed 001, section 2.2).

``resnet-d`` is a 3x3 stem and three groups of basic blocks (16, 32, 64
channels, strides 1, 2, 2), ``(d - 2) / 6`` blocks a group, global average
pooling and a linear classifier; ``resnet-8x4`` and ``resnet-32x4`` are four
times wider: stem 32, groups 64, 128, 256 (Tian et al.'s RepDistiller
``models/resnet.py``).  The pair resnet32x4 -> resnet8x4 is seed 001's
CIFAR-100 teacher and student (Table 1: 79.42 % and 72.50 %).

The named stages (``conv1``, ``layer1``, ``layer2``, ``layer3``, ``fc``)
are what :mod:`kdcourse.features` reads with forward hooks: ``layer1-3`` are
the feature maps of attention transfer and FitNets, the input of ``fc`` is
the penultimate feature of RRD.  The pooling is adaptive, so the same nets run
on 28x28 stand-ins (``in_channels=1``) as well as on 32x32 CIFAR images.
"""
from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
from torch import nn

WIDTHS = (16, 16, 32, 64)        # resnet-d: stem, group 1, group 2, group 3
WIDTHS_X4 = (32, 64, 128, 256)   # resnet-dx4


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the (projected) input, then ReLU."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class CifarResNet(nn.Module):
    """CIFAR-style ResNet of depth ``6n + 2`` with ``widths = (stem, group1, group2, group3)``."""

    def __init__(self, depth: int, widths: Sequence[int] = WIDTHS, num_classes: int = 100,
                 in_channels: int = 3):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, 56, 110), got {depth}")
        if len(widths) != 4:
            raise ValueError(f"widths must be (stem, group1, group2, group3), got {tuple(widths)}")
        n = (depth - 2) // 6
        self.depth, self.widths = depth, tuple(int(w) for w in widths)
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        planes = widths[0]
        groups = []
        for width, stride in zip(widths[1:], (1, 2, 2)):
            blocks = [BasicBlock(planes, width, stride)] + [BasicBlock(width, width) for _ in range(n - 1)]
            groups.append(nn.Sequential(*blocks))
            planes = width
        self.layer1, self.layer2, self.layer3 = groups
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(planes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.flatten(self.avgpool(x)))

    def extra_repr(self) -> str:
        return f"depth={self.depth}, widths={self.widths}"


def resnet8x4(num_classes: int = 100, in_channels: int = 3) -> CifarResNet:
    """Seed 001's CIFAR-100 student: 8 layers, widths 32-64-128-256 (1.23 M parameters at 100 classes)."""
    return CifarResNet(8, WIDTHS_X4, num_classes, in_channels)


def resnet32x4(num_classes: int = 100, in_channels: int = 3) -> CifarResNet:
    """Seed 001's CIFAR-100 teacher: 32 layers, widths 32-64-128-256 (7.43 M parameters at 100 classes)."""
    return CifarResNet(32, WIDTHS_X4, num_classes, in_channels)
