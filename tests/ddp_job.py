"""A small KD job for tests/test_distributed.py: run as a script, in one process or under torchrun.

usage: python tests/ddp_job.py OUT.json   |   torchrun --standalone --nproc_per_node=2 tests/ddp_job.py OUT.json

With KDCOURSE_TEST_KILL_RANK=r and KDCOURSE_TEST_KILL_STEP=n, rank r dies (exit 3) at its n-th training
step: the test checks that the run ends with an error and that the next launch resumes.

MNIST (the offline mirror; 600 training images), a seeded MLP teacher and an MLP student without
dropout or batch norm, KD at T 4 / alpha 0.9, SGD with momentum, a checkpoint; rank 0 writes the
History (without timings) as JSON, so the test can compare one process with two.
"""
import json
import os
import sys

import torch

from kdcourse import config, data, models
from kdcourse.distillers import KD
from kdcourse.engine import TeacherCache, TrainSpec, distributed, fit


def main(out: str) -> None:
    distributed.init()
    torch.set_num_threads(1)
    train, val = data.load("mnist", "train", 600), data.load("mnist", "val", 200)
    config.seed_everything(0)
    teacher = models.MLP(784, (64,))
    config.seed_everything(1)
    student = models.MLP(784, (32,))
    spec = TrainSpec(epochs=3, batch_size=64, lr=0.05, optimizer="sgd")   # 600 / 64: a last batch of 24
    distiller = KD(student, TeacherCache(teacher), T=4.0, alpha=0.9)
    kill_rank = int(os.environ.get("KDCOURSE_TEST_KILL_RANK", "-1"))
    if kill_rank == distributed.rank():
        die_at, steps = int(os.environ["KDCOURSE_TEST_KILL_STEP"]), [0]

        def count(module, args):
            steps[0] += 1
            if steps[0] == die_at:
                os._exit(3)
        distiller.register_forward_pre_hook(count)
    result = fit(distiller, train, val, spec, seed=3, progress=False, checkpoint=out.replace(".json", ".pt"))
    if distributed.is_main():
        rows = result.history.drop(columns=["seconds"]).to_dict(orient="records")
        with open(out, "w") as f:
            json.dump({"world": distributed.world_size(), "rows": rows, "best_epoch": result.best_epoch}, f)
    distributed.close()


if __name__ == "__main__":
    main(sys.argv[1])
