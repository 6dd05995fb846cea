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
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import torch

from .. import config, saliency
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


PAPER = SaliencySpec(
    student=TrainSpec(epochs=12, batch_size=256, lr=1e-3), kd_alpha=0.9, kd_T=20.0, n_show=5, n_compare=10000,
    smoothgrad_n=50, smoothgrad_sigma=0.15, rgb_model="efficientnet-lite0", rgb_size=224, rgb_smoothgrad_n=50,
    min_student_acc=0.98, max_ci_half_width=0.02, min_channel_rho=0.3, min_compare=200)

PROFILES = profiles(
    PAPER,
    cpu=Override("2 CPU cores: 8 epochs (the students are past 97.5 %), 1,000 test images and 16 SmoothGrad "
                 "copies for the maps", {"student.epochs": 8, "n_compare": 1000, "smoothgrad_n": 16,
                                         "rgb_smoothgrad_n": 16, "min_student_acc": 0.975, "max_ci_half_width": 0.05}),
    smoke=Override("nbval in CI: 2 epochs of batch 128, 4 images shown, 200 compared, 8 (RGB: 4) SmoothGrad copies",
                   {"student.epochs": 2, "student.batch_size": 128, "n_show": 4, "n_compare": 200, "smoothgrad_n": 8,
                    "rgb_smoothgrad_n": 4, "min_student_acc": 0.75, "max_ci_half_width": 0.1}))

# the students' methods and their names in tables and figures
METHODS = {"kd": "student with KD", "ce": "student without KD"}

# seed 004, Task 1 Q13 (Fig. 7), quoted; it gives no number
SEED004_Q13 = {
    "teacher vs student with KD": "inverted: 'the brighter regions in the teacher's saliency map … correspond to "
                                  "darker regions in the saliency map of student model with knowledge distillation'",
    "student with KD vs student without KD": "'The student model with knowledge distillation has a different "
                                             "saliency map from the student model without knowledge distillation'",
}


def train(run: config.Run, name: str, seed: int = 0, shared=None, progress: bool = False) -> FitResult:
    """One student (``kd``: KD at alpha 0.9, T 20; ``ce``: the labels alone), from the same seeded initial
    weights; checkpointed, so a finished (or headless) run is loaded."""
    if name not in METHODS:
        raise ValueError(f"notebook 09's students are {sorted(METHODS)}, not {name!r}")
    cfg, m = run.cfg, shared or mnist.setup(run, progress=progress)
    net = mnist.student_mlp(seed)
    distiller = KD(net, m.cache, cfg.kd_T, cfg.kd_alpha) if name == "kd" else CrossEntropy(net)
    return fit(distiller, m.train, m.val, cfg.student, checkpoint=run.checkpoints / f"{name}-seed{seed}.pt",
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


RUNS = {name: partial(train, name=name) for name in METHODS}
