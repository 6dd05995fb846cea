"""Notebook 02: Hinton KD on MNIST, teacher CNN -> student MLP 784-784 (seed 004 Task 1, Figs. 1-5).

The paper profile is seed 004's: an alpha x T sweep (best alpha 0.9, T 20),
students trained for 12 epochs with Adam at batch 256.  The small-data runs
follow Hinton et al. 2015 (a few % of the training set), with batch 32 and
twice the epochs.  ``RUNS`` are the notebook's two headless runs: the
student without KD (``ce``) and with KD at the best alpha and T (``kd``).
Every fit here (runs, sweep cells, small-data runs) is checkpointed under
``run.checkpoints``, so a finished one is loaded instead of trained again.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import pandas as pd

from .. import config, data, metrics, models
from ..data import TensorData
from ..distillers import KD, LOGIT_BASELINES, CrossEntropy, Distiller, logit_baseline
from ..engine import FitResult, TeacherCache, TrainSpec, fit
from . import mnist
from .base import Override, profiles, teacher_store


@dataclass(frozen=True)
class HintonSpec:
    """Hinton et al. 2015, section 3: a teacher with 67 test errors and an 800-800 student, alone (146) and
    distilled at T = 20 (74).  Our teacher is a CNN (:class:`~kdcourse.models.ConvNet3`) trained with their
    +-2 px jitter; theirs was a 1200-1200 MLP with dropout and jitter, which takes far longer to train."""

    teacher: TrainSpec                 # ConvNet3 on jittered images
    jitter: int                        # +- pixels, each image shifted afresh every epoch
    student: TrainSpec                 # the 800-800 MLP, alone and distilled (no jitter: cached teacher logits)
    seeds: tuple[int, ...]
    T: float = 20.0
    alpha: float = 0.9                 # weight of T^2 KL; 1 - alpha on the labels
    hidden: tuple[int, ...] = (800, 800)
    max_teacher_errors: int = 70       # the teacher's test errors per 10,000 (full-size profiles)
    tolerance: int = 15                # "within 15 errors of 146 and of 74" (the scorecard's rule)
    source_errors: tuple[int, int, int] = (67, 146, 74)   # teacher, student alone, student distilled


@dataclass(frozen=True)
class MnistKDSpec:
    student: TrainSpec                 # the student's training, with and without KD
    seeds: tuple[int, ...]             # seeds of the KD vs no-KD comparison and of the small-data runs
    alphas: tuple[float, ...]          # the sweep's grid
    temperatures: tuple[float, ...]
    sweep_epochs: int                  # each sweep cell: one seed, this many epochs
    best_alpha: float                  # seed 004's best setting (Figs. 1-2)
    best_T: float
    fractions: tuple[float, ...]       # small-data setting: fractions of the training set
    small: TrainSpec                   # ... trained with this spec
    # quality thresholds (asserted at the end of the notebook)
    min_student_acc: float             # lowest acceptable mean test accuracy, with and without KD
    min_full_gain: float               # KD must not hurt on full data by more than this
    min_small_gain: float              # the smallest KD gain accepted at every small fraction
    min_sweep_acc: float               # the sweep's best mean test accuracy
    # the sources' numbers (Hinton et al. 2015): MNIST test errors per 10,000 (sec. 3), speech (Table 5)
    source_teacher_errors: int         # 1200-1200 MLP teacher, dropout + jittered inputs
    source_student_errors: int         # 800-800 MLP on the labels alone
    source_kd_errors: int              # 800-800 MLP distilled at T = 20
    source_small_soft: float           # test frame accuracy (%) on 3 % of the speech data, soft targets
    source_small_hard: float           # ... hard labels
    hinton: HintonSpec                 # section 9: Hinton et al.'s own setting


HINTON = HintonSpec(
    teacher=TrainSpec(epochs=12, batch_size=128, lr=1e-3, step_size=4, gamma=0.3), jitter=2,
    student=TrainSpec(epochs=30, batch_size=128, lr=1e-3, step_size=10, gamma=0.2),
    seeds=(0, 1, 2))

PAPER = MnistKDSpec(
    student=TrainSpec(epochs=12, batch_size=256, lr=1e-3), seeds=(0, 1, 2, 3, 4), alphas=(0.1, 0.5, 0.9),
    temperatures=(1, 2, 4, 8, 16, 20, 32, 64), sweep_epochs=12, best_alpha=0.9, best_T=20.0,
    fractions=(0.01, 0.03), small=TrainSpec(epochs=24, batch_size=32, lr=1e-3),
    min_student_acc=0.98, min_full_gain=-0.002, min_small_gain=0.01, min_sweep_acc=0.98,
    source_teacher_errors=67, source_student_errors=146, source_kd_errors=74,
    source_small_soft=57.0, source_small_hard=44.5, hinton=HINTON)

PROFILES = profiles(
    PAPER,
    cpu=Override("2 CPU cores, a 10-minute budget: 10 epochs (the val curves are flat by then), 3 seeds, "
                 "two alphas and six temperatures of 5 epochs each in the sweep",
                 {"student.epochs": 10, "seeds": (0, 1, 2), "alphas": (0.5, 0.9),
                  "temperatures": (1, 2, 4, 8, 20, 40), "sweep_epochs": 5, "small.epochs": 20,
                  "min_student_acc": 0.975, "min_sweep_acc": 0.975}),
    smoke=Override("nbval in CI: 2 epochs of batch 128, 2 seeds, a 2 x 3 sweep, one 5 % fraction, loose floors",
                   {"student.epochs": 2, "student.batch_size": 128, "seeds": (0, 1), "temperatures": (1, 4, 20),
                    "sweep_epochs": 2, "fractions": (0.05,), "small.epochs": 4, "min_student_acc": 0.80,
                    "hinton.teacher.epochs": 2, "hinton.teacher.step_size": 1, "hinton.student.epochs": 2,
                    "hinton.student.step_size": 1, "hinton.seeds": (0, 1), "hinton.max_teacher_errors": 10_000,
                    "min_full_gain": -0.03, "min_small_gain": -0.05, "min_sweep_acc": 0.75}))


def student(seed: int) -> models.MLP:
    """A fresh seeded student: the 784-784 MLP (Hinton et al.'s 800-800, seed 004's size)."""
    return mnist.student_mlp(seed)


def method(name: str, net, cache: TeacherCache, cfg: MnistKDSpec) -> Distiller:
    """``ce``: the student alone; ``kd``: Hinton KD at seed 004's best alpha and T; ``dkd``, ``dist`` and
    ``kd_std``: the newer logit losses with their authors' settings (:func:`distillers.logit_baseline`)."""
    if name in LOGIT_BASELINES:
        return logit_baseline(name, net, cache, cfg.student.epochs)
    methods = {"ce": lambda: CrossEntropy(net), "kd": lambda: KD(net, cache, cfg.best_T, cfg.best_alpha)}
    if name not in methods:
        raise ValueError(f"notebook 02 has the methods {sorted([*methods, *LOGIT_BASELINES])}, not {name!r}")
    return methods[name]()


def labels(cfg: MnistKDSpec) -> dict[str, str]:
    """The methods' names in tables and figures: ``ce`` -> "no KD", ``kd`` -> "KD (α=0.9, T=20)"."""
    return {"ce": "no KD", "kd": f"KD (α={cfg.best_alpha:g}, T={cfg.best_T:g})"}


def baseline_labels() -> dict[str, str]:
    """The newer logit losses run beside KD on the full training set: ``dkd`` -> "DKD", ..."""
    return dict(LOGIT_BASELINES)


def _fit(run: config.Run, m, distiller: Distiller, train_set: TensorData, spec: TrainSpec, seed: int,
         name: str, track: bool, progress: bool) -> FitResult:
    return fit(distiller, train_set, m.val, spec, track={"test": m.test} if track else None,
               checkpoint=run.checkpoints / f"{name}.pt", seed=seed, progress=progress, device=run.device,
               desc=f"02 {name}")


def train(run: config.Run, name: str, seed: int, shared=None, progress: bool = False) -> FitResult:
    """One of the KD vs no-KD runs on the full training set, tracked on the test set; checkpointed, so a
    finished run (for example one trained headless with ``python -m kdcourse train``) is loaded."""
    cfg, m = run.cfg, shared or mnist.setup(run, progress=progress)
    return _fit(run, m, method(name, student(seed), m.cache, cfg), m.train, cfg.student, seed,
                f"{name}-seed{seed}", True, progress)


def sweep_cell(run: config.Run, m, alpha: float, T: float, progress: bool = False) -> FitResult:
    """One cell of the alpha x T sweep (Fig. 1): KD at (alpha, T), seed 0, ``sweep_epochs`` epochs,
    tracked on the test set."""
    cfg = run.cfg
    return _fit(run, m, KD(student(0), m.cache, float(T), alpha), m.train,
                cfg.student.but(epochs=cfg.sweep_epochs), 0, f"sweep/kd-alpha{alpha:g}-T{float(T):g}-seed0",
                True, progress)


def small_data(run: config.Run, m, name: str, frac: float, seed: int, progress: bool = False
               ) -> tuple[TensorData, FitResult]:
    """Hinton's small-data setting: the student on a seeded ``frac`` of the training set (the teacher
    stays the one trained on all of it), with ``cfg.small``; returns the subset and the fit."""
    cfg = run.cfg
    subset = m.train.fraction(frac, seed)
    res = _fit(run, m, method(name, student(seed), m.cache, cfg), subset, cfg.small, seed,
               f"small/{name}-frac{frac:g}-seed{seed}", False, progress)
    return subset, res


def verdicts(runs: pd.DataFrame, kd: str, no_kd: str) -> pd.DataFrame:
    """KD's gain per fraction of the training set against 2 seed-to-seed std (:func:`metrics.verdict`);
    ``runs`` has one row per fraction, method and seed with its ``test_acc``."""
    rows = []
    for frac, part in runs.groupby("fraction"):
        acc = part.set_index(["method", "seed"])["test_acc"]
        gain, noise, word = metrics.verdict(acc[kd], acc[no_kd], better="KD beats no KD beyond 2 std")
        rows.append({"fraction": frac, "KD gain": gain, "2 std": noise, "verdict": word})
    return pd.DataFrame(rows).set_index("fraction")


def results_vs_source(cfg: MnistKDSpec, *, teacher_acc: float, ce: tuple[float, float], kd: tuple[float, float],
                      full: tuple[float, str], small: dict, best: tuple[float, float], params: float,
                      flops: float, gap: tuple[float, float, float] | None = None) -> pd.DataFrame:
    """This run beside seed 004 and Hinton et al. 2015: the teacher's test accuracy, the students' (mean,
    std) test accuracy without (``ce``) and with KD, KD's (gain, verdict) on full data and at each small
    fraction (``small``: fraction -> (gain, verdict)), the sweep's best (alpha, T) on val, the student /
    teacher ratios of parameters and FLOPs, and (``gap``: fraction, no-KD gap, KD gap) the train - test
    accuracy gaps of seed 004's Q1(e) "soft targets regularise"."""
    hinton = "Hinton et al. 2015, sec. 3"
    errors = lambda acc: (1 - acc) * 1e4
    speech = f"soft targets {cfg.source_small_soft:.1f} % vs hard {cfg.source_small_hard:.1f} % (speech, 3 %)"
    rows = [
        ("teacher test errors (per 10k)", f"{errors(teacher_acc):.0f}",
         f"{cfg.source_teacher_errors} (1200-1200 MLP, dropout + jitter)", hinton),
        ("student without KD, test errors (per 10k)", f"{errors(ce[0]):.0f} ± {ce[1] * 1e4:.0f}",
         f"{cfg.source_student_errors} (800-800 MLP)", hinton),
        ("student with KD, test errors (per 10k)", f"{errors(kd[0]):.0f} ± {kd[1] * 1e4:.0f}",
         f"{cfg.source_kd_errors} (800-800 MLP, T = 20)", hinton),
        ("KD vs no KD, full data", f"{full[0]:+.4f} acc: {full[1]}", "KD better 'by a noticeable margin'",
         "seed 004 Q7, Fig. 3"),
        *[(f"KD vs no KD, {frac:g} of the training set", f"{gain:+.4f} acc: {word}", speech,
           "Hinton et al. 2015, Table 5") for frac, (gain, word) in small.items()],
        ("best (α, T) of the sweep, by mean val accuracy", f"α = {best[0]:g}, T = {best[1]:g}",
         f"α = {cfg.best_alpha:g}, T = {cfg.best_T:g}", "seed 004 Q5-6, Figs. 1-2"),
        ("student / teacher parameters", f"{params:.2f}x", "student has more", "seed 004 Q8, Fig. 4"),
        ("student / teacher FLOPs", f"{flops:.3f}x", "student needs far fewer", "seed 004 Q8, Fig. 5"),
    ]
    if gap is not None:
        rows.append((f"train - test accuracy gap at {gap[0]:g} of the training set, no KD / KD",
                     f"{gap[1]:.4f} / {gap[2]:.4f}", "soft targets act like a regulariser", "seed 004 Q1(e)"))
    return pd.DataFrame(rows, columns=["quantity", "this run", "source", "reference"]).set_index("quantity")


def fit_gaps(small: pd.DataFrame) -> pd.DataFrame:
    """Per fraction and method (rows of ``small`` with ``train_acc`` on the student's own subset and
    ``test_acc``): the mean over seeds of each and of the gap train - test."""
    table = small.assign(gap=small["train_acc"] - small["test_acc"])
    return table.groupby(["fraction", "method"], sort=False)[["train_acc", "test_acc", "gap"]].mean()


def epoch_wobble(curves: pd.DataFrame, method: str, column: str = "test_acc") -> float:
    """How much ``method``'s ``column`` moves from one epoch to the next: the mean |change| between
    consecutive epochs over the second half of training, averaged over seeds (``curves``: one row per
    method, seed and epoch)."""
    part = curves[curves["method"] == method]
    moves = []
    for _, run in part.groupby("seed"):
        acc = run.sort_values("epoch")[column].to_numpy()
        moves.append(abs(pd.Series(acc[(len(acc) - 1) // 2:]).diff().dropna()).mean())
    return float(pd.Series(moves).mean())


def hinton_jitter(cfg: HintonSpec):
    """Hinton et al.'s jitter: every image shifted by up to ``cfg.jitter`` pixels each way, the uncovered
    border black (a batch function for ``fit(..., augment=...)``)."""
    return partial(data.random_shift_flip, max_shift=cfg.jitter, flip=False, fill=data.background("mnist"))


def hinton_teacher(run: config.Run, seed: int = 0, sets: dict[str, TensorData] | None = None,
                   progress: bool = False) -> FitResult:
    """Section 9's teacher: ConvNet3 on jittered MNIST, its epoch chosen on validation; checkpointed beside
    the other MNIST teachers (``data/checkpoints/<profile>/``), so 02 and ``make teachers`` share it."""
    cfg = run.cfg.hinton
    sets = sets or mnist.splits(run.profile)
    config.seed_everything(seed)
    name = "mnist_teacher_convnet3_jitter" + ("" if seed == 0 else f"_seed{seed}")
    return fit(CrossEntropy(models.ConvNet3()), sets["train"], sets["val"], cfg.teacher,
               augment=hinton_jitter(cfg), checkpoint=config.checkpoints_dir(run.profile) / f"{name}.pt",
               seed=seed, progress=progress, device=run.device, desc="02 Hinton teacher ConvNet3 (jitter)")


def hinton_student(run: config.Run, name: str, seed: int, sets: dict[str, TensorData] | None = None,
                   cache: TeacherCache | None = None, progress: bool = False) -> FitResult:
    """The 800-800 MLP of Hinton et al. alone (``ce``) or distilled at T = 20 (``kd``) from section 9's
    teacher (trained, or loaded, when no ``cache`` of it is given); tracked on the test set, checkpointed."""
    cfg = run.cfg.hinton
    sets = sets or mnist.splits(run.profile)
    if name == "kd" and cache is None:
        cache = TeacherCache(hinton_teacher(run, 0, sets, progress).model, store=teacher_store())
    config.seed_everything(seed)
    net = models.MLP(784, cfg.hidden)
    methods = {"ce": lambda: CrossEntropy(net), "kd": lambda: KD(net, cache, cfg.T, cfg.alpha)}
    if name not in methods:
        raise ValueError(f"the Hinton setting has the methods {sorted(methods)}, not {name!r}")
    return fit(methods[name](), sets["train"], sets["val"], cfg.student, track={"test": sets["test"]},
               checkpoint=run.checkpoints / "hinton" / f"{name}-seed{seed}.pt", seed=seed, progress=progress,
               device=run.device, desc=f"02 Hinton 800-800 {name} seed {seed}")


def hinton_table(cfg: HintonSpec, teacher_errors: float, errors: pd.DataFrame) -> pd.DataFrame:
    """Test errors per 10,000 beside Hinton et al.'s: ``errors`` has one row per method (``ce``, ``kd``) and
    seed with its ``test_errors``; the teacher was trained once."""
    t, ce, kd = cfg.source_errors
    stats = errors.groupby("method")["test_errors"].agg(["mean", "std", "count"])
    rows = [{"model": "teacher", "this run": f"{teacher_errors:.0f}", "seeds": 1,
             "Hinton et al. 2015": f"{t} (1200-1200 MLP, dropout + jitter)", "difference": teacher_errors - t}]
    for method, source, words in (("ce", ce, "800-800 MLP alone"), ("kd", kd, f"800-800 MLP, T = {cfg.T:g}")):
        s = stats.loc[method]
        rows.append({"model": words, "this run": f"{s['mean']:.0f} ± {s['std']:.0f}", "seeds": int(s["count"]),
                     "Hinton et al. 2015": f"{source}", "difference": s["mean"] - source})
    return pd.DataFrame(rows).set_index("model")


RUNS = {"ce": partial(train, name="ce"), "kd": partial(train, name="kd"),
        **{name: partial(train, name=name) for name in LOGIT_BASELINES}, "hinton-teacher": hinton_teacher,
        "hinton-ce": partial(hinton_student, name="ce"), "hinton-kd": partial(hinton_student, name="kd")}
