"""Environment variables, paths, device choice, seeding, and the current run.

A *profile* is ``smoke`` (nbval in CI, tiny real subsets), ``cpu`` (the
committed figures, a laptop) or ``paper`` (the source reports' own settings,
GPU hours); each notebook's settings per profile are its experiment spec
(:mod:`kdcourse.experiments`).  Every notebook starts with
``run = kdcourse.start("02_mnist_kd")``, which reads ``KDCOURSE_PROFILE``, picks
the device, seeds everything and prints the settings it will use.

Environment variables
---------------------
KDCOURSE_PROFILE   smoke | cpu | paper (default: cpu)
KDCOURSE_DATA      data folder (default: <repo>/data)
KDCOURSE_OFFLINE   1 to never download (default: 0)
KDCOURSE_DRY       1 with the paper profile: paper-dry, the paper's code paths on clipped sizes and
                   epochs and on synthetic data of the real shapes where the data is missing
KDCOURSE_FIGURES   where figures go (default: <repo>/figures for cpu, <repo>/figures/paper for real
                   paper runs, <repo>/build/figures-<smoke|paper-dry> otherwise)
"""
from __future__ import annotations

import os
import platform
import random
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

VERSION = "0.1.0"
PROFILE_NAMES = ("smoke", "cpu", "paper")
REPO = Path(__file__).resolve().parents[1]

def profile_name() -> str:
    """The active profile, from KDCOURSE_PROFILE (default ``cpu``)."""
    name = os.environ.get("KDCOURSE_PROFILE", "cpu").strip().lower()
    if name not in PROFILE_NAMES:
        raise ValueError(f"KDCOURSE_PROFILE must be one of {PROFILE_NAMES}, got {name!r}")
    return name


def data_dir() -> Path:
    return Path(os.environ.get("KDCOURSE_DATA", REPO / "data")).expanduser()


def offline() -> bool:
    """KDCOURSE_OFFLINE: 1 / true / yes / on never downloads; 0 / false / no / off or unset may."""
    return _switch("KDCOURSE_OFFLINE")


def _switch(name: str) -> bool:
    value = os.environ.get(name, "0").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be 1 / true / yes / on or 0 / false / no / off, got {value!r}")


def dry() -> bool:
    """KDCOURSE_DRY: a paper-profile run is a paper-dry one (kdcourse.experiments.base.clip)."""
    return _switch("KDCOURSE_DRY")


def label(profile: str | None = None) -> str:
    """The profile's name for folders: ``paper-dry`` for a dry paper run, so it never mixes with real ones."""
    profile = profile or profile_name()
    return "paper-dry" if profile == "paper" and dry() else profile


def figures_dir(profile: str | None = None) -> Path:
    if os.environ.get("KDCOURSE_FIGURES"):
        return Path(os.environ["KDCOURSE_FIGURES"]).expanduser()
    profile = label(profile)
    if profile in ("cpu", "paper"):   # both are committed: cpu's in figures/, real paper runs in figures/paper/
        return REPO / "figures" if profile == "cpu" else REPO / "figures" / "paper"
    return REPO / "build" / f"figures-{profile}"


def checkpoints_dir(profile: str | None = None) -> Path:
    return data_dir() / "checkpoints" / label(profile)


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
    cfg: object            # the notebook's typed spec (kdcourse.experiments)
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

    @property
    def full_size(self) -> bool:
        """True for the runs a notebook's prose describes (cpu, real paper): not smoke, not paper-dry, whose
        clipped sizes make claims about trained models meaningless, so the notebook does not assert them there."""
        return label(self.profile) in ("cpu", "paper")

    def record_source(self, data) -> None:
        """Remember which source served a data set (for the figure sidecars).

        Paths inside the repository are written relative to it, and the home folder as ``~``,
        so that sidecars and REPORT.md do not depend on where the repository was cloned.
        """
        self.sources[data.name] = (data.source.replace(f"{REPO}{os.sep}", "")
                                   .replace(str(Path.home()), "~"))

    def manifest(self) -> dict:
        return {
            "notebook": self.notebook, "profile": self.profile, "seed": self.seed,
            "data_sources": dict(self.sources), "commit": git_commit(),
            "versions": {"kdcourse": VERSION, "torch": torch.__version__,
                         "numpy": np.__version__, "python": platform.python_version()},
            "device": str(self.device) if self.device.type == "cpu"
            else f"{self.device} ({torch.cuda.get_device_name(self.device)})",
            "wall_time_s": round(time.time() - self.started, 1),
        }


_current: Run | None = None


def begin(run: Run) -> Run:
    """Make ``run`` the current one (figures and sidecars are written for it)."""
    global _current
    _current = run
    return _current


def current() -> Run | None:
    """The run started last (None outside a notebook or a headless run)."""
    return _current
