"""Atomic file writes (a reader never sees half a file, a crash never destroys the old one) and file locks.

A write that fails for want of space or permission raises a :class:`WriteError` (an ``OSError``:
:class:`DiskFullError` or :class:`NotWritableError`) whose message names the path, the bytes needed when
known, the bytes free, and what to do; the temporary file is removed in every case.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import torch

_SPACE = (errno.ENOSPC, errno.EDQUOT)
_PERMISSION = (errno.EACCES, errno.EPERM, errno.EROFS)
# how torch.save reports a write that the disk refused: no errno, only these
_TORCH_WRITE_FAILURES = ("unexpected pos", "basic_ios", "PytorchStreamWriter failed", "file write failed")
ELSEWHERE = ("or write elsewhere: KDCOURSE_DATA moves the data caches and checkpoints, KDCOURSE_FIGURES "
             "the figures")


class WriteError(OSError):
    """A file could not be written; ``str()`` is the whole explanation, ``errno``, ``path`` and ``needed``
    (bytes, or None when unknown) are set."""

    def __init__(self, message: str, code: int, path: Path, needed: int | None = None):
        super().__init__(message)
        self.errno, self.path, self.needed = code, Path(path), needed


class DiskFullError(WriteError):
    """No space (or quota) left on the device for the file."""


class NotWritableError(WriteError, PermissionError):
    """The folder is not writable (permissions, or a read-only file system)."""


def _size(n: int | None) -> str:
    if n is None:
        return "an unknown number of bytes"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit} ({n:,} bytes)"
    return f"{n:,} bytes"


def _free(folder: Path) -> int | None:
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def explain(exc: OSError, path: Path, needed: int | None = None, held: int = 0) -> WriteError | None:
    """The :class:`WriteError` saying why ``path`` could not be written and what to do, for a disk-full or
    permission error; None for any other error (re-raise it as it is).  ``held``: bytes of a deleted
    partial file that an open handle still holds (they are free once the error is dropped)."""
    path, code = Path(path), exc.errno
    if code in _SPACE:
        free = _free(path.parent)
        free = free + held if free is not None else None
        short = f"at least {_size(needed - free)} more" if needed and free is not None and needed > free else "space"
        return DiskFullError(
            f"no space left on the device to write {path}: it needs {_size(needed)}, and "
            f"{_size(free) if free is not None else 'an unknown amount'} is free there "
            f"({os.strerror(code)}). Free {short} on the device holding {path.parent}, {ELSEWHERE}. "
            "The partial file was removed.", code, path, needed)
    if code in _PERMISSION:
        return NotWritableError(
            f"cannot write {path}: {path.parent} is not writable ({os.strerror(code)}). Make it writable "
            f"(`chmod u+w {path.parent}`, or remount a read-only file system read-write), {ELSEWHERE}.",
            code, path, needed)
    return None


def _torch_failure(exc: RuntimeError, path: Path, needed: int | None, held: int) -> WriteError | None:
    """torch.save's RuntimeError for a refused write (no errno) as a WriteError, else None.  torch keeps
    its handle on the partial file while the error lives: its ``held`` bytes count as free."""
    if not any(pattern in str(exc) for pattern in _TORCH_WRITE_FAILURES):
        return None
    free = _free(Path(path).parent)
    free = free + held if free is not None else None
    full = free is not None and (free < (needed or 0) or free < 1 << 20)
    if full:
        return explain(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), path, needed, held)
    return WriteError(f"torch.save could not write {path} ({exc}); {_size(free)} is free there. Check the disk "
                      f"holding {Path(path).parent}, {ELSEWHERE}. The partial file was removed.",
                      errno.EIO, path, needed)


def atomic_write(path: Path, write: Callable[[str], None], needed: int | None = None) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``.

    ``needed``: the bytes the file will take, when known (said in a disk-full message).  Disk-full and
    permission errors become a :class:`WriteError` naming the path, the bytes and what to do; the
    temporary file never outlives the call.
    """
    path, tmp = Path(path), None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix or ".tmp")
        os.close(fd)
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        held = _remove(tmp)   # first, so that the message counts the space the partial file took as free
        error = (explain(exc, path, needed) if isinstance(exc, OSError)
                 else _torch_failure(exc, path, needed, held))
        if error is None:
            raise
        if isinstance(exc, RuntimeError):
            _drop_frames(exc)
        raise error from exc
    finally:
        _remove(tmp)


def _drop_frames(exc: BaseException | None) -> None:
    """Forget the tracebacks of ``exc`` and the errors it chains: torch.save's frames hold its handle on the
    deleted partial file, and so its disk space, for as long as the error lives (in a notebook: for ever)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc.__traceback__ = None
        exc = exc.__cause__ or exc.__context__


def _remove(tmp: str | None) -> int:
    """Delete the temporary file if it is there; return the bytes it held."""
    if tmp is None or not os.path.exists(tmp):
        return 0
    with contextlib.suppress(OSError):
        size = os.path.getsize(tmp)
        os.unlink(tmp)
        return size
    return 0


def atomic_write_text(path: Path, text: str) -> None:
    """``Path.write_text`` through :func:`atomic_write`."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text), needed=len(text.encode()))


def tensor_bytes(obj) -> int:
    """The bytes of the tensors in ``obj`` (nested dicts, lists, tuples): about what ``torch.save`` writes."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v) for v in obj)
    return 0


def atomic_torch_save(obj, path: Path) -> None:
    """``torch.save`` through :func:`atomic_write`."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp), needed=tensor_bytes(obj) or None)


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
