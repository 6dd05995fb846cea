"""Notebook 09: saliency maps of the MNIST teacher and its students (seed 004 Task 1 Q13 / Fig. 7, Task 2 Fig. 11).

The teacher is the MNIST CNN of :mod:`.mnist`; the students are the
784-784 MLP trained from the same initial weights with KD at seed 004's
best alpha 0.9, T 20 (``RUNS["kd"]``) and without (``RUNS["ce"]``), both
checkpointed.  The maps are compared by Spearman's rank correlation over
``n_compare`` test images, against a chance level (the student's map of a
different image) compared paired, image by image.  Per-channel maps (Fig. 11's
kind) are illustrated with EfficientNet-Lite0 (ImageNet weights) on two
photographs; Fig. 11's claim itself (teacher and KD student agree in every
channel) is measured in notebook 03.

The controlled variant (section 4b, issue 13) changes one thing, the
student's architecture: students with the teacher's own CNN
(:func:`student_cnn`, a fresh initialisation), with KD (``RUNS["cnn-kd"]``)
and without (``RUNS["cnn-ce"]``), from the same initial weights, with the MLP
students' alpha, T and TrainSpec (its epochs ``variant_student_epochs``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import torch

from .. import config, metrics, models, saliency
from ..distillers import KD, CrossEntropy
from ..engine import FitResult, TrainSpec, fit
from . import mnist
from .base import Override, profiles


@dataclass(frozen=True)
class SaliencySpec:
    student: TrainSpec                 # both students' training
    kd_alpha: float                    # seed 004's best setting (Task 1 Q5), as in notebook 02
    kd_T: float
    n_show: int                        # test images in Fig. 7
    n_compare: int                     # test images of the map similarities
    smoothgrad_n: int                  # SmoothGrad: noisy copies per image ...
    smoothgrad_sigma: float            # ... and the noise's std as a fraction of the input range (Smilkov et al.)
    rgb_model: str                     # Fig. 11's stand-in for seed 004's MHIST models
    rgb_size: int
    rgb_smoothgrad_n: int
    # quality thresholds (asserted at the end of the notebook)
    min_student_acc: float             # every model's test accuracy: maps of an untrained model mean nothing
    max_ci_half_width: float           # the teacher-vs-KD-student mean rho, 95 % CI half-width
    min_channel_rho: float             # channel maps of one photo: mean rank correlation
    min_compare: int                   # at least this many images in the comparison
    # the controlled variant (section 4b): students with the teacher's architecture, trained with the MLP
    # students' TrainSpec (optimizer, lr, batch) for this many epochs
    variant_student_epochs: int


PAPER = SaliencySpec(
    student=TrainSpec(epochs=12, batch_size=256, lr=1e-3), kd_alpha=0.9, kd_T=20.0, n_show=5, n_compare=10000,
    smoothgrad_n=50, smoothgrad_sigma=0.15, rgb_model="efficientnet-lite0", rgb_size=224, rgb_smoothgrad_n=50,
    min_student_acc=0.98, max_ci_half_width=0.02, min_channel_rho=0.3, min_compare=200, variant_student_epochs=12)

PROFILES = profiles(
    PAPER,
    cpu=Override("2 CPU cores: 8 epochs (the students are past 97.5 %), 1,000 test images and 16 SmoothGrad "
                 "copies for the maps; the variant's CNN students 3 epochs (the teacher's own cpu budget; an "
                 "epoch of the CNN took 3-6 minutes on 2 shared cores, 20-35 times the MLP's)",
                 {"student.epochs": 8, "n_compare": 1000, "smoothgrad_n": 16, "rgb_smoothgrad_n": 16,
                  "min_student_acc": 0.975, "max_ci_half_width": 0.05, "variant_student_epochs": 3}),
    smoke=Override("nbval in CI: 2 epochs of batch 128 (the variant's CNN students too), 4 images shown, 200 "
                   "compared, 8 (RGB: 4) SmoothGrad copies",
                   {"student.epochs": 2, "student.batch_size": 128, "n_show": 4, "n_compare": 200, "smoothgrad_n": 8,
                    "rgb_smoothgrad_n": 4, "min_student_acc": 0.75, "max_ci_half_width": 0.1,
                    "variant_student_epochs": 2}))

# the students' methods and their names in tables and figures
METHODS = {"kd": "student with KD", "ce": "student without KD"}
# the controlled variant's students (the teacher's architecture): run names (checkpoints, the command line) and labels
CNN_METHODS = {"cnn-kd": "CNN student with KD", "cnn-ce": "CNN student without KD"}
# the variant's students are initialised from seed + CNN_INIT_OFFSET: seed 0 itself would give them the teacher's
# own initial weights (mnist.teacher draws them right after seed_everything(0))
CNN_INIT_OFFSET = 1

# seed 004, Task 1 Q13 (Fig. 7), quoted; it gives no number
SEED004_Q13 = {
    "teacher vs student with KD": "inverted: 'the brighter regions in the teacher's saliency map … correspond to "
                                  "darker regions in the saliency map of student model with knowledge distillation'",
    "student with KD vs student without KD": "'The student model with knowledge distillation has a different "
                                             "saliency map from the student model without knowledge distillation'",
}


def distiller(name: str, net: torch.nn.Module, cfg: SaliencySpec, cache):
    """The objective of run ``name``: KD at the spec's alpha and T (``kd``, ``cnn-kd``; ``cache``: the teacher's
    TeacherCache) or the labels alone (``ce``, ``cnn-ce``)."""
    if name not in METHODS and name not in CNN_METHODS:
        raise ValueError(f"notebook 09's students are {sorted(METHODS) + sorted(CNN_METHODS)}, not {name!r}")
    return KD(net, cache, cfg.kd_T, cfg.kd_alpha) if name.endswith("kd") else CrossEntropy(net)


def train(run: config.Run, name: str, seed: int = 0, shared=None, progress: bool = False) -> FitResult:
    """One student (``kd``: KD at alpha 0.9, T 20; ``ce``: the labels alone), from the same seeded initial
    weights; checkpointed, so a finished (or headless) run is loaded."""
    if name not in METHODS:
        raise ValueError(f"notebook 09's MLP students are {sorted(METHODS)}, not {name!r}"
                         + (" (a CNN student of the variant: experiment.train_cnn)" if name in CNN_METHODS else ""))
    cfg, m = run.cfg, shared or mnist.setup(run, progress=progress)
    net = mnist.student_mlp(seed)
    return fit(distiller(name, net, cfg, m.cache), m.train, m.val, cfg.student,
               checkpoint=run.checkpoints / f"{name}-seed{seed}.pt",
               seed=seed, progress=progress, device=run.device, desc=f"09 {name} seed {seed}")


def student_cnn(seed: int = 0) -> models.TeacherCNN:
    """The variant's student: the teacher's architecture (:class:`~kdcourse.models.TeacherCNN`), freshly
    initialised from ``seed + CNN_INIT_OFFSET`` (not the teacher's own initial weights)."""
    config.seed_everything(seed + CNN_INIT_OFFSET)
    return models.TeacherCNN()


def variant_spec(cfg: SaliencySpec) -> TrainSpec:
    """The variant's training: the MLP students' TrainSpec (optimizer, lr, batch) with its own epochs."""
    return cfg.student.but(epochs=cfg.variant_student_epochs)


def train_cnn(run: config.Run, name: str, seed: int = 0, shared=None, progress: bool = False) -> FitResult:
    """The controlled variant's student (``cnn-kd``: KD at the MLP students' alpha and T; ``cnn-ce``: the labels
    alone): the teacher's architecture, both from the same fresh initial weights, trained on the same splits;
    checkpointed as ``cnn-kd-seed0.pt`` / ``cnn-ce-seed0.pt``, so a finished (or headless) run is loaded."""
    if name not in CNN_METHODS:
        raise ValueError(f"notebook 09's CNN students (the controlled variant) are {sorted(CNN_METHODS)}, "
                         f"not {name!r}" + (" (an MLP student: experiment.train)" if name in METHODS else ""))
    cfg, m = run.cfg, shared or mnist.setup(run, progress=progress)
    net = student_cnn(seed)
    return fit(distiller(name, net, cfg, m.cache), m.train, m.val, variant_spec(cfg),
               checkpoint=run.checkpoints / f"{name}-seed{seed}.pt",
               seed=seed, progress=progress, device=run.device, desc=f"09 {name} seed {seed}")


def paired_difference(with_kd: torch.Tensor, without_kd: torch.Tensor) -> dict:
    """Paired difference of two per-image rank correlations on the same images, e.g. rho(teacher, KD student) -
    rho(teacher, no-KD student), or rho(same image) - rho(chance pair): the mean and its 95 % CI
    (:func:`kdcourse.saliency.paired_difference`), the Wilcoxon signed-rank p-value, and the fraction of images
    where the first is larger."""
    from scipy import stats
    base = saliency.paired_difference(with_kd, without_kd)
    d = (with_kd - without_kd).double().numpy()
    d = d[~np.isnan(d)]
    return {"mean": base["mean difference"], "ci": [base["95% CI low"], base["95% CI high"]],
            "wilcoxon_p": stats.wilcoxon(d).pvalue, "kd_closer_on": (d > 0).mean()}


def pairs(maps: dict[str, torch.Tensor], teacher: str, students: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Per-image rank correlations of one kind of map: teacher vs each student on the same image, the chance
    pair (teacher's map of image i vs the student's map of image i - 1), and the two students."""
    out = {}
    for s in students:
        out[f"teacher vs {s}"] = saliency.rank_correlation(maps[teacher], maps[s])
        out[f"chance: teacher vs {s}, different images"] = saliency.rank_correlation(maps[teacher], maps[s].roll(1, 0))
    out[f"{students[0]} vs {students[1]}"] = saliency.rank_correlation(maps[students[0]], maps[students[1]])
    return out


def against_chance(rhos: dict[tuple[str, str], torch.Tensor], students: tuple[str, ...]) -> pd.DataFrame:
    """For each kind of map and student: mean rho with the teacher on the same image [95 % CI], the chance
    pair's [95 % CI], and their paired difference [95 % CI] (same teacher map, the student's map of the same
    vs another image)."""
    rows = []
    for kind in dict.fromkeys(k for k, _ in rhos):
        for s in students:
            same, other = rhos[kind, f"teacher vs {s}"], rhos[kind, f"chance: teacher vs {s}, different images"]
            a, c, p = saliency.rho_summary(same), saliency.rho_summary(other), paired_difference(same, other)
            rows.append({"maps": kind, "student": s, "rho": a["mean rho"], "rho CI low": a["95% CI low"],
                         "rho CI high": a["95% CI high"], "chance": c["mean rho"], "chance CI low": c["95% CI low"],
                         "chance CI high": c["95% CI high"], "above chance": p["mean"],
                         "above chance CI low": p["ci"][0], "above chance CI high": p["ci"][1],
                         "fraction rho < 0": a["fraction rho < 0"]})
    return pd.DataFrame(rows).set_index(["maps", "student"])


def inversion_verdict(row: pd.Series) -> str:
    """Seed 004's claim tested on one row of :func:`against_chance`: inverted (mean rho's 95 % CI below 0)?
    Above chance is decided by the paired difference's CI, not by one interval's end against a point."""
    if row["rho CI high"] < 0:
        return "INVERTED: the KD student's maps are significantly anti-correlated with the teacher's"
    if row["above chance CI low"] > 0:
        return (f"NOT inverted: positively correlated with the teacher's maps, and above the chance level of "
                f"unrelated images by {row['above chance']:+.3f} (paired 95% CI {row['above chance CI low']:+.3f} "
                f"to {row['above chance CI high']:+.3f})")
    if row["rho CI low"] > 0:
        return ("NOT inverted, but no closer to the teacher's maps than maps of unrelated images (the paired "
                "difference's CI includes 0)")
    return "inconclusive: the interval includes 0"


def closeness(p: dict) -> str:
    """Which student's maps are closer to the teacher's, from a paired difference rho(T, KD) - rho(T, no KD)."""
    ci = f"{p['mean']:+.3f} (95% CI {p['ci'][0]:+.3f} to {p['ci'][1]:+.3f}; KD closer on {p['kd_closer_on']:.0%} of images)"
    if p["ci"][0] > 0:
        return f"the student WITH KD is closer to the teacher: {ci}"
    if p["ci"][1] < 0:
        return f"the student WITHOUT KD is closer to the teacher: {ci}"
    return f"no significant difference in the mean: {ci}"


def direction(p: dict) -> str:
    """Where KD moved a student's maps, from a paired difference rho(T, KD) - rho(T, no KD) (:func:`paired_difference`):
    ``"closer"`` (95 % CI above 0), ``"further"`` (below 0) or ``"neither"`` (the CI includes 0)."""
    return "closer" if p["ci"][0] > 0 else "further" if p["ci"][1] < 0 else "neither"


def difference_text(p: dict) -> str:
    """A paired difference as text: ``+0.012 (95% CI +0.004 to +0.020)``."""
    return f"{p['mean']:+.3f} (95% CI {p['ci'][0]:+.3f} to {p['ci'][1]:+.3f})"


def rho_text(row: pd.Series) -> str:
    """A mean rho with its 95 % CI, from a row of :func:`against_chance` or :func:`variant_table`:
    ``0.248 [0.240, 0.255]``."""
    return f"{row['rho']:.3f} [{row['rho CI low']:.3f}, {row['rho CI high']:.3f}]"


def output_match(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> dict[str, float]:
    """How closely a student's outputs follow the teacher's on the same images: top-1 agreement, and the mean
    per-image Pearson correlation of the two logit vectors (what KD at a high T matches: the logits up to a
    shift, Hinton et al. 2015 section 2.1)."""
    s, t = student_logits.double(), teacher_logits.double()
    s, t = s - s.mean(1, keepdim=True), t - t.mean(1, keepdim=True)
    r = (s * t).sum(1) / (s.norm(dim=1) * t.norm(dim=1)).clamp_min(1e-12)
    return {"top-1 agreement with teacher": metrics.agreement(student_logits, teacher_logits),
            "logit correlation with teacher": r.mean().item()}


def variant_table(vs_chance: pd.DataFrame, paired: dict[str, dict[str, dict]], per_student: dict[str, dict],
                  arms: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """Section 4b's table: one row per kind of map, student architecture and objective, with the student's own
    numbers (test accuracy, ...), mean rho(teacher, student) on the same image [95 % CI], the fraction of images
    with rho < 0, the paired difference above chance [95 % CI], and, on the KD row of each architecture, the
    paired difference rho(teacher, KD student) - rho(teacher, no-KD student) [95 % CI] (NaN on the no-KD row).

    vs_chance   :func:`against_chance` of every student (index: kind of map, student label)
    paired      architecture -> kind of map -> :func:`paired_difference` (KD student minus no-KD student)
    per_student student label -> its own columns, e.g. {"test accuracy": 0.98, "top-1 agreement with teacher": ...}
    arms        architecture -> (the KD student's label, the no-KD student's label)
    """
    rows = []
    for kind in dict.fromkeys(k for k, _ in vs_chance.index):
        for arch, students in arms.items():
            p = paired[arch][kind]
            for label, with_kd in zip(students, (True, False)):
                r = vs_chance.loc[(kind, label)]
                rows.append({"maps": kind, "student architecture": arch, "KD": "with KD" if with_kd else "without KD",
                             **per_student[label], "rho": r["rho"], "rho CI low": r["rho CI low"],
                             "rho CI high": r["rho CI high"], "fraction rho < 0": r["fraction rho < 0"],
                             "above chance": r["above chance"], "above chance CI low": r["above chance CI low"],
                             "above chance CI high": r["above chance CI high"],
                             "KD - no KD": p["mean"] if with_kd else np.nan,
                             "KD - no KD CI low": p["ci"][0] if with_kd else np.nan,
                             "KD - no KD CI high": p["ci"][1] if with_kd else np.nan})
    return pd.DataFrame(rows).set_index(["maps", "student architecture", "KD"])


def smoothness(maps: torch.Tensor) -> torch.Tensor:
    """Per image, the Pearson correlation of each map pixel with its right and lower neighbours (averaged):
    near 0 for speckle, near 1 for broad blobs."""
    m = maps.double()
    def corr(a, b):
        a, b = a.flatten(1), b.flatten(1)
        a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
        return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)
    return ((corr(m[:, :, :-1], m[:, :, 1:]) + corr(m[:, :-1, :], m[:, 1:, :])) / 2).float()


def background_share(maps: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per image, the share of the map's total saliency on background pixels (those at the image's minimum)."""
    img = x[:, 0]
    bg = img <= img.flatten(1).amin(1)[:, None, None] + 1e-6
    return (maps * bg).flatten(1).sum(1) / maps.flatten(1).sum(1).clamp_min(1e-12)


def map_table(similarity: pd.DataFrame, verdict: str) -> pd.DataFrame:
    """The map similarities (rounded) beside seed 004's reading of Fig. 7 and this run's verdict (on plain
    gradients, Fig. 7's maps).  The index is (kind of map, pair), or the pair alone for plain gradients."""
    multi = isinstance(similarity.index, pd.MultiIndex)
    names = ["maps", "pair compared (Spearman rho per image)"] if multi else "maps compared (Spearman rho per image)"
    table = similarity.rename_axis(names).round(3)
    table["images"] = table["images"].astype(int)
    keys = list(table.index) if multi else [("gradient", pair) for pair in table.index]
    table["seed 004 (Q13, Fig. 7)"] = [SEED004_Q13.get(pair, "") if kind == "gradient" else "" for kind, pair in keys]
    table["verdict (this run)"] = [verdict if (kind, pair) == ("gradient", "teacher vs student with KD") else ""
                                   for kind, pair in keys]
    return table


def channel_correlations(maps: dict[str, torch.Tensor], names: list[str]) -> pd.DataFrame:
    """Rank correlations between the colour channels' maps of each photo (``maps``: kind -> (N, 3, H, W))."""
    pair = lambda m, i, a, b: saliency.rank_correlation(m[i, a:a + 1], m[i, b:b + 1]).item()
    return pd.DataFrame([{"photo": name, "maps": kind, "red vs green": pair(m, i, 0, 1),
                          "red vs blue": pair(m, i, 0, 2), "green vs blue": pair(m, i, 1, 2)}
                         for i, name in enumerate(names) for kind, m in maps.items()])


def results_vs_source(vs_chance: pd.DataFrame, verdict: str, paired: dict, channel_rho: float) -> pd.DataFrame:
    """This run's answers to seed 004's three readings (Fig. 7's inversion, KD's mimicry, Fig. 11's channels)."""
    kd = vs_chance.loc[("gradient", "student with KD")]
    rows = [
        ("KD student's map vs teacher's (Fig. 7, plain gradient)",
         f"mean rho {kd['rho']:.3f} [{kd['rho CI low']:.3f}, {kd['rho CI high']:.3f}], different images "
         f"{kd['chance']:.3f} [{kd['chance CI low']:.3f}, {kd['chance CI high']:.3f}]: {verdict}",
         "'brighter regions in the teacher's map correspond to darker regions' (inverted)"),
        ("KD vs no-KD student: closer to the teacher?",
         "; ".join(f"{k}: {closeness(v)}" for k, v in paired.items()),
         "KD student 'mimicked some behaviour of the teacher, albeit in a different manner'"),
        ("teacher and KD student agree in every colour channel (Fig. 11)",
         "not testable here (MNIST has one channel); measured in notebook 03 (MHIST stand-in, Lite0 students vs "
         "the Lite2 teacher, per channel)",
         "'teacher model and student model with knowledge distillation identify roughly the same regions ... "
         "across all three channels' (MHIST)"),
        ("per-channel maps of one model (illustration)",
         f"mean rank correlation between the R, G, B maps of one photo {channel_rho:.3f} (EfficientNet-Lite0, "
         "ImageNet, 2 photos)", "—"),
    ]
    return pd.DataFrame(rows, columns=["question", "this run", "seed 004"]).set_index("question")


RUNS = {**{name: partial(train, name=name) for name in METHODS},
        **{name: partial(train_cnn, name=name) for name in CNN_METHODS}}
