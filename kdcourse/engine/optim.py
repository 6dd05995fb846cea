"""The optimizer and lr schedule a :class:`~kdcourse.engine.spec.TrainSpec` names."""
from __future__ import annotations

from typing import Callable, Iterable

import torch

from .spec import TrainSpec


def optimizer(params: Iterable[torch.nn.Parameter], spec: TrainSpec) -> torch.optim.Optimizer:
    """Adam, or SGD with momentum (Nesterov when ``spec.nesterov``), with L2 weight decay."""
    params = list(params)
    if spec.optimizer == "adam":
        return torch.optim.Adam(params, lr=spec.lr, weight_decay=spec.weight_decay)
    return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay,
                           nesterov=spec.nesterov)


def scheduler(opt: torch.optim.Optimizer, spec: TrainSpec):
    """MultiStepLR at ``spec.milestones``, StepLR every ``spec.step_size`` epochs, or None (constant lr)."""
    if spec.milestones:
        return torch.optim.lr_scheduler.MultiStepLR(opt, list(spec.milestones), spec.gamma)
    if spec.step_size:
        return torch.optim.lr_scheduler.StepLR(opt, spec.step_size, spec.gamma)
    return None


def warmup(opt: torch.optim.Optimizer, spec: TrainSpec, epoch: int, n_batches: int) -> Callable[[int | None], None]:
    """The per-batch lr of a warm-up epoch, as pytorch-cifar100's WarmUpLR (``spec.warmup_epochs``).

    Returns ``set_lr(batch)``: batch k of the warm-up (counted over all warm-up epochs, 0-based) runs at
    the scheduled lr times k / (warm-up batches), so the first batch runs at 0 as in that code;
    ``set_lr(None)`` at the end of the epoch puts the scheduled lr back.  Outside the warm-up: a no-op."""
    if epoch >= spec.warmup_epochs:
        return lambda batch: None
    scheduled = [g["lr"] for g in opt.param_groups]
    total = spec.warmup_epochs * n_batches

    def set_lr(batch: int | None) -> None:
        factor = 1.0 if batch is None else (epoch * n_batches + batch) / total
        for group, lr in zip(opt.param_groups, scheduled):
            group["lr"] = lr * factor
    return set_lr
