"""Experiment specs: the paper's settings written once, cpu and smoke as overrides with their reasons.

Each notebook has one module here (nanoGPT's ``config/`` files are the
model).  It defines a frozen dataclass of the notebook's settings, ``PAPER``
(the source report's settings), and ``PROFILES``, built by :func:`profiles`
from ``PAPER`` and one :class:`Override` per smaller profile, each saying
*why* it differs.  Quality thresholds and the source's numbers sit in the
same dataclass, beside the settings they belong to.

>>> CPU = Override("2 CPU cores: 10 epochs reach the plateau", {"student.epochs": 10, "seeds": (0, 1, 2)})

Dotted keys change one field of a nested spec (a :class:`~kdcourse.engine.TrainSpec`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

PROFILE_ORDER = ("paper", "cpu", "smoke")


@dataclass(frozen=True)
class Override:
    """Changes to a profile's parent, and why they are made."""

    reason: str
    changes: dict[str, Any] = field(default_factory=dict)


def replace(spec, key: str, value):
    """``spec`` with one (possibly dotted, nested) field replaced."""
    head, _, rest = key.partition(".")
    if not dataclasses.is_dataclass(spec) or head not in {f.name for f in dataclasses.fields(spec)}:
        raise KeyError(f"{type(spec).__name__} has no field {head!r}")
    if rest:
        value = replace(getattr(spec, head), rest, value)
    return dataclasses.replace(spec, **{head: value})


def apply(spec, override: Override):
    for key, value in override.changes.items():
        spec = replace(spec, key, value)
    return spec


def profiles(paper, cpu: Override, smoke: Override) -> dict:
    """paper as written; cpu = paper + cpu's changes; smoke = cpu + smoke's changes."""
    cpu_spec = apply(paper, cpu)
    return {"paper": paper, "cpu": cpu_spec, "smoke": apply(cpu_spec, smoke)}


def select(profiles_: dict, profile: str):
    """A module's spec for ``profile``: ``profiles_[profile]``, or the clipped paper spec in a paper-dry run.

    Run functions use ``run.cfg`` for their own notebook's spec; a shared set-up (the MNIST teacher) reads
    its spec with this, so that paper-dry clips it too."""
    from .. import config
    return clip(profiles_["paper"]) if config.label(profile) == "paper-dry" else profiles_[profile]


def teacher_store():
    """Where frozen teachers' logits are kept on disk, shared by notebooks, seeds and processes."""
    from .. import config
    return config.data_dir() / "cache" / "teacher-outputs"


def describe(spec, indent: str = "  ") -> list[str]:
    """One ``name = value`` line per field, for the settings printed at the top of a run."""
    return [f"{indent}{f.name:>16} = {getattr(spec, f.name)}" for f in dataclasses.fields(spec)]


# --------------------------------------------------------------------------- paper-dry
DRY_ROWS = 64        # images per split in a paper-dry run
DRY_EPOCHS = 1
DRY_SEEDS = 2        # the fewest that give a seed-to-seed standard deviation


def _dry_value(name: str, value):
    """The paper-dry value of one field, by its name and type (the rules of :func:`clip`)."""
    if isinstance(value, bool) or value is None and not name.startswith("n_"):
        return value
    if name.startswith("n_") and (value is None or isinstance(value, int)):
        return DRY_ROWS if value is None else min(value, DRY_ROWS)
    if name == "seeds":
        return tuple(value)[:DRY_SEEDS]
    if name.startswith("min_") and isinstance(value, (int, float)):
        return float("-inf")
    if name.startswith("max_") and isinstance(value, (int, float)):
        return float("inf")
    if name == "warmup_epochs" and isinstance(value, int):     # a warm-up must leave an epoch after it
        return min(value, DRY_EPOCHS - 1)
    if name.endswith(("_reps", "_rounds", "_epochs")) and isinstance(value, int):
        return min(value, DRY_EPOCHS if name.endswith("_epochs") else 1)
    if name == "epochs" and isinstance(value, int):
        return min(value, DRY_EPOCHS)
    if name.endswith("_negatives") and isinstance(value, int):   # drawn from a bank of the (clipped) training rows
        return min(value, DRY_ROWS // 2)
    if name == "sizes" and isinstance(value, dict):
        return {k: DRY_ROWS if v is None else min(v, DRY_ROWS) for k, v in value.items()}
    return clip(value)


def clip(spec):
    """The paper spec, clipped mechanically so that its every code path runs in minutes on 2 cores.

    Fields are changed by name, in nested specs too: ``n_*`` image counts and ``sizes`` become at most
    DRY_ROWS images; ``epochs`` / ``*_epochs`` at most DRY_EPOCHS (``warmup_epochs`` at most DRY_EPOCHS - 1, so
    that a TrainSpec's warm-up still ends before its last epoch); ``seeds`` the first DRY_SEEDS;
    ``*_reps`` / ``*_rounds`` 1; ``*_negatives`` (CRD's, drawn from a memory bank of one row per training
    image) at most DRY_ROWS // 2; quality thresholds ``min_*`` / ``max_*`` are switched off (-inf / inf).
    Everything else (architectures, resolutions, losses, optimizers, schedules, grids) is the paper's.
    There is no second, hand-written table of paper-dry settings to drift from the paper's.
    """
    if dataclasses.is_dataclass(spec) and not isinstance(spec, type):
        changes = {f.name: _dry_value(f.name, getattr(spec, f.name)) for f in dataclasses.fields(spec)
                   if f.init}
        changed = {k: v for k, v in changes.items() if v is not getattr(spec, k)}
        return dataclasses.replace(spec, **changed) if changed else spec
    if isinstance(spec, dict):
        return {k: _dry_value(str(k), v) for k, v in spec.items()}
    return spec
