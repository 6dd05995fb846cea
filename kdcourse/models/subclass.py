"""Subclass heads for subclass distillation (Mueller, Kornblith & Hinton 2020).

:class:`SubclassNet` wraps any network with ``C * s`` outputs (``s`` subclasses
per class; class ``c`` owns outputs ``[c*s, (c+1)*s)``): its forward pass gives
the class logits, ``subclass_logits`` the subclass ones.
:class:`MuellerCNN` is the teacher CNN of Mueller et al.'s MNIST demo.
"""
from __future__ import annotations

import torch
from torch import nn

from ..losses import class_logits_from_subclass
from .mnist import TeacherCNN

Tensor = torch.Tensor


class SubclassNet(nn.Module):
    """A classifier with ``num_classes * subclasses`` subclass outputs.

    ``subclass_logits(x)`` are the backbone's ``C * s`` outputs (class ``c``
    owns ``[c*s, (c+1)*s)``); ``forward(x)`` returns the ``C`` class logits, a
    logsumexp over each class's subclasses, so the network is an ordinary
    classifier wherever one is expected (predict, accuracy, conventional KD,
    saliency).  The subclass distillers (:mod:`kdcourse.distillers.subclass`)
    train on the subclass logits and score the class logits.
    """

    def __init__(self, backbone: nn.Module, num_classes: int, subclasses: int):
        super().__init__()
        if num_classes < 1 or subclasses < 1:
            raise ValueError(f"num_classes and subclasses must be >= 1, got {num_classes} and {subclasses}")
        self.backbone, self.num_classes, self.subclasses = backbone, int(num_classes), int(subclasses)

    @property
    def num_subclasses(self) -> int:
        return self.num_classes * self.subclasses

    def subclass_logits(self, x: Tensor) -> Tensor:
        z = self.backbone(x)
        if z.shape[-1] != self.num_subclasses:
            raise ValueError(f"the backbone gives {z.shape[-1]} outputs but {self.num_classes} classes x "
                             f"{self.subclasses} subclasses need {self.num_subclasses}")
        return z

    def forward(self, x: Tensor) -> Tensor:
        return class_logits_from_subclass(self.subclass_logits(x), self.num_classes)


class MuellerCNN(TeacherCNN):
    """The MNIST teacher of Mueller et al.'s subclass-distillation colab (Google Research, 2021).

    conv32-pool-conv64-pool-dropout-fc128-dropout-fc: :class:`TeacherCNN` with Keras' default first
    pooling (2x2, stride 2 instead of the ECE1512 variant's stride 1), so 5x5x64 features reach the
    dense layer: 225,034 parameters for 10 outputs and about 4x fewer FLOPs than TeacherCNN.
    """

    def __init__(self, num_classes: int = 10, dropout: float = 0.5):
        nn.Module.__init__(self)
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2, stride=2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2, stride=2), nn.Flatten())
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(64 * 5 * 5, 128), nn.ReLU(),
                                        nn.Dropout(dropout), nn.Linear(128, num_classes))
