"""Models of the course.

Issue 2 (MNIST): the ECE1512 teacher CNN and student MLP (seed 004 Task 1).
The student MLP has *more* parameters than the teacher CNN but far fewer
FLOPs, as seed 004 Figs. 4-5 report.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class TeacherCNN(nn.Module):
    """ECE1512 / Keras-tutorial teacher: conv32-pool(s1)-conv64-pool(s2)-dropout-fc128-dropout-fc.

    1,011,466 parameters for 28x28x1 inputs and 10 classes.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 28,
                 dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3), nn.ReLU(), nn.MaxPool2d(2, stride=1),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2, stride=2), nn.Flatten())
        with torch.no_grad():
            flat = self.features(torch.zeros(1, in_channels, image_size, image_size)).shape[1]
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(flat, 128), nn.ReLU(),
                                        nn.Dropout(dropout), nn.Linear(128, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class ConvNet3(nn.Module):
    """Three conv blocks (conv3x3-BN-ReLU-maxpool; 32, 64, 128 channels) and fc256-dropout-fc.

    The stronger MNIST teacher of notebook 02's Hinton setting: trained with +-2 px jitter it makes fewer
    than Hinton et al.'s 67 test errors (their teacher: a 1200-1200 MLP with dropout and jitter, which needs
    far longer training).  For 28 x 28 x 1 inputs: 7.7 M multiply-adds, 390,634 parameters (10 classes).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 28, dropout: float = 0.3):
        super().__init__()
        blocks, width = [], in_channels
        for out in (32, 64, 128):
            blocks += [nn.Conv2d(width, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(),
                       nn.MaxPool2d(2)]
            width = out
        self.features = nn.Sequential(*blocks, nn.Flatten())
        side = image_size // 8   # three 2x2 max-pools, each rounding down
        self.classifier = nn.Sequential(nn.Linear(128 * side * side, 256), nn.ReLU(), nn.Dropout(dropout),
                                        nn.Linear(256, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class MLP(nn.Module):
    """Fully connected network: flatten, then Linear-ReLU per hidden width, then Linear.

    ``MLP(784, (784, 784))`` is the ECE1512 student (1,238,730 parameters);
    ``MLP(784, (1200, 1200))`` and ``MLP(784, (800, 800))`` are Hinton's.
    """

    def __init__(self, in_features: int = 784, hidden: Sequence[int] = (784, 784),
                 num_classes: int = 10, dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def num_classes_of(model: nn.Module) -> int | None:
    """The output width of a model's last Linear layer (None if it has none)."""
    last = None
    for m in model.modules():
        if isinstance(m, nn.Linear):
            last = m
    return last.out_features if last is not None else None
