"""Feature-based and relational distillation losses (seed 001 and its baselines).

Notation: f_s, f_t are student and teacher features of one batch (B rows);
the feature loss of a method is added to the task loss as in the CRD / RRD
code base: total = gamma * CE + alpha * T^2 KL + beta * L_feature.

RRDLoss        Relational Representation Distillation (seed 001, Algorithm 1)
FitNetsLoss    hints: || r(f_s) - f_t ||^2 with a learned regressor r (Romero et al. 2015)
attention_map  Q = normalise(mean_c |A_c|^p) over a feature map (Zagoruyko & Komodakis 2017)
at_loss        attention transfer: sum over layers of mean (Q_s - Q_t)^2
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

Tensor = torch.Tensor
ENQUEUE_ORDERS = ("after", "before")   # RRDLoss: Algorithm 1 as printed / the authors' CIFAR code


class RRDLoss(nn.Module):
    """Relational Representation Distillation, seed 001 Algorithm 1 (same member names).

    Both penultimate features are projected by linear layers ``embed_s`` and
    ``embed_t`` and L2-normalised, z_s = e_s(f_s) / |e_s(f_s)| and likewise
    z_t.  Their cosine similarities to the K teacher embeddings in the FIFO
    ``queue`` (K x feat_dim, unit rows) give two distributions over the queue,

        p_t = softmax(z_t Q^T / t_t),   p_s = softmax(z_s Q^T / t_s),

    and the loss is their cross-entropy averaged over the batch,

        L_RRD = - 1/B sum_b sum_k p_t[b, k] log p_s[b, k],

    computed with the queue as it stands; then (in training mode only) the
    batch's teacher embeddings z_t are enqueued, overwriting the oldest
    entries, with wrap-around (``queue_ptr`` is where the next one goes).  The
    student temperature t_s = 0.04 is sharper than the teacher's t_t = 0.07.

    ``enqueue`` says when the batch's z_t enter the queue.  ``"after"`` (the
    default) is Algorithm 1 as printed: the loss uses the queue as it stood
    and the keys are enqueued afterwards.  ``"before"`` is the authors' CIFAR
    code (giakoumoglou/distillers, cifar/distillers/RRD.py: "# enqueue
    teacher before similarities"): the keys are enqueued first, so the batch's
    own teacher embeddings are among the anchors of its loss.  Either way
    nothing is enqueued in eval mode.

    ``detach_teacher`` (default True) makes p_t a fixed target, as the authors'
    repository does (``softmax(out_t.detach() / nce_t_t)``, after ReSSL): the
    loss then trains the student and ``embed_s`` only, and ``embed_t`` stays the
    random projection it was initialised to.  With False the gradient also
    flows through p_t into ``embed_t``, as Algorithm 1 is printed; notebook 07
    compares the two.

    Two further choices differ from the printed algorithm, which follows MoCo's
    (feat_dim x K) layout: the random initial queue is normalised per *row*
    (each entry a unit vector, like every embedding enqueued later; Algorithm
    1 normalises dim 0 of a K x feat_dim buffer, i.e. per column), and the
    queue is copied before the similarities so that enqueueing in place does
    not invalidate the autograd graph.
    """

    def __init__(self, s_dim: int, t_dim: int, feat_dim: int = 128, queue_size: int = 16384,
                 t_s: float = 0.04, t_t: float = 0.07, detach_teacher: bool = True, enqueue: str = "after"):
        super().__init__()
        for name, value in (("s_dim", s_dim), ("t_dim", t_dim), ("feat_dim", feat_dim), ("queue_size", queue_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name, value in (("t_s", t_s), ("t_t", t_t)):
            if not value > 0:
                raise ValueError(f"temperature {name} must be > 0, got {value!r}")
        if enqueue not in ENQUEUE_ORDERS:
            raise ValueError(f"enqueue must be one of {ENQUEUE_ORDERS}, got {enqueue!r}")
        self.t_s, self.t_t, self.detach_teacher = float(t_s), float(t_t), bool(detach_teacher)
        self.enqueue = enqueue
        self.embed_s = nn.Linear(s_dim, feat_dim)
        self.embed_t = nn.Linear(t_dim, feat_dim)
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, feat_dim), dim=1))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    @property
    def queue_size(self) -> int:
        return self.queue.shape[0]

    def embed(self, f_s: Tensor, f_t: Tensor) -> tuple[Tensor, Tensor]:
        """The L2-normalised embeddings z_s, z_t of a batch."""
        if f_s.dim() != 2 or f_t.dim() != 2 or len(f_s) != len(f_t):
            raise ValueError(f"f_s and f_t must be (batch, dim) with the same batch, got {tuple(f_s.shape)} "
                             f"and {tuple(f_t.shape)}: pass penultimate (pooled, flattened) features")
        return F.normalize(self.embed_s(f_s), dim=1), F.normalize(self.embed_t(f_t), dim=1)

    def forward(self, f_s: Tensor, f_t: Tensor) -> Tensor:
        z_s, z_t = self.embed(f_s, f_t)
        if self.training and self.enqueue == "before":      # the authors' CIFAR code
            self._dequeue_and_enqueue(z_t)
        queue = self.queue.clone()
        l_s = z_s @ queue.T                       # (B, K) cosine similarities to the queue
        l_t = z_t @ queue.T
        p_t = F.softmax(l_t / self.t_t, dim=1)
        if self.detach_teacher:
            p_t = p_t.detach()
        loss = -(p_t * F.log_softmax(l_s / self.t_s, dim=1)).sum(1).mean()
        if self.training and self.enqueue == "after":       # Algorithm 1 as printed
            self._dequeue_and_enqueue(z_t)
        return loss

    @torch.no_grad()
    def _dequeue_and_enqueue(self, keys: Tensor) -> None:
        """Write ``keys`` at ``queue_ptr`` onwards, wrapping around; advance the pointer."""
        keys = keys.detach().to(self.queue.dtype)
        n, size = len(keys), self.queue_size
        ptr = int(self.queue_ptr)
        if n > size:                              # only the newest ``size`` keys survive
            ptr, keys = (ptr + n - size) % size, keys[-size:]
            n = size
        slots = (ptr + torch.arange(n, device=self.queue.device)) % size
        self.queue[slots] = keys
        self.queue_ptr[0] = (ptr + n) % size

    def extra_repr(self) -> str:
        return (f"queue_size={self.queue_size}, t_s={self.t_s:g}, t_t={self.t_t:g}, "
                f"detach_teacher={self.detach_teacher}, enqueue={self.enqueue!r}")


class FitNetsLoss(nn.Module):
    """FitNets hint loss: mean squared error between r(f_s) and the teacher's hint f_t.

    The regressor r maps the student's guided layer to the teacher's hint
    layer: for feature maps (B, C, H, W) a 3x3 convolution + BN + ReLU (the
    ``ConvReg`` of the CRD code base; the hints are post-ReLU), for vectors
    (B, C) a linear layer.  L = mean over batch, channels and positions of
    (r(f_s) - f_t)^2.
    """

    def __init__(self, s_channels: int, t_channels: int, spatial: bool = True):
        super().__init__()
        if spatial:
            self.regressor = nn.Sequential(nn.Conv2d(s_channels, t_channels, 3, padding=1),
                                           nn.BatchNorm2d(t_channels), nn.ReLU())
        else:
            self.regressor = nn.Linear(s_channels, t_channels)

    def forward(self, f_s: Tensor, f_t: Tensor) -> Tensor:
        r = self.regressor(f_s)
        if r.shape != f_t.shape:
            raise ValueError(f"the regressed student hint has shape {tuple(r.shape)} but the teacher's is "
                             f"{tuple(f_t.shape)}: pick layers with the same spatial size")
        return F.mse_loss(r, f_t)


def attention_map(f: Tensor, p: float = 2.0) -> Tensor:
    """Spatial attention of a feature map (B, C, H, W): Q = vec(mean_c |A_c|^p) / ||vec(...)||_2, shape (B, H*W)."""
    if f.dim() != 4:
        raise ValueError(f"attention_map needs feature maps (batch, channels, H, W), got shape {tuple(f.shape)}")
    return F.normalize(f.abs().pow(p).mean(1).flatten(1), dim=1)


def at_loss(student_feats: Sequence[Tensor], teacher_feats: Sequence[Tensor], p: float = 2.0) -> Tensor:
    """Attention transfer: sum over paired layers of mean_{b, j} (Q_s[b, j] - Q_t[b, j])^2.

    Each student map is turned into its :func:`attention_map`; a teacher
    entry may be a raw feature map (B, C, H, W) or, already, its attention
    map (B, H*W), as a teacher cache stores it.  (The CRD code base averages
    over batch and positions and weights the sum by beta = 1000.)
    """
    if len(student_feats) != len(teacher_feats) or not len(student_feats):
        raise ValueError(f"at_loss needs paired lists of feature maps, got {len(student_feats)} and "
                         f"{len(teacher_feats)}")
    total = 0.0
    for f_s, f_t in zip(student_feats, teacher_feats):
        q_s = attention_map(f_s, p)
        q_t = attention_map(f_t, p) if f_t.dim() == 4 else f_t
        if q_s.shape != q_t.shape:
            raise ValueError(f"student attention {tuple(q_s.shape)} and teacher attention {tuple(q_t.shape)} "
                             "differ: pair layers of the same spatial size")
        total = total + (q_s - q_t).pow(2).mean()
    return total
