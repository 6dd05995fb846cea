"""Checkpoints: written atomically after every epoch, loaded safely, resumed only by the same run.

A checkpoint's *signature* says which run wrote it: the student's class and
state-dict layout, the method with its hyper-parameters, a content hash of
the training and validation data, a hash of the teacher's weights, the
TrainSpec (optimizer, schedule, epochs, batch, selection) and the seed.  A
checkpoint is resumed only when every field agrees; otherwise the error
names the fields that differ.  A finished run's checkpoint (its last epoch,
or the epoch its selection stopped at) is only ever loaded, so it leaves out
the optimizer's state (``None``): for Adam that halves the file.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import torch

from ..io import atomic_torch_save
from .fingerprint import data_fingerprint, fingerprint

ENTRIES = ("signature", "epoch", "distiller", "optimizer", "scheduler", "rows", "selection", "rng")


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
    """What a checkpoint must agree on to be resumed (see the module's docstring)."""
    student = distiller.student
    layout = [(k, tuple(v.shape)) for k, v in distiller.state_dict().items()]
    teacher = distiller.teacher
    return {"model": student.__class__.__name__, "params": sum(p.numel() for p in student.parameters()),
            "layout": hashlib.sha1(repr(layout).encode()).hexdigest()[:16], "objective": distiller.name,
            "teacher": None if teacher is None else fingerprint(*teacher.teacher.state_dict().values()),
            "n_train": len(train), "n_val": 0 if val is None else len(val), "train_data": data_fingerprint(train),
            "val_data": None if val is None else data_fingerprint(val), **spec.signature(), "seed": seed}


def resume(path: Path | None, sig: dict, clean: bool = False) -> dict | None:
    """The saved state at ``path`` if it exists and was written by the same run; None if there is none.

    ``clean`` (the writer, holding the checkpoint's lock) first deletes partial files of killed writes."""
    if clean:
        remove_partial_files(path)
    if path is None or not path.exists():
        return None
    state = load_checkpoint(path)
    missing = [k for k in ENTRIES if k not in state]
    if missing:
        raise RuntimeError(f"checkpoint {path} lacks {missing}: it was written by another version of kdcourse "
                           "or another program. It was left untouched: move or delete it to train afresh.")
    old = state["signature"]
    differ = sorted(k for k in set(old) | set(sig) if old.get(k) != sig.get(k))
    if differ:
        fields = "; ".join(f"{k}: checkpoint {old.get(k)!r}, this run {sig.get(k)!r}" for k in differ)
        raise ValueError(f"checkpoint {path} was written by a different run ({fields}). "
                         "Delete it to train afresh, or choose another checkpoint path.")
    return state


def prepare(path: Path) -> None:
    """Before any training: the checkpoint's folder exists and is writable."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionError(f"cannot create the checkpoint folder {path.parent} ({exc.strerror}): choose a "
                              "writable place with KDCOURSE_DATA or pass checkpoint=None") from exc
    if not os.access(path.parent, os.W_OK):
        raise PermissionError(f"the checkpoint folder {path.parent} is not writable: fix its permissions, choose "
                              "another place with KDCOURSE_DATA, or pass checkpoint=None")


def remove_partial_files(path: Path) -> list[Path]:
    """Delete the temporary files an interrupted atomic write of ``path`` left behind (see kdcourse.io)."""
    if not path.parent.is_dir():
        return []
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[A-Za-z0-9_]{{8}}{re.escape(path.suffix or '.tmp')}")
    stale = [p for p in path.parent.iterdir() if pattern.fullmatch(p.name)]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def save(path: Path, state: dict) -> None:
    atomic_torch_save(state, path)
