"""Atomic file writes (a reader never sees half a file, a crash never destroys the old one) and file locks."""
from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import torch


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix or ".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: Path, text: str) -> None:
    """``Path.write_text`` through :func:`atomic_write`."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def atomic_torch_save(obj, path: Path) -> None:
    """``torch.save`` through :func:`atomic_write`."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


@contextlib.contextmanager
def file_lock(path: Path, what: str = "") -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (a hidden ``.<name>.lock`` beside it) for the ``with`` block.

    A second process asking for the same lock waits, saying so once, until the first is done: two
    notebooks that need the same teacher train it once, and the second loads the first's checkpoint.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another process to finish {what or path.name} ...", file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
