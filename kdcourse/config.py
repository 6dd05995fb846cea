"""Profiles, environment variables, paths, device choice and seeding.

A *profile* is one row of settings per notebook: ``smoke`` (nbval in CI, tiny
real subsets), ``cpu`` (the committed figures, a laptop) and ``paper`` (the
source reports' own settings, GPU hours).  Every notebook starts with
``run = kdcourse.start("02_mnist_kd")``, which reads ``KDCOURSE_PROFILE``, picks
the device, seeds everything and prints the settings it will use.

Environment variables
---------------------
KDCOURSE_PROFILE   smoke | cpu | paper (default: cpu)
KDCOURSE_DATA      data folder (default: <repo>/data)
KDCOURSE_OFFLINE   1 to never download (default: 0)
KDCOURSE_FIGURES   where figures go (default: <repo>/figures for cpu,
                   <repo>/build/figures-<profile> otherwise)
"""
from __future__ import annotations

import copy
import os
import platform
import random
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

PROFILE_NAMES = ("smoke", "cpu", "paper")
REPO = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------
# The profiles: for each notebook, its sizes, epochs and choices in each
# profile, side by side.  n_* are numbers of images (None = the whole split).
# The ``paper`` rows are the source reports' settings, pinned by
# tests/test_config.py.
# ---------------------------------------------------------------------------
PROFILES: dict[str, dict[str, dict]] = {
    # The MNIST subsets and teacher shared by notebooks 01, 02, 08 and 09.
    # Mueller et al. 2020 / the ECE1512 colab train for 12 epochs with Adam, batch 256.
    "mnist": {
        "smoke": dict(n_train=1500, n_val=300, n_test=500,
                      teacher=dict(epochs=2, batch_size=128, lr=1e-3), min_teacher_acc=0.80),
        "cpu": dict(n_train=None, n_val=None, n_test=None,
                    teacher=dict(epochs=3, batch_size=128, lr=1e-3), min_teacher_acc=0.985),
        "paper": dict(n_train=None, n_val=None, n_test=None,
                      teacher=dict(epochs=12, batch_size=256, lr=1e-3), min_teacher_acc=0.99),
    },
    "01_temperature": {
        "smoke": dict(T_grid=[0.5, 1, 2, 4, 8, 16], T_hist=4.0, n_dark=6),
        "cpu": dict(T_grid=[0.25, 0.5, 1, 2, 4, 8, 16, 32, 64], T_hist=4.0, n_dark=6),
        "paper": dict(T_grid=[0.25, 0.5, 1, 2, 4, 8, 16, 32, 64], T_hist=4.0, n_dark=6),
    },
    # seed 004 Task 1: alpha x T sweep; best alpha = 0.9, T = 20 (Figs. 1-3).
    "02_mnist_kd": {
        "smoke": dict(student=dict(epochs=2, batch_size=128, lr=1e-3),
                      seeds=[0, 1], alphas=[0.5, 0.9], temperatures=[1, 4, 20],
                      sweep_epochs=2, best=dict(alpha=0.9, T=20.0), fractions=[0.05]),
        "cpu": dict(student=dict(epochs=10, batch_size=256, lr=1e-3),
                    seeds=[0, 1, 2], alphas=[0.5, 0.9], temperatures=[1, 2, 4, 8, 20, 40],
                    sweep_epochs=5, best=dict(alpha=0.9, T=20.0), fractions=[0.01, 0.03]),
        "paper": dict(student=dict(epochs=12, batch_size=256, lr=1e-3),
                      seeds=[0, 1, 2, 3, 4], alphas=[0.1, 0.5, 0.9],
                      temperatures=[1, 2, 4, 8, 16, 20, 32, 64],
                      sweep_epochs=12, best=dict(alpha=0.9, T=20.0), fractions=[0.01, 0.03]),
    },
    # seed 004 Task 2 (MHIST): Table I at alpha 0.4, T 2; Fig. 8 sweeps T at alpha 0.5.
    "03_mhist_transfer_kd": {
        "paper": dict(alpha=0.4, T=2.0, sweep_alpha=0.5, teacher_arch="resnet50", student_arch="mobilenet_v2"),
    },
    # seed 000 Tables I-II (ResNet34 -> ResNet18 on a 10-class ImageNet subset).
    "04_resnet34_to_resnet18": {
        "paper": dict(
            image_size=224, T=4.0, alpha=0.7,
            teacher=dict(optimizer="adam", lr=1e-3, weight_decay=1e-4, step_size=10, gamma=0.1,
                         batch_size=128, epochs=20, patience=5, pretrained=True),
            student=dict(optimizer="adam", lr=1e-3, weight_decay=1e-4, step_size=10, gamma=0.5,
                         batch_size=64, epochs=80, patience=10, pretrained=False)),
    },
}


def profile_name() -> str:
    """The active profile, from KDCOURSE_PROFILE (default ``cpu``)."""
    name = os.environ.get("KDCOURSE_PROFILE", "cpu").strip().lower()
    if name not in PROFILE_NAMES:
        raise ValueError(f"KDCOURSE_PROFILE must be one of {PROFILE_NAMES}, got {name!r}")
    return name


def settings(notebook: str, profile: str | None = None) -> dict:
    """The settings of one notebook in one profile (a copy)."""
    profile = profile or profile_name()
    if profile not in PROFILE_NAMES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {PROFILE_NAMES}")
    if notebook not in PROFILES:
        raise ValueError(f"no settings for {notebook!r}; known: {sorted(PROFILES)}")
    if profile not in PROFILES[notebook]:
        raise ValueError(f"{notebook!r} has no {profile!r} profile yet; it has {sorted(PROFILES[notebook])}")
    return copy.deepcopy(PROFILES[notebook][profile])


def data_dir() -> Path:
    return Path(os.environ.get("KDCOURSE_DATA", REPO / "data")).expanduser()


def offline() -> bool:
    return os.environ.get("KDCOURSE_OFFLINE", "0").strip().lower() in ("1", "true", "yes")


def figures_dir(profile: str | None = None) -> Path:
    if os.environ.get("KDCOURSE_FIGURES"):
        return Path(os.environ["KDCOURSE_FIGURES"]).expanduser()
    profile = profile or profile_name()
    return REPO / "figures" if profile == "cpu" else REPO / "build" / f"figures-{profile}"


def checkpoints_dir(profile: str | None = None) -> Path:
    return data_dir() / "checkpoints" / (profile or profile_name())


def device() -> torch.device:
    """CUDA when present, whatever the profile; else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@dataclass
class Run:
    """One notebook run: its profile, settings, device, seed and data sources."""

    notebook: str
    profile: str
    cfg: SimpleNamespace
    device: torch.device
    seed: int = 0
    sources: dict = field(default_factory=dict)
    started: float = field(default_factory=time.time)

    @property
    def figures(self) -> Path:
        return figures_dir(self.profile) / self.notebook

    @property
    def checkpoints(self) -> Path:
        return checkpoints_dir(self.profile) / self.notebook

    def record_source(self, data) -> None:
        """Remember which source served a data set (for the figure sidecars)."""
        self.sources[data.name] = data.source

    def manifest(self) -> dict:
        import kdcourse
        return {
            "notebook": self.notebook, "profile": self.profile, "seed": self.seed,
            "data_sources": dict(self.sources), "commit": git_commit(),
            "versions": {"kdcourse": kdcourse.__version__, "torch": torch.__version__,
                         "numpy": np.__version__, "python": platform.python_version()},
            "device": str(self.device) if self.device.type == "cpu"
            else f"{self.device} ({torch.cuda.get_device_name(self.device)})",
            "wall_time_s": round(time.time() - self.started, 1),
        }


_current: Run | None = None


def start(notebook: str, seed: int = 0, profile: str | None = None, show: bool = True) -> Run:
    """Begin a notebook run: read the profile, seed, pick the device, print the settings."""
    global _current
    profile = profile or profile_name()
    cfg = settings(notebook, profile)
    seed_everything(seed)
    _current = Run(notebook, profile, SimpleNamespace(**cfg), device(), seed)
    if show:
        print(f"kdcourse: notebook {notebook} | profile {profile} | device {_current.device} | seed {seed}")
        for key, value in cfg.items():
            print(f"  {key:>16} = {value}")
    return _current


def current() -> Run | None:
    """The run started last by :func:`start` (None outside a notebook)."""
    return _current
