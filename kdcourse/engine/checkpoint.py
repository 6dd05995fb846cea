"""Checkpoints: written atomically after every epoch, loaded safely, resumed only by the same run."""
from __future__ import annotations

from pathlib import Path

import torch

from ..io import atomic_torch_save


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


def signature(distiller, spec, train, val, seed: int) -> dict:
    """What a checkpoint must agree on to be resumed: the student, the method, the data sizes, the spec."""
    student = distiller.student
    return {"model": student.__class__.__name__, "params": sum(p.numel() for p in student.parameters()),
            "objective": repr(distiller), "n_train": len(train), "n_val": len(val), **spec.signature(),
            "seed": seed}


def resume(path: Path | None, sig: dict) -> dict | None:
    """The saved state at ``path`` if it exists and was written by the same run; None if there is none."""
    if path is None or not path.exists():
        return None
    state = load_checkpoint(path)
    if state.get("signature") != sig:
        raise ValueError(f"checkpoint {path} was written by a different run "
                         f"({state.get('signature')} vs {sig}); delete it or choose another path")
    return state


def save(path: Path, state: dict) -> None:
    atomic_torch_save(state, path)
