"""The MNIST splits and the ECE1512 teacher CNN, shared by notebooks 01, 02, 08 and 09.

The teacher is trained once per profile and checkpointed under
``data/checkpoints/<profile>/``: the first notebook that needs it trains it,
the others load it in a second.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from .. import config, data, models
from ..distillers import CrossEntropy
from ..engine import FitResult, TeacherCache, TrainSpec, accuracy, fit
from .base import Override, profiles, select, teacher_store


@dataclass(frozen=True)
class MnistSpec:
    n_train: int | None          # images per split; None: the whole split (55,000 / 5,000 / 10,000)
    n_val: int | None
    n_test: int | None
    teacher: TrainSpec
    min_teacher_acc: float       # the teacher's test accuracy must reach this


# Mueller et al. 2020 / the ECE1512 colab train for 12 epochs with Adam, batch 256.
PAPER = MnistSpec(None, None, None, TrainSpec(epochs=12, batch_size=256, lr=1e-3), min_teacher_acc=0.99)
PROFILES = profiles(
    PAPER,
    cpu=Override("2 CPU cores: the CNN is past 98.5 % test accuracy after 3 epochs of batch 128",
                 {"teacher.epochs": 3, "teacher.batch_size": 128, "min_teacher_acc": 0.985}),
    smoke=Override("nbval in CI: 1,500 / 300 / 500 images, 2 epochs, a loose floor",
                   {"n_train": 1500, "n_val": 300, "n_test": 500, "teacher.epochs": 2, "min_teacher_acc": 0.80}))


def student_mlp(seed: int | None = None, outputs: int = 10) -> models.MLP:
    """The student of seed 004 and Mueller et al.: the 784-784 MLP (Hinton et al.'s 800-800 at seed 004's
    size), seeded first when ``seed`` is given."""
    if seed is not None:
        config.seed_everything(seed)
    return models.MLP(784, (784, 784), num_classes=outputs)


def splits(profile: str) -> dict[str, data.TensorData]:
    """MNIST's fixed train / val / test splits at the profile's sizes (the digits as labels)."""
    cfg = select(PROFILES, profile)
    return {s: data.load("mnist", s, getattr(cfg, f"n_{s}")) for s in data.SPLITS}


def teacher(run: config.Run, seed: int = 0, sets: dict[str, data.TensorData] | None = None,
            progress: bool = False) -> FitResult:
    """The ECE1512 teacher CNN of the profile, trained on MNIST's train split (epoch chosen on val) or loaded
    from ``data/checkpoints/<profile>/mnist_teacher_cnn.pt``: one teacher, shared by 01, 02, 08 and 09."""
    if seed != 0:
        raise ValueError("the shared MNIST teacher is trained once, with seed 0")
    cfg = select(PROFILES, run.profile)
    sets = sets or splits(run.profile)
    config.seed_everything(0)
    return fit(CrossEntropy(models.TeacherCNN()), sets["train"], sets["val"], cfg.teacher,
               checkpoint=config.checkpoints_dir(run.profile) / "mnist_teacher_cnn.pt",
               progress=progress, desc="MNIST teacher CNN", device=run.device)


def setup(run: config.Run, progress: bool = True) -> SimpleNamespace:
    """MNIST's train / val / test splits at the profile's sizes and the teacher CNN trained on them.

    Returns a namespace with ``train``, ``val``, ``test``, ``teacher``, ``teacher_fit``,
    ``teacher_test_acc`` and ``cache`` (a TeacherCache of the teacher shared by every student).
    """
    cfg = select(PROFILES, run.profile)
    sets = splits(run.profile)
    fitted = teacher(run, 0, sets, progress)
    test_acc = accuracy(fitted.model, sets["test"])
    if test_acc < cfg.min_teacher_acc:
        raise RuntimeError(f"the MNIST teacher reached {test_acc:.4f} test accuracy, below the "
                           f"profile's floor {cfg.min_teacher_acc}; delete its checkpoint and retrain")
    return SimpleNamespace(**sets, teacher=fitted.model, teacher_fit=fitted, teacher_test_acc=test_acc,
                           cache=TeacherCache(fitted.model, store=teacher_store()))


RUNS = {"teacher": teacher}
