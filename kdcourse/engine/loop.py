"""The training loop, and only the loop.

Methods differ only in their distiller (:mod:`kdcourse.distillers`); what a
run is asked to do is a :class:`~kdcourse.engine.spec.TrainSpec`.  Selection
(:mod:`.selection`), checkpoints (:mod:`.checkpoint`), the teacher-output
cache (:mod:`.cache`), feature hooks (:mod:`.hooks`) and torch.distributed
(:mod:`.distributed`) each live in their own module.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from ..data import TensorData
from ..io import file_lock
from . import checkpoint as ckpt
from . import distributed as ddp
from . import optim
from .batch import Batch
from .evaluate import accuracy_columns, heads
from .selection import Selector
from .spec import TrainSpec, as_spec

Tensor = torch.Tensor


class TrainingDiverged(RuntimeError):
    """A loss went non-finite: training stopped; the last good checkpoint is kept."""


def _check_finite(values: dict[str, float], where: str, lr: float) -> None:
    bad = {k: v for k, v in values.items() if not math.isfinite(v)}
    if bad:
        raise TrainingDiverged(
            f"training diverged at {where}: {', '.join(f'{k} = {v}' for k, v in bad.items())}. Lower the learning "
            f"rate (now {lr:g}) or check the inputs for NaN / inf; the last good checkpoint, if any, was kept.")


@dataclass
class FitResult:
    model: nn.Module
    history: pd.DataFrame
    best_epoch: int
    stopped_early: bool
    resumed_from: int = 0
    distiller: nn.Module | None = None

    def best(self) -> pd.Series:
        """The history row of the selected (best) epoch."""
        return self.history.set_index("epoch").loc[self.best_epoch]


def train_epoch(step: nn.Module, opt: torch.optim.Optimizer, data: TensorData, spec: TrainSpec, epoch: int,
                seed: int, augment: Callable[[Tensor], Tensor] | None, device: torch.device) -> dict[str, float]:
    """One pass over ``data`` in the epoch's seeded order; the mean of every loss part and the accuracy."""
    sums: dict[str, float] = {}
    correct: list[float] = []  # per head of a flexible network
    seen = 0
    autocast = torch.autocast("cuda", torch.bfloat16, enabled=spec.bf16 and device.type == "cuda")
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    cached = augment is None and not getattr(data, "streaming", False)   # may the teacher's cache be used?
    warm = optim.warmup(opt, spec, epoch, math.ceil(len(data) / spec.batch_size))
    for batch, (idx, xb, yb, share) in enumerate(ddp.batches(data, spec.batch_size, gen)):
        warm(batch)
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        if augment is not None:
            xb = augment(xb)
        with autocast:
            scores, parts = step(Batch(xb, yb, idx, data if cached else None))
        opt.zero_grad(set_to_none=True)
        values = {k: float(v.detach()) for k, v in parts.items()}
        _check_finite(values, f"epoch {epoch + 1}, batch {batch + 1}", opt.param_groups[0]["lr"])
        (parts["total"] * share if share != 1.0 else parts["total"]).backward()   # share 1.0: one process
        opt.step()
        n = len(yb)
        seen += n
        for k, v in values.items():
            sums[k] = sums.get(k, 0.0) + v * n
        hits = [int((h.detach().argmax(1) == yb).sum()) for h in heads(scores)]
        correct = [c + h for c, h in zip(correct or [0] * len(hits), hits)]
    warm(None)
    totals = ddp.all_sum([*sums.values(), *correct, seen], device)
    n = int(totals[-1]) if ddp.active() else len(data)
    row = {f"train_{k}": v / n for k, v in zip(sums, totals)}
    row.update({f"train_{k}": v for k, v in accuracy_columns([c / n for c in totals[len(sums):-1]]).items()})
    return row


def _on(device: torch.device, data):
    """In-memory data moved to the device once; streaming data stays where its loader reads it."""
    return data if device.type == "cpu" or getattr(data, "streaming", False) else data.to(device)


def _prepare(distiller, train: TensorData, val: TensorData, spec: TrainSpec, device: torch.device):
    """Check the data and the distiller, put it on the device, build the optimizer and schedule."""
    for name, data in (("training", train), ("validation", val)):
        if data is not None and len(data) == 0:
            raise ValueError(f"the {name} set is empty: check the data set's size (n=...) and split")
    if val is None and spec.selection.needs_val:
        raise ValueError(f"fit(val=None) trains on the full training set, so {spec.selection} cannot be "
                         "applied: use Selection('last') (the final epoch) or a train_* metric")
    if not callable(getattr(distiller, "evaluate", None)):
        raise TypeError(f"fit trains a distiller, got a {type(distiller).__name__}: wrap a model in one, "
                        "e.g. kdcourse.distillers.CrossEntropy(model) to train it on the labels alone")
    distiller.to(device)
    distiller.check(next(iter(train.batches(2)))[1].to(device))
    step = ddp.wrap(distiller, device, spec.sync_bn)
    opt = optim.optimizer((p for p in distiller.parameters() if p.requires_grad), spec)
    return step, opt, optim.scheduler(opt, spec)


def _finished(epochs_done: int, spec: TrainSpec, selector: Selector) -> bool:
    """The run is over: every epoch trained, or its selection stopped it (a finished run is only loaded)."""
    return epochs_done >= spec.epochs or selector.stopped


def _restore(state: dict | None, distiller, opt, sched, spec: TrainSpec):
    """Rows, selector and first epoch of a resumed run (of a new one when ``state`` is None)."""
    if state is None:
        return [], Selector(spec.selection), 0
    distiller.load_state_dict(state["distiller"])
    selector = Selector(spec.selection, state["selection"])
    if state["optimizer"] is not None:
        opt.load_state_dict(state["optimizer"])
    elif not _finished(state["epoch"], spec, selector):   # only a finished run's checkpoint drops it (see fit)
        raise RuntimeError(f"the checkpoint of epoch {state['epoch']} of {spec.epochs} has no optimizer state, so "
                           "the run cannot continue from it: delete it to train afresh")
    if sched is not None:
        sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    return state["rows"], selector, state["epoch"]


def fit(distiller: nn.Module, train: TensorData, val: TensorData | None, spec: TrainSpec | dict | None = None, *,
        track: dict[str, TensorData] | None = None, augment: Callable[[Tensor], Tensor] | None = None,
        checkpoint: str | Path | None = None, seed: int = 0, device: torch.device | None = None,
        progress: bool = True, desc: str | None = None) -> FitResult:
    """Train ``distiller`` (its student and trainable parts) on ``train`` as ``spec`` says; select the best
    epoch on ``val``; return the student with the best epoch's weights and the History.

    val         the validation set; None trains on the full training set as the seeds' code bases do, and
                then ``spec.selection`` must be ``Selection("last")`` or a rule on train_* metrics.

    track       extra sets evaluated every epoch for the curves (e.g. the test set); they never
                influence selection or stopping.
    augment     a function of a batch of inputs; the teacher then runs live instead of from its cache.
    checkpoint  a file written atomically after every epoch (by rank 0); if it exists the run resumes
                from it (same run required) and a finished run returns at once.
    """
    spec, device = as_spec(spec), device or ddp.device()
    step, opt, sched = _prepare(distiller, train, val, spec, device)
    train, val = _on(device, train), None if val is None else _on(device, val)
    track = {k: _on(device, v) for k, v in (track or {}).items()}
    path = Path(checkpoint) if checkpoint is not None else None
    sig = ckpt.signature(distiller, spec, train, val, seed) if path is not None else None
    mine = path is not None and ddp.is_main()   # rank 0 alone locks and writes
    if mine:
        ckpt.prepare(path)
    lock = file_lock(path, f"training {path.name}") if mine else contextlib.nullcontext()
    with lock, distiller:   # one process per checkpoint; the method's feature hooks come off whatever happens
        torch.manual_seed(seed)
        rows, selector, start = _restore(ckpt.resume(path, sig, clean=mine), distiller, opt, sched, spec)
        bar = tqdm(range(start, spec.epochs), desc=desc or distiller.name, unit="epoch", leave=True,
                   disable=not progress or selector.stopped or not ddp.is_main())
        for epoch in bar:
            if selector.stopped:
                break
            tic = time.perf_counter()
            distiller.train()
            distiller.set_epoch(epoch + 1)     # a loss scheduled over epochs (DKD's warm-up) reads it
            row = {"epoch": epoch + 1, "lr": opt.param_groups[0]["lr"],
                   **train_epoch(step, opt, train, spec, epoch, seed, augment, device)}
            for name, data in {"val": val, **track}.items():
                if data is not None:
                    row.update({f"{name}_{k}": v for k, v in distiller.evaluate(data, device).items()})
            _check_finite({k: v for k, v in row.items() if k.startswith("val_")}, f"epoch {epoch + 1}'s "
                          "validation", opt.param_groups[0]["lr"])
            if sched is not None:
                sched.step()
            row["seconds"] = time.perf_counter() - tic
            rows.append(row)
            selector.update(row, distiller.student)
            bar.set_postfix(loss=f"{row['train_total']:.4f}", **({"val_acc": f"{row['val_acc']:.4f}"} if val
                                                                  is not None else {}))
            if mine:   # a finished run is only ever loaded: its optimizer's moments (2x the weights for Adam) go
                done = _finished(epoch + 1, spec, selector)
                ckpt.save(path, {"signature": sig, "epoch": epoch + 1, "distiller": distiller.state_dict(),
                                 "optimizer": None if done else opt.state_dict(), "rows": rows,
                                 "selection": selector.state,
                                 "scheduler": sched.state_dict() if sched is not None else None,
                                 "rng": torch.get_rng_state()})
        bar.close()
    distiller.student.load_state_dict(selector.best["state"])
    distiller.eval()
    return FitResult(distiller.student, pd.DataFrame(rows), selector.best_epoch, bool(selector.stopped), start,
                     distiller)
