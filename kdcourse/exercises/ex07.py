"""Checks of notebook 07's exercises (relational representation distillation, seed 001)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import close, exercise, expect


@exercise("07.1", "easy", "read RRD's gain over KD off the table")
def _(answer, *, results):
    """``results``: one row per (method, seed) with ``test_acc`` in [0, 1]; the answer is in points."""
    mean = results.groupby("method")["test_acc"].mean() * 100
    target = float(mean["RRD"] - mean["KD"])
    close(answer, target, abs_=0.011, what="RRD - KD (points, mean over seeds)")
    return f"RRD - KD = {target:+.2f} points in this run (seed 001: +1.15)"


@exercise("07.2", "medium", "temperature of the relational softmax")
def _(answer, *, anchors, f_t, temperatures):
    """``answer``: for each temperature in ``temperatures``, the largest probability of the teacher distribution
    p_t = softmax(z_t Q^T / tau) of the first image of ``f_t`` over the queue ``anchors``, z_t = f_t / |f_t|."""
    expect(isinstance(answer, (list, tuple)) and len(answer) == len(temperatures),
           f"answer a list of {len(temperatures)} numbers, one per temperature {list(temperatures)}")
    z = F.normalize(torch.as_tensor(f_t, dtype=torch.float32)[:1], dim=1)
    sims = z @ torch.as_tensor(anchors, dtype=torch.float32).T
    for tau, got in zip(temperatures, answer):
        want = float(torch.softmax(sims / tau, dim=1).max())
        close(got, want, abs_=1e-3, what=f"max p_t at tau = {tau:g}")
    return "a lower temperature sharpens p_t towards the nearest anchor; a higher one flattens it towards uniform"


@exercise("07.3", "hard", "implement the RRD loss (Algorithm 1)")
def _(answer, *, seed=0):
    """``answer``: the student's ``my_rrd_loss(f_s, f_t, embed_s, embed_t, queue, t_s, t_t)``.  Graded against
    ``losses.RRDLoss`` (stop-gradient on p_t, the queue as it stands before enqueueing): the value, the
    gradients with respect to f_s and embed_s, and no gradient into embed_t."""
    from ..losses import RRDLoss
    expect(callable(answer), "define the function my_rrd_loss(f_s, f_t, embed_s, embed_t, queue, t_s, t_t)")
    torch.manual_seed(seed)
    cases = [(4, 6, 5, 3, 7, 0.04, 0.07, 1.0), (1, 3, 3, 2, 5, 0.5, 1.0, 1.0), (8, 16, 32, 8, 3, 0.1, 0.1, 50.0),
             (5, 4, 6, 4, 64, 0.04, 0.10, 0.01)]
    for batch, s_dim, t_dim, feat_dim, K, t_s, t_t, scale in cases:
        ref = RRDLoss(s_dim, t_dim, feat_dim=feat_dim, queue_size=K, t_s=t_s, t_t=t_t)
        f_s = (torch.randn(batch, s_dim) * scale).requires_grad_(True)
        f_t = torch.randn(batch, t_dim) * scale
        queue = ref.queue.clone()
        case = f"batch {batch}, queue K = {K}, feat_dim {feat_dim}, t_s = {t_s:g}, t_t = {t_t:g}, feature scale {scale:g}"
        mine = answer(f_s, f_t, ref.embed_s, ref.embed_t, queue, t_s, t_t)
        expect(isinstance(mine, torch.Tensor) and mine.dim() == 0,
               f"{case}: my_rrd_loss should return a scalar tensor, got {type(mine).__name__}")
        expect(mine.requires_grad, f"{case}: the loss carries no gradient to the student")
        g_s, g_es, = torch.autograd.grad(mine, [f_s, ref.embed_s.weight], retain_graph=True)
        g_et = torch.autograd.grad(mine, ref.embed_t.weight, allow_unused=True)[0] if mine.grad_fn else None
        f_s2 = f_s.detach().clone().requires_grad_(True)
        want = ref(f_s2, f_t)
        w_s, w_es = torch.autograd.grad(want, [f_s2, ref.embed_s.weight])
        expect(torch.allclose(mine.detach(), want.detach(), rtol=1e-4, atol=1e-6),
               f"{case}: loss {float(mine.detach()):.6f}, expected {float(want.detach()):.6f}. Embed, L2-normalise each row, "
               f"similarities to the queue, softmax at t_t (teacher) and log-softmax at t_s (student), then "
               f"-sum_k p_t log p_s averaged over the batch")
        expect(torch.allclose(g_s, w_s, rtol=1e-3, atol=1e-6) and torch.allclose(g_es, w_es, rtol=1e-3, atol=1e-6),
               f"{case}: the value is right but the gradient with respect to the student's features is not")
        expect(g_et is None or float(g_et.abs().max()) == 0.0,
               f"{case}: the gradient reaches embed_t: p_t is a fixed target in the authors' code (detach it)")
    return f"value and gradients match losses.RRDLoss in {len(cases)} cases, p_t a fixed target"
