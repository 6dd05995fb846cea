"""Flexible networks of seed 003: a slimmable MobileNet-V1 and the early-exit MSDNet.

A flexible network holds n sub-models that share their parameters.  Called
normally, both models here return the list of the n sub-models' logits,
ordered from the smallest sub-model to the largest, which is what
``kdcourse.losses.ipkd_loss`` and ``kdcourse.engine.fit`` (with the
``kdcourse.distillers.InPlace`` distiller) expect.  To deploy one
sub-model, switch to it: ``set_width(0.5)`` / ``set_exit(3)`` make the forward
pass compute and return that sub-model's logits only; ``None`` switches back
to all of them.

SlimmableMobileNetV1
    Yu et al. 2019 (slimmable networks, seed 003 [12]): every convolution keeps
    the first ``c * w`` channels at width ``w`` in (0.25, 0.5, 0.75, 1.0);
    the weights are shared, the batch-norm layers are not (one BN per width,
    "switchable batch norm", because the statistics of a slimmed layer differ).
    Layout and channel rounding as in the authors' ``s_mobilenet_v1``; CIFAR
    strides as in weiaicunzai/pytorch-cifar100 (stride-1 stem, four stride-2
    blocks: 32 px -> 2 px), as seed 003 section IV-B says it adapted them.

MSDNet
    Huang et al. 2018 (seed 003 [11]), ported from the authors' PyTorch code
    (kalviny/MSDNet-PyTorch, ``prune='max'``): a multi-scale densely connected
    network, 3 scales, an early-exit classifier after each block.  The
    defaults are the anytime-prediction CIFAR configuration of that code's
    README (7 blocks, step 2 "even", base 4, 16 channels, growth 6,
    growth / bottleneck factors 1-2-4) whose 7 exits are seed 003 Table I's;
    the cpu and smoke profiles pass smaller numbers to the same class.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

WIDTHS = (0.25, 0.5, 0.75, 1.0)

# MobileNet-V1 body (channels, stride) after the 32-channel stem, CIFAR strides.
MOBILENET_V1_CIFAR = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
                      (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor``, never more than 10% down (TF-slim's rule)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


# --------------------------------------------------------------------------- slimmable layers
class SlimmableConv2d(nn.Conv2d):
    """A convolution that uses its first ``out_list[i]`` filters over its first ``in_list[i]`` inputs."""

    def __init__(self, in_list: Sequence[int], out_list: Sequence[int], kernel_size: int, stride: int = 1,
                 depthwise: bool = False):
        if depthwise and list(in_list) != list(out_list):
            raise ValueError("a depthwise convolution keeps its channel count: in_list must equal out_list")
        super().__init__(max(in_list), max(out_list), kernel_size, stride, kernel_size // 2,
                         groups=max(in_list) if depthwise else 1, bias=False)
        self.in_list, self.out_list, self.depthwise = list(in_list), list(out_list), depthwise
        self.index = len(out_list) - 1

    def forward(self, x):
        cin, cout = self.in_list[self.index], self.out_list[self.index]
        weight = self.weight[:cout] if self.depthwise else self.weight[:cout, :cin]
        return F.conv2d(x, weight, None, self.stride, self.padding, 1, cin if self.depthwise else 1)

    def active_params(self, index: int) -> int:
        cin, cout = self.in_list[index], self.out_list[index]
        return cout * (1 if self.depthwise else cin) * self.kernel_size[0] * self.kernel_size[1]


class SwitchableBatchNorm2d(nn.Module):
    """One BatchNorm2d per width: each width keeps its own statistics and affine parameters."""

    def __init__(self, num_features_list: Sequence[int]):
        super().__init__()
        self.bn = nn.ModuleList(nn.BatchNorm2d(c) for c in num_features_list)
        self.index = len(num_features_list) - 1

    def forward(self, x):
        return self.bn[self.index](x)

    def active_params(self, index: int) -> int:
        return sum(p.numel() for p in self.bn[index].parameters())


class SlimmableLinear(nn.Linear):
    """A linear layer reading the first ``in_list[i]`` features; the class count never changes."""

    def __init__(self, in_list: Sequence[int], out_features: int):
        super().__init__(max(in_list), out_features)
        self.in_list = list(in_list)
        self.index = len(in_list) - 1

    def forward(self, x):
        return F.linear(x, self.weight[:, :self.in_list[self.index]], self.bias)

    def active_params(self, index: int) -> int:
        return self.out_features * (self.in_list[index] + 1)


class SlimmableMobileNetV1(nn.Module):
    """Slimmable MobileNet-V1 with switchable batch norm (seed 003 section II-C, Table II).

    widths      width multipliers of the sub-models, smallest first.
    stem        channels of the stem convolution at width 1.0 (32).
    blocks      (channels, stride) of each depthwise-separable block at width 1.0
                (``MOBILENET_V1_CIFAR``: 13 blocks, 1024 channels at the end).
    stem_stride 1 for CIFAR-sized inputs (ImageNet's MobileNet uses 2).
    divisor     channel counts at each width are ``make_divisible(c * w, divisor)``.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, widths: Sequence[float] = WIDTHS,
                 stem: int = 32, blocks: Sequence[Sequence[int]] = MOBILENET_V1_CIFAR, stem_stride: int = 1,
                 divisor: int = 8):
        super().__init__()
        widths = tuple(float(w) for w in widths)
        if not widths or list(widths) != sorted(set(widths)) or not all(0 < w <= 1 for w in widths):
            raise ValueError(f"widths must be increasing numbers in (0, 1], got {widths}")
        self.widths = widths
        self.width: float | None = None

        def chans(c):
            return [make_divisible(c * w, divisor) for w in widths]

        cur = chans(stem)
        layers: list[nn.Module] = [SlimmableConv2d([in_channels] * len(widths), cur, 3, stem_stride),
                                   SwitchableBatchNorm2d(cur), nn.ReLU6(inplace=True)]
        for c, s in blocks:
            out = chans(c)
            layers += [SlimmableConv2d(cur, cur, 3, s, depthwise=True), SwitchableBatchNorm2d(cur),
                       nn.ReLU6(inplace=True),
                       SlimmableConv2d(cur, out, 1), SwitchableBatchNorm2d(out), nn.ReLU6(inplace=True)]
            cur = out
        self.features = nn.Sequential(*layers)
        self.classifier = SlimmableLinear(cur, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):   # fan-in: a depthwise filter sees 9 inputs, whatever the channel count
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def _index(self, width: float) -> int:
        if width not in self.widths:
            raise ValueError(f"width must be one of {self.widths}, got {width!r}")
        return self.widths.index(width)

    def _switch(self, index: int) -> None:
        for m in self.modules():
            if hasattr(m, "active_params"):
                m.index = index

    def set_width(self, width: float | None) -> "SlimmableMobileNetV1":
        """Deploy one width (its logits only), or ``None`` for the list of every width's logits."""
        if width is not None:
            self._index(width)
        self.width = width
        return self

    def _forward_at(self, x, index: int):
        self._switch(index)
        x = self.features(x)
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))

    def forward(self, x):
        if self.width is not None:
            return self._forward_at(x, self._index(self.width))
        return [self._forward_at(x, i) for i in range(len(self.widths))]

    def active_params(self, width: float) -> int:
        """Parameters the sub-model of ``width`` uses (its slices of the shared weights and its own BN)."""
        index = self._index(width)
        return sum(m.active_params(index) for m in self.modules()
                   if m is not self and hasattr(m, "active_params"))


# --------------------------------------------------------------------------- MSDNet
class _ConvBasic(nn.Sequential):
    """conv-BN-ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1):
        super().__init__(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class _ConvBN(nn.Sequential):
    """Optional 1x1 bottleneck (conv-BN-ReLU, at most ``bn_width * cout`` channels), then a 3x3 conv-BN-ReLU."""

    def __init__(self, cin: int, cout: int, down: bool, bottleneck: bool, bn_width: int):
        layers: list[nn.Module] = []
        inner = cin
        if bottleneck:
            inner = min(cin, bn_width * cout)
            layers += [nn.Conv2d(cin, inner, 1, bias=False), nn.BatchNorm2d(inner), nn.ReLU(inplace=True)]
        layers += [nn.Conv2d(inner, cout, 3, 2 if down else 1, 1, bias=False), nn.BatchNorm2d(cout),
                   nn.ReLU(inplace=True)]
        super().__init__(*layers)


class _ConvNormal(nn.Module):
    """Dense connection at the finest scale kept: [x, conv(x)]."""

    def __init__(self, cin: int, cout: int, bottleneck: bool, bn_width: int):
        super().__init__()
        self.conv_normal = _ConvBN(cin, cout, False, bottleneck, bn_width)

    def forward(self, x: list):
        return torch.cat([x[0], self.conv_normal(x[0])], 1)


class _ConvDownNormal(nn.Module):
    """Dense connection at a coarser scale: [x_s, strided conv(x_{s-1}), conv(x_s)]."""

    def __init__(self, cin_finer: int, cin: int, cout: int, bottleneck: bool, bn_finer: int, bn_width: int):
        super().__init__()
        self.conv_down = _ConvBN(cin_finer, cout // 2, True, bottleneck, bn_finer)
        self.conv_normal = _ConvBN(cin, cout // 2, False, bottleneck, bn_width)

    def forward(self, x: list):
        return torch.cat([x[1], self.conv_down(x[0]), self.conv_normal(x[1])], 1)


class _FirstLayer(nn.Module):
    """The multi-scale stem: scale 0 at full resolution, each next scale by a stride-2 conv."""

    def __init__(self, cin: int, cout: int, gr_factor: Sequence[int]):
        super().__init__()
        layers = [_ConvBasic(cin, cout * gr_factor[0])]
        for i in range(1, len(gr_factor)):
            layers.append(_ConvBasic(cout * gr_factor[i - 1], cout * gr_factor[i], stride=2))
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        out = []
        for layer in self.layers:
            x = layer(x)
            out.append(x)
        return out


class _MSDLayer(nn.Module):
    """One MSDNet layer: ``growth * gr_factor[s]`` new channels at each kept scale s."""

    def __init__(self, cin: int, growth: int, in_scales: int, out_scales: int, gr: Sequence[int],
                 bn: Sequence[int], bottleneck: bool):
        super().__init__()
        n_scales = len(gr)
        self.discard = in_scales - out_scales
        self.out_scales = out_scales
        offset = n_scales - out_scales
        layers: list[nn.Module] = []
        if self.discard > 0:
            layers.append(_ConvDownNormal(cin * gr[offset - 1], cin * gr[offset], growth * gr[offset],
                                          bottleneck, bn[offset - 1], bn[offset]))
        else:
            layers.append(_ConvNormal(cin * gr[offset], growth * gr[offset], bottleneck, bn[offset]))
        for i in range(offset + 1, n_scales):
            layers.append(_ConvDownNormal(cin * gr[i - 1], cin * gr[i], growth * gr[i], bottleneck,
                                          bn[i - 1], bn[i]))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: list):
        if self.discard > 0:
            inputs = [[x[i - 1], x[i]] for i in range(1, self.out_scales + 1)]
        else:
            inputs = [[x[0]]] + [[x[i - 1], x[i]] for i in range(1, self.out_scales)]
        return [layer(inp) for layer, inp in zip(self.layers, inputs)]


class _Transition(nn.Module):
    """1x1 conv-BN-ReLU at every kept scale, compressing the channels."""

    def __init__(self, cin: int, cout: int, out_scales: int, offset: int, gr: Sequence[int]):
        super().__init__()
        self.m = nn.ModuleList(_ConvBasic(cin * gr[offset + i], cout * gr[offset + i], kernel=1)
                               for i in range(out_scales))

    def forward(self, x: list):
        return [m(xi) for m, xi in zip(self.m, x)]


class _Exit(nn.Module):
    """CIFAR classifier on the coarsest scale: two stride-2 conv-BN-ReLU, average pooling, linear."""

    def __init__(self, cin: int, channels: int, num_classes: int):
        super().__init__()
        self.m = nn.Sequential(_ConvBasic(cin, channels, stride=2), _ConvBasic(channels, channels, stride=2))
        self.linear = nn.Linear(channels, num_classes)

    def forward(self, x: list):
        return self.linear(F.adaptive_avg_pool2d(self.m(x[-1]), 1).flatten(1))


class MSDNet(nn.Module):
    """Multi-scale dense network with an exit after each of ``n_blocks`` blocks (seed 003 Table I).

    Block b holds ``base`` layers (b = 1) or ``step`` layers ("even") /
    ``step * (b - 1) + 1`` layers ("lin_grow"); the coarser scales are dropped
    one by one along the depth, each drop followed by a transition that halves
    the channels (``reduction``).  The defaults are the anytime CIFAR network.
    The exits pool adaptively (the original's 2x2 average pool is the same at
    32 px), so 28-px stand-ins work too.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, n_blocks: int = 7, step: int = 2,
                 base: int = 4, stepmode: str = "even", channels: int = 16, growth: int = 6,
                 gr_factor: Sequence[int] = (1, 2, 4), bn_factor: Sequence[int] = (1, 2, 4),
                 bottleneck: bool = True, reduction: float = 0.5, exit_channels: int = 128):
        super().__init__()
        if stepmode not in ("even", "lin_grow"):
            raise ValueError(f"stepmode must be 'even' or 'lin_grow', got {stepmode!r}")
        if n_blocks < 1 or len(gr_factor) != len(bn_factor):
            raise ValueError("n_blocks must be >= 1 and gr_factor / bn_factor must have one entry per scale")
        gr, bn, n_scales = tuple(gr_factor), tuple(bn_factor), len(gr_factor)
        self.steps = [base] + [step if stepmode == "even" else step * i + 1 for i in range(1, n_blocks)]
        n_layers_all, n_layer = sum(self.steps), 0
        interval = math.ceil(n_layers_all / n_scales)
        self.blocks, self.exits = nn.ModuleList(), nn.ModuleList()
        self.exit: int | None = None
        c = channels
        for b in range(n_blocks):
            layers: list[nn.Module] = [_FirstLayer(in_channels, c, gr)] if b == 0 else []
            for _ in range(self.steps[b]):
                n_layer += 1
                in_scales = n_scales - math.floor(max(0, n_layer - 2) / interval)
                out_scales = n_scales - math.floor((n_layer - 1) / interval)
                layers.append(_MSDLayer(c, growth, in_scales, out_scales, gr, bn, bottleneck))
                c += growth
                if in_scales > out_scales and reduction > 0:
                    layers.append(_Transition(c, math.floor(reduction * c), out_scales,
                                              n_scales - out_scales, gr))
                    c = math.floor(reduction * c)
            self.blocks.append(nn.Sequential(*layers))
            self.exits.append(_Exit(c * gr[-1], exit_channels, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0, math.sqrt(2.0 / n))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    @property
    def n_exits(self) -> int:
        return len(self.exits)

    def set_exit(self, exit: int | None) -> "MSDNet":
        """Deploy exit ``exit`` (0-based; computation stops there), or ``None`` for every exit's logits."""
        if exit is not None and not (isinstance(exit, int) and 0 <= exit < self.n_exits):
            raise ValueError(f"exit must be an integer in [0, {self.n_exits - 1}] or None, got {exit!r}")
        self.exit = exit
        return self

    def forward(self, x):
        last = self.n_exits - 1 if self.exit is None else self.exit
        out = []
        for b in range(last + 1):
            x = self.blocks[b](x)
            if self.exit is None or b == last:
                out.append(self.exits[b](x))
        return out if self.exit is None else out[0]

    def active_params(self, exit: int) -> int:
        """Parameters used up to and including exit ``exit`` (blocks 0..exit and that exit's classifier)."""
        if not (isinstance(exit, int) and 0 <= exit < self.n_exits):
            raise ValueError(f"exit must be an integer in [0, {self.n_exits - 1}], got {exit!r}")
        count = sum(p.numel() for b in range(exit + 1) for p in self.blocks[b].parameters())
        return count + sum(p.numel() for p in self.exits[exit].parameters())
