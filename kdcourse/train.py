"""One training loop for every method.

Methods differ only in the *objective* handed to :func:`fit`: a callable
``objective(student_logits, targets, teacher_logits) -> {"total": ..., part: ...}``.
The frozen teacher is kept in eval mode and run under ``torch.inference_mode``;
when inputs are not augmented its logits are computed once per data set
(:class:`TeacherCache`) and looked up by sample index.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import config, features, losses
from .data import TensorData
from .io import atomic_torch_save

Tensor = torch.Tensor


# --------------------------------------------------------------------------- objectives
class Objective:
    """A named loss: ``fn(student_logits, targets, teacher_logits) -> dict`` with ``total``.

    A *feature* objective names the layers it reads in ``features`` (a
    :class:`kdcourse.features.Layers`); :func:`fit` then calls
    ``fn(s, y, t, student_feats, teacher_feats)`` with lists of features.
    ``module`` holds the objective's own trainable parameters (RRD's
    embeddings, a FitNets regressor): ``fit`` optimises them with the student.
    """

    def __init__(self, name: str, fn: Callable[..., dict], needs_teacher: bool,
                 features: "features.Layers | None" = None, module: nn.Module | None = None):
        self.name, self.fn, self.needs_teacher = name, fn, needs_teacher
        self.features, self.module = features, module

    def __call__(self, student_logits: Tensor, targets: Tensor, teacher_logits: Tensor | None = None,
                 student_feats: list[Tensor] | None = None, teacher_feats: list[Tensor] | None = None):
        if self.features is None:
            return self.fn(student_logits, targets, teacher_logits)
        return self.fn(student_logits, targets, teacher_logits, student_feats, teacher_feats)

    def __repr__(self) -> str:
        return self.name


def cross_entropy() -> Objective:
    """Plain supervised training: total = ce = CE(y, softmax(s))."""
    def fn(s, y, t=None):
        ce = F.cross_entropy(s, y)
        return {"total": ce, "ce": ce}
    return Objective("cross_entropy", fn, needs_teacher=False)


def distillation(T: float, alpha: float) -> Objective:
    """Hinton KD, ``losses.kd_objective``: alpha * T^2 KL + (1 - alpha) * CE."""
    T, alpha = losses.check_temperature(T), losses.check_alpha(alpha)
    return Objective(f"kd(T={T:g}, alpha={alpha:g})",
                     lambda s, y, t: losses.kd_objective(s, t, y, T, alpha), needs_teacher=True)


def in_place_distillation(T: float, lam: float, scheme: str, soft_ce: bool = False) -> Objective:
    """Flexible networks (seed 003 eqs. 4-7): ``losses.ipkd_loss`` on the list of sub-model logits.

    The teachers are the network's own (detached) sub-models, so ``fit`` needs no ``teacher=``.
    """
    T, lam = losses.check_temperature(T), losses.check_alpha(lam)
    losses.ipkd.check_scheme(scheme)
    return Objective(f"{scheme}(T={T:g}, lam={lam:g}{', soft CE' if soft_ce else ''})",
                     lambda s, y, t=None: losses.ipkd_loss(s, y, T, lam, scheme, soft_ce), needs_teacher=False)


def feature_distillation(name: str, loss: Callable[..., Tensor], layers: features.Layers, *, ce: float = 1.0,
                         kd: float = 0.0, T: float = 4.0, beta: float = 1.0) -> Objective:
    """A feature loss beside the task loss, weighted as in the CRD / RRD code base (gamma, alpha, beta).

    total = ce * CE(y, s) + kd * T^2 KL(p_t^T || p_s^T) + beta * loss(f_s, f_t)

    ``loss`` gets the student's and the teacher's features at ``layers``
    (tensors when one layer is named on each side, else lists); when it is an
    ``nn.Module`` (``losses.RRDLoss``, ``losses.FitNetsLoss``) its parameters
    train with the student.  Parts: total, ce, feat (unweighted) and kd when kd > 0.
    """
    T = losses.check_temperature(T)
    for label, weight in (("ce", ce), ("kd", kd), ("beta", beta)):
        if not weight >= 0:
            raise ValueError(f"weight {label} must be >= 0, got {weight!r}")

    def fn(s, y, t, f_s, f_t):
        if layers.single:
            f_s, f_t = f_s[0], f_t[0]
        parts = {"ce": F.cross_entropy(s, y), "feat": loss(f_s, f_t)}
        total = ce * parts["ce"] + beta * parts["feat"]
        if kd:
            parts["kd"] = losses.kd_loss(s, t, T)
            total = total + kd * parts["kd"]
        return {"total": total, **parts}
    return Objective(name, fn, needs_teacher=True, features=layers,
                     module=loss if isinstance(loss, nn.Module) else None)


def as_objective(objective) -> Objective:
    if objective is None:
        return cross_entropy()
    if isinstance(objective, Objective):
        return objective
    if callable(objective):  # a user's own callable: assume it reads the teacher
        name = getattr(objective, "__qualname__", objective.__class__.__name__)
        return Objective(name, objective, needs_teacher=True)
    raise TypeError(f"objective must be callable, got {type(objective).__name__}")


# --------------------------------------------------------------------------- inference
def _heads(out) -> list[Tensor]:
    """A model's output as a list of logits: one per sub-model of a flexible network, else just one."""
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _acc_columns(accs: list[float]) -> dict[str, float]:
    """``acc`` of one model; for a flexible network ``acc_0``, ``acc_1``, ... per sub-model (smallest
    first) and ``acc`` = their mean, so ``Selection("val_acc")`` picks the epoch with the best accuracy
    averaged over sub-models (seed 003 section IV-B)."""
    if len(accs) == 1:
        return {"acc": accs[0]}
    return {**{f"acc_{i}": a for i, a in enumerate(accs)}, "acc": sum(accs) / len(accs)}


def predict(model: nn.Module, data: TensorData | Tensor, batch_size: int = 256,
            device: torch.device | None = None) -> Tensor | list[Tensor]:
    """Logits of ``model`` on every sample, in eval mode under inference mode (on the CPU).

    A model returning a list of logits (a flexible network's sub-models) gets a list back."""
    device = device or next(model.parameters()).device
    x = data.x if isinstance(data, TensorData) else data
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            out, many = [], False
            for i in range(0, len(x), batch_size):
                o = model(x[i:i + batch_size].to(device))
                many = isinstance(o, (list, tuple))
                out.append([h.float().cpu() for h in _heads(o)])
    finally:
        model.train(was_training)
    if many:
        return [torch.cat(head) for head in zip(*out)]
    return torch.cat([o[0] for o in out]) if out else torch.empty(0)


class TeacherCache:
    """A frozen teacher whose logits are computed once per data set.

    ``logits(data)`` runs the teacher over ``data`` the first time and stores
    the result, aligned with the sample index; later calls (other epochs,
    other students, the whole alpha x T sweep) cost nothing.  ``live(x)``
    runs it on a batch, for augmented inputs.  ``features_of(data, layers)``
    and ``live_features(x, layers)`` do the same for features read by hooks
    (:mod:`kdcourse.features`), for feature objectives.
    """

    def __init__(self, teacher: nn.Module, batch_size: int = 256):
        self.teacher = teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        self.batch_size = batch_size
        self._store: dict[int, tuple[Tensor, Tensor]] = {}
        self._features: dict[tuple, tuple[Tensor, list[Tensor]]] = {}  # (data, layers) -> features

    def logits(self, data: TensorData) -> Tensor:
        key = id(data.x)
        hit = self._store.get(key)
        if hit is None or hit[0] is not data.x:
            hit = (data.x, predict(self.teacher, data, self.batch_size))
            self._store[key] = hit
        return hit[1]

    def live(self, x: Tensor) -> Tensor:
        self.teacher.eval()
        with torch.inference_mode():
            return self.teacher(x).float()

    def features_of(self, data: TensorData, layers: features.Layers) -> list[Tensor]:
        """The teacher's features at ``layers.teacher`` (after ``layers.teacher_transform``) for every
        sample of ``data``, computed once (on the CPU, aligned with the sample index); the logits of
        the same pass are cached too.  Pass the same transform function each time, not a new lambda."""
        key = (id(data.x), layers.teacher, layers.teacher_transform)
        hit = self._features.get(key)
        if hit is None or hit[0] is not data.x:
            logits, feats = features.extract(self.teacher, data.x, layers.teacher, self.batch_size,
                                             layers.teacher_transform)
            hit = self._features[key] = (data.x, feats)
            self._store[id(data.x)] = (data.x, logits)
        return hit[1]

    def live_features(self, x: Tensor, layers: features.Layers) -> list[Tensor]:
        """The teacher's (transformed) features on one batch, for augmented inputs."""
        self.teacher.eval()
        with features.FeatureHooks(self.teacher, layers.teacher) as hooks, torch.inference_mode():
            self.teacher(x)
            out = [f.float() if layers.teacher_transform is None else layers.teacher_transform(f.float())
                   for f in hooks.features]
        return [f.clone() for f in out]  # ordinary tensors, usable in a loss's backward


# --------------------------------------------------------------------------- selection
@dataclass
class Selection:
    """Which epoch is best, and when to stop (seed 000 section III-E).

    The best epoch has the best ``primary`` metric, ties broken by
    ``secondary``.  With ``patience`` set, training stops once neither metric
    has improved for ``patience`` epochs.  Metrics ending in ``acc`` are
    maximised, all others minimised.  Only validation metrics may be used:
    no model is chosen on test data.
    """

    primary: str = "val_acc"
    secondary: str | None = "val_total"
    patience: int | None = None

    def __post_init__(self):
        for m in (self.primary, self.secondary):
            if m is not None and not m.startswith("val_"):
                raise ValueError(f"selection metrics must be validation metrics (val_*), got {m!r}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be >= 1 or None, got {self.patience}")

    @staticmethod
    def _key(metric: str, value: float) -> float:
        return -value if metric.endswith("acc") else value

    def better(self, row: dict, best: dict | None) -> tuple[bool, bool]:
        """(is the row the new best, did either metric improve on its own best)."""
        if best is None:
            return True, True
        p_new, p_old = self._key(self.primary, row[self.primary]), best["primary"]
        s_new = self._key(self.secondary, row[self.secondary]) if self.secondary else 0.0
        is_best = p_new < p_old or (p_new == p_old and s_new < best["secondary"])
        improved = p_new < best["primary_run"] or (self.secondary is not None and s_new < best["secondary_run"])
        return is_best, improved


# --------------------------------------------------------------------------- checkpoints
def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint safely (``weights_only=True``), with a clear error when corrupt."""
    path = Path(path)
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise RuntimeError(
            f"checkpoint {path} is corrupt or not a kdcourse checkpoint ({exc.__class__.__name__}: "
            f"{str(exc)[:200]}). It was left untouched: move or delete it to train afresh.") from exc


@dataclass
class FitResult:
    model: nn.Module
    history: pd.DataFrame
    best_epoch: int
    stopped_early: bool
    resumed_from: int = 0

    def best(self) -> pd.Series:
        """The history row of the selected (best) epoch."""
        return self.history.set_index("epoch").loc[self.best_epoch]


def _signature(model, objective, train, val, lr, batch_size, optimizer, weight_decay, step_size, gamma,
               selection, seed, milestones=None) -> dict:
    sig = {"model": model.__class__.__name__, "params": sum(p.numel() for p in model.parameters()),
           "objective": repr(objective), "n_train": len(train), "n_val": len(val), "lr": lr,
           "batch_size": batch_size, "optimizer": optimizer, "weight_decay": weight_decay,
           "step_size": step_size, "gamma": gamma, "selection": repr(selection), "seed": seed}
    if milestones:  # only when used, so checkpoints written before milestones existed stay valid
        sig["milestones"] = list(milestones)
    return sig


# --------------------------------------------------------------------------- the loop
def fit(model: nn.Module, train: TensorData, val: TensorData, *, objective=None,
        teacher: nn.Module | TeacherCache | None = None, epochs: int = 10, lr: float = 1e-3,
        batch_size: int = 128, optimizer: str = "adam", weight_decay: float = 0.0,
        step_size: int | None = None, gamma: float = 0.1, milestones: Sequence[int] | None = None,
        selection: Selection | None = None,
        track: dict[str, TensorData] | None = None, augment: Callable[[Tensor], Tensor] | None = None,
        checkpoint: str | Path | None = None, seed: int = 0, device: torch.device | None = None,
        progress: bool = True, desc: str | None = None) -> FitResult:
    """Train ``model`` on ``train``; select the best epoch on ``val``; return its History.

    objective   ``cross_entropy()`` (default), ``distillation(T, alpha)`` or any
                callable ``(student_logits, targets, teacher_logits) -> dict``.
                A flexible network (forward returns the list of its sub-models'
                logits, smallest first) trains every sub-model on every batch: the
                objective gets the list (``in_place_distillation``), the history
                gets ``acc_0``, ``acc_1``, ... per sub-model and ``acc`` = their
                mean, on which the default selection picks the epoch.
    teacher     a frozen teacher (module or :class:`TeacherCache`); its logits
                are cached per data set unless ``augment`` changes the inputs.
    step_size   StepLR every ``step_size`` epochs by ``gamma`` (None: constant lr).
    milestones  MultiStepLR instead: lr times ``gamma`` at each of these epochs
                (seed 001's 150, 180, 210 of 240); not with ``step_size``.
    selection   best-epoch rule and early stopping (:class:`Selection`).
    track       extra sets evaluated every epoch for the curves (e.g. the test
                set); they never influence selection or stopping.
    checkpoint  a file written atomically after every epoch; if it exists the
                run resumes from it (same settings required) and a finished
                run returns at once.
    """
    objective = as_objective(objective)
    selection = selection or Selection()
    track = dict(track or {})
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if objective.needs_teacher and teacher is None:
        raise ValueError(f"objective {objective!r} needs a teacher: pass teacher=...")
    device = device or config.device()
    model.to(device)
    cache = teacher if isinstance(teacher, TeacherCache) or teacher is None else TeacherCache(teacher)
    if cache is not None:
        cache.teacher.to(device)
        t_out = cache.live(train.x[:2].to(device)).shape[-1]
        was = model.training
        model.eval()
        with torch.inference_mode():
            s_out = _heads(model(train.x[:2].to(device)))[-1].shape[-1]
        model.train(was)
        if t_out != s_out:
            raise ValueError(f"teacher predicts {t_out} classes but the student predicts {s_out}: "
                             "give both the same output layer (the same class list)")
    if device.type != "cpu":
        train, val = train.to(device), val.to(device)
        track = {k: v.to(device) for k, v in track.items()}
    params = [p for p in model.parameters() if p.requires_grad]
    if objective.module is not None:  # the objective's own parameters (embeddings, regressors) train too
        objective.module.to(device).train()
        params += [p for p in objective.module.parameters() if p.requires_grad]
    if optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay, nesterov=True)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    if step_size and milestones:
        raise ValueError("give step_size (StepLR) or milestones (MultiStepLR), not both")
    if milestones and (list(milestones) != sorted(set(milestones)) or min(milestones) < 1):
        raise ValueError(f"milestones must be increasing epochs >= 1, got {list(milestones)}")
    if milestones:
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(milestones), gamma)
    else:
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size, gamma) if step_size else None
    signature = _signature(model, objective, train, val, lr, batch_size, optimizer, weight_decay,
                           step_size, gamma, selection, seed, milestones)

    hooks = features.FeatureHooks(model, objective.features.student) if objective.features else None
    try:  # the hooks come off whatever happens (a resumed run of another signature, an interrupt)
        rows: list[dict] = []
        best: dict | None = None
        stale, start_epoch, stopped = 0, 0, False
        torch.manual_seed(seed)
        path = Path(checkpoint) if checkpoint is not None else None
        if path is not None and path.exists():
            state = load_checkpoint(path)
            if state.get("signature") != signature:
                raise ValueError(f"checkpoint {path} was written by a different run "
                                 f"({state.get('signature')} vs {signature}); delete it or choose another path")
            model.load_state_dict(state["model"])
            if objective.module is not None and state.get("objective") is not None:
                objective.module.load_state_dict(state["objective"])
            opt.load_state_dict(state["optimizer"])
            if sched is not None:
                sched.load_state_dict(state["scheduler"])
            rows, best, stale = state["rows"], state["best"], state["stale"]
            start_epoch, stopped = state["epoch"], state["stopped"]
            torch.set_rng_state(state["rng"])

        def teacher_logits(data: TensorData, idx: Tensor | None = None, x: Tensor | None = None):
            if cache is None:
                return None
            if augment is not None and x is not None:
                return cache.live(x)
            full = cache.logits(data).to(device)
            return full if idx is None else full[idx]

        def teacher_features(data: TensorData, idx: Tensor, x: Tensor | None = None) -> list[Tensor]:
            if augment is not None and x is not None:
                return cache.live_features(x, objective.features)
            return [f[idx.cpu()].to(device) for f in cache.features_of(data, objective.features)]

        def evaluate_features(data: TensorData) -> dict[str, float]:
            # a feature objective, batch by batch: student features from the hooks, its module in eval mode
            module = objective.module if objective.module is not None else nn.Identity()
            model.eval()
            module.eval()
            sums, correct = {}, 0
            with torch.inference_mode():
                for idx, xb, yb in data.batches(256):
                    logits, t_feats = model(xb), teacher_features(data, idx)  # features first: logits come with them
                    parts = objective(logits, yb, teacher_logits(data, idx), hooks.features, t_feats)
                    sums = {k: sums.get(k, 0.0) + float(v) * len(yb) for k, v in parts.items()}
                    correct += int((logits.argmax(1) == yb).sum())
            module.train()
            return {**{k: v / len(data) for k, v in sums.items()}, "acc": correct / len(data)}

        def evaluate(data: TensorData) -> dict[str, float]:
            if hooks is not None:
                return evaluate_features(data)
            logits = predict(model, data, device=device)
            logits = [h.to(device) for h in logits] if isinstance(logits, list) else logits.to(device)
            with torch.no_grad():
                parts = objective(logits, data.y, teacher_logits(data))
            out = {k: float(v) for k, v in parts.items()}
            out.update(_acc_columns([float((h.argmax(1) == data.y).float().mean()) for h in _heads(logits)]))
            return out

        bar = tqdm(range(start_epoch, epochs), desc=desc or repr(objective), unit="epoch",
                   disable=not progress or stopped, leave=True)
        for epoch in bar:
            if stopped:
                break
            tic = time.perf_counter()
            model.train()
            sums: dict[str, float] = {}
            correct: list[int] = []  # per sub-model for a flexible network
            gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
            for idx, xb, yb in train.batches(batch_size, shuffle=True, generator=gen):
                xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
                if augment is not None:
                    xb = augment(xb)
                logits = model(xb)
                feats = (hooks.features, teacher_features(train, idx, xb)) if hooks is not None else ()
                parts = objective(logits, yb, teacher_logits(train, idx.to(device), xb), *feats)
                opt.zero_grad(set_to_none=True)
                parts["total"].backward()
                opt.step()
                n = len(yb)
                for k, v in parts.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach()) * n
                hits = [int((h.detach().argmax(1) == yb).sum()) for h in _heads(logits)]
                correct = [c + h for c, h in zip(correct or [0] * len(hits), hits)]
            row = {"epoch": epoch + 1, "lr": opt.param_groups[0]["lr"]}
            row.update({f"train_{k}": v / len(train) for k, v in sums.items()})
            row.update({f"train_{k}": v for k, v in _acc_columns([c / len(train) for c in correct]).items()})
            row.update({f"val_{k}": v for k, v in evaluate(val).items()})
            for name, data in track.items():
                row.update({f"{name}_{k}": v for k, v in evaluate(data).items()})
            if sched is not None:
                sched.step()
            row["seconds"] = time.perf_counter() - tic
            rows.append(row)

            is_best, improved = selection.better(row, best)
            p = Selection._key(selection.primary, row[selection.primary])
            s = Selection._key(selection.secondary, row[selection.secondary]) if selection.secondary else 0.0
            if best is None:
                best = {"primary_run": p, "secondary_run": s}
            best["primary_run"], best["secondary_run"] = min(best["primary_run"], p), min(best["secondary_run"], s)
            if is_best:
                best.update(epoch=epoch + 1, primary=p, secondary=s,
                            state={k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
            stale = 0 if improved else stale + 1
            stopped = selection.patience is not None and stale >= selection.patience
            bar.set_postfix(loss=f"{row['train_total']:.4f}", val_acc=f"{row['val_acc']:.4f}")
            if path is not None:
                atomic_torch_save({"signature": signature, "epoch": epoch + 1, "model": model.state_dict(),
                                   "optimizer": opt.state_dict(),
                                   "scheduler": sched.state_dict() if sched is not None else None,
                                   "rows": rows, "best": best, "stale": stale, "stopped": stopped,
                                   "rng": torch.get_rng_state(),
                                   "objective": objective.module.state_dict() if objective.module is not None
                                   else None},
                                  path)
        bar.close()
    finally:
        if hooks is not None:
            hooks.remove()
    model.load_state_dict(best["state"])
    model.eval()
    history = pd.DataFrame(rows)
    return FitResult(model, history, int(best["epoch"]), bool(stopped), start_epoch)
