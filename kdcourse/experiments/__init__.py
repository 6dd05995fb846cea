"""One module per notebook: its typed specs (paper once; cpu and smoke as overrides with reasons), the
quality thresholds and source numbers beside them, and the named runs the command line can train headless.

mnist           the MNIST splits and the teacher CNN shared by notebooks 01, 02, 08 and 09
temperature     01 · mnist_kd 02 · mhist 03 · resnet 04 · born_again 05 · ipkd 06 · rrd 07 ·
subclass        08 · saliency 09

A module's ``PROFILES`` maps paper / cpu / smoke to its spec; ``RUNS`` (where
present) maps a method name to ``run_fn(run, seed) -> FitResult``, which
trains that run with a checkpoint the notebook loads when it exists.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from .. import config
from ..engine import distributed
from .base import PROFILE_ORDER, Override, clip, describe, profiles, select

MODULES = {
    "mnist": "mnist", "01_temperature": "temperature", "02_mnist_kd": "mnist_kd",
    "03_mhist_transfer_kd": "mhist", "04_resnet34_to_resnet18": "resnet", "05_born_again": "born_again",
    "06_ipkd_teacher_assistants": "ipkd", "07_rrd": "rrd", "08_subclass_distillation": "subclass",
    "09_saliency": "saliency",
}


# The teachers `make teachers` (``python -m kdcourse teachers``) trains before any notebook runs: (notebook,
# named run), each trained once with seed 0 and checkpointed where its notebooks load it, so that a notebook's
# own time is its students' and every notebook that shares a teacher shares the same one.  Cheapest first.
TEACHERS = (
    ("mnist", "teacher"),                                   # ECE1512 CNN: 01, 02, 09
    ("08_subclass_distillation", "teacher-2x5"),            # subclass teachers of 08
    ("08_subclass_distillation", "teacher-10x2"),
    ("02_mnist_kd", "hinton-teacher"),                      # 02 section 8: ConvNet3 with jitter
    ("03_mhist_transfer_kd", "teacher"),                    # EfficientNet-Lite2, the teacher that teaches
    ("03_mhist_transfer_kd", "subclass_teacher"),
    ("07_rrd", "teacher"),                                  # resnet32x0.5
    ("04_resnet34_to_resnet18", "teacher"),                 # ResNet34: pre-trained, then fine-tuned
)


def module(notebook: str) -> ModuleType:
    """The experiment module of a notebook (``"02_mnist_kd"``), or of the shared ``"mnist"`` set-up."""
    if notebook not in MODULES:
        raise ValueError(f"unknown notebook {notebook!r}; known: {sorted(MODULES)}")
    return importlib.import_module(f"{__name__}.{MODULES[notebook]}")


def spec(notebook: str, profile: str | None = None):
    """The typed spec of ``notebook`` in ``profile`` (default: KDCOURSE_PROFILE); with KDCOURSE_DRY=1 the
    paper spec clipped by :func:`~kdcourse.experiments.base.clip` (paper-dry)."""
    profile = profile or config.profile_name()
    if profile not in config.PROFILE_NAMES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {config.PROFILE_NAMES}")
    return select(module(notebook).PROFILES, profile)


def runs(notebook: str) -> dict:
    """The named runs a notebook offers to the command line (method -> run function)."""
    return getattr(module(notebook), "RUNS", {})


def start(notebook: str, seed: int = 0, profile: str | None = None, show: bool = True) -> config.Run:
    """Begin a notebook run: read the profile, seed, pick the device, print the settings."""
    profile = profile or config.profile_name()
    cfg = spec(notebook, profile)
    config.seed_everything(seed)
    device = distributed.device()
    if profile == "paper" and not config.dry():
        from .guide import preflight
        preflight(notebook, cfg, device)   # before any training: the data is there; a warning on a CPU
    run = config.begin(config.Run(notebook, profile, cfg, device, seed))
    if show and distributed.is_main():
        print(f"kdcourse: notebook {notebook} | profile {config.label(profile)} | device {run.device} | seed {seed}")
        print("\n".join(describe(cfg)))
    return run


__all__ = ["MODULES", "TEACHERS", "Override", "PROFILE_ORDER", "clip", "describe", "module", "profiles", "runs", "spec", "start"]
