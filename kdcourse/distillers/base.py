"""The Distiller: one method of training a student (mdistiller's pattern).

A distiller is an ``nn.Module`` that holds

* the student (``self.student``),
* the teacher's outputs (``self.teacher``, a :class:`~kdcourse.engine.TeacherCache`:
  computed once per data set and looked up by sample index, or run live on
  augmented batches); the teacher is *not* a submodule, so it is never
  trained, checkpointed or wrapped by DDP,
* the method's own trainable parts (RRD's embeddings, a FitNets regressor)
  as ordinary submodules, which the loop trains with the student.

``distiller(batch)`` returns ``(scores, losses)``: the scores accuracy is
measured on (class logits; a list of heads for a flexible network) and a
dict of named losses whose ``"total"`` is minimised.  A method is a few lines
over the pure functions of :mod:`kdcourse.losses`: it overrides
:meth:`losses`, and :meth:`outputs` / :meth:`scores` when the student's raw
outputs are not the class logits.
"""
from __future__ import annotations

import torch
from torch import nn

from ..data import TensorData
from ..engine.batch import Batch
from ..engine.cache import TeacherCache, as_cache
from ..engine.evaluate import accuracy_columns, heads, predict

Tensor = torch.Tensor


class Distiller(nn.Module):
    """Base class: the student alone, trained on the method's :meth:`losses`."""

    needs_teacher = False

    def __init__(self, student: nn.Module, teacher: nn.Module | TeacherCache | None = None):
        super().__init__()
        self.student = student
        self.teacher = as_cache(teacher)
        if self.needs_teacher and self.teacher is None:
            raise ValueError(f"{self.__class__.__name__} needs a teacher: pass teacher=...")

    # ------------------------------------------------------------------ what a method overrides
    @property
    def name(self) -> str:
        """A short name with the method's settings (progress bars, checkpoint signatures)."""
        return self.__class__.__name__

    def outputs(self, x: Tensor):
        """The student's raw outputs that :meth:`losses` reads (its logits, unless overridden)."""
        return self.student(x)

    def scores(self, out):
        """What accuracy is measured on, from the raw outputs (the logits themselves by default)."""
        return out

    def losses(self, out, y: Tensor, t: Tensor | None) -> dict[str, Tensor]:
        raise NotImplementedError

    # ------------------------------------------------------------------ the teacher's outputs
    def teacher_outputs(self, batch: Batch) -> Tensor | None:
        """The teacher's logits of the batch: cached by index, or live on augmented inputs."""
        if not self.needs_teacher:
            return None
        if batch.data is None:
            return self.teacher.live(batch.x)
        return self.teacher.logits(batch.data).to(batch.x.device)[batch.idx.to(batch.x.device)]

    # ------------------------------------------------------------------ used by the loop
    def set_epoch(self, epoch: int) -> None:
        """Called by ``fit`` before each epoch, counted from 1 (also after a resume); a method whose loss
        follows a schedule over epochs (DKD's warm-up) overrides it.  Nothing by default."""

    def forward(self, batch: Batch):
        out = self.outputs(batch.x)
        return self.scores(out), self.losses(out, batch.y, self.teacher_outputs(batch))

    @torch.no_grad()
    def evaluate(self, data: TensorData, device: torch.device) -> dict[str, float]:
        """Mean losses and accuracy on a whole data set: outputs in batches, losses on all of them at once."""
        out = predict(self.student, data, device=device, call=self.outputs)
        out = [h.to(device) for h in out] if isinstance(out, list) else out.to(device)
        t = self.teacher.logits(data).to(device) if self.needs_teacher else None
        y = data.y.to(device)
        parts = {k: float(v) for k, v in self.losses(out, y, t).items()}
        return {**parts, **accuracy_columns([float((h.argmax(1) == y).float().mean())
                                             for h in heads(self.scores(out))])}

    def check(self, x: Tensor) -> None:
        """Teacher and student must predict the same number of classes (on two samples ``x``)."""
        if not self.needs_teacher:
            return
        t_out = self.teacher.live(x).shape[-1]
        was = self.training
        self.eval()
        with torch.inference_mode():
            s_out = heads(self.outputs(x))[-1].shape[-1]
        self.train(was)
        if t_out != s_out:
            raise ValueError(f"teacher predicts {t_out} classes but the student predicts {s_out}: "
                             "give both the same output layer (the same class list)")

    def to(self, *args, **kwargs):
        super().to(*args, **kwargs)
        if self.teacher is not None:
            self.teacher.teacher.to(*args, **kwargs)
        return self

    def __enter__(self) -> "Distiller":
        """Attach what the method reads during training (feature hooks); nothing by default."""
        return self

    def __exit__(self, *exc) -> None:
        """Detach it again, whatever happened."""

    def extra_repr(self) -> str:
        teacher = "none" if self.teacher is None else self.teacher.teacher.__class__.__name__
        return f"method={self.name}, teacher={teacher}"

