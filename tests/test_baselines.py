"""kdcourse.baselines (gain over KD against 2 std, the published gains) and the logit baselines' settings."""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from torch import nn  # noqa: E402

from kdcourse import baselines, plots  # noqa: E402
from kdcourse.distillers import (DIST, DKD, LOGIT_BASELINES, R34_R18_BASELINES, StandardizedKD,  # noqa: E402
                                 logit_baseline)
from kdcourse.engine import TeacherCache  # noqa: E402


def scores(table: dict) -> pd.DataFrame:
    return pd.DataFrame([{"method": m, "seed": s, "test_acc": a} for m, accs in table.items()
                         for s, a in enumerate(accs)])


RUNS = scores({"KD": (0.50, 0.52, 0.54), "DKD": (0.55, 0.57, 0.59), "DIST": (0.51, 0.52, 0.56),
               "KD (standardized)": (0.40, 0.41, 0.42)})


def test_gain_over_kd_by_hand():
    table = baselines.gain_over(RUNS, "KD", ["DKD", "DIST", "KD (standardized)"])
    assert list(table.index) == ["DKD", "DIST", "KD (standardized)"]
    # DKD: 57 - 52 = +5 points; both stds are 2, so 2 std = 4 < 5: beyond noise
    assert table.loc["DKD", "gain over KD"] == pytest.approx(5.0)
    assert table.loc["DKD", "2 std"] == pytest.approx(4.0)
    assert table.loc["DKD", "verdict"] == "beats KD beyond 2 std"
    # DIST: 53 - 52 = +1; its std sqrt((4 + 1 + 9) / 2) = sqrt(7) is the larger: 2 std 5.29 > 1
    assert table.loc["DIST", "gain over KD"] == pytest.approx(1.0)
    assert table.loc["DIST", "2 std"] == pytest.approx(2 * math.sqrt(7))
    assert table.loc["DIST", "verdict"] == "within noise"
    # standardized: 41 - 52 = -11, beyond 2 std (4): worse
    assert table.loc["KD (standardized)", "verdict"] == "WORSE, beyond 2 std"
    assert table.loc["DKD", "mean"] == pytest.approx(57.0) and table.loc["DKD", "std"] == pytest.approx(2.0)
    assert list(table["seeds"]) == [3, 3, 3]


def test_gain_over_refuses_unpaired_or_missing_runs():
    with pytest.raises(ValueError, match="same seeds"):
        baselines.gain_over(pd.concat([RUNS, scores({"CRD": (0.5, 0.5)})]), "KD", ["CRD"])
    with pytest.raises(ValueError, match=r"no runs of \['CRD'\]"):
        baselines.gain_over(RUNS, "KD", ["CRD"])
    with pytest.raises(ValueError, match="columns"):
        baselines.gain_over(RUNS.rename(columns={"test_acc": "acc"}), "KD", ["DKD"])


def test_published_numbers_are_the_sources_and_their_gains():
    dkd = {(p.pair, p.dataset): (p.kd, p.value) for p in baselines.PUBLISHED if p.method == "DKD"}
    assert dkd[("ResNet34 → ResNet18", "ImageNet")] == (71.03, 71.70)          # mdistiller README
    assert dkd[("resnet32x4 → resnet8x4", "CIFAR-100")] == (73.33, 76.32)
    setting = [p for p in baselines.PUBLISHED if p.method == "DKD (ImageNet setting)"]   # the same row, its setting
    assert [(p.pair, p.kd, p.value) for p in setting] == [("ResNet34 → ResNet18", 71.03, 71.70)]
    crd = [p for p in baselines.PUBLISHED if p.method == "CRD" and p.dataset == "CIFAR-100"][0]
    assert (crd.kd, crd.value) == (73.33, 75.51)                                # seed 001 Table 1
    table = baselines.published(["DKD", "CRD"], pairs=["ResNet34 → ResNet18"])
    assert list(table["method"]) == ["DKD", "CRD"]
    assert list(table["gain over KD (points)"]) == [0.67, -0.44]                # torchdistill: CRD below its KD
    assert table["selection"].str.len().min() > 0
    every = baselines.published(["DKD", "DKD (ImageNet setting)", "DIST", "KD (standardized)", "CRD", "CRD+KD",
                                 "RRD", "RRD+KD"])
    assert len(every) == len(baselines.PUBLISHED)
    with pytest.raises(ValueError, match="no published numbers"):
        baselines.published(["FitNets"])


def test_the_gain_plot_passes_the_figure_rules():
    plots.style()
    table = baselines.gain_over(RUNS, "KD", ["DKD", "DIST", "KD (standardized)"])
    fig = baselines.plot_gains(table, "KD", "MNIST: gain over KD",
                               baselines.published(["DKD", "DIST", "KD (standardized)"]))
    plots.lint(fig)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "gain over KD (accuracy points)" and ax.get_legend() is not None
    plt.close(fig)


def test_logit_baselines_carry_their_authors_settings():
    net, cache = nn.Linear(4, 3), TeacherCache(nn.Linear(4, 3))
    assert LOGIT_BASELINES == {"dkd": "DKD", "dist": "DIST", "kd_std": "KD (standardized)"}
    dkd = logit_baseline("dkd", net, cache, epochs=240)
    assert type(dkd) is DKD and (dkd.T, dkd.alpha, dkd.beta, dkd.ce, dkd.warmup) == (4.0, 1.0, 8.0, 1.0, 20)
    # the warm-up is 20 of 240 epochs, scaled: 80 epochs -> 7, 10 -> 1 (never 0)
    assert [logit_baseline("dkd", net, cache, e).warmup for e in (80, 10, 4, 1)] == [7, 1, 1, 1]
    # mdistiller's configs/imagenet/r34_r18/dkd.yaml: T 1, beta 0.5, CE 1, alpha 1 (default), 1 of 100 epochs
    assert R34_R18_BASELINES == {"dkd_imagenet": "DKD (ImageNet setting)"}
    dkd_in = logit_baseline("dkd_imagenet", net, cache, epochs=100)
    assert type(dkd_in) is DKD and (dkd_in.T, dkd_in.alpha, dkd_in.beta, dkd_in.ce, dkd_in.warmup) == \
        (1.0, 1.0, 0.5, 1.0, 1)
    assert [logit_baseline("dkd_imagenet", net, cache, e).warmup for e in (400, 4)] == [4, 1]
    dkd_in.set_epoch(1)
    assert dkd_in.weight() == 1.0   # a 1-epoch warm-up is full weight from the first epoch, as in mdistiller
    dist = logit_baseline("dist", net, cache, 10)
    assert type(dist) is DIST and (dist.T, dist.beta, dist.gamma, dist.ce) == (1.0, 1.0, 1.0, 1.0)
    std = logit_baseline("kd_std", net, cache, 10)
    assert type(std) is StandardizedKD and (std.T, std.kd, std.ce) == (2.0, 9.0, 0.1)
    with pytest.raises(ValueError, match="logit baselines"):
        logit_baseline("mlkd", net, cache, 10)
