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


def describe(spec, indent: str = "  ") -> list[str]:
    """One ``name = value`` line per field, for the settings printed at the top of a run."""
    return [f"{indent}{f.name:>16} = {getattr(spec, f.name)}" for f in dataclasses.fields(spec)]
