"""The paper-run guide: what each notebook's paper profile needs, how long it takes, and a check before it starts.

For every notebook, :data:`GUIDES` names the data the paper profile reads and a
function that lists its training *work* from the notebook's spec: which
network trains on how many image-epochs.  The work is priced in FLOPs
(:func:`kdcourse.efficiency.flops`; a training step is taken as 3 forward
passes), so an estimate follows the spec and never a second table of sizes.

* CPU time is **estimated from measured throughput**: the notebook's committed
  cpu-profile run (its wall time, from ``figures/``) scaled by the ratio of the
  paper spec's FLOPs to the cpu spec's.  Where the paper profile was also run
  here (01, 02, 08 and 09), REPORT.md and the README give the measured time beside it.
* GPU time is an **estimate, not a measurement**: the larger of the FLOPs at
  an assumed sustained :data:`GPU_TFLOPS` and the training steps at an assumed
  :data:`GPU_STEP_MS` each (small networks at batch 64-256 are bound by kernel
  launches, not arithmetic).  Replace both by measured ones when a GPU run is made.

:func:`preflight` runs before a real paper run trains anything: it stops when
the data is missing (naming the folder layout and the command that fetches it)
and warns, with the estimated time, when the machine has no GPU.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import torch

from .. import config, data, models
from ..efficiency import flops

GPU_TFLOPS = 20.0        # assumed sustained training throughput of one modern GPU (an estimate, not measured)
GPU_STEP_MS = 6.0        # assumed floor of one eager training step of a small network on it (also assumed)
MNIST_SIZES = {"train": 55_000, "val": 5_000, "test": 10_000}


class PaperOnCPUWarning(UserWarning):
    """A real paper-profile run was started on a machine without a GPU."""


@dataclass(frozen=True)
class Work:
    """One network's training in a notebook: ``image_epochs`` images through a training step (forward and
    backward) and ``eval_images`` through a forward pass alone."""

    what: str
    model: Callable[[], object]
    input_shape: tuple[int, ...]
    image_epochs: float
    eval_images: float = 0.0
    batch_size: int = 256

    def tflop(self) -> float:
        if "_tflop" not in self.__dict__:   # building the model and counting its FLOPs is the slow part
            f = flops(self.model(), self.input_shape)
            object.__setattr__(self, "_tflop", (3 * f * self.image_epochs + f * self.eval_images) / 1e12)
        return self.__dict__["_tflop"]

    def gpu_seconds(self) -> float:
        """The assumed GPU time: arithmetic at GPU_TFLOPS, or GPU_STEP_MS per training step if slower."""
        return max(self.tflop() / GPU_TFLOPS, self.image_epochs / self.batch_size * GPU_STEP_MS / 1000)


def _n(value, full: int) -> int:
    return full if value is None else min(value, full)


def _mnist_spec(profile: str):
    from . import mnist
    from .base import select
    return select(mnist.PROFILES, profile)


def _mnist_rows(profile: str) -> tuple[int, int, int]:
    """Train / val / test images of the shared MNIST splits in ``profile``."""
    spec = _mnist_spec(profile)
    return tuple(_n(getattr(spec, f"n_{s}"), MNIST_SIZES[s]) for s in ("train", "val", "test"))


def _mnist_teacher(profile: str) -> Work:
    spec = _mnist_spec(profile)
    tr, va, _ = _mnist_rows(profile)
    return Work("MNIST teacher CNN (shared by 01, 02, 08, 09)", models.TeacherCNN, (1, 28, 28),
                tr * spec.teacher.epochs, va * spec.teacher.epochs, spec.teacher.batch_size)


def _mlp() -> object:
    from . import mnist
    return mnist.student_mlp()


def work_01(cfg, profile: str) -> list[Work]:
    tr, va, _ = _mnist_rows(profile)
    return [_mnist_teacher(profile),
            Work("brief student MLP", _mlp, (1, 28, 28), tr * cfg.brief_fraction * cfg.brief.epochs,
                 va * cfg.brief.epochs, cfg.brief.batch_size)]


def work_02(cfg, profile: str) -> list[Work]:
    from ..distillers import LOGIT_BASELINES
    tr, va, te = _mnist_rows(profile)
    methods = 2 + len(LOGIT_BASELINES)   # no KD, KD and section 8b's DKD, DIST and standardized KD
    main = methods * len(cfg.seeds) * cfg.student.epochs + len(cfg.alphas) * len(cfg.temperatures) * cfg.sweep_epochs
    small = 2 * len(cfg.seeds) * cfg.small.epochs * sum(f * tr for f in cfg.fractions)
    teacher_pass = Work("teacher logits, once", models.TeacherCNN, (1, 28, 28), 0, tr + va + te)
    return [Work("student MLPs: no KD, KD, DKD, DIST and standardized KD over the seeds, and the alpha x T sweep",
                 _mlp, (1, 28, 28),
                 main * tr, main * (va + te), cfg.student.batch_size),
            Work("small-data students", _mlp, (1, 28, 28), small, 0, cfg.small.batch_size), teacher_pass]


def work_08(cfg, profile: str) -> list[Work]:
    from . import subclass
    tr, va, te = _mnist_rows(profile)
    out = []
    for layout in (cfg.two_class, cfg.ten_class):
        out.append(Work(f"subclass teacher {layout.tag}", lambda l=layout: subclass.teacher_net(l), (1, 28, 28),
                        tr * cfg.teacher.epochs, (va + te) * cfg.teacher.epochs, cfg.teacher.batch_size))
        runs = len(cfg.seeds) * len(subclass.METHODS)
        out.append(Work(f"students {layout.tag} ({runs} runs)", _mlp, (1, 28, 28), runs * tr * cfg.student.epochs,
                        runs * (va + te) * cfg.student.epochs, cfg.student.batch_size))
    return out


def work_09(cfg, profile: str) -> list[Work]:
    tr, va, _ = _mnist_rows(profile)
    from .saliency import CNN_METHODS, METHODS
    n, n_cnn, epochs = len(METHODS), len(CNN_METHODS), cfg.variant_student_epochs
    return [Work("students MLP, with and without KD", _mlp, (1, 28, 28), n * tr * cfg.student.epochs,
                 n * va * cfg.student.epochs, cfg.student.batch_size),
            Work("section 4b: students with the teacher's CNN, with and without KD", models.TeacherCNN, (1, 28, 28),
                 n_cnn * tr * epochs, n_cnn * va * epochs, cfg.student.batch_size),
            Work("saliency maps (a gradient = a training step)", _mlp, (1, 28, 28), 3 * cfg.n_compare),
            Work("section 4b: the CNN students' saliency maps", models.TeacherCNN, (1, 28, 28), 3 * cfg.n_compare)]


MHIST_IMAGES = 3_152                                   # 2,175 train (val cut from it) + 977 test (Wei et al.)
IMAGENET10_SIZES = {"train": 7_800, "val": 2_600, "test": 2_600}   # seed 000 section III-C, 780 / 260 / 260 a class


def work_03(cfg, profile: str) -> list[Work]:
    """Frozen ImageNet backbones run once over every image (engine.FeatureCache); the heads train on the
    features, which costs next to nothing beside them."""
    from ..models import transfer
    n = sum(_n(getattr(cfg, f"n_{s}"), MHIST_IMAGES) for s in ("train", "val", "test")) if not cfg.whole_splits \
        else MHIST_IMAGES
    return [Work(f"{arch} backbone features, once", lambda a=arch: transfer.build(a, 2, pretrained=False),
                 (3, size, size), 0, n)
            for arch, size in ((cfg.teacher_arch, cfg.teacher_size), (cfg.student_arch, cfg.student_size))]


def work_04(cfg, profile: str) -> list[Work]:
    from . import resnet
    tr, va, te = (_n(getattr(cfg, f"n_{s}"), IMAGENET10_SIZES[s]) for s in ("train", "val", "test"))
    shape = (3, cfg.image_size, cfg.image_size)
    net = lambda arch: (lambda: resnet.network(arch, 10, False))   # noqa: E731
    runs = (2 + len(resnet.LOGIT_BASELINES) + len(resnet.R34_R18_BASELINES)) * len(cfg.seeds)   # and section 5b's
    return [Work("ResNet34 teacher (at most its epochs; patience may stop it)", net(resnet.TEACHER_ARCH), shape,
                 tr * cfg.teacher.epochs, va * cfg.teacher.epochs + tr + te, cfg.teacher.batch_size),
            Work(f"ResNet18 students: no KD, KD, DKD (two settings), DIST and standardized KD ({runs} runs, at most "
                 "their epochs)",
                 net(resnet.STUDENT_ARCH), shape, runs * tr * cfg.student.epochs, runs * va * cfg.student.epochs,
                 cfg.student.batch_size)]


# official training / test sizes and the image shape of the small-image data sets the CIFAR notebooks read
OFFICIAL = {"cifar10": (50_000, 10_000, (3, 32, 32), 10), "cifar100": (50_000, 10_000, (3, 32, 32), 100),
            "fashion_mnist": (60_000, 10_000, (1, 28, 28), 10), "mnist": (60_000, 10_000, (1, 28, 28), 10)}
VAL = 5_000   # the held-out validation images of a train / val split (data.load's "val")


def _train_rows(name: str, n: int | None, full: bool) -> int:
    """Training images of a small-image data set: the whole official set ("full") or its train split."""
    total = OFFICIAL[name][0]
    return _n(n, total if full else total - VAL)


def _shape(name: str, shrink: int = 1) -> tuple[int, int, int]:
    c, h, w = OFFICIAL[name][2]
    return c, h // shrink, w // shrink


def _like(name: str, shape: tuple[int, int, int], classes: int | None = None) -> data.TensorData:
    """A one-image stand-in with a data set's shape and class count, to build its networks from."""
    k = OFFICIAL[name][3] if classes is None else classes
    return data.TensorData(torch.zeros(1, *shape), torch.zeros(1, dtype=torch.long), name, "train", "guide",
                           [str(i) for i in range(k)])


def work_05(cfg, profile: str) -> list[Work]:
    """Table 1 (a teacher and its generations per seed), Table 2 (two classes), section 4.2.2's pair and
    section 4.2.3's variants, each at most its epochs (early stopping may end some sooner); with augmentation
    every student's teacher runs live on each batch."""
    from . import born_again as ban05
    shape, te = _shape(cfg.data, cfg.shrink), _n(cfg.n_test, OFFICIAL[cfg.data][1])
    tr = _train_rows(cfg.data, cfg.n_train, cfg.full_train)
    va = 0 if cfg.full_train else _n(cfg.n_val, VAL)
    like = _like(cfg.data, shape)
    net = lambda arch=None, d=like: (lambda: ban05.build(cfg, d, arch))   # noqa: E731
    live = 1 if cfg.augment else 0   # the teacher's forward on every augmented student batch
    b, seeds, v = cfg.binary, len(cfg.seeds), cfg.variants
    b_tr = _n(b.n_train, (OFFICIAL[b.data][0] - VAL) // OFFICIAL[b.data][3] * 2)
    b_va = _n(b.n_val, VAL // OFFICIAL[b.data][3] * 2)
    gens = seeds * cfg.generations
    out = [Work(f"{cfg.arch} teachers ({seeds})", net(), shape, seeds * tr * cfg.teacher.epochs,
                seeds * (va + te) * cfg.teacher.epochs, cfg.teacher.batch_size),
           Work(f"{cfg.arch} generations ({gens})", net(), shape, gens * tr * cfg.student.epochs,
                gens * (va + te + live * tr) * cfg.student.epochs, cfg.student.batch_size),
           Work(f"Table 2: {cfg.generations + 1} networks on two classes", net(d=_like(b.data, shape, 2)), shape,
                (cfg.generations + 1) * b_tr * b.train.epochs, (cfg.generations + 1) * b_va * b.train.epochs,
                b.train.batch_size)]
    p = cfg.pair
    for role, arch, spec in (("teacher", p.teacher, p.teacher_train or cfg.teacher),
                             ("student", p.student, p.student_train or cfg.student)):
        out.append(Work(f"section 4.2.2 {role} {arch}", net(arch), shape, tr * spec.epochs,
                        (va + te) * spec.epochs, spec.batch_size))
    for spec in (v.ground_truth, v.mse, v.softened):
        out.append(Work("a section 4.2.3 variant's generations", net(), shape, v.generations * tr * spec.epochs,
                        v.generations * (va + te + live * tr) * spec.epochs, spec.batch_size))
    return out


def work_06(cfg, profile: str) -> list[Work]:
    """Every network x scheme x seed on every data set; a training step runs every sub-model (all exits of
    MSDNet, all widths of the slimmable network), which is what a fresh network's forward does."""
    from . import ipkd
    out = []
    for name in cfg.datasets:
        tr, shape = _train_rows(name, cfg.n_train, cfg.full_train), _shape(name, cfg.shrink)
        like = _like(name, shape)
        te = _n(cfg.n_test, OFFICIAL[name][1])
        for network in ("msdnet", "slimmable"):
            spec, runs = getattr(cfg, network).train, len(cfg.schemes) * len(cfg.seeds)
            out.append(Work(f"{network} on {name} ({runs} runs)", lambda n=network, d=like: ipkd.build(n, cfg, d),
                            shape, runs * tr * spec.epochs, runs * (te + (0 if cfg.full_train else VAL)) * spec.epochs,
                            spec.batch_size))
    return out


def work_07(cfg, profile: str) -> list[Work]:
    """The teacher once, then every method x seed; with augmentation the teacher runs live on each batch of
    every distilling student (its forward counted as evaluation work)."""
    from . import rrd
    full = cfg.train_split == "full"
    tr, shape = _train_rows(cfg.data, cfg.n_train, full), _shape(cfg.data)
    te = _n(cfg.n_test, OFFICIAL[cfg.data][1])
    va = 0 if full else _n(cfg.n_val, VAL)
    like = _like(cfg.data, shape)
    runs, distilling = len(rrd.LABELS) * len(cfg.seeds), (len(rrd.LABELS) - 1) * len(cfg.seeds)
    teacher = lambda: rrd.network(cfg.teacher_net, like, 0)   # noqa: E731
    live = distilling * tr * cfg.student.epochs if cfg.augment else tr
    return [Work(f"teacher {cfg.teacher_net.name}", teacher, shape, tr * cfg.teacher.epochs,
                 (va + te) * cfg.teacher.epochs, cfg.teacher.batch_size),
            Work("the teacher's outputs for the distilling students", teacher, shape, 0, live),
            Work(f"students {cfg.student_net.name} ({runs} runs)", lambda: rrd.network(cfg.student_net, like, 0),
                 shape, runs * tr * cfg.student.epochs, runs * (va + te) * cfg.student.epochs,
                 cfg.student.batch_size)]


@dataclass(frozen=True)
class Guide:
    """What a notebook's paper run needs: its data sets (by ``data.load`` name) and its work."""

    data: Callable[[object], tuple[str, ...]]
    work: Callable[[object, str], list[Work]] | None = None


GUIDES: dict[str, Guide] = {
    "01_temperature": Guide(lambda cfg: ("mnist",), work_01),
    "02_mnist_kd": Guide(lambda cfg: ("mnist",), work_02),
    "03_mhist_transfer_kd": Guide(lambda cfg: ("mhist",), work_03),
    "04_resnet34_to_resnet18": Guide(lambda cfg: (cfg.folder,) if cfg.data == "imagefolder" else (cfg.data,),
                                     work_04),
    "05_born_again": Guide(lambda cfg: (cfg.data,), work_05),
    "06_ipkd_teacher_assistants": Guide(lambda cfg: tuple(cfg.datasets), work_06),
    "07_rrd": Guide(lambda cfg: (cfg.data,), work_07),
    "08_subclass_distillation": Guide(lambda cfg: ("mnist",), work_08),
    "09_saliency": Guide(lambda cfg: ("mnist",), work_09),
}


def tflop(notebook: str, profile: str) -> float | None:
    """The notebook's training work in the profile, in TFLOP (None when its work is not listed)."""
    listed = works(notebook, profile)
    return None if listed is None else sum(w.tflop() for w in listed)


def measured_cpu_seconds(notebook: str, profile: str = "cpu") -> float | None:
    """The wall time of the committed run of ``notebook`` in ``profile`` (see :func:`kdcourse.report.wall_time`)."""
    from ..report import wall_time
    return wall_time(config.REPO / "figures" / ("paper" if profile == "paper" else "") / notebook)


def works(notebook: str, profile: str) -> list[Work] | None:
    from . import module
    from .base import select
    guide = GUIDES[notebook]
    return None if guide.work is None else guide.work(select(module(notebook).PROFILES, profile), profile)


def estimate(notebook: str) -> dict:
    """Estimated paper-profile hours: on these 2 CPU cores (the measured cpu run scaled by FLOPs) and on one
    GPU (:meth:`Work.gpu_seconds`, assumed rates); None where the notebook's work is not listed."""
    listed, cpu = works(notebook, "paper"), tflop(notebook, "cpu")
    paper = None if listed is None else sum(w.tflop() for w in listed)
    seconds = measured_cpu_seconds(notebook)
    cpu_h = None if paper is None or not cpu or seconds is None else seconds * paper / cpu / 3600
    gpu_h = None if listed is None else sum(w.gpu_seconds() for w in listed) / 3600
    return {"notebook": notebook, "paper_tflop": paper, "cpu_hours_estimate": cpu_h,
            "gpu_hours_estimate": gpu_h, "paper_cpu_hours_measured":
                (measured_cpu_seconds(notebook, "paper") or 0) / 3600 or None}


def preflight(notebook: str, cfg, device) -> None:
    """Before a real paper run trains anything: every data set it reads must be on disk or downloadable
    (else the loader's DataNotFoundError, which names the layout and the command that fetches it), and a
    machine without a GPU gets a :class:`PaperOnCPUWarning` with the estimated time."""
    for name in GUIDES[notebook].data(cfg):
        try:
            data.load(name, "test", 1)
        except data.DataNotFoundError as exc:
            raise data.DataNotFoundError(f"the paper run of {notebook} needs {name} and stops before any "
                                         f"training. {exc}") from None
    if getattr(device, "type", str(device)) == "cpu":
        est = estimate(notebook)
        hours = est["cpu_hours_estimate"]
        when = f"about {hours:.1f} h on 2 CPU cores (estimated from the measured cpu run, scaled by FLOPs)" \
            if hours else "many hours (its work is not estimated yet)"
        warnings.warn(f"{notebook}: the paper profile on a machine without a GPU takes {when}. Use a GPU, "
                      "or KDCOURSE_PROFILE=cpu for the laptop-sized runs; checkpoints make it resumable.",
                      PaperOnCPUWarning, stacklevel=2)


def table() -> list[dict]:
    """One row per notebook: the data its paper run reads, its work and the estimated (and, where the paper
    profile ran here, measured) hours; what ``python -m kdcourse guide`` prints."""
    from . import module
    rows = []
    for notebook, g in GUIDES.items():
        est = estimate(notebook)
        fmt = lambda h: None if h is None else ("< 1 min" if h < 1 / 60 else f"{h * 60:.0f} min" if h < 1
                                                else f"{h:,.1f} h")   # noqa: E731
        rows.append({"notebook": notebook, "data": ", ".join(g.data(module(notebook).PAPER)),
                     "paper work (PFLOP)": None if est["paper_tflop"] is None else round(est["paper_tflop"] / 1e3, 2),
                     "one GPU (estimate)": fmt(est["gpu_hours_estimate"]),
                     "2 CPU cores (estimate)": fmt(est["cpu_hours_estimate"]),
                     "2 CPU cores (measured)": fmt(est["paper_cpu_hours_measured"])})
    return rows
