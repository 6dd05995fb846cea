"""MHIST reader, its stand-in, and seed 000's image-folder preprocessing, on files the tests write."""
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import write_idx
from kdcourse import data
from kdcourse.data import imagefolder, mhist


# --------------------------------------------------------------------------- fixtures
def write_fake_mhist(folder, rows):
    """annotations.csv with MHIST's columns + images/ of 8x8 PNGs whose red channel encodes the row number."""
    (folder / "images").mkdir(parents=True)
    lines = ['Image Name,Majority Vote Label,Number of Annotators who Selected SSA (Out of 7),Partition']
    for i, (label, votes, part) in enumerate(rows):
        name = f"MHIST_{i:03d}.png"
        pixels = np.zeros((8, 8, 3), dtype=np.uint8)
        pixels[..., 0], pixels[..., 1] = 10 * i, 200 if label == "SSA" else 50
        Image.fromarray(pixels).save(folder / "images" / name)
        lines.append(f"{name},{label},{votes},{part}")
    (folder / "annotations.csv").write_text("\n".join(lines) + "\n")


ROWS = ([("HP", 1, "train")] * 6 + [("SSA", 6, "train")] * 3 + [("HP", 0, "test")] * 2 + [("SSA", 7, "test")])


@pytest.fixture
def fake_mhist(tmp_path, monkeypatch):
    monkeypatch.setenv("KDCOURSE_DATA", str(tmp_path))
    write_fake_mhist(tmp_path / "mhist", ROWS)
    return tmp_path / "mhist"


@pytest.fixture(scope="module")
def fashion_files(tmp_path_factory):
    """A fake Fashion-MNIST (torchvision raw layout): 1,600 / 700 images per class, brightness = 20 * label + 5."""
    root = tmp_path_factory.mktemp("fashion")
    for part, per in (("train", 1600), ("t10k", 700)):
        y = np.repeat(np.arange(10), per)
        x = np.broadcast_to((20 * y + 5)[:, None, None], (len(y), 28, 28)).astype(np.uint8)
        write_idx(root / "FashionMNIST" / "raw" / f"{part}-images-idx3-ubyte", x)
        write_idx(root / "FashionMNIST" / "raw" / f"{part}-labels-idx1-ubyte", y)
    return root


@pytest.fixture
def fake_fashion(fashion_files, monkeypatch):
    monkeypatch.setattr(data.core, "DEBIAN_FASHION", fashion_files / "no-debian-mirror")
    monkeypatch.setattr(data.core, "CHECKSUMS", {})
    monkeypatch.setenv("KDCOURSE_DATA", str(fashion_files))
    return fashion_files


# --------------------------------------------------------------------------- MHIST
def test_mhist_reads_the_real_layout(fake_mhist):
    ds = {s: mhist.MHIST(split=s, val_fraction=1 / 3) for s in ("train", "val", "test")}
    assert ds["train"].root == fake_mhist and ds["train"].classes == ["HP", "SSA"]
    # the train partition (rows 0-8: 6 HP, 3 SSA) is divided per class: 1/3 of each to val
    assert sorted(ds["val"].targets) == [0, 0, 1] and sorted(ds["train"].targets) == [0, 0, 0, 0, 1, 1]
    names = {s: {f.name for f in d.files} for s, d in ds.items()}
    assert not names["train"] & names["val"]
    assert names["train"] | names["val"] == {f"MHIST_{i:03d}.png" for i in range(9)}
    assert names["test"] == {"MHIST_009.png", "MHIST_010.png", "MHIST_011.png"}
    assert ds["test"].targets == [0, 0, 1] and ds["test"].annotators == [0, 0, 7]
    image, label = ds["test"][2]
    assert image.size == (8, 8) and label == 1 and image.getpixel((0, 0)) == (110, 200, 0)


def test_mhist_transform_and_cached_tensors(fake_mhist):
    ds = mhist.MHIST(fake_mhist, "test", transform=lambda im: np.asarray(im)[0, 0, 0])
    assert [ds[i][0] for i in range(3)] == [90, 100, 110]
    t = ds.tensors()
    assert t.x.dtype == torch.uint8 and t.x.shape == (3, 3, 8, 8) and t.y.tolist() == [0, 0, 1]
    assert t.x[:, 0, 0, 0].tolist() == [90, 100, 110] and t.classes == ["HP", "SSA"] and t.name == "MHIST"
    cached = list((fake_mhist.parent / "cache").glob("mhist-test-native-*.pt"))
    assert len(cached) == 1
    assert torch.equal(ds.tensors().x, t.x)
    assert ds.tensors(size=4).x.shape == (3, 3, 4, 4)


def test_load_mhist_prefers_real_mhist_and_keeps_proportions(fake_mhist):
    d = mhist.load_mhist("train", val_fraction=1 / 3)
    assert d.name == "MHIST" and len(d) == 6
    assert mhist.load_mhist("train", 3, val_fraction=1 / 3).y.tolist() == [0, 0, 1]


def test_mhist_absent_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KDCOURSE_DATA", str(tmp_path))
    with pytest.raises(data.DataNotFoundError, match="MHIST is not available.*bmirds.github.io/MHIST") as err:
        mhist.MHIST(split="train")
    assert f"Tried: {tmp_path / 'mhist' / 'annotations.csv'} (absent)" in str(err.value)
    with pytest.raises(data.DataNotFoundError):
        mhist.load_mhist("test", allow_standin=False)
    with pytest.raises(data.DataNotFoundError, match="MHIST is not available"):
        data.load("mhist", "test")      # load() never falls back to the stand-in


def test_mhist_root_may_be_the_folder_above(fake_mhist):
    assert mhist.find_root(fake_mhist) == fake_mhist == mhist.find_root(fake_mhist.parent)
    d = data.load("mhist", "test", root=fake_mhist.parent)
    assert d.name == "MHIST" and d.y.tolist() == [0, 0, 1] and d.source == f"MHIST at {fake_mhist}"


def test_mhist_bad_files_are_named(tmp_path):
    write_fake_mhist(tmp_path / "a", ROWS)
    (tmp_path / "a" / "images" / "MHIST_010.png").unlink()
    with pytest.raises(data.DataNotFoundError, match="1 MHIST image.*MHIST_010.png"):
        mhist.MHIST(tmp_path / "a", "test")
    write_fake_mhist(tmp_path / "b", [("HP", 1, "train"), ("TA", 2, "test")])
    with pytest.raises(ValueError, match="unexpected values \\['TA'\\]"):
        mhist.MHIST(tmp_path / "b", "test")
    (tmp_path / "b" / "annotations.csv").write_text("Image Name,Partition\nx.png,train\n")
    with pytest.raises(ValueError, match="lacks the column"):
        mhist.MHIST(tmp_path / "b", "test")
    with pytest.raises(ValueError, match="split must be"):
        mhist.MHIST(tmp_path / "a", "validation")


def test_mhist_standin_has_mhists_sizes_and_imbalance(fake_fashion):
    parts = {s: mhist.standin(s) for s in ("train", "val", "test")}
    counts = {s: torch.bincount(d.y, minlength=2).tolist() for s, d in parts.items()}
    assert counts["test"] == [617, 360]
    assert [a + b for a, b in zip(counts["train"], counts["val"])] == [1545, 630]
    assert counts["val"] == [round(0.15 * 1545), round(0.15 * 630)]
    for d in parts.values():
        assert d.x.dtype == torch.uint8 and d.x.shape[1:] == (3, 28, 28)
        assert torch.equal(d.x[:, 0], d.x[:, 2])                            # grey over 3 channels
        # only T-shirt/top (label 0, brightness 5) as HP and Shirt (label 6, brightness 125) as SSA
        assert set(d.x[:, 0, 0, 0].tolist()) == {5, 125}
        assert torch.equal(d.x[:, 0, 0, 0] == 125, d.y == 1)
        assert "stand-in" in d.name and "stand-in" in d.source and d.classes == mhist.STANDIN_CLASSES
    small = mhist.load_mhist("test", 100)   # no MHIST here: the stand-in, proportions kept
    assert small.name == mhist.STANDIN_NAME and torch.bincount(small.y).tolist() == [63, 37]


# --------------------------------------------------------------------------- seed 000 preprocessing
def test_pad_or_crop_is_symmetric():
    x = torch.arange(6).view(1, 2, 3) + 1
    out = imagefolder.pad_or_crop(x, 4)       # 2 -> 4 rows: 1 above, 1 below; 3 -> 4 columns: 0 left, 1 right
    assert out[0].tolist() == [[0, 0, 0, 0], [1, 2, 3, 0], [4, 5, 6, 0], [0, 0, 0, 0]]
    y = torch.arange(25).view(5, 5)
    assert imagefolder.pad_or_crop(y, 3).tolist() == [[6, 7, 8], [11, 12, 13], [16, 17, 18]]   # centre crop
    z = torch.ones(2, 6)                      # pad the height, crop the width
    assert imagefolder.pad_or_crop(z, 4).tolist() == [[0] * 4, [1] * 4, [1] * 4, [0] * 4]


def test_channel_statistics_and_standardisation():
    x = torch.zeros(2, 3, 1, 2, dtype=torch.uint8)
    x[:, 0] = torch.tensor([0, 255], dtype=torch.uint8)     # channel 0: half 0, half 1 -> mean 0.5, std 0.5
    x[:, 1] = 51                                             # channel 1: constant 0.2
    mean, std = imagefolder.channel_stats(x)
    assert mean == pytest.approx([0.5, 0.2, 0.0]) and std[0] == pytest.approx(0.5)
    out = imagefolder.standardise(x, [0.5, 0.2, 0.0], [0.5, 1.0, 1.0])
    assert out.dtype == torch.float32 and out[0, 0, 0].tolist() == [-1.0, 1.0]
    assert torch.allclose(out[:, 1], torch.zeros(2, 1, 2))


def write_image_folder(root):
    rng = np.random.default_rng(0)
    sizes = {"train": [(6, 10), (3, 3), (4, 4), (5, 2)], "val": [(4, 4), (2, 8)], "test": [(9, 9), (4, 4)]}
    for split, shapes in sizes.items():
        for i, (h, w) in enumerate(shapes):
            cls = ("banana", "sunglasses")[i % 2]
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(1, 255, (h, w, 3), dtype=np.uint8)).save(root / split / cls / f"{i}.png")


def test_imagefolder_preprocessing_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KDCOURSE_DATA", str(tmp_path / "store"))
    write_image_folder(tmp_path / "imagenet10")
    train = data.load_imagefolder(tmp_path / "imagenet10", "train", size=4)
    assert train.x.shape == (4, 3, 4, 4) and train.x.dtype == torch.float32
    assert train.classes == ["banana", "sunglasses"] and train.y.tolist() == [0, 0, 1, 1]
    flat = train.x.permute(1, 0, 2, 3).reshape(3, -1)
    assert torch.allclose(flat.mean(1), torch.zeros(3), atol=1e-5)                 # standardised on train
    assert torch.allclose(flat.std(1, unbiased=False), torch.ones(3), atol=1e-4)
    val = data.load_imagefolder(tmp_path / "imagenet10", "val", size=4)
    assert val.mean == train.mean and val.std == train.std                         # train's statistics
    # the 2 x 8 validation image: padded to 4 rows (1 above), cropped to the middle 4 columns
    raw = np.asarray(Image.open(tmp_path / "imagenet10" / "val" / "sunglasses" / "1.png"))
    pixel = (raw[0, 2, 0] / 255 - train.mean[0]) / train.std[0]
    assert val.x[1, 0, 1, 0].item() == pytest.approx(pixel, abs=1e-5)
    assert val.x[1, 0, 0, 0].item() == pytest.approx(-train.mean[0] / train.std[0], abs=1e-5)   # zero padding
    assert len(list((tmp_path / "store" / "cache").glob("imagefolder-imagenet10-*.pt"))) == 2   # train and val
    assert torch.equal(data.load_imagefolder(tmp_path / "imagenet10", "train", size=4).x, train.x)


def test_imagefolder_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("KDCOURSE_DATA", str(tmp_path / "store"))
    with pytest.raises(data.DataNotFoundError, match="no 'train' folder.*root/train/<class>"):
        data.load_imagefolder(tmp_path / "absent", "train")
    write_image_folder(tmp_path / "f")
    (tmp_path / "f" / "test" / "sunglasses").rename(tmp_path / "f" / "test" / "parachute")
    with pytest.raises(ValueError, match="classes .* differ from train"):
        data.load_imagefolder(tmp_path / "f", "test", size=4)


def test_load_imagenet10_reads_the_folder_under_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("KDCOURSE_DATA", str(tmp_path))
    write_image_folder(tmp_path / "imagenet10")
    d = imagefolder.load_imagenet10("val", size=4)
    same = data.load_imagefolder(tmp_path / "imagenet10", "val", size=4)
    assert torch.equal(d.x, same.x) and d.y.tolist() == [0, 1] and d.classes == ["banana", "sunglasses"]
    assert d.source == f"image folder {tmp_path / 'imagenet10'} (seed 000 III-C preprocessing at 4 px)"
    assert torch.equal(data.load("imagenet10", "val", size=4, root=tmp_path / "imagenet10").x, d.x)
    assert data.load("imagenet10", "train", size=4).x.shape == (4, 3, 4, 4)
    with pytest.raises(ValueError, match="split must be one of"):
        imagefolder.load_imagenet10("dev")


def test_imagenet10_standin_has_seed_000s_sizes(fake_fashion):
    parts = {s: data.imagenet10_standin(s) for s in ("train", "val", "test")}
    for split, per in (("train", 780), ("val", 260), ("test", 260)):
        d = parts[split]
        assert d.x.shape == (10 * per, 3, 32, 32) and torch.bincount(d.y).tolist() == [per] * 10
        assert "stand-in" in d.name and d.classes[6] == "Shirt"
        border = -np.array(parts["train"].mean) / np.array(parts["train"].std)
        assert torch.allclose(d.x[:, :, :2, :], torch.tensor(border, dtype=torch.float32).view(1, 3, 1, 1))
    flat = parts["train"].x.permute(1, 0, 2, 3).reshape(3, -1)
    assert torch.allclose(flat.mean(1), torch.zeros(3), atol=1e-4)
    assert parts["test"].mean == parts["train"].mean
    small = data.imagenet10_standin("test", n=30)
    assert torch.bincount(small.y).tolist() == [3] * 10
