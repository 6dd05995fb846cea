"""Content hashes of tensors and data sets: what a checkpoint's signature and the disk caches are keyed by."""
from __future__ import annotations

import hashlib

import torch


def fingerprint(*tensors: torch.Tensor) -> str:
    """A short content hash of tensors (their bytes, shapes and dtypes)."""
    h = hashlib.sha1()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


_memo: dict[tuple, str] = {}


def data_fingerprint(data) -> str:
    """In-memory data: a hash of its inputs and labels; a streaming set: of its source and labels.

    Remembered per tensor (its identity, storage and in-place version), so hashing the same 55,000
    images for every run of a sweep costs nothing after the first."""
    if hasattr(data, "x"):
        key = tuple((id(t), t.data_ptr(), t._version) for t in (data.x, data.y))
        if key not in _memo:
            _memo[key] = fingerprint(data.x, data.y)
        return _memo[key]
    return fingerprint(data.y) + ":" + hashlib.sha1(str(data.source).encode()).hexdigest()[:8]
