"""Notebook 08: subclass distillation on MNIST (Mueller, Kornblith & Hinton 2020; seed 004 Task 1 Q9-12).

Two layouts: seed 004's 10 classes x 2 subclasses (Q12, Fig. 6) and Mueller
et al.'s demo, MNIST collapsed to digits 0-4 vs 5-9 with 5 subclasses each.
For each, one subclass teacher (seed 0) trained on CE + beta L_aux, then per
seed three students: the student alone (``ce``), conventional KD from the
teacher's class logits (``kd``) and subclass KD from its subclass logits
(``subclass_kd``).  ``RUNS`` names each of them per layout, e.g.
``teacher-2x5`` or ``subclass_kd-2x5``; every fit is checkpointed under
``run.checkpoints``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from types import SimpleNamespace

import pandas as pd
import torch

from .. import config, data, metrics, models
from ..distillers import KD, CrossEntropy, SubclassKD, SubclassTeacher
from ..engine import FitResult, TeacherCache, TrainSpec, fit, predict
from . import mnist
from .base import Override, profiles, teacher_store


@dataclass(frozen=True)
class Layout:
    classes: int                       # C: 10 (the digits) or 2 (digits 0-4 vs 5-9)
    subclasses: int                    # s per class: the teacher and the subclass student have C * s outputs
    min_teacher_acc: float             # quality threshold: the teacher's test accuracy

    @property
    def name(self) -> str:
        return f"{self.classes} classes x {self.subclasses} subclasses"

    @property
    def tag(self) -> str:
        return f"{self.classes}x{self.subclasses}"


@dataclass(frozen=True)
class SubclassSpec:
    ten_class: Layout                  # seed 004 Q12
    two_class: Layout                  # Mueller et al.'s demo colab
    teacher: TrainSpec
    student: TrainSpec
    beta: float                        # weight of the teacher's auxiliary loss
    T_aux: float                       # its temperature
    T: float                           # the students' distillation temperature ...
    alpha: float                       # ... and weight (subclass KD and conventional KD alike)
    seeds: tuple[int, ...]             # the students' seeds (one teacher per layout, seed 0)
    # quality thresholds (asserted at the end of the notebook)
    min_student_acc: float             # every student's mean test accuracy
    min_gain_vs_alone: float           # 2 classes: subclass KD - student alone, mean test accuracy
    min_gain_vs_conventional: float    # 2 classes: subclass KD - conventional KD
    min_purity_over_chance: float      # the 2-class teacher's subclass purity above chance
    min_subclasses_used: int           # ... of its 10 subclasses, at least this many are someone's top one
    # the source's numbers: Mueller et al.'s colab, 2 classes x 5 subclasses, one run each, last of 12 epochs
    source_teacher_acc: float
    source_subclass_kd_acc: float
    source_kd_acc: float
    source_alone_acc: float
    # seed 004 Q11 (the challenges: how many subclasses, how much data, how strong an auxiliary loss): a small
    # sweep of 2-class teachers, each with one subclass-KD student, on the first ``n_q11_train`` training images
    q11_subclasses: tuple[int, ...] = (2, 5, 10)     # subclasses per class (beta = 1, n_q11_train images)
    q11_betas: tuple[float, ...] = (0.0, 1.0, 10.0)  # auxiliary weights (two_class.subclasses, n_q11_train images)
    n_q11_train: int | None = None                   # training images of the sweep (None: all)
    n_q11_small: int | None = 5_500                  # ... and the small-data point (two_class layout, beta = 1)
    q11_epochs: int = 12                             # the sweep's teachers and students (the small-data point
                                                     # gets n_q11_train / n_q11_small times more: the same steps)
    q11_batch_size: int = 256


# Mueller, Kornblith & Hinton 2020's demo: 12 epochs, Adam, batch 256; beta 1, T_aux 1; student alpha 0.5, T 4.
PAPER = SubclassSpec(
    ten_class=Layout(10, 2, min_teacher_acc=0.99), two_class=Layout(2, 5, min_teacher_acc=0.99),
    teacher=TrainSpec(epochs=12, batch_size=256, lr=1e-3), student=TrainSpec(epochs=12, batch_size=256, lr=1e-3),
    beta=1.0, T_aux=1.0, T=4.0, alpha=0.5, seeds=(0, 1, 2, 3, 4),
    min_student_acc=0.98, min_gain_vs_alone=0.0, min_gain_vs_conventional=-0.001, min_purity_over_chance=0.3,
    min_subclasses_used=10,
    source_teacher_acc=0.9935, source_subclass_kd_acc=0.9901, source_kd_acc=0.9872, source_alone_acc=0.9853)

PROFILES = profiles(
    PAPER,
    cpu=Override("2 CPU cores: the teacher for 3 epochs and the students for 5 (the whole notebook in ~6 min), "
                 "the Q11 sweep on 5,000 images for 2 epochs of batch 64 (~2 min), "
                 "3 seeds; the teachers reach 98.5 %, and 8 of 10 subclasses in use is the floor",
                 {"teacher.epochs": 3, "student.epochs": 5, "seeds": (0, 1, 2), "ten_class.min_teacher_acc": 0.985,
                  "two_class.min_teacher_acc": 0.985, "min_student_acc": 0.975, "min_subclasses_used": 8,
                  "n_q11_train": 5_000, "n_q11_small": 1_000, "q11_epochs": 2,
                  "q11_batch_size": 64}),
    smoke=Override("nbval in CI: 1,500 training images, the teacher 4 epochs of batch 64, the students 2 of "
                   "batch 128; loose floors",
                   {"teacher.epochs": 4, "teacher.batch_size": 64, "student.epochs": 2, "student.batch_size": 128,
                    "ten_class.min_teacher_acc": 0.75, "two_class.min_teacher_acc": 0.85, "min_student_acc": 0.70,
                    "min_gain_vs_alone": -0.05, "min_gain_vs_conventional": -0.05, "min_purity_over_chance": 0.0,
                    "min_subclasses_used": 2, "n_q11_train": None, "n_q11_small": 500, "q11_epochs": 1}))

# the students' methods and their names in tables and figures
METHODS = {"ce": "no KD", "kd": "conventional KD", "subclass_kd": "subclass KD"}


def relabel(d: data.TensorData, num_classes: int) -> data.TensorData:
    """MNIST with 10 classes (the digits) or 2 (digits 0-4 -> 0, 5-9 -> 1): the same images, same tensor x."""
    if num_classes not in (2, 10):
        raise ValueError(f"MNIST can be relabelled to 10 or 2 classes, not {num_classes}")
    names = d.classes if num_classes == 10 else ["0-4", "5-9"]
    return data.TensorData(d.x, d.y // (10 // num_classes), d.name, d.split, d.source, names)


def task(digits: dict, layout: Layout) -> SimpleNamespace:
    """The train / val / test splits of ``digits`` (MNIST with its digit labels) relabelled to the layout's classes."""
    return SimpleNamespace(**{split: relabel(digits[split], layout.classes) for split in data.SPLITS})


def teacher_net(layout: Layout) -> models.SubclassNet:
    """Mueller et al.'s MNIST CNN with C * s outputs, as a SubclassNet (forward: the C class logits)."""
    return models.SubclassNet(models.MuellerCNN(layout.classes * layout.subclasses), layout.classes,
                              layout.subclasses)


def student_net(outputs: int) -> models.MLP:
    """The 784-784 MLP of both sources (not seeded here: the caller seeds)."""
    return mnist.student_mlp(outputs=outputs)


def _fit(run: config.Run, distiller, d: SimpleNamespace, spec: TrainSpec, seed: int, name: str,
         progress: bool) -> FitResult:
    return fit(distiller, d.train, d.val, spec, track={"test": d.test}, checkpoint=run.checkpoints / f"{name}.pt",
               seed=seed, progress=progress, device=run.device, desc=f"08 {name}")


def train_teacher(run: config.Run, layout: Layout, d: SimpleNamespace, seed: int = 0,
                  progress: bool = False) -> FitResult:
    """The subclass teacher of ``layout``: CE + beta L_aux (SubclassTeacher), tracked on the test set."""
    cfg = run.cfg
    config.seed_everything(seed)
    net = teacher_net(layout)
    return _fit(run, SubclassTeacher(net, cfg.beta, cfg.T_aux), d, cfg.teacher, seed,
                f"teacher-{layout.tag}-seed{seed}", progress)


def caches(teacher: models.SubclassNet) -> dict[str, TeacherCache]:
    """One TeacherCache per view of the teacher, shared by every seed: its class logits for conventional KD,
    its subclass logits (its backbone's outputs) for subclass KD."""
    return {"kd": TeacherCache(teacher, store=teacher_store()),
            "subclass_kd": TeacherCache(teacher.backbone, store=teacher_store())}


def train_student(run: config.Run, layout: Layout, method: str, seed: int, d: SimpleNamespace,
                  shared: dict[str, TeacherCache] | None = None, progress: bool = False) -> FitResult:
    """One student (``method`` in METHODS) of the layout's teacher, from ``shared`` caches (:func:`caches`)."""
    if method not in METHODS:
        raise ValueError(f"notebook 08's students are {sorted(METHODS)}, not {method!r}")
    cfg, C, s = run.cfg, layout.classes, layout.subclasses
    config.seed_everything(seed)
    if method == "subclass_kd":
        distiller = SubclassKD(models.SubclassNet(student_net(C * s), C, s), shared["subclass_kd"], cfg.T, cfg.alpha)
    elif method == "kd":
        distiller = KD(student_net(C), shared["kd"], cfg.T, cfg.alpha)
    else:
        distiller = CrossEntropy(student_net(C))
    return _fit(run, distiller, d, cfg.student, seed, f"{method}-{layout.tag}-seed{seed}", progress)


def headless(run: config.Run, layout: str, method: str, seed: int = 0, progress: bool = False) -> FitResult:
    """A run of the command line: the teacher of ``layout`` ("two_class" / "ten_class"), or one student
    (whose teacher, seed 0, is trained first or loaded from its checkpoint)."""
    spec: Layout = getattr(run.cfg, layout)
    d = task(mnist.splits(run.profile), spec)
    if method == "teacher":
        return train_teacher(run, spec, d, seed, progress)
    teacher = train_teacher(run, spec, d, 0, progress).model
    return train_student(run, spec, method, seed, d, caches(teacher), progress)


def shuffled_within_class(assigned: torch.Tensor, classes: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Chance level for subclass assignments: ``assigned`` shuffled among the images of each class (same
    class, random subclass), which keeps the class split but removes what the subclasses learnt."""
    gen = torch.Generator().manual_seed(seed)
    out = assigned.clone()
    for c in classes.unique().tolist():
        idx = torch.nonzero(classes == c).squeeze(1)
        out[idx] = assigned[idx][torch.randperm(len(idx), generator=gen)]
    return out


def recovery(assignments: dict[str, torch.Tensor], digits: torch.Tensor) -> pd.DataFrame:
    """Do subclass assignments recover the digits?  Purity, one-to-one (Hungarian) accuracy and the number
    of subclasses in use, one row per named assignment."""
    return pd.DataFrame([{"subclasses of": name, "purity": metrics.cluster_purity(a, digits),
                          "one-to-one accuracy": metrics.matched_accuracy(a, digits),
                          "subclasses used": int(a.unique().numel())}
                         for name, a in assignments.items()]).set_index("subclasses of")


def results_vs_source(cfg: SubclassSpec, summary: pd.DataFrame, teachers: dict[str, FitResult],
                      teacher_acc: dict[str, float]) -> pd.DataFrame:
    """Test accuracy of each layout's teacher (val-chosen and last epoch) and of the three students (mean ± sd
    over seeds, ``summary`` by layout name and method name), beside Mueller et al. (2 classes) and seed 004
    (10 classes: no numbers, only Fig. 6's reading)."""
    source = {"teacher": cfg.source_teacher_acc, "subclass KD": cfg.source_subclass_kd_acc,
              "conventional KD": cfg.source_kd_acc, "no KD": cfg.source_alone_acc}
    fmt = lambda m, sd: f"{m:.4f} ± {sd:.4f}"
    rows = []
    for setting, t_res in teachers.items():
        two = setting == cfg.two_class.name
        rows.append({"setting": setting, "model": "teacher (subclasses)", "test acc (val-chosen epoch)":
                     f"{teacher_acc[setting]:.4f}", "test acc (last epoch)": f"{t_res.history['test_acc'].iloc[-1]:.4f}",
                     "seeds": 1, "source": f"{source['teacher']:.4f}" if two else "—"})
        for method in METHODS.values():
            r = summary.loc[(setting, method)]
            rows.append({"setting": setting, "model": f"student, {method}",
                         "test acc (val-chosen epoch)": fmt(r["test_acc"], r["test_sd"]),
                         "test acc (last epoch)": fmt(r["last_test_acc"], r["last_sd"]), "seeds": int(r["seeds"]),
                         "source": f"{source[method]:.4f}" if two else
                         ("seed 004 Fig. 6: no gain over KD" if method == "subclass KD" else "—")})
    return (pd.DataFrame(rows).set_index(["setting", "model"])
            .rename(columns={"source": "source: Müller et al. 2020 (2 classes) / seed 004 (10 classes)"}))


def q11_configs(cfg: SubclassSpec) -> list[dict]:
    """The Q11 sweep's points (2 classes): the number of subclasses s at beta = 1; the auxiliary weight beta at
    the layout's s; and a smaller training set at the layout's s and beta = 1.  Duplicates appear once."""
    s0, n = cfg.two_class.subclasses, cfg.n_q11_train
    points = ([{"varied": "subclasses", "s": s, "beta": 1.0, "n": n} for s in cfg.q11_subclasses]
              + [{"varied": "beta", "s": s0, "beta": float(b), "n": n} for b in cfg.q11_betas]
              + [{"varied": "data", "s": s0, "beta": 1.0, "n": cfg.n_q11_small}])
    out, seen = [], set()
    for p in points:
        key = (p["s"], p["beta"], p["n"])
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _first(d: data.TensorData, n: int | None, seed: int = 0) -> data.TensorData:
    """A seeded random subset of ``n`` images of ``d`` (all of it when n is None or too large)."""
    if n is None or n >= len(d):
        return d
    pick = torch.randperm(len(d), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    return d.subset(pick)


def _effective(assigned: torch.Tensor) -> float:
    """exp(entropy) of how often each subclass is the top one: the number of equally used subclasses that
    would give the same spread."""
    p = assigned.bincount().double()
    p = p[p > 0] / p.sum()
    return float(torch.exp(-(p * p.log()).sum()))


def q11_sweep(run: config.Run, d: SimpleNamespace, test_digits: torch.Tensor, progress: bool = False) -> pd.DataFrame:
    """Seed 004 Q11 measured on the 2-class problem (digits 0-4 vs 5-9): for each point of :func:`q11_configs`
    one teacher (seed 0, CE + beta L_aux) and one subclass-KD student (seed 0) trained on a seeded subset of
    ``n`` training images for as many steps as ``q11_epochs`` epochs of ``n_q11_train`` images (a smaller set
    gets more epochs), plus a no-KD student per training-set size.  One row per point:
    the teacher's test accuracy, how many of its subclasses are someone's top one (and the effective number,
    exp of the entropy of their use), their purity and one-to-one accuracy against the never-seen digits,
    and the students' validation and test accuracy.  Every fit is checkpointed (``q11-*.pt``)."""
    import dataclasses
    cfg = run.cfg
    C = cfg.two_class.classes
    n_full = len(_first(d.train, cfg.n_q11_train))
    acc = lambda net, ds: metrics.accuracy(predict(net, ds), ds.y)
    alone: dict = {}
    rows = []
    for p in q11_configs(cfg):
        s, beta, n = p["s"], p["beta"], p["n"]
        train = _first(d.train, n)
        epochs = max(1, round(cfg.q11_epochs * n_full / len(train)))   # the same number of steps at every size
        t_spec, s_spec = (dataclasses.replace(spec, epochs=epochs, batch_size=cfg.q11_batch_size)
                          for spec in (cfg.teacher, cfg.student))
        tag = f"2x{s}-beta{beta:g}-n{len(train)}"
        ckpt = lambda name: run.checkpoints / f"q11-{name}.pt"
        config.seed_everything(0)
        layout = Layout(C, s, 0.0)
        t = fit(SubclassTeacher(teacher_net(layout), beta, cfg.T_aux), train, d.val, t_spec, checkpoint=ckpt(f"teacher-{tag}"),
                seed=0, progress=progress, device=run.device, desc=f"08 q11 teacher {tag}").model.eval()
        config.seed_everything(0)
        student = SubclassKD(models.SubclassNet(student_net(C * s), C, s), TeacherCache(t.backbone), cfg.T, cfg.alpha)
        st = fit(student, train, d.val, s_spec, checkpoint=ckpt(f"subclass_kd-{tag}"), seed=0, progress=progress,
                 device=run.device, desc=f"08 q11 subclass KD {tag}")
        if len(train) not in alone:
            config.seed_everything(0)
            alone[len(train)] = fit(CrossEntropy(student_net(C)), train, d.val, s_spec,
                                    checkpoint=ckpt(f"ce-n{len(train)}"), seed=0, progress=progress,
                                    device=run.device, desc=f"08 q11 no KD n{len(train)}")
        top = predict(t, d.test, call=t.subclass_logits).argmax(1)
        t_acc, st_acc, ce_acc = acc(t, d.test), acc(st.model, d.test), acc(alone[len(train)].model, d.test)
        rows.append({**p, "n": len(train), "epochs": epochs, "images per subclass": len(train) / (C * s),
                     "teacher test acc": t_acc, "subclasses": C * s, "subclasses used": int(top.unique().numel()),
                     "effective subclasses": _effective(top), "purity": metrics.cluster_purity(top, test_digits),
                     "one-to-one accuracy": metrics.matched_accuracy(top, test_digits),
                     "subclass KD val acc": st.best()["val_acc"], "subclass KD test acc": st_acc,
                     "no KD test acc": ce_acc})
    return pd.DataFrame(rows)


RUNS = {f"{method}-{layout.tag}": partial(headless, layout=key, method=method)
        for key, layout in (("two_class", PAPER.two_class), ("ten_class", PAPER.ten_class))
        for method in ("teacher", *METHODS)}
