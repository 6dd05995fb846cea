"""Notebook 06: in-place distillation of flexible networks with teacher assistants (seed 003, Tables I-II).

The paper profile is seed 003 section IV-B: lambda 0.8; tau 5 with the KL
term for MSDNet and tau 1 with the soft cross-entropy for the slimmable
MobileNet-V1; SGD at lr 0.1 for 300 / 200 epochs.  The rest is the code that
produced the seed's numbers, which the profile follows where the seed is
silent or disagrees (tests/test_protocol_ipkd.py quotes each line):

* MSDNet, kalviny/MSDNet-PyTorch main.py and README: batch 64, momentum 0.9
  (plain, not Nesterov), weight decay 1e-4, lr times 0.1 at 50 % and 75 % of
  the epochs (milestones 150, 225);
* the slimmable network, weiaicunzai/pytorch-cifar100 train.py (the library
  the seed adapted its CIFAR parameters from): batch 128, momentum 0.9
  (plain), weight decay 5e-4, one warm-up epoch, then lr times 0.2 from
  epochs 60, 120 and 160 (milestones 59, 119, 159 in our convention);
* both code bases train on all 50,000 CIFAR training images and have no
  validation set: the "validation set" of the seed's selection rule is the
  CIFAR test set there.  The paper profile trains on the whole training set
  too (``full_train``) and reports the final epoch (``Selection("last")``),
  so test data never selects a model.  The cpu and smoke profiles keep a
  validation split and the seed's rule, the best mean validation accuracy
  over the sub-models.

``RUNS`` has one headless run per network and scheme, ``"msdnet-ipkd"``,
``"slimmable-tam"``, ...: it trains on the profile's first data set, or on
another with ``dataset=`` (``python -m kdcourse train 06_ipkd_teacher_assistants
msdnet-tam --profile paper --dataset cifar100``).  The tables beside the
seed's (:func:`ours`, :func:`beside_seed`, :func:`figure`, ...) are here too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from torch import nn

from .. import config, data, efficiency, losses, metrics, models, plots
from ..distillers import InPlace
from ..engine import FitResult, Selection, TrainSpec, fit, predict
from .base import Override, profiles


@dataclass(frozen=True)
class FlexibleNet:
    """One flexible network: its distillation temperature and term, its size and its training."""

    T: float                           # tau of the KD terms
    soft_ce: bool                      # soft cross-entropy instead of the KL divergence (same gradients)
    train: TrainSpec
    arch: dict = field(default_factory=dict)     # keyword arguments of the model class; {}: its defaults,
                                                 # the seed's CIFAR networks
    widths: tuple[float, ...] | None = None      # the slimmable network's widths (None for MSDNet)


@dataclass(frozen=True)
class IpkdSpec:
    datasets: tuple[str, ...]          # cifar10 / cifar100, or a named stand-in
    shrink: int                        # average-pool the images by this factor (2: Fashion-MNIST at 14 px)
    n_train: int | None                # images per split; None: the whole split
    n_val: int | None
    n_test: int | None
    full_train: bool                   # train on the whole official training set (n_train of it), no validation
                                       # set, as both seed code bases do; the runs then keep the final epoch
    augment: bool                      # random shifts and flips (CIFAR)
    seeds: tuple[int, ...]
    lam: float                         # lambda of eqs. 5-7
    schemes: tuple[str, ...]           # eqs. 4-7: none, ipkd, ta1, tam
    msdnet: FlexibleNet
    slimmable: FlexibleNet
    # quality thresholds, test accuracy in % (asserted at the end of the notebook)
    min_sub_model_acc: float           # every sub-model of every run reaches this
    max_order_drop: float              # the largest sub-model is at most this far below the smallest
    max_scheme_spread: float           # the four schemes' averages agree within this
    # the controlled variant (section 7b): the slimmable network with these widths, a wider gap between its
    # smallest and largest sub-model (the regime teacher assistants are for); None: not run
    wide_widths: tuple[float, ...] | None = None


PAPER = IpkdSpec(
    datasets=("cifar10", "cifar100"), shrink=1, n_train=None, n_val=None, n_test=None, full_train=True, augment=True,
    seeds=(0,), lam=0.8, schemes=("none", "ipkd", "ta1", "tam"),
    # kalviny/MSDNet-PyTorch main.py: SGD(momentum=args.momentum) without Nesterov, lr * 0.1 at 0.5 and 0.75 of
    # the epochs; README (anytime, 7 blocks): --batch-size 64 --epochs 300; args.py: weight decay 1e-4
    msdnet=FlexibleNet(T=5.0, soft_ce=False, train=TrainSpec(
        epochs=300, batch_size=64, lr=0.1, optimizer="sgd", momentum=0.9, nesterov=False, weight_decay=1e-4,
        milestones=(150, 225), gamma=0.1, selection=Selection("last"))),
    # weiaicunzai/pytorch-cifar100 train.py: SGD(momentum=0.9, weight_decay=5e-4) without Nesterov, -b 128,
    # -warm 1, MultiStepLR(MILESTONES=[60, 120, 160], gamma=0.2).step(epoch) at the start of 1-based epoch
    # `epoch`: epoch 60 already runs at the lower lr, i.e. our milestone 59 (epochs 1..59 at the higher lr)
    slimmable=FlexibleNet(T=1.0, soft_ce=True, widths=(0.25, 0.5, 0.75, 1.0), train=TrainSpec(
        epochs=200, batch_size=128, lr=0.1, optimizer="sgd", momentum=0.9, nesterov=False, weight_decay=5e-4,
        warmup_epochs=1, milestones=(59, 119, 159), gamma=0.2, selection=Selection("last"))),
    min_sub_model_acc=50.0, max_order_drop=1.0, max_scheme_spread=3.0)

_SMALL_MSDNET = dict(n_blocks=4, step=1, base=1, channels=8, growth=4, exit_channels=32)
_SMALL_MOBILENET = dict(stem=16, blocks=((32, 1), (64, 2), (128, 2), (256, 2)), divisor=4)
_CPU_TRAIN = TrainSpec(epochs=4, batch_size=64, lr=2e-3, optimizer="adam", step_size=3, gamma=0.1)

PROFILES = profiles(
    PAPER,
    cpu=Override("2 CPU cores, no CIFAR offline: the named stand-in Fashion-MNIST at 14 px (2,000 / 1,000 / all "
                 "test images), smaller networks of the same two classes, 4 epochs of Adam with a step at 3; "
                 "the committed cpu runs hold out a validation split and keep the epoch with the best mean "
                 "validation accuracy over the sub-models (the seed's rule as written); 3 seeds (one seed on 5,000 "
                 "images gave no error bar; three fit the 10-minute budget at 2,000)",
                 {"datasets": ("fashion_mnist",), "shrink": 2, "n_train": 2000, "n_val": 1000, "full_train": False,
                  "seeds": (0, 1, 2),
                  "augment": False,
                  "msdnet.arch": _SMALL_MSDNET, "msdnet.train": _CPU_TRAIN,
                  "slimmable.arch": _SMALL_MOBILENET, "slimmable.train": _CPU_TRAIN,
                  "min_sub_model_acc": 50.0, "max_order_drop": 3.0, "max_scheme_spread": 6.0,
                  "wide_widths": (0.125, 0.25, 0.5, 1.0)}),
    smoke=Override("nbval in CI: 400 / 200 / 500 images, 2 seeds, 2 epochs of batch 32 at a constant lr, loose floors",
                   {"n_train": 400, "n_val": 200, "n_test": 500, "seeds": (0, 1),
                    "msdnet.train": TrainSpec(epochs=2, batch_size=32, lr=2e-3, optimizer="adam"),
                    "slimmable.train": TrainSpec(epochs=2, batch_size=32, lr=2e-3, optimizer="adam"),
                    "min_sub_model_acc": 15.0, "max_order_drop": 15.0, "max_scheme_spread": 25.0,
                    "wide_widths": (0.125, 0.25, 0.5, 1.0)}))

NETWORKS = ("msdnet", "slimmable")
NETWORK_NAMES = {"msdnet": "MSDNet", "slimmable": "slimmable MobileNet-V1"}
NAMES = {"none": "No dist.", "ipkd": "IPKD", "ta1": "IPKD-TA-1", "tam": "IPKD-TA-M"}

# seed 003's Tables I (MSDNet, 7 exits) and II (slimmable MobileNet-V1, 4 widths): test accuracy (%)
SEED_TABLE1 = {
    "CIFAR-10": {"No dist.": [90.12, 91.59, 92.64, 92.80, 93.24, 93.12, 93.27],
                 "IPKD": [91.24, 92.43, 93.10, 93.35, 93.54, 93.74, 93.69],
                 "IPKD-TA-1": [90.34, 91.32, 92.60, 92.98, 93.40, 93.88, 93.90],
                 "IPKD-TA-M": [91.03, 92.39, 93.12, 93.43, 93.69, 93.92, 94.16]},
    "CIFAR-100": {"No dist.": [65.20, 68.37, 70.82, 71.70, 73.25, 73.61, 74.11],
                  "IPKD": [65.20, 67.69, 70.55, 71.65, 72.71, 73.34, 73.91],
                  "IPKD-TA-1": [65.42, 68.49, 71.36, 72.61, 73.24, 73.91, 73.80],
                  "IPKD-TA-M": [65.85, 68.29, 70.47, 72.25, 73.04, 74.29, 74.84]},
}
SEED_TABLE2 = {
    "CIFAR-10": {"No dist.": [90.46, 89.97, 88.74, 86.04], "IPKD": [90.59, 90.17, 89.16, 87.03],
                 "IPKD-TA-1": [90.59, 90.27, 89.28, 86.55], "IPKD-TA-M": [90.54, 90.45, 89.15, 86.36]},
    "CIFAR-100": {"No dist.": [63.56, 62.76, 60.36, 54.98], "IPKD": [63.75, 63.52, 61.88, 58.17],
                  "IPKD-TA-1": [63.47, 62.80, 60.96, 58.26], "IPKD-TA-M": [64.19, 63.96, 62.47, 59.18]},
}
# the "Avg" rows as printed in seed 003 Tables I-II (the means of the printed rows can differ by 0.01)
SEED_AVG = {
    ("msdnet", "CIFAR-10"): {"No dist.": 92.39, "IPKD": 93.01, "IPKD-TA-1": 92.63, "IPKD-TA-M": 93.10},
    ("msdnet", "CIFAR-100"): {"No dist.": 71.00, "IPKD": 70.72, "IPKD-TA-1": 71.26, "IPKD-TA-M": 71.29},
    ("slimmable", "CIFAR-10"): {"No dist.": 88.80, "IPKD": 89.24, "IPKD-TA-1": 89.17, "IPKD-TA-M": 89.13},
    ("slimmable", "CIFAR-100"): {"No dist.": 60.42, "IPKD": 61.83, "IPKD-TA-1": 61.37, "IPKD-TA-M": 62.45},
}
SEED_ROWS = {"msdnet": [f"Exit {k}" for k in range(1, 8)],
             "slimmable": [f"Switch {k} (x{w:g})" for k, w in enumerate([0.25, 0.5, 0.75, 1.0], 1)]}
SEED_TABLES = {"msdnet": ("Table I", SEED_TABLE1), "slimmable": ("Table II", SEED_TABLE2)}


# --------------------------------------------------------------------------- data and networks
def load(cfg: IpkdSpec, datasets=None) -> dict[str, dict[str, data.TensorData | None]]:
    """The train / val / test splits of each data set (default: all of the profile's), shrunk as it says.

    With ``cfg.full_train`` "train" is the whole official training set (``data.load(name, "full")``) and
    "val" is None: there is no validation set, as in the seed's code bases."""
    sizes = {"train": cfg.n_train, "val": cfg.n_val, "test": cfg.n_test}
    splits = {"train": "full", "val": None, "test": "test"} if cfg.full_train else {k: k for k in sizes}
    get = lambda name, key: (data.load_cifar if name in data.CIFAR else data.load)(name, splits[key], sizes[key])
    return {name: {key: None if splits[key] is None else data.shrink(get(name, key), cfg.shrink) for key in sizes}
            for name in (datasets or cfg.datasets)}


def split_sizes(splits: dict) -> str:
    """``train 5000, val 1000, test 10000``; or, on the full training set, that there is no validation set."""
    if splits["val"] is None:
        return (f"train {len(splits['train'])} (the whole training set), no validation set, "
                f"test {len(splits['test'])}")
    return f"train {len(splits['train'])}, val {len(splits['val'])}, test {len(splits['test'])}"


def title(name: str, d: data.TensorData) -> str:
    """CIFAR's own title, or the stand-in's, with its image size and what it stands in for."""
    if name in data.CIFAR:
        return data.CIFAR[name].title
    return f"{data.DATASETS[name].title} {d.x.shape[-1]} px (stand-in for CIFAR-{10 if len(d.classes) == 10 else 100})"


def seed_data(d: data.TensorData) -> str:
    """The seed's data set that ``d`` is (or stands in for)."""
    return "CIFAR-100" if len(d.classes) == 100 else "CIFAR-10"


def build(network: str, cfg: IpkdSpec, d: data.TensorData, widths: tuple[float, ...] | None = None) -> nn.Module:
    """A fresh ``msdnet`` or ``slimmable`` network for the classes and channels of ``d`` (the slimmable one with
    ``widths`` instead of the profile's, when given)."""
    classes, channels, net = len(d.classes), d.x.shape[1], getattr(cfg, network)
    if network == "msdnet":
        if widths is not None:
            raise ValueError("widths are the slimmable network's; MSDNet's sub-models are its exits")
        return models.MSDNet(classes, channels, **net.arch)
    return models.SlimmableMobileNetV1(classes, channels, widths=widths or net.widths, **net.arch)


def sub_model_labels(network: str, model: nn.Module) -> list[str]:
    """``Exit 1`` ... for MSDNet, ``x0.25`` ... for the slimmable network."""
    if network == "msdnet":
        return [f"Exit {k + 1}" for k in range(model.n_exits)]
    return [f"x{w:g}" for w in model.widths]


def cost(cfg: IpkdSpec, d: data.TensorData) -> pd.DataFrame:
    """Parameters and MFLOPs (one forward pass at ``d``'s image size) of every sub-model of both networks."""
    shape, rows = tuple(d.x.shape[1:]), []
    msd, slim = build("msdnet", cfg, d), build("slimmable", cfg, d)
    for k in range(msd.n_exits):
        rows.append({"network": "MSDNet", "sub-model": f"exit {k + 1}", "parameters": msd.active_params(k),
                     "MFLOPs": efficiency.flops(msd.set_exit(k), shape) / 1e6})
    for w in slim.widths:
        rows.append({"network": "slimmable MobileNet-V1", "sub-model": f"x{w:g}", "parameters": slim.active_params(w),
                     "MFLOPs": efficiency.flops(slim.set_width(w), shape) / 1e6})
    return pd.DataFrame(rows).set_index(["network", "sub-model"])


# --------------------------------------------------------------------------- the runs
def train(run: config.Run, seed: int, network: str, scheme: str, *, dataset: str | None = None,
          sets: dict | None = None, progress: bool = False, widths: tuple[float, ...] | None = None) -> FitResult:
    """One network trained under one scheme (eqs. 4-7) with :class:`~kdcourse.distillers.InPlace`;
    checkpointed, so a finished run (e.g. trained headless by ``python -m kdcourse train``) is loaded.

    dataset  one of the profile's data sets (default: its first); sets: the splits, if loaded already.
    With ``cfg.full_train`` it trains on the whole training set without a validation set (``val=None``) and
    ``net.train.selection`` keeps the final epoch.  ``widths``: the slimmable network's widths for the
    controlled variant (``cfg.wide_widths``), checkpointed under their own name.
    """
    cfg = run.cfg
    dataset = dataset or cfg.datasets[0]
    if dataset not in cfg.datasets:
        raise ValueError(f"data set {dataset!r} is not one of the {run.profile} profile's {cfg.datasets}")
    splits = (sets or load(cfg, [dataset]))[dataset]
    net = getattr(cfg, network)
    config.seed_everything(seed)
    student = build(network, cfg, splits["train"], widths)
    tag = network if widths is None else f"{network}-w{'-'.join(f'{w:g}' for w in widths)}"
    return fit(InPlace(student, scheme, net.T, cfg.lam, net.soft_ce), splits["train"], splits["val"], net.train,
               augment=data.random_shift_flip if cfg.augment else None,
               checkpoint=run.checkpoints / f"{tag}-{scheme}-{dataset}-seed{seed}.pt", seed=seed,
               device=run.device, progress=progress, desc=f"06 {tag} {scheme} {dataset} seed {seed}")


def train_wide(run: config.Run, seed: int, scheme: str, **options) -> FitResult:
    """The controlled variant's run: the slimmable network with the profile's ``wide_widths``."""
    if run.cfg.wide_widths is None:
        raise ValueError(f"the {run.profile} profile has no wide_widths: set them to run the wide-gap variant")
    return train(run, seed, "slimmable", scheme, widths=run.cfg.wide_widths, **options)


RUNS = {f"{network}-{scheme}": partial(train, network=network, scheme=scheme)
        for network in NETWORKS for scheme in losses.SCHEMES}
RUNS |= {f"slimmable-wide-{scheme}": partial(train_wide, scheme=scheme) for scheme in losses.SCHEMES}


def scheme_verdicts(results: pd.DataFrame, network: str, data_title: str) -> pd.DataFrame:
    """Each distillation scheme against no distillation, over the seeds (:func:`kdcourse.metrics.verdict`):
    on the average over the sub-models and on the smallest sub-model alone (points)."""
    frame = results[(results.network == network) & (results.data == data_title)]
    views = {"average over sub-models": frame.groupby(["scheme", "seed"]).accuracy.mean(),
             "smallest sub-model": frame[frame["index"] == 1].set_index(["scheme", "seed"]).accuracy}
    rows = []
    for scheme in [s for s in pd.unique(frame.scheme) if s != "none"]:
        row = {"scheme": NAMES[scheme]}
        for view, acc in views.items():
            gain, noise, word = metrics.verdict(acc[scheme], acc["none"], better="better beyond 2 std")
            row |= {f"{view}: gain (points)": gain, f"{view}: 2 std": noise, f"{view}: verdict": word}
        rows.append(row)
    return pd.DataFrame(rows).set_index("scheme")


def kept(result: FitResult) -> str:
    """The epoch a run kept and why: ``best epoch 3, mean val acc 0.8123``, or the final epoch when there was
    no validation set."""
    if "val_acc" in result.history:
        return f"best epoch {result.best_epoch}, mean val acc {result.best().val_acc:.4f}"
    return (f"final epoch {result.best_epoch} of {len(result.history)} kept (no validation set), "
            f"mean train acc {result.best().train_acc:.4f}")


def epoch_rule(cfg: IpkdSpec) -> str:
    """The caption clause that says which epoch a table reports when it is not the default (the best mean
    validation accuracy over the sub-models, section 3): the final epoch of a full-training-set run."""
    if not cfg.full_train:
        return ""
    return ("; final epoch of training on the whole training set (no validation set, as in the seed's code "
            "bases, whose best-epoch rule would read the test set: test data selects no model here)")


def check_selection(cfg: IpkdSpec, history: pd.DataFrame) -> None:
    """Assert that every run (``data, network, scheme, seed``) was selected by its profile's rule: on the
    full training set there is no validation metric and the rule is the final epoch; otherwise the selected
    ``val_acc`` is the mean of the sub-models' validation accuracies (the seed's rule as written)."""
    for key, frame in history.groupby(["data", "network", "scheme", "seed"]):
        frame = frame.dropna(axis=1, how="all")
        rule = getattr(cfg, key[1]).train.selection
        if cfg.full_train:
            assert rule.primary == "last" and not any(c.startswith("val_") for c in frame), (key, rule)
            continue
        acc_cols = [c for c in frame if c.startswith("val_acc_")]
        assert rule.primary == "val_acc" and acc_cols, (key, rule)
        assert (frame.val_acc - frame[acc_cols].mean(axis=1)).abs().max() < 1e-9, key


def accuracy_rows(model: nn.Module, test: data.TensorData, network: str, **keys) -> list[dict]:
    """One row per sub-model: its position (1 = smallest), label and test accuracy (%), with ``keys``."""
    logits = predict(model, test)
    return [{**keys, "network": network, "index": k + 1, "sub-model": label,
             "accuracy": 100 * float((z.argmax(1) == test.y).float().mean())}
            for k, (label, z) in enumerate(zip(sub_model_labels(network, model), logits))]


# --------------------------------------------------------------------------- tables beside the seed's
def ours(results: pd.DataFrame, network: str, data_title: str) -> pd.DataFrame:
    """Test accuracy per sub-model (rows) and scheme (columns, in the order trained), mean over seeds, with
    the average row ``Avg``."""
    frame = results[(results.network == network) & (results.data == data_title)]
    table = frame.pivot_table(index=["index", "sub-model"], columns="scheme", values="accuracy", aggfunc="mean")
    table = table.droplevel(0)[list(pd.unique(frame.scheme))].rename(columns=NAMES)
    table.loc["Avg"] = table.mean()
    return table


RECOMPUTED_AVG = "mean of the rows (ours)"


def seed_table(network: str, recomputed: bool = False) -> pd.DataFrame:
    """Seed 003's Table I or II as printed: sub-models (rows) by data set and scheme (columns), and its
    ``Avg`` row as printed (``SEED_AVG``).  ``recomputed=True`` adds the row ``RECOMPUTED_AVG``, the mean of
    the printed rows computed by us (it can differ from the printed Avg by 0.01)."""
    _, table = SEED_TABLES[network]
    frame = pd.concat({d: pd.DataFrame(v, index=SEED_ROWS[network]) for d, v in table.items()}, axis=1)
    mean = frame.mean()
    frame.loc["Avg"] = pd.Series({(d, scheme): SEED_AVG[network, d][scheme] for d, scheme in frame.columns})
    if recomputed:
        frame.loc[RECOMPUTED_AVG] = mean
    return frame


def channel_table(model: nn.Module) -> pd.DataFrame:
    """The slimmable network's channel count per layer (rows) at each width (columns): what
    ``make_divisible(c * w, divisor)`` gives, read off the built layers (one row per distinct count c at width
    1.0), and whether every one equals c * w."""
    from ..models.flexible import SlimmableConv2d
    rows, seen = [], set()
    convs = [m for m in model.modules() if isinstance(m, SlimmableConv2d) and not m.depthwise]
    for conv in convs:
        full = conv.out_list[-1]
        if full in seen:
            continue
        seen.add(full)
        rows.append({"channels at x1": full, **{f"x{w:g}": c for w, c in zip(model.widths, conv.out_list)},
                     "= c*w at every width": all(c == full * w for w, c in zip(model.widths, conv.out_list))})
    return pd.DataFrame(rows).set_index("channels at x1")


def beside_seed(results: pd.DataFrame, network: str, data_title: str, source: str) -> pd.DataFrame:
    """Ours (mean over seeds) with seed 003's number for the same sub-model and scheme on ``source``
    (CIFAR-10 / CIFAR-100) beside it; the seed's Avg row as printed."""
    mine, theirs = ours(results, network, data_title), seed_table(network)[source].drop(index="Avg")
    theirs.index = [label.split(" (")[-1].rstrip(")") if label.startswith("Switch") else label
                    for label in theirs.index]
    theirs.loc["Avg"] = pd.Series(SEED_AVG[network, source])
    rows = [r for r in mine.index if r != "Avg"] + [r for r in theirs.index if r not in mine.index] + ["Avg"]
    table = pd.DataFrame(index=pd.Index(rows, name="sub-model"))
    for scheme in mine.columns:
        table[scheme] = mine[scheme]
        table[f"{scheme}, seed 003"] = theirs[scheme]
    return table.round(2)


def figure(results: pd.DataFrame, network: str, xlabel: str, fname: str) -> plt.Figure:
    """Seed 003 Figs. 1-2: accuracy per sub-model, one line per scheme, dashed lines at the averages; ours
    (one panel per data set) then the seed's.  Saved as ``fname`` with its data."""
    seeds = seed_table(network)
    panels = [(f"ours: {t}", ours(results, network, t)) for t in pd.unique(results.data)]
    panels += [(f"seed 003: {d}", seeds[d]) for d in seeds.columns.levels[0]]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.0))
    long = []
    for ax, (label, table) in zip(axes, panels):
        body = table.drop(index="Avg").reset_index(names="sub-model").melt(
            id_vars="sub-model", var_name="scheme", value_name="accuracy")
        plots.lines(body, "sub-model", "accuracy", label, xlabel, "test accuracy (%)", hue="scheme", ax=ax)
        for color, scheme in zip(sns.color_palette(plots.PALETTE), table.columns):
            ax.axhline(table.loc["Avg", scheme], color=color, ls="--", lw=1)
        ax.tick_params(axis="x", rotation=20)
        long.append(body.assign(panel=label))
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes:                      # one legend for the figure, below the panels, off every panel's data
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    handles.append(plt.Line2D([], [], color="0.3", ls="--", lw=1))
    labels.append("dashed: the scheme's average over sub-models")
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(labels), frameon=False)
    ours_data = ", ".join(pd.unique(results.data))
    fig.suptitle(f"{NETWORK_NAMES[network]}: accuracy per {xlabel}, ours on {ours_data}, seed 003 on "
                 f"{' and '.join(seeds.columns.levels[0])} (dashed: average over sub-models)", fontsize=11)
    fig.tight_layout()
    plots.save(fig, fname, data=pd.concat(long, ignore_index=True))
    return fig


def gains(results: pd.DataFrame) -> pd.DataFrame:
    """Each scheme's gain in average accuracy over training without distillation (points): ours per data
    set, and the seed's, for both networks."""
    rows = {}
    for network in [n for n in NETWORKS if n in set(results.network)]:
        for t in pd.unique(results.data):
            avg = ours(results, network, t).loc["Avg"]
            rows[(NETWORK_NAMES[network], f"ours: {t}")] = avg - avg["No dist."]
        seeds = seed_table(network)
        for d in seeds.columns.levels[0]:
            avg = seeds.loc["Avg", d]
            rows[(NETWORK_NAMES[network], f"seed 003: {d}")] = avg - avg["No dist."]
    frame = pd.DataFrame(rows).T.drop(columns="No dist.")
    frame.columns = [f"{c} - No dist. (points)" for c in frame.columns]
    return frame


def averages(results: pd.DataFrame, sources: dict[str, str]) -> pd.DataFrame:
    """Average accuracy over the sub-models per network and scheme, its sd over seeds, and seed 003's Avg
    row beside it; ``sources`` maps each data title to the seed's data set (CIFAR-10 / CIFAR-100)."""
    per_seed = results.groupby(["data", "network", "scheme", "seed"]).accuracy.mean()   # average over sub-models
    rows = []
    for network in [n for n in NETWORKS if n in set(results.network)]:
        table_name = SEED_TABLES[network][0]
        for t, src in sources.items():
            avg = ours(results, network, t).loc["Avg"]
            for scheme in pd.unique(results.scheme):
                spread = per_seed[t, network, scheme]
                rows.append({"data": t, "network": NETWORK_NAMES[network], "scheme": NAMES[scheme],
                             "average accuracy (%)": avg[NAMES[scheme]], "sd over seeds": spread.std(),
                             "seeds": len(spread), "seed 003 average (%)": SEED_AVG[network, src][NAMES[scheme]],
                             "seed 003 source": f"{table_name}, Avg row, {src}"})
    frame = pd.DataFrame(rows).set_index(["network", "scheme"])
    return frame.drop(columns="data") if len(sources) == 1 else frame
