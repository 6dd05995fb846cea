"""Where does a model look?  Gradient saliency, SmoothGrad, and a way to compare maps.

gradient      Simonyan, Vedaldi & Zisserman (2013), "Deep inside convolutional
              networks", section 3: the map of image x for class c is
              M = |dS_c / dx|, S_c the class score (the logit, before the
              softmax).  For RGB inputs it is kept per channel
              (``per_channel=True``, seed 004 Task 2 Fig. 11) or reduced by the
              maximum over channels, Simonyan et al.'s rule.
smoothgrad    Smilkov et al. (2017): the average of the maps of n noisy copies
              x + N(0, (sigma * (max x - min x))^2), which removes much of the
              pixel-level noise of a single gradient.
rank_correlation
              Spearman's rank correlation between two maps of the same image,
              one number per image: +1 same ranking of the pixels, 0 unrelated,
              -1 inverted (the brightest pixels of one are the darkest of the other).
channel_rank_correlation
              the same per input channel of RGB maps: one value per (image, channel),
              e.g. the R, G and B maps of a teacher against a student's (Fig. 11).
paired_difference
              mean and 95 % confidence interval of a paired difference over images
              (e.g. rho(teacher, KD student) - rho(teacher, student without KD)).
rho_summary   those per-image correlations over many images: mean, spread and a
              95 % confidence interval of the mean (Student's t over images).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

Tensor = torch.Tensor


def _targets(model: nn.Module, x: Tensor, target) -> Tensor:
    if target is None:
        with torch.no_grad():
            return model(x).argmax(1)
    target = torch.as_tensor(target, device=x.device, dtype=torch.long)
    return target.expand(len(x)) if target.dim() == 0 else target


def _reduce(grad: Tensor, per_channel: bool, absolute: bool) -> Tensor:
    if absolute:
        grad = grad.abs()
    return grad if per_channel else grad.amax(1) if absolute else grad.sum(1)


def _grad(model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
    x = x.detach().requires_grad_(True)
    out = model(x)
    if out.dim() != 2:
        raise ValueError(f"the model must return logits of shape (batch, classes), got {tuple(out.shape)}")
    score = out.gather(1, target[:, None]).sum()  # each image's score depends on its own input only
    grad, = torch.autograd.grad(score, x)
    return grad


def gradient(model: nn.Module, x: Tensor, target=None, per_channel: bool = False, absolute: bool = True,
             batch_size: int = 256) -> Tensor:
    """Gradient saliency |dS_c/dx| of each image in ``x`` (B, C, H, W).

    target       class to explain: None (each image's predicted class), an int,
                 or a (B,) tensor of classes.
    per_channel  True: one map per input channel, (B, C, H, W); False: the
                 maximum over channels, (B, H, W).
    absolute     False keeps the sign of the gradient (summed over channels when
                 reduced).
    The model is run in eval mode; its parameters get no gradient.
    """
    if x.dim() != 4:
        raise ValueError(f"x must be a batch of images (B, C, H, W), got shape {tuple(x.shape)}")
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        maps = []
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(device)
            tb = _targets(model, xb, None if target is None else _slice(target, i, batch_size, len(x)))
            maps.append(_reduce(_grad(model, xb, tb.to(device)), per_channel, absolute).cpu())
    finally:
        model.train(was_training)
    return torch.cat(maps)


def _slice(target, start: int, size: int, n: int):
    t = torch.as_tensor(target, dtype=torch.long)
    if t.dim() == 0:
        return t
    if len(t) != n:
        raise ValueError(f"target has {len(t)} entries for {n} images")
    return t[start:start + size]


def smoothgrad(model: nn.Module, x: Tensor, target=None, n: int = 25, sigma: float = 0.15,
               per_channel: bool = False, absolute: bool = True, seed: int = 0,
               batch_size: int = 256) -> Tensor:
    """SmoothGrad: the mean of :func:`gradient` over ``n`` noisy copies of each image.

    The noise of image i has standard deviation ``sigma * (max x_i - min x_i)``
    (Smilkov et al.'s noise level, 10-20 % of the input range).  The target
    class is chosen once, on the clean image.  ``sigma = 0`` gives exactly
    :func:`gradient`.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        gen = torch.Generator().manual_seed(seed)
        maps = []
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            tb = _targets(model, xb.to(device), None if target is None else _slice(target, i, batch_size, len(x)))
            span = (xb.flatten(1).amax(1) - xb.flatten(1).amin(1)).view(-1, *[1] * (xb.dim() - 1))
            total = 0
            for _ in range(n):
                noisy = xb + sigma * span * torch.randn(xb.shape, generator=gen)
                total = total + _reduce(_grad(model, noisy.to(device), tb.to(device)), True, absolute).cpu()
            mean = total / n
            maps.append(mean if per_channel else mean.amax(1) if absolute else mean.sum(1))
    finally:
        model.train(was_training)
    return torch.cat(maps)


def rank_correlation(a: Tensor, b: Tensor) -> Tensor:
    """Spearman's rank correlation between maps ``a[i]`` and ``b[i]``, one value per image (ties averaged).

    Both are flattened per image; NaN where a map is constant.
    """
    from scipy.stats import rankdata
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    if a.shape != b.shape:
        raise ValueError(f"maps must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    ra = rankdata(a.flatten(1).double().numpy(), axis=1)
    rb = rankdata(b.flatten(1).double().numpy(), axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (ra * rb).sum(1) / np.sqrt((ra ** 2).sum(1) * (rb ** 2).sum(1))
    return torch.from_numpy(rho)


def channel_rank_correlation(a: Tensor, b: Tensor) -> Tensor:
    """Spearman's rank correlation between ``a[i, c]`` and ``b[i, c]`` for each image i and channel c of
    per-channel maps (B, C, H, W): a (B, C) tensor (NaN where a channel's map is constant)."""
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    if a.shape != b.shape or a.dim() != 4:
        raise ValueError(f"per-channel maps must both be (B, C, H, W), got {tuple(a.shape)} and {tuple(b.shape)}")
    B, C = a.shape[:2]
    return rank_correlation(a.reshape(B * C, -1), b.reshape(B * C, -1)).reshape(B, C)


def paired_difference(x: Tensor, y: Tensor) -> dict:
    """Mean of ``x - y`` over paired values (one per image) with its 95 % confidence interval (Student's t),
    and the number of pairs: the interval excludes 0 when the difference is beyond the images' noise."""
    from scipy import stats
    d = (torch.as_tensor(x) - torch.as_tensor(y)).double().numpy()
    d = d[~np.isnan(d)]
    ci = stats.ttest_1samp(d, 0.0).confidence_interval(0.95)
    return {"mean difference": d.mean(), "95% CI low": ci.low, "95% CI high": ci.high, "pairs": len(d)}


def rho_summary(r: Tensor) -> dict:
    """Per-image rank correlations ``r`` summarised over the images: mean, std (ddof 1), the 95 % confidence
    interval of the mean (Student's t), median, the fraction below 0, and the number of images."""
    from scipy import stats
    r = torch.as_tensor(r).numpy()
    ci = stats.ttest_1samp(r, 0.0).confidence_interval(0.95)
    return {"mean rho": r.mean(), "std rho": r.std(ddof=1), "95% CI low": ci.low, "95% CI high": ci.high,
            "median rho": np.median(r), "fraction rho < 0": (r < 0).mean(), "images": len(r)}

