"""torchrun: two CPU processes (gloo) give the single process's History, die cleanly and resume.

The job is tests/ddp_job.py (KD of an MLP student without dropout or batch norm on 600 MNIST images,
global batch 64 so the last batch of 24 splits 12 / 12).  Each launch takes a few seconds.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
JOB = REPO / "tests" / "ddp_job.py"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


@pytest.fixture
def env(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "mirrors").symlink_to(REPO / "data" / "mirrors")   # MNIST, without the repository's checkpoints
    return {**os.environ, "KDCOURSE_DATA": str(data_dir), "KDCOURSE_OFFLINE": "1", "OMP_NUM_THREADS": "1",
            "PYTHONPATH": str(REPO)}


def run(cmd, env, check=True, timeout=300):
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    return proc


def history(path: Path) -> dict:
    return json.loads(path.read_text())


def assert_close(a: list[dict], b: list[dict], rel: float = 1e-5) -> None:
    assert len(a) == len(b) and a, (len(a), len(b))
    for row_a, row_b in zip(a, b):
        assert row_a.keys() == row_b.keys()
        for key in row_a:
            assert row_b[key] == pytest.approx(row_a[key], rel=rel, abs=1e-12), (row_a["epoch"], key)


def test_two_ranks_equal_one_process(tmp_path, env):
    run([sys.executable, JOB, tmp_path / "one.json"], env)
    run([*TORCHRUN, JOB, tmp_path / "two.json"], env)
    one, two = history(tmp_path / "one.json"), history(tmp_path / "two.json")
    assert (one["world"], two["world"]) == (1, 2)
    assert_close(one["rows"], two["rows"])
    assert one["best_epoch"] == two["best_epoch"]
    assert len(two["rows"]) == 3 and two["rows"][-1]["val_acc"] > 0.5   # it learned something


def test_a_dying_rank_ends_the_run_and_the_next_launch_resumes(tmp_path, env):
    run([*TORCHRUN, JOB, tmp_path / "whole.json"], env)
    out = tmp_path / "killed.json"
    # 600 images / global batch 64 = 10 steps an epoch: rank 1 dies in epoch 2, after epoch 1's checkpoint
    died = run([*TORCHRUN, JOB, out], {**env, "KDCOURSE_TEST_KILL_RANK": "1", "KDCOURSE_TEST_KILL_STEP": "15"},
               check=False)
    assert died.returncode != 0, "the run must fail when a rank dies"
    assert "exitcode" in died.stderr and not out.exists()
    assert out.with_suffix(".pt").exists(), "rank 0 wrote epoch 1's checkpoint before rank 1 died"
    run([*TORCHRUN, JOB, out], env)   # the next launch resumes from it
    assert_close(history(tmp_path / "whole.json")["rows"], history(out)["rows"], rel=1e-12)


def test_headless_train_command_under_torchrun(tmp_path, env):
    proc = run([*TORCHRUN, "-m", "kdcourse", "train", "02_mnist_kd", "kd", "--profile", "smoke", "--seed", "0"], env)
    assert "2 process(es)" in proc.stdout
    ckpt = Path(env["KDCOURSE_DATA"]) / "checkpoints" / "smoke" / "02_mnist_kd" / "kd-seed0.pt"
    written = ckpt.stat().st_mtime_ns
    # the notebook's own call (the same run function) loads the finished run instead of training it again
    again = run([sys.executable, "-m", "kdcourse", "train", "02_mnist_kd", "kd", "--profile", "smoke"], env)
    assert "1 process(es)" in again.stdout and "epoch 2 of 2" in again.stdout
    assert ckpt.stat().st_mtime_ns == written, "a finished run must be loaded, not trained and written again"
