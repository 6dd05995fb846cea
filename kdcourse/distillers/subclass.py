"""Subclass distillation (Mueller, Kornblith & Hinton 2020; seed 004 Task 1 Q12).

The student is a :class:`~kdcourse.models.SubclassNet`: its raw outputs are
``C * s`` subclass logits, its scores the ``C`` class logits (a logsumexp
over each class's subclasses), on which accuracy is measured.
"""
from __future__ import annotations

from torch import nn

from .. import losses
from ..engine.cache import TeacherCache
from .base import Distiller


class _Subclass(Distiller):
    def outputs(self, x):
        return self.student.subclass_logits(x)

    def scores(self, out):
        return losses.class_logits_from_subclass(out, self.student.num_classes)


class SubclassTeacher(_Subclass):
    """A subclass teacher: CE(y, class logits) + beta * L_aux(subclass logits) (``subclass_teacher_loss``)."""

    def __init__(self, student, beta: float = 1.0, T_aux: float = 1.0):
        super().__init__(student)
        self.beta, self.T_aux = float(beta), losses.check_temperature(T_aux)

    @property
    def name(self) -> str:
        s = self.student
        return f"subclass_teacher(C={s.num_classes}, s={s.subclasses}, beta={self.beta:g}, T_aux={self.T_aux:g})"

    def losses(self, out, y, t):
        return losses.subclass_teacher_loss(out, y, self.student.num_classes, self.beta, self.T_aux)


class SubclassKD(_Subclass):
    """A subclass student of a subclass teacher with the same layout:
    alpha T^2 KL over the subclasses + (1 - alpha) CE(y, class logits) (``subclass_kd_objective``)."""

    needs_teacher = True

    def __init__(self, student, teacher, T: float = 4.0, alpha: float = 0.5):
        # the teacher's outputs that are distilled are its subclass logits: its backbone's
        if isinstance(teacher, nn.Module):
            if not hasattr(teacher, "subclass_logits"):
                raise TypeError(f"SubclassKD's teacher must be a SubclassNet (or a TeacherCache of its backbone), "
                                f"got {type(teacher).__name__}")
            teacher = TeacherCache(teacher.backbone)
        super().__init__(student, teacher)
        self.T, self.alpha = losses.check_temperature(T), losses.check_alpha(alpha)

    @property
    def name(self) -> str:
        s = self.student
        return f"subclass_kd(C={s.num_classes}, s={s.subclasses}, T={self.T:g}, alpha={self.alpha:g})"

    def losses(self, out, y, t):
        return losses.subclass_kd_objective(out, t, y, self.student.num_classes, self.T, self.alpha)
