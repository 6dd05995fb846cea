"""What a training run is asked to do: one typed spec for every notebook and the command line.

:class:`TrainSpec` holds the optimizer, its schedule, the epochs and batch
size, and the selection rule; :func:`kdcourse.engine.fit` consumes it as it
is, so no notebook needs an adapter from its settings to the loop.  Change
one field with :meth:`TrainSpec.but` (``spec.but(epochs=3)``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True)
class Selection:
    """Which epoch is best, and when to stop (seed 000 section III-E).

    The best epoch has the best ``primary`` metric, ties broken by
    ``secondary``.  With ``patience`` set, training stops once neither metric
    has improved for ``patience`` epochs.  Metrics ending in ``acc`` are
    maximised, all others minimised.

    Validation metrics (``val_*``) are the default.  A protocol that trains on
    the full training set, as the seeds' code bases do, has no validation set:
    it reports the final epoch (``primary="last"``) or follows its own rule on
    training metrics (``train_*``, e.g. BAN's early stop on the training loss).
    Test metrics are refused: no model is ever chosen on test data.
    """

    primary: str = "val_acc"
    secondary: str | None = "val_total"
    patience: int | None = None

    def __post_init__(self):
        if self.primary == "last":
            if self.patience is not None:
                raise ValueError("Selection('last') keeps the final epoch: it cannot stop early (patience=None)")
            object.__setattr__(self, "secondary", None)
        for m in (self.primary, self.secondary):
            if m not in (None, "last") and not m.startswith(("val_", "train_")):
                raise ValueError(f"selection metrics must be validation (val_*) or training (train_*) metrics, "
                                 f"or primary='last'; got {m!r} (no model is chosen on test data)")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be >= 1 or None, got {self.patience}")

    @property
    def needs_val(self) -> bool:
        """Whether this rule reads validation metrics (a run without a validation set cannot use it)."""
        return any(m is not None and m.startswith("val_") for m in (self.primary, self.secondary))


@dataclass(frozen=True, repr=False)
class TrainSpec:
    """Optimizer, schedule, epochs, batch size and selection of one training run.

    optimizer     ``"adam"`` or ``"sgd"`` (momentum ``momentum``, Nesterov when ``nesterov``)
    step_size     StepLR: lr times ``gamma`` every ``step_size`` epochs (None: constant lr)
    milestones    MultiStepLR instead: lr times ``gamma`` after each of these epochs (not with step_size);
                  milestone m means epochs 1..m (1-based) run at the higher lr, epoch m + 1 at the lower
    warmup_epochs linear warm-up over the first epochs' batches, as pytorch-cifar100's WarmUpLR: batch k
                  of the warm-up (0-based) runs at lr * k / (warm-up batches); the schedule starts after
    selection     the best-epoch rule and early stopping (:class:`Selection`)
    bf16          bf16 autocast of the forward pass on CUDA (ignored on the CPU)
    sync_bn       SyncBatchNorm across ranks under torchrun (ignored in one process)
    """

    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 128
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9
    nesterov: bool = True
    step_size: int | None = None
    gamma: float = 0.1
    milestones: tuple[int, ...] | None = None
    warmup_epochs: int = 0
    selection: Selection = field(default_factory=Selection)
    bf16: bool = False
    sync_bn: bool = False

    def __post_init__(self):
        if isinstance(self.selection, dict):
            object.__setattr__(self, "selection", Selection(**self.selection))
        if self.milestones is not None:
            object.__setattr__(self, "milestones", tuple(self.milestones))
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if isinstance(self.warmup_epochs, bool) or not isinstance(self.warmup_epochs, int) or not (
                0 <= self.warmup_epochs < self.epochs):
            raise ValueError(f"warmup_epochs must be an integer in [0, epochs), got {self.warmup_epochs!r}")
        if self.step_size is not None and (isinstance(self.step_size, bool) or not isinstance(self.step_size, int)
                                           or self.step_size < 1):
            raise ValueError(f"step_size must be an integer >= 1 or None, got {self.step_size!r}")
        checks = (("lr", self.lr > 0, "> 0"), ("gamma", self.gamma > 0, "> 0"),
                  ("weight_decay", self.weight_decay >= 0, ">= 0"), ("momentum", 0 <= self.momentum < 1, "in [0, 1)"))
        for name, ok, rule in checks:
            if not ok:
                raise ValueError(f"{name} must be {rule}, got {getattr(self, name)!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.step_size and self.milestones:
            raise ValueError("give step_size (StepLR) or milestones (MultiStepLR), not both")
        m = self.milestones
        if m and (list(m) != sorted(set(m)) or min(m) < 1):
            raise ValueError(f"milestones must be increasing epochs >= 1, got {list(m)}")

    def __repr__(self) -> str:
        """Epochs, lr, batch and optimizer, then only the fields that differ from the defaults."""
        always = ("epochs", "lr", "batch_size", "optimizer")
        changed = [f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)
                   if f.name in always or getattr(self, f.name) != (
                       f.default if f.default is not dataclasses.MISSING else f.default_factory())]
        return f"TrainSpec({', '.join(changed)})"

    def but(self, **changes) -> "TrainSpec":
        """A copy with some fields changed: ``spec.but(epochs=2, lr=3e-3)``."""
        return dataclasses.replace(self, **changes)

    def signature(self) -> dict:
        """The fields a checkpoint must agree on to be resumed (bf16 / sync_bn change no setting)."""
        sig = {"epochs": self.epochs, "lr": self.lr, "batch_size": self.batch_size,
               "optimizer": self.optimizer, "weight_decay": self.weight_decay, "step_size": self.step_size,
               "gamma": self.gamma, "selection": repr(self.selection)}
        if self.optimizer == "sgd":
            sig.update(momentum=self.momentum, nesterov=self.nesterov)
        if self.milestones:
            sig["milestones"] = list(self.milestones)
        if self.warmup_epochs:
            sig["warmup_epochs"] = self.warmup_epochs
        return sig


def as_spec(spec: TrainSpec | dict | None = None, **overrides) -> TrainSpec:
    """A TrainSpec from a TrainSpec, a dict of its fields, or None (the defaults), with overrides."""
    if spec is None:
        spec = TrainSpec()
    elif isinstance(spec, dict):
        spec = TrainSpec(**spec)
    elif not isinstance(spec, TrainSpec):
        raise TypeError(f"spec must be a TrainSpec or a dict of its fields, got {type(spec).__name__}")
    return spec.but(**overrides) if overrides else spec

