"""The optimizer and lr schedule a :class:`~kdcourse.engine.spec.TrainSpec` names."""
from __future__ import annotations

from typing import Iterable

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
