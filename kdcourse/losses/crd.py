"""Contrastive Representation Distillation (Tian, Krishnan and Isola, ICLR 2020).

CRDLoss  two embeddings, a momentum memory bank of both networks' embeddings (one row per training
         sample) and the NCE loss with the noise distribution P_n = 1 / n_data, as in the authors'
         RepDistiller code (crd/criterion.py, crd/memory.py).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

Tensor = torch.Tensor
NCE_EPS = 1e-7   # the authors' eps in the NCE posterior's denominator


class CRDLoss(nn.Module):
    """CRD's contrastive loss; its member names follow the authors' code where it has them.

    Both penultimate features are projected by linear layers ``embed_s`` and
    ``embed_t`` and L2-normalised, z_s = e_s(f_s) / |e_s(f_s)| and likewise
    z_t.  The memory bank holds one unit row per *training sample* for each
    network, ``memory_s`` and ``memory_t`` (n_data x feat_dim).  Sample i of
    the batch (data-set index idx_i) is contrasted with K = ``n_negatives``
    other rows j_1..j_K of the bank, in both directions:

        student anchor:  h_s(i, j) = exp(<z_s,i, memory_t[j]> / tau) / Z_s
        teacher anchor:  h_t(i, j) = exp(<z_t,i, memory_s[j]> / tau) / Z_t

    with the positive j = idx_i first.  The normalisation constants Z are
    estimated once, on the first batch, as mean(exp(. / tau)) * n_data and kept
    in the buffer ``Z`` (= [Z_s, Z_t]; -1 until estimated).  Each direction is
    scored with NCE against the uniform noise distribution P_n = 1 / n_data,

        L_NCE = -1/B sum_i [ log h(i, idx_i) / (h(i, idx_i) + K P_n + eps)
                             + sum_k log K P_n / (h(i, j_k) + K P_n + eps) ],

    and the loss is L_NCE(student anchor) + L_NCE(teacher anchor).  The bank
    is read before it is updated: then (in training mode) rows idx of
    ``memory_s`` and ``memory_t`` move to momentum * row + (1 - momentum) * z
    and are renormalised to unit length.  The bank starts uniform in
    [-sqrt(3 / feat_dim), sqrt(3 / feat_dim)] per entry (rows of expected unit
    length), as in the authors' ``ContrastMemory``.

    Negatives: ``contrast_idx`` (B, K + 1), column 0 the positive idx, as the
    authors' data set supplies it (their CIFAR default, mode ``exact``, draws
    the K negatives among the samples of *other classes*).  When it is None
    the K negatives are drawn uniformly with replacement from all n_data rows
    (the authors' fallback, their ``AliasMethod`` on uniform weights): nothing
    is excluded, so a negative may be the positive itself or a sample of the
    same class.  n_negatives must be below n_data.

    In eval mode (a distiller's ``evaluate`` on validation data, whose indices
    do not address this bank) nothing is updated and ``idx`` is not used: each
    sample's positive is the other network's embedding of the same input
    (<z_s, z_t>), the negatives are drawn as above, and Z, if no training batch
    has set it yet, is estimated from the batch without being stored.

    Defaults are the paper's and RepDistiller's: feat_dim 128, 16,384
    negatives, tau = ``nce_t`` = 0.07, momentum 0.5.  Under a bf16 autocast the
    scores are computed in float32 (exp(. / 0.07) magnifies rounding).
    """

    def __init__(self, s_dim: int, t_dim: int, n_data: int, feat_dim: int = 128, n_negatives: int = 16384,
                 nce_t: float = 0.07, momentum: float = 0.5):
        super().__init__()
        for name, value in (("s_dim", s_dim), ("t_dim", t_dim), ("n_data", n_data), ("feat_dim", feat_dim),
                            ("n_negatives", n_negatives)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if n_negatives >= n_data:
            raise ValueError(f"n_negatives={n_negatives} must be below n_data={n_data} (the memory bank holds one "
                             f"row per training sample): lower n_negatives")
        if not (isinstance(nce_t, (int, float)) and math.isfinite(nce_t) and nce_t > 0):
            raise ValueError(f"temperature nce_t must be a finite number > 0, got {nce_t!r}")
        if not (isinstance(momentum, (int, float)) and 0.0 <= momentum < 1.0):
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        self.n_data, self.n_negatives = n_data, n_negatives
        self.nce_t, self.momentum = float(nce_t), float(momentum)
        self.embed_s = nn.Linear(s_dim, feat_dim)
        self.embed_t = nn.Linear(t_dim, feat_dim)
        bound = math.sqrt(3.0 / feat_dim)
        self.register_buffer("memory_s", torch.empty(n_data, feat_dim).uniform_(-bound, bound))
        self.register_buffer("memory_t", torch.empty(n_data, feat_dim).uniform_(-bound, bound))
        self.register_buffer("Z", torch.full((2,), -1.0))

    def embed(self, f_s: Tensor, f_t: Tensor) -> tuple[Tensor, Tensor]:
        """The L2-normalised embeddings z_s, z_t of a batch (features flattened per sample)."""
        if f_s.dim() < 2 or f_t.dim() < 2 or len(f_s) != len(f_t):
            raise ValueError(f"f_s and f_t must be (batch, ...) with the same batch, got {tuple(f_s.shape)} and "
                             f"{tuple(f_t.shape)}: pass penultimate (pooled) features")
        return (F.normalize(self.embed_s(f_s.flatten(1)), dim=1),
                F.normalize(self.embed_t(f_t.flatten(1)), dim=1))

    def forward(self, f_s: Tensor, f_t: Tensor, idx: Tensor | None, contrast_idx: Tensor | None = None) -> Tensor:
        z_s, z_t = self.embed(f_s, f_t)
        batch, device = len(z_s), self.memory_s.device
        if self.training:
            idx = self._check_idx(idx, batch)
        contrast = self._contrast(idx, contrast_idx, batch, device)
        with torch.autocast(device.type, enabled=False):
            z_s, z_t = z_s.to(self.memory_s.dtype), z_t.to(self.memory_s.dtype)
            out_s = self._scores(self.memory_t, contrast, z_s)       # student anchor, teacher rows
            out_t = self._scores(self.memory_s, contrast, z_t)       # teacher anchor, student rows
            if not self.training:                                    # the positive: the pair itself
                pos = (z_s * z_t).sum(1) / self.nce_t
                out_s, out_t = torch.cat([pos[:, None], out_s[:, 1:]], 1), torch.cat([pos[:, None], out_t[:, 1:]], 1)
            Z = self._normaliser(out_s, out_t)
            loss = self._nce(out_s, Z[0]) + self._nce(out_t, Z[1])
        if self.training:
            self._update(self.memory_s, idx, z_s)
            self._update(self.memory_t, idx, z_t)
        return loss

    # ------------------------------------------------------------------ the pieces
    def _check_idx(self, idx: Tensor | None, batch: int) -> Tensor:
        if idx is None:
            raise ValueError("CRDLoss needs the batch's sample indices idx in training mode (its memory bank has "
                             "one row per training sample)")
        idx = torch.as_tensor(idx)
        if idx.shape != (batch,) or idx.dtype.is_floating_point or idx.dtype == torch.bool:
            raise ValueError(f"idx must be integer sample indices of shape ({batch},), one per row of f_s, got "
                             f"{idx.dtype} of shape {tuple(idx.shape)}")
        if batch and (int(idx.min()) < 0 or int(idx.max()) >= self.n_data):
            raise ValueError(f"idx must lie in [0, n_data={self.n_data}), got values in [{int(idx.min())}, "
                             f"{int(idx.max())}]: is n_data the training set's size?")
        return idx.to(self.memory_s.device, torch.long)

    def _contrast(self, idx: Tensor | None, contrast_idx: Tensor | None, batch: int, device) -> Tensor:
        """(B, K + 1) rows of the bank: the positive idx first (in eval mode a placeholder), then K negatives."""
        k = self.n_negatives
        if contrast_idx is None:
            contrast = torch.randint(0, self.n_data, (batch, k + 1), device=device)
            if idx is not None and self.training:
                contrast[:, 0] = idx
            return contrast
        contrast = torch.as_tensor(contrast_idx)
        if contrast.shape != (batch, k + 1) or contrast.dtype.is_floating_point:
            raise ValueError(f"contrast_idx must be integer indices of shape ({batch}, n_negatives + 1 = {k + 1}), "
                             f"the positive first, got {contrast.dtype} of shape {tuple(contrast.shape)}")
        if int(contrast.min()) < 0 or int(contrast.max()) >= self.n_data:
            raise ValueError(f"contrast_idx must lie in [0, n_data={self.n_data}), got values in "
                             f"[{int(contrast.min())}, {int(contrast.max())}]")
        contrast = contrast.to(device, torch.long)
        if self.training and not torch.equal(contrast[:, 0], idx):
            raise ValueError("contrast_idx[:, 0] must be the positives, idx (the authors' layout)")
        return contrast

    def _scores(self, memory: Tensor, contrast: Tensor, anchor: Tensor) -> Tensor:
        """<anchor_i, memory[contrast[i, k]]> / tau, (B, K + 1); the bank is a constant (a buffer)."""
        return torch.bmm(memory[contrast], anchor[:, :, None]).squeeze(2) / self.nce_t

    def _normaliser(self, out_s: Tensor, out_t: Tensor) -> Tensor:
        """[log Z_s, log Z_t]: set from the first training batch and kept; estimated per batch until then."""
        if bool((self.Z < 0).any()):
            est = torch.stack([out_s.detach().exp().mean(), out_t.detach().exp().mean()]) * self.n_data
            if not self.training:
                return est.log()
            self.Z.copy_(torch.where(self.Z < 0, est, self.Z))
        return self.Z.log()

    def _nce(self, logits: Tensor, log_z: Tensor) -> Tensor:
        """NCE with P_n = 1 / n_data; ``logits`` = <z, m> / tau, so h = exp(logits - log Z)."""
        log_h = logits - log_z
        h = log_h.exp()
        m_pn = self.n_negatives / self.n_data
        log_d1 = log_h[:, 0] - torch.log(h[:, 0] + m_pn + NCE_EPS)
        log_d0 = math.log(m_pn) - torch.log(h[:, 1:] + m_pn + NCE_EPS)
        return -(log_d1.sum() + log_d0.sum()) / len(h)

    @torch.no_grad()
    def _update(self, memory: Tensor, idx: Tensor, z: Tensor) -> None:
        """Rows idx move to momentum * row + (1 - momentum) * z, renormalised to unit length."""
        rows = memory[idx] * self.momentum + z.detach().to(memory.dtype) * (1.0 - self.momentum)
        memory[idx] = F.normalize(rows, dim=1)

    def extra_repr(self) -> str:
        return (f"n_data={self.n_data}, n_negatives={self.n_negatives}, nce_t={self.nce_t:g}, "
                f"momentum={self.momentum:g}")
