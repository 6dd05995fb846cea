"""Model cost: parameters, size, FLOPs and measured latency."""
from __future__ import annotations

import io
import time

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def size_mb(model: nn.Module) -> float:
    """Size of the serialized state dict in MB (10^6 bytes)."""
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getbuffer().nbytes / 1e6


def flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass on one input (``torch.utils.flop_counter``; a multiply-add = 2)."""
    was = model.training
    model.eval()
    x = torch.zeros((1, *input_shape), device=next(model.parameters()).device)
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(x)
    finally:
        model.train(was)
    return int(counter.get_total_flops())


def latency_ms(model: nn.Module, input_shape: tuple[int, ...], batch_size: int = 1, warmup: int = 10,
               reps: int = 50) -> dict:
    """Milliseconds per image, measured after ``warmup`` passes: median and 90th percentile."""
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    x = torch.randn((batch_size, *input_shape), device=device)
    times = []
    try:
        with torch.inference_mode():
            for i in range(warmup + reps):
                if device.type == "cuda":
                    torch.cuda.synchronize()
                tic = time.perf_counter()
                model(x)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                if i >= warmup:
                    times.append((time.perf_counter() - tic) * 1000 / batch_size)
    finally:
        model.train(was)
    return {"median_ms": float(np.median(times)), "p90_ms": float(np.percentile(times, 90))}


def compare(models: dict[str, nn.Module], input_shape: tuple[int, ...], latency: bool = True) -> pd.DataFrame:
    """One row per model: parameters, MB, FLOPs and (optionally) ms per image."""
    rows = []
    for name, m in models.items():
        row = {"model": name, "params": count_params(m), "size_mb": size_mb(m),
               "flops": flops(m, input_shape)}
        if latency:
            lat = latency_ms(m, input_shape)
            row.update(ms_per_image=lat["median_ms"], ms_p90=lat["p90_ms"])
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")
