"""Notebook 02: Hinton KD on MNIST, teacher CNN -> student MLP 784-784 (seed 004 Task 1, Figs. 1-5).

The paper profile is seed 004's: an alpha x T sweep (best alpha 0.9, T 20),
students trained for 12 epochs with Adam at batch 256.  The small-data runs
follow Hinton et al. 2015 (a few % of the training set), with batch 32 and
twice the epochs.  ``RUNS`` are the notebook's two headless runs: the
student without KD (``ce``) and with KD at the best alpha and T (``kd``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from .. import config, models
from ..distillers import KD, CrossEntropy, Distiller
from ..engine import FitResult, TeacherCache, TrainSpec, fit
from . import mnist
from .base import Override, profiles


@dataclass(frozen=True)
class MnistKDSpec:
    student: TrainSpec                 # the student's training, with and without KD
    seeds: tuple[int, ...]             # seeds of the KD vs no-KD comparison and of the small-data runs
    alphas: tuple[float, ...]          # the sweep's grid
    temperatures: tuple[float, ...]
    sweep_epochs: int                  # each sweep cell: one seed, this many epochs
    best_alpha: float                  # seed 004's best setting (Figs. 1-2)
    best_T: float
    fractions: tuple[float, ...]       # small-data setting: fractions of the training set
    small: TrainSpec                   # ... trained with this spec
    # quality thresholds (asserted at the end of the notebook)
    min_student_acc: float             # lowest acceptable mean test accuracy, with and without KD
    min_full_gain: float               # KD must not hurt on full data by more than this
    min_small_gain: float              # the smallest KD gain accepted at every small fraction
    min_sweep_acc: float               # the sweep's best mean test accuracy


PAPER = MnistKDSpec(
    student=TrainSpec(epochs=12, batch_size=256, lr=1e-3), seeds=(0, 1, 2, 3, 4), alphas=(0.1, 0.5, 0.9),
    temperatures=(1, 2, 4, 8, 16, 20, 32, 64), sweep_epochs=12, best_alpha=0.9, best_T=20.0,
    fractions=(0.01, 0.03), small=TrainSpec(epochs=24, batch_size=32, lr=1e-3),
    min_student_acc=0.98, min_full_gain=-0.002, min_small_gain=0.01, min_sweep_acc=0.98)

PROFILES = profiles(
    PAPER,
    cpu=Override("2 CPU cores, a 10-minute budget: 10 epochs (the val curves are flat by then), 3 seeds, "
                 "two alphas and six temperatures of 5 epochs each in the sweep",
                 {"student.epochs": 10, "seeds": (0, 1, 2), "alphas": (0.5, 0.9),
                  "temperatures": (1, 2, 4, 8, 20, 40), "sweep_epochs": 5, "small.epochs": 20,
                  "min_student_acc": 0.975, "min_sweep_acc": 0.975}),
    smoke=Override("nbval in CI: 2 epochs of batch 128, 2 seeds, a 2 x 3 sweep, one 5 % fraction, loose floors",
                   {"student.epochs": 2, "student.batch_size": 128, "seeds": (0, 1), "temperatures": (1, 4, 20),
                    "sweep_epochs": 2, "fractions": (0.05,), "small.epochs": 4, "min_student_acc": 0.80,
                    "min_full_gain": -0.03, "min_small_gain": -0.05, "min_sweep_acc": 0.75}))


def student(seed: int) -> models.MLP:
    """A fresh seeded student: the 784-784 MLP (Hinton et al.'s 800-800, seed 004's size)."""
    config.seed_everything(seed)
    return models.MLP(784, (784, 784))


def method(name: str, net, cache: TeacherCache, cfg: MnistKDSpec) -> Distiller:
    """``ce``: the student alone; ``kd``: Hinton KD at seed 004's best alpha and T."""
    methods = {"ce": lambda: CrossEntropy(net), "kd": lambda: KD(net, cache, cfg.best_T, cfg.best_alpha)}
    if name not in methods:
        raise ValueError(f"notebook 02 has the methods {sorted(methods)}, not {name!r}")
    return methods[name]()


def train(run: config.Run, name: str, seed: int, shared=None, progress: bool = False) -> FitResult:
    """One of the KD vs no-KD runs on the full training set, tracked on the test set; checkpointed, so a
    finished run (for example one trained headless with ``python -m kdcourse train``) is loaded."""
    cfg, m = PROFILES[run.profile], shared or mnist.setup(run, progress=progress)
    return fit(method(name, student(seed), m.cache, cfg), m.train, m.val, cfg.student, track={"test": m.test},
               checkpoint=run.checkpoints / f"{name}-seed{seed}.pt", seed=seed, progress=progress,
               device=run.device, desc=f"02 {name} seed {seed}")


RUNS = {"ce": partial(train, name="ce"), "kd": partial(train, name="kd")}
