"""Set-ups shared by several notebooks, checkpointed so each is trained once.

``mnist(run)`` returns MNIST's train / val / test splits at the profile's
sizes and the ECE1512 teacher CNN trained on them.  Notebooks 01 and 02 (and
later 08, 09) call it; the first trains the teacher and writes a checkpoint
under ``data/checkpoints/<profile>/``, the others load it in a second.
"""
from __future__ import annotations

from types import SimpleNamespace

from . import config, data, models, train


def mnist(run: config.Run | None = None, progress: bool = True) -> SimpleNamespace:
    run = run or config.current()
    if run is None:
        raise RuntimeError("call kdcourse.start(notebook) first")
    cfg = config.settings("mnist", run.profile)
    splits = {s: data.load("mnist", s, cfg[f"n_{s}"]) for s in data.SPLITS}
    config.seed_everything(0)
    teacher = train.fit(models.TeacherCNN(), splits["train"], splits["val"],
                        checkpoint=config.checkpoints_dir(run.profile) / "mnist_teacher_cnn.pt",
                        progress=progress, desc="MNIST teacher CNN", device=run.device, **cfg["teacher"])
    test_acc = train.predict(teacher.model, splits["test"]).argmax(1).eq(splits["test"].y).float().mean()
    if float(test_acc) < cfg["min_teacher_acc"]:
        raise RuntimeError(f"the MNIST teacher reached {float(test_acc):.4f} test accuracy, below the "
                           f"profile's floor {cfg['min_teacher_acc']}; delete its checkpoint and retrain")
    return SimpleNamespace(**splits, teacher=teacher.model, teacher_fit=teacher, teacher_test_acc=float(test_acc))
