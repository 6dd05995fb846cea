"""engine.fingerprint: content hashes, and the memo of data_fingerprint that must never answer for other data."""
import weakref

import torch

from kdcourse.data import TensorData
from kdcourse.engine import fingerprint as fp


def data(seed: int) -> TensorData:
    g = torch.Generator().manual_seed(seed)
    return TensorData(torch.rand(6, 1, 2, 2, generator=g), torch.randint(0, 2, (6,), generator=g), "toy", "train",
                      "made in the test", ["a", "b"])


def test_the_fingerprint_is_of_the_content():
    a, b = data(0), data(0)
    assert fp.data_fingerprint(a) == fp.data_fingerprint(b) == fp.fingerprint(a.x, a.y)
    assert fp.data_fingerprint(data(1)) != fp.data_fingerprint(a)
    a.x[0] += 1                                   # an in-place change moves the tensor's version: hashed again
    assert fp.data_fingerprint(a) == fp.fingerprint(a.x, a.y) != fp.data_fingerprint(b)


def test_a_remembered_hash_of_freed_tensors_is_not_reused_for_new_ones():
    # Python reuses the id of a freed object and the allocator its storage, so a key of (id, data_ptr, version)
    # can come back for other data.  Simulate that: a memo entry under the new data's key, left by tensors that
    # are gone (or are other tensors), must not be returned.
    new = data(2)
    key = tuple((id(t), t.data_ptr(), t._version) for t in (new.x, new.y))
    gone = data(3)
    fp._memo[key] = ("stale-hash", weakref.ref(gone.x), weakref.ref(gone.y))
    del gone
    assert fp.data_fingerprint(new) == fp.fingerprint(new.x, new.y) != "stale-hash"
    other = data(4)                               # alive, but not the tensors asked about
    fp._memo[key] = ("other-hash", weakref.ref(other.x), weakref.ref(other.y))
    assert fp.data_fingerprint(new) == fp.fingerprint(new.x, new.y)
