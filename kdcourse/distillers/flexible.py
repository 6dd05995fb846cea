"""In-place distillation of flexible networks, with teacher assistants (seed 003 eqs. 4-7)."""
from __future__ import annotations

from .. import losses
from .base import Distiller


class InPlace(Distiller):
    """A flexible network (its forward returns the logits of every sub-model, smallest first) trained on
    ``losses.ipkd_loss``: scheme ``none`` (eq. 4), ``ipkd`` (eq. 5), ``ta1`` (eq. 6) or ``tam`` (eq. 7).

    The teachers are the network's own detached sub-models, so there is no
    ``teacher``.  Accuracy is measured on every head: the loop's history has
    ``acc_0``, ``acc_1``, ... and ``acc``, their mean, on which the default
    selection picks the epoch (seed 003 section IV-B).
    """

    def __init__(self, student, scheme: str = "ipkd", T: float = 1.0, lam: float = 0.8, soft_ce: bool = False):
        super().__init__(student)
        losses.ipkd.check_scheme(scheme)
        self.scheme, self.soft_ce = scheme, bool(soft_ce)
        self.T, self.lam = losses.check_temperature(T), losses.check_alpha(lam)

    @property
    def name(self) -> str:
        return f"{self.scheme}(T={self.T:g}, lam={self.lam:g}{', soft CE' if self.soft_ce else ''})"

    def losses(self, out, y, t):
        return losses.ipkd_loss(out, y, self.T, self.lam, self.scheme, self.soft_ce)
