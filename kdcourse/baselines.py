"""The newer baselines beside Hinton's KD: our gain over KD, seed by seed, next to the published gains.

Notebooks 02, 04 and 07 train DKD, DIST, KD on standardized logits and CRD
(``kdcourse.distillers.modern``) on the same teacher-student pair as their
KD, over the same seeds, and choose every epoch on validation data only.
:func:`gain_over` turns those runs into one table: each method's mean and
std, its gain over KD, 2 x the seed-to-seed std and the verdict of
:func:`kdcourse.metrics.verdict` (the package's one rule).

:data:`PUBLISHED` holds the numbers the methods' authors and two public
libraries print for the same comparison, each with its selection rule, so
a reader sees how much of a published gain can come from the rule:

* mdistiller (DKD's code, and logit standardization's, built on it) keeps
  the epoch with the best *test* accuracy (``if test_acc >= self.best_acc``
  in its trainer) and reports that;
* RepDistiller (CRD's code, whose numbers seed 001's Table 1 copies) prints
  the best test accuracy over epochs as well;
* torchdistill reports one run, selected on ImageNet's val split, which is
  also the split it reports;
* DIST's README gives ImageNet val accuracy (the split reported) without
  stating how the epoch was chosen.

Every value below was read from the named file or table; none is derived.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from . import metrics

BEST_TEST = "best test epoch (mdistiller trainer)"
BEST_TEST_CRD = "best test epoch (RepDistiller), mean of runs"
VAL_IS_TEST = "one run, best ImageNet-val epoch; val is the reported split"
NOT_STATED = "ImageNet val (the reported split); epoch rule not stated"


@dataclass(frozen=True)
class Published:
    """One published comparison: ``method`` and KD on the same pair, from the same source."""

    method: str          # our label: "DKD", "DKD (ImageNet setting)", "DIST", "KD (standardized)", "CRD", "RRD", ..
    pair: str            # "ResNet34 → ResNet18"
    dataset: str         # "ImageNet", "CIFAR-100"
    kd: float            # that source's KD, top-1 %
    value: float         # that source's method, top-1 %
    source: str          # where the two numbers are printed
    selection: str       # how that source chose the epoch it reports

    @property
    def gain(self) -> float:
        return self.value - self.kd


R34_R18, R32X4_R8X4, R56_R20 = "ResNet34 → ResNet18", "resnet32x4 → resnet8x4", "resnet56 → resnet20"
PUBLISHED: tuple[Published, ...] = (
    Published("DKD", R34_R18, "ImageNet", 71.03, 71.70, "mdistiller README (DKD, CVPR 2022)", BEST_TEST),
    # the same row under the label of the setting it was run with (configs/imagenet/r34_r18/dkd.yaml)
    Published("DKD (ImageNet setting)", R34_R18, "ImageNet", 71.03, 71.70,
              "mdistiller README (DKD, CVPR 2022; configs/imagenet/r34_r18/dkd.yaml)", BEST_TEST),
    Published("DKD", R32X4_R8X4, "CIFAR-100", 73.33, 76.32, "mdistiller README (DKD, CVPR 2022)", BEST_TEST),
    Published("DKD", R56_R20, "CIFAR-100", 70.66, 71.97, "mdistiller README (DKD, CVPR 2022)", BEST_TEST),
    Published("DIST", R34_R18, "ImageNet", 71.21, 72.07, "DIST README (NeurIPS 2022; KD at T = 4)", NOT_STATED),
    Published("DIST", R34_R18, "ImageNet", 71.37, 71.95, "torchdistill benchmarks (imagenet-resnet18_kd.tsv)",
              VAL_IS_TEST),
    Published("DIST", R32X4_R8X4, "CIFAR-100", 73.33, 76.31,
              "DIST README (76.31 ± 0.19); KD 73.33 from mdistiller", "epoch rule not stated; mean of runs"),
    Published("DIST", R56_R20, "CIFAR-100", 70.66, 71.75,
              "DIST README (71.75 ± 0.30); KD 70.66 from mdistiller", "epoch rule not stated; mean of runs"),
    Published("KD (standardized)", R32X4_R8X4, "CIFAR-100", 73.33, 76.62,
              "logit-standardization-KD README (CVPR 2024)", BEST_TEST),
    Published("KD (standardized)", R56_R20, "CIFAR-100", 70.66, 71.43,
              "logit-standardization-KD README (CVPR 2024)", BEST_TEST),
    Published("CRD", R32X4_R8X4, "CIFAR-100", 73.33, 75.51, "CRD (ICLR 2020), as seed 001 Table 1", BEST_TEST_CRD),
    Published("CRD+KD", R32X4_R8X4, "CIFAR-100", 73.33, 75.46, "CRD (ICLR 2020), as seed 001 Table 1",
              BEST_TEST_CRD),
    Published("RRD", R32X4_R8X4, "CIFAR-100", 73.33, 74.48, "seed 001 Table 1 (RRD)",
              "mean of 3 trials; epoch rule not stated"),
    Published("RRD+KD", R32X4_R8X4, "CIFAR-100", 73.33, 75.08, "seed 001 Table 1 (RRD)",
              "mean of 3 trials; epoch rule not stated"),
    Published("CRD", R34_R18, "ImageNet", 71.37, 70.93, "torchdistill benchmarks (imagenet-resnet18_kd.tsv)",
              VAL_IS_TEST),
)


def published(methods: Sequence[str], pairs: Sequence[str] | None = None) -> pd.DataFrame:
    """The :data:`PUBLISHED` rows of ``methods`` (our labels), in that order, with each source's gain over its
    own KD (points); one row per source and pair (only ``pairs``, when given)."""
    unknown = set(methods) - {p.method for p in PUBLISHED}
    if unknown:
        raise ValueError(f"no published numbers for {sorted(unknown)}; known: "
                         f"{sorted({p.method for p in PUBLISHED})}")
    rows = [{"method": p.method, "pair": p.pair, "data": p.dataset, "KD (%)": p.kd, "method (%)": p.value,
             "gain over KD (points)": round(p.gain, 2), "source": p.source, "selection": p.selection}
            for m in methods for p in PUBLISHED if p.method == m and (pairs is None or p.pair in pairs)]
    return pd.DataFrame(rows)


def gain_over(scores: pd.DataFrame, reference: str, methods: Sequence[str], *, column: str = "test_acc",
              scale: float = 100.0) -> pd.DataFrame:
    """Each of ``methods`` against ``reference`` (e.g. "KD"), seed by seed.

    ``scores`` has one row per method and seed with ``column`` (an accuracy in [0, 1]; ``scale`` turns it
    into points).  Returns one row per method: mean and std over seeds, the number of seeds, the gain of its
    mean over the reference's, 2 x the larger seed-to-seed std and the verdict of
    :func:`kdcourse.metrics.verdict`.  Every method needs the same seeds as the reference (a paired design:
    the same initial student and the same data order)."""
    need = {"method", "seed", column}
    if not need <= set(scores.columns):
        raise ValueError(f"scores needs the columns {sorted(need)}, got {sorted(scores.columns)}")
    by = scores.set_index(["method", "seed"])[column].astype(float) * scale
    present = set(by.index.get_level_values("method"))
    missing = [m for m in (reference, *methods) if m not in present]
    if missing:
        raise ValueError(f"no runs of {missing} in scores (methods present: {sorted(present)})")
    ref = by[reference]
    rows = []
    for m in methods:
        ours = by[m]
        if set(ours.index) != set(ref.index):
            raise ValueError(f"{m} has the seeds {sorted(ours.index)} but {reference} has {sorted(ref.index)}: "
                             "compare them on the same seeds")
        gain, noise, word = metrics.verdict(ours, ref, better=f"beats {reference} beyond 2 std")
        rows.append({"method": m, "mean": ours.mean(), "std": ours.std(), "seeds": len(ours),
                     f"gain over {reference}": gain, "2 std": noise, "verdict": word})
    return pd.DataFrame(rows).set_index("method")


def plot_gains(table: pd.DataFrame, reference: str, title: str, published_rows: pd.DataFrame | None = None,
               ax=None):
    """Our gain over ``reference`` per method (a dot) with its 2 x std band (a bar), and, beside it, each
    published gain over its own KD (hollow markers, one per source and pair); ``table`` from :func:`gain_over`."""
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 0.7 * len(table) + 2.2))
    gain_col = f"gain over {reference}"
    y = np.arange(len(table))
    colours = sns.color_palette("colorblind")
    ax.axvline(0, color="black", lw=1, ls="--", label=f"{reference} (gain 0)")
    ax.barh(y, 2 * table["2 std"], left=table[gain_col] - table["2 std"], height=0.35, color=colours[0],
            alpha=0.3, label="ours: ± 2 std over seeds")
    ax.plot(table[gain_col], y, "o", color=colours[0], ms=8, label="ours: mean gain (validation-selected)")
    if published_rows is not None and len(published_rows):
        markers = ["s", "^", "D", "v", "P", "X", "*"]
        shown = published_rows[published_rows["method"].isin(table.index)]
        for i, ((src, pair), part) in enumerate(shown.groupby(["source", "pair"], sort=False)):
            ys = [list(table.index).index(m) + 0.25 for m in part["method"]]   # just below our row
            ax.plot(part["gain over KD (points)"], ys, markers[i % len(markers)], mfc="none", ms=8,
                    color=colours[(i + 1) % len(colours)],
                    label=f"published: {src}: {part['data'].iloc[0]}, {pair}")
    ax.set_yticks(y, table.index)
    ax.invert_yaxis()
    ax.set_xlabel(f"gain over {reference} (accuracy points)")
    ax.set_ylabel("method")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    return ax.figure
