"""How much does the 1 x 1-output fast path (kdcourse.models.fastconv) save on notebook 04's networks?

Notebook 04 trains ImageNet ResNets (torchvision's resnet18 / resnet34, 10-way heads) on the 32 px
stand-in: their ``layer4`` maps are 1 x 1, where oneDNN's convolution backward is slow on a CPU.  For each
network at its notebook batch size (student: Table II's 64; teacher: 128), one training step (forward,
cross-entropy, backward, Adam with weight decay) is timed with ``nn.Conv2d``'s own path ("conv") and with
``transfer.build(..., fast_1x1_maps=True)`` ("matmul"), on the same weights and the same random batch,
best of --repeats rounds of --steps steps taken in turns.  The per-epoch times it prints for 04's data
(7,800 subset images; 49,600 pre-training images) are steps x batches, without evaluation.  The first
table: one 512 -> 512 3x3 convolution on a 1 x 1 map, forward and backward, alone.

Usage: python benchmarks/bench_conv.py [--repeats 3] [--steps 5] [--quick]
The machine's load average is printed at the start and the end: on a shared machine every time is noisy.
"""
from __future__ import annotations

import argparse
import copy
import math
import os
import time

import torch
import torch.nn.functional as F

from kdcourse.models import transfer
from kdcourse.models.fastconv import one_by_one_outputs_as_matmul

NETWORKS = (("resnet18", 64, 7_800, "04 student, one epoch of the subset"),
            ("resnet34", 128, 49_600, "04 teacher, one pre-training epoch"))


def best_time(step, steps: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - tic) / steps)
    return min(times)


def single_conv(steps: int, repeats: int, batch: int = 64) -> dict[str, float]:
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(512, 512, 3, 1, 1, bias=False)
    fast = one_by_one_outputs_as_matmul(copy.deepcopy(conv))
    x = torch.randn(batch, 512, 1, 1, requires_grad=True)
    out = {}
    for name, module in (("conv", conv), ("matmul", fast)):
        def step(m=module):
            m(x).sum().backward()
        step()
        out[name] = best_time(step, steps, repeats)
    return out


def train_steps(arch: str, batch: int, steps: int, repeats: int) -> dict[str, float]:
    torch.manual_seed(0)
    plain = transfer.build(arch, 10, pretrained=False, normalize=False)
    nets = {"conv": plain, "matmul": one_by_one_outputs_as_matmul(copy.deepcopy(plain))}
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    steppers = {}
    for name, net in nets.items():
        opt = torch.optim.Adam(net.parameters(), 1e-3, weight_decay=1e-4)

        def step(net=net, opt=opt):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x), y).backward()
            opt.step()
        for _ in range(2):   # warm-up: oneDNN primitives, allocator
            step()
        steppers[name] = step
    times = {name: [] for name in nets}
    for _ in range(repeats):   # in turns, so a load change hits both
        for name, step in steppers.items():
            times[name].append(best_time(step, steps, 1))
    return {name: min(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one round of one step: checks that it runs")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.steps = 1, 1
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}")
    one = single_conv(args.steps, args.repeats)
    print("\none 512 -> 512 3x3 convolution on a 1 x 1 map, batch 64, forward + backward:")
    print(f"  conv {one['conv'] * 1e3:7.1f} ms   matmul {one['matmul'] * 1e3:7.1f} ms   "
          f"speed-up {one['conv'] / one['matmul']:.2f}x")
    print("\none training step at 32 px (Adam, weight decay), best of the rounds:")
    print(f"  {'network':<9} {'batch':>5} {'conv ms':>8} {'matmul ms':>9} {'speed-up':>8}   per epoch (conv -> matmul)")
    for arch, batch, images, what in NETWORKS:
        t = train_steps(arch, batch, args.steps, args.repeats)
        batches = math.ceil(images / batch)
        print(f"  {arch:<9} {batch:>5} {t['conv'] * 1e3:8.0f} {t['matmul'] * 1e3:9.0f} {t['conv'] / t['matmul']:7.2f}x"
              f"   {what}: {t['conv'] * batches:.0f} s -> {t['matmul'] * batches:.0f} s")
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
