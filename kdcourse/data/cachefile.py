"""The data caches ``<KDCOURSE_DATA>/cache/*.pt``: versioned, tied to their source, checked before use.

A cache file holds ``{"format", "source", "origin", "sha256", "data"}``:

format   :data:`FORMAT`, the layout this code writes; a cache of another format is rebuilt
source   ``{"what", "key"}``: what it was made from and a hash of that source (the files' names, sizes and
         modification times: the mirror files, CIFAR's batch files, an image folder's listing), so a
         changed source rebuilds it
origin   the source's description, for ``TensorData.source``
sha256   a hash of ``data`` (every tensor's name, dtype, shape and bytes; other values by repr)
data     the arrays, as the loader returns them

:func:`read` returns the data only when all of that holds and ``data`` has the layout the loader
expects (keys, dtypes, shapes, rows that agree); otherwise it says why the cache is not used, and the
loader rebuilds it from its source (:func:`write` prints the reason) or, with no source left, raises an
error naming the rejected cache.  A folder that cannot be written (read-only, full) costs one
:class:`CacheNotWritten` warning: the data is served from memory and nothing is cached.
"""
from __future__ import annotations

import hashlib
import os
import sys
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from .. import io

FORMAT = 2
# key -> (dtype, shape); a shape entry is a size, None (any) or a name that must be the same size everywhere
Layout = dict[str, tuple[torch.dtype, tuple]]
_checked: dict[tuple, str] = {}   # (path, size, mtime, inode) -> sha256 already verified in this process
_warned: set[str] = set()          # folders already warned about


class CacheNotWritten(UserWarning):
    """The data cache folder is not writable: data is served from memory, nothing is cached."""


def signature(what: str, files: Iterable[Path]) -> dict[str, str]:
    """The ``source`` of a cache made from ``files``: ``what`` and a hash of their names, sizes and times."""
    h = hashlib.sha256()
    for path in files:
        st = os.stat(path)
        h.update(f"{path}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return {"what": what, "key": h.hexdigest()[:32]}


def content_hash(data: dict) -> str:
    """sha256 of ``data``: each tensor's name, dtype, shape and bytes; other values by their repr."""
    h = hashlib.sha256()
    for key in sorted(data):
        value = data[key]
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            h.update(f"{key}|{t.dtype}|{tuple(t.shape)}\n".encode())
            h.update(np.ascontiguousarray(t.numpy()).data if t.numel() else b"")
        else:
            h.update(f"{key}|{value!r}\n".encode())
    return h.hexdigest()


def check_layout(data, layout: Layout, extras: tuple[str, ...] = (), sizes: dict | None = None) -> str | None:
    """Why ``data`` does not have ``layout`` (None when it does).  ``sizes`` binds named sizes beforehand
    (e.g. the number of rows the source has); ``extras`` are other keys allowed (class names)."""
    if not isinstance(data, dict):
        return f"it holds {type(data).__name__}, not a dict of arrays"
    keys = sorted(k for k in data if k not in extras)
    if keys != sorted(layout):
        return f"wrong keys {keys}, expected {sorted(layout)}"
    sizes = dict(sizes or {})
    for key, (dtype, shape) in layout.items():
        t = data[key]
        if not isinstance(t, torch.Tensor) or t.dtype != dtype or t.dim() != len(shape):
            got = f"{t.dtype} {tuple(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__
            return f"{key} is {got}, expected {dtype} of {len(shape)} dimensions"
        for dim, (got, want) in enumerate(zip(t.shape, shape)):
            if isinstance(want, str) and sizes.setdefault(want, got) != got:
                return f"{key} has {got} {'rows' if dim == 0 else 'in dimension ' + str(dim)}, expected {sizes[want]}"
            if isinstance(want, int) and got != want:
                return f"{key} has shape {tuple(t.shape)}, expected {want} in dimension {dim}"
    return None


def _verified(path: Path, data: dict, recorded) -> bool:
    """Whether ``data`` hashes to ``recorded`` (remembered per file, so a process hashes each file once)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
    if _checked.get(key) == recorded:
        return True
    if content_hash(data) != recorded:
        return False
    _checked[key] = recorded
    return True


def read(path: Path, layout: Layout, source: dict | None = None, extras: tuple[str, ...] = (),
         sizes: dict | None = None) -> tuple[dict | None, str]:
    """``(data, origin)`` of a valid cache at ``path``, else ``(None, why it is not used)``.

    ``source``: the :func:`signature` of the source as it is now (None when no source is present, and
    then any valid cache serves).  ``layout``, ``extras``, ``sizes``: as for :func:`check_layout`.
    """
    if not path.is_file():
        return None, "absent"
    try:
        blob = torch.load(path, weights_only=True)
    except Exception as exc:   # noqa: BLE001  (any unreadable file is rebuilt)
        return None, f"not used: unreadable ({exc.__class__.__name__})"
    made = blob.get("format", "none") if isinstance(blob, dict) else "none"
    if made != FORMAT:
        return None, f"not used: cache format {made}, this code reads format {FORMAT}"
    recorded = blob.get("source") or {}
    if source is not None and recorded.get("key") != source["key"]:
        change = ("its files changed (size or modification time)" if recorded.get("what") == source["what"]
                  else f"now {source['what']}")
        return None, f"not used: made from {recorded.get('what')}; {change}"
    why = check_layout(blob.get("data"), layout, extras, sizes)
    if why is None and not _verified(path, blob["data"], blob.get("sha256")):
        why = "its content does not match its recorded sha256 (damaged or edited)"
    if why is not None:
        return None, f"not used: {why}"
    return blob["data"], str(blob.get("origin", recorded.get("what", "?")))


def _unwritable(folder: Path) -> str | None:
    """Why ``folder`` (or, if absent, the folder that would hold it) cannot be written; None if it can."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            if os.access(candidate, os.W_OK):
                return None
            read_only = bool(os.statvfs(candidate).f_flag & os.ST_RDONLY)
            return f"{candidate} is on a read-only file system" if read_only else f"no write permission on {candidate}"
    return "no existing parent folder"


def _warn_once(folder: Path, reason: str) -> None:
    if str(folder) in _warned:
        return
    _warned.add(str(folder))
    warnings.warn(f"the data cache folder {folder} cannot be written ({reason}): the data is served from "
                  "memory and nothing will be cached, so every load reads its source again. To cache it, "
                  "make that folder writable or set KDCOURSE_DATA to a writable folder.",
                  CacheNotWritten, stacklevel=4)


def write(path: Path, data: dict, source: dict, origin: str, rebuilt: str | None = None) -> bool:
    """Cache ``data`` at ``path`` (atomically); ``rebuilt``: why the old cache was not used (printed).

    Returns whether it was written: a folder that cannot be written is one warning, never an error.
    """
    if rebuilt is not None and rebuilt != "absent":
        print(f"rebuilding the data cache {path} from {origin}: the old one was {rebuilt}",
              file=sys.stderr, flush=True)
    why = _unwritable(path.parent)
    if why is not None:
        _warn_once(path.parent, why)
        return False
    blob = {"format": FORMAT, "source": dict(source), "origin": origin, "sha256": content_hash(data),
            "data": data}
    try:
        io.atomic_torch_save(blob, path)
    except OSError as exc:
        _warn_once(path.parent, str(exc))
        return False
    st = path.stat()
    _checked[(str(path), st.st_size, st.st_mtime_ns, st.st_ino)] = blob["sha256"]
    return True
