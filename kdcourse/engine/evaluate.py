"""Inference: a model's outputs on a whole data set, in eval mode under ``torch.inference_mode``."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..data import TensorData

Tensor = torch.Tensor


def heads(out) -> list[Tensor]:
    """A model's output as a list of logits: one per sub-model of a flexible network, else just one."""
    return list(out) if isinstance(out, (list, tuple)) else [out]


def accuracy_columns(accs: list[float]) -> dict[str, float]:
    """``acc`` of one model; for a flexible network ``acc_0``, ``acc_1``, ... per sub-model (smallest
    first) and ``acc`` = their mean, so ``Selection("val_acc")`` picks the epoch with the best accuracy
    averaged over sub-models (seed 003 section IV-B)."""
    if len(accs) == 1:
        return {"acc": accs[0]}
    return {**{f"acc_{i}": a for i, a in enumerate(accs)}, "acc": sum(accs) / len(accs)}


def _inputs(data, batch_size: int):
    """The inputs of a tensor, a TensorData or a streaming data set, ``batch_size`` rows at a time, in order."""
    if isinstance(data, Tensor) or hasattr(data, "x"):
        x = data if isinstance(data, Tensor) else data.x
        return (x[i:i + batch_size] for i in range(0, len(x), batch_size))
    return (xb for _, xb, _ in data.batches(batch_size))


def predict(model: nn.Module, data, batch_size: int = 256,
            device: torch.device | None = None, call: Callable[[Tensor], object] | None = None
            ) -> Tensor | list[Tensor]:
    """Outputs of ``model`` on every sample of ``data`` (a tensor, a TensorData or a streaming data set),
    in eval mode under inference mode, on the CPU.

    ``call(x)`` replaces ``model(x)`` when the outputs wanted are not the
    forward pass (a subclass network's subclass logits); ``model`` is still
    the module put in eval mode.  A model returning a list of logits (a
    flexible network's sub-models) gets a list back.
    """
    device = device or next(model.parameters()).device
    call = call or model
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            out, many = [], False
            for xb in _inputs(data, batch_size):
                o = call(xb.to(device))
                many = isinstance(o, (list, tuple))
                out.append([h.float().cpu() for h in heads(o)])
    finally:
        model.train(was_training)
    if many:
        return [torch.cat(head) for head in zip(*out)]
    return torch.cat([o[0] for o in out]) if out else torch.empty(0)


def accuracy(model: nn.Module, data: TensorData, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` (its last head, for a flexible network) on ``data``."""
    return float((heads(predict(model, data, batch_size))[-1].argmax(1) == data.y.cpu()).float().mean())
