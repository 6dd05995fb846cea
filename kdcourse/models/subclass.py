"""Subclass heads for subclass distillation (Mueller, Kornblith & Hinton 2020).

:class:`SubclassNet` wraps any network with ``C * s`` outputs (``s`` subclasses
per class; class ``c`` owns outputs ``[c*s, (c+1)*s)``) so that the one
training loop, :func:`kdcourse.train.fit`, can train and score it unchanged.
:class:`MuellerCNN` is the teacher CNN of Mueller et al.'s MNIST demo.
"""
from __future__ import annotations

import torch
from torch import nn

from ..losses import class_logits_from_subclass, subclass_kd_objective, subclass_teacher_loss
from .mnist import TeacherCNN

Tensor = torch.Tensor


class SubclassNet(nn.Module):
    """A network with ``num_classes * subclasses`` outputs, seen by ``fit`` as a classifier.

    ``forward(x)`` returns ``cat([class_logits, subclass_logits], dim=1)``, of
    shape ``(B, C + C*s)``; :meth:`split` takes it apart again.  Why the
    concatenation: ``fit`` scores accuracy as ``argmax(output) == y``, and a class
    logit is a logsumexp over its subclasses, hence >= each of them (also in
    floating point: logsumexp = max + log(1 + ...)).  So the argmax of the
    concatenation always falls in the first C columns (ties go to the first
    index, a class column) and equals the argmax of the class logits: ``fit``'s
    accuracy *is* the class accuracy, and the objectives still see the
    subclass logits.
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
        z = self.subclass_logits(x)
        return torch.cat([class_logits_from_subclass(z, self.num_classes), z], dim=1)

    def split(self, out: Tensor) -> tuple[Tensor, Tensor]:
        """(class logits (B, C), subclass logits (B, C*s)) from the output of :meth:`forward`."""
        if out.shape[-1] != self.num_classes + self.num_subclasses:
            raise ValueError(f"expected {self.num_classes + self.num_subclasses} columns (class + subclass "
                             f"logits), got {out.shape[-1]}")
        return out[:, :self.num_classes], out[:, self.num_classes:]

    def class_view(self) -> "ClassLogits":
        """This network seen as a plain C-class classifier (for conventional KD from its class logits)."""
        return ClassLogits(self)

    # ------------------------------------------------------------------ objectives for fit()
    def teacher_objective(self, beta: float = 1.0, T_aux: float = 1.0):
        """fit objective of a subclass teacher: CE(y, class logits) + beta * L_aux(subclass logits)."""
        from ..train import Objective

        def fn(out, y, t=None):
            return subclass_teacher_loss(self.split(out)[1], y, self.num_classes, beta, T_aux)
        return Objective(f"subclass_teacher(C={self.num_classes}, s={self.subclasses}, beta={beta:g}, "
                         f"T_aux={T_aux:g})", fn, needs_teacher=False)

    def distillation_objective(self, T: float, alpha: float):
        """fit objective of a subclass student of a SubclassNet teacher with the same layout:
        alpha * T^2 KL over subclasses + (1 - alpha) * CE(y, class logits)."""
        from ..train import Objective

        def fn(out, y, t):
            return subclass_kd_objective(self.split(out)[1], self.split(t)[1], y, self.num_classes, T, alpha)
        return Objective(f"subclass_kd(C={self.num_classes}, s={self.subclasses}, T={T:g}, alpha={alpha:g})",
                         fn, needs_teacher=True)


class ClassLogits(nn.Module):
    """The class logits (logsumexp over each class's subclasses) of a :class:`SubclassNet`."""

    def __init__(self, net: SubclassNet):
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return class_logits_from_subclass(self.net.subclass_logits(x), self.net.num_classes)


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
