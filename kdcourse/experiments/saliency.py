"""Notebook 09: saliency maps of the MNIST teacher and its students (seed 004 Task 1 Q13 / Fig. 7, Task 2 Fig. 11).

The teacher is the MNIST CNN of :mod:`.mnist`; the students are the
784-784 MLP trained from the same initial weights with KD at seed 004's
best alpha 0.9, T 20 (``RUNS["kd"]``) and without (``RUNS["ce"]``), both
checkpointed.  The maps are compared by Spearman's rank correlation over
``n_compare`` test images; Fig. 11's per-channel maps use EfficientNet-Lite0
(ImageNet weights) on two photographs as a stand-in for MHIST.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

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
    """rho(teacher, KD student) - rho(teacher, no-KD student) on the same images: the mean, its 95 % CI
    (Student's t), the Wilcoxon signed-rank p-value, and the fraction of images where KD's is closer."""
    from scipy import stats
    d = (with_kd - without_kd).numpy()
    ci = stats.ttest_1samp(d, 0.0).confidence_interval(0.95)
    return {"mean": d.mean(), "ci": [ci.low, ci.high], "wilcoxon_p": stats.wilcoxon(d).pvalue,
            "kd_closer_on": (d > 0).mean()}


def inversion_verdict(kd_row: pd.Series, chance: float) -> str:
    """Seed 004's claim tested: is the KD student's map inverted (mean rho's 95 % CI below 0)?"""
    if kd_row["95% CI high"] < 0:
        return "INVERTED: the KD student's maps are significantly anti-correlated with the teacher's"
    if kd_row["95% CI low"] > chance:
        return ("NOT inverted: the KD student's maps rank the pixels like the teacher's, above the chance level "
                "of unrelated images")
    if kd_row["95% CI low"] > 0:
        return "NOT inverted, but no closer to the teacher's than maps of unrelated images"
    return "inconclusive: the interval includes 0"


def map_table(similarity: pd.DataFrame, verdict: str) -> pd.DataFrame:
    """The map similarities (rounded) beside seed 004's reading of Fig. 7 and this run's verdict."""
    table = similarity.rename_axis("maps compared (Spearman rho per image)").round(3)
    table["images"] = table["images"].astype(int)
    table["seed 004 (Q13, Fig. 7)"] = [SEED004_Q13.get(pair, "") for pair in table.index]
    table["verdict (this run)"] = [verdict if pair == "teacher vs student with KD" else "" for pair in table.index]
    return table


def channel_correlations(maps: dict[str, torch.Tensor], names: list[str]) -> pd.DataFrame:
    """Rank correlations between the colour channels' maps of each photo (``maps``: kind -> (N, 3, H, W))."""
    pair = lambda m, i, a, b: saliency.rank_correlation(m[i, a:a + 1], m[i, b:b + 1]).item()
    return pd.DataFrame([{"photo": name, "maps": kind, "red vs green": pair(m, i, 0, 1),
                          "red vs blue": pair(m, i, 0, 2), "green vs blue": pair(m, i, 1, 2)}
                         for i, name in enumerate(names) for kind, m in maps.items()])


def results_vs_source(kd_row: pd.Series, chance: float, verdict: str, paired: dict, channel_rho: float
                      ) -> pd.DataFrame:
    """This run's answers to seed 004's three readings (Fig. 7's inversion, KD's mimicry, Fig. 11's channels)."""
    rows = [
        ("KD student's map vs teacher's (Fig. 7)",
         f"mean rho {kd_row['mean rho']:.3f} [{kd_row['95% CI low']:.3f}, {kd_row['95% CI high']:.3f}], "
         f"chance {chance:.3f}: {verdict.split(':')[0]}",
         "'brighter regions in the teacher's map correspond to darker regions' (inverted)"),
        ("KD vs no-KD student: closer to the teacher?",
         "; ".join(f"{k}: paired difference {v['mean']:+.3f} [{v['ci'][0]:+.3f}, {v['ci'][1]:+.3f}], "
                   f"Wilcoxon p = {v['wilcoxon_p']:.2g}" for k, v in paired.items()),
         "KD student 'mimicked some behaviour of the teacher, albeit in a different manner'"),
        ("per-channel maps agree across R, G, B (Fig. 11)",
         f"mean channel-pair rho {channel_rho:.3f} (EfficientNet-Lite0 stand-in, 2 photos)",
         "'roughly the same regions ... across all three channels' (MHIST)"),
    ]
    return pd.DataFrame(rows, columns=["question", "this run", "seed 004"]).set_index("question")


RUNS = {name: partial(train, name=name) for name in METHODS}
