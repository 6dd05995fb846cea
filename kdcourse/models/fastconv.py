"""A convolution whose output map is 1 x 1, computed as one matrix product.

An ImageNet ResNet on 32 px inputs (notebook 04's stand-in) shrinks its maps to 1 x 1 in ``layer4``: each
of its 3x3 convolutions there sees one input pixel through its centre tap and zero padding through the
other eight.  On a CPU, oneDNN's ``convolution_backward`` is slow on such maps: at batch 64 a 512 -> 512
3x3 convolution on a 1 x 1 map takes about 130 ms forward and backward (12 ms as a product), and the three
of them in ResNet18's ``layer4`` about half of a training step (``benchmarks/bench_conv.py``).  The same
function is one matrix product of the input window with the kernel taps that cover it:

    y[n, o] = b[o] + sum_{c, i, j} w[o, c, p_h + i, p_w + j] x[n, c, i, j],   0 <= i < h, 0 <= j < w

where the window starts at ``-padding``, so tap ``p + i`` sees input row ``i`` and only rows
``i < min(H, k - p)`` are seen at all.  The taps that see padding multiply zeros in ``nn.Conv2d`` and get
zero gradient there; here they are left out and get zero gradient too.  So the outputs and gradients are the
convolution's up to float rounding (relative 1e-6; ``tests/test_fastconv.py``), the parameters and the
state dict are the same tensors under the same names, and any other map size takes ``nn.Conv2d``'s path.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class OneByOneOutputConv2d(nn.Conv2d):
    """``nn.Conv2d`` computing a 1 x 1 output map with ``F.linear`` (module docstring); otherwise unchanged."""

    def window(self, x: torch.Tensor) -> tuple[int, int] | None:
        """(h, w): the input rows and columns the one output sees, when the output map is 1 x 1; else None."""
        if x.dim() != 4:
            return None
        (H, W), (kh, kw), (sh, sw), (ph, pw) = x.shape[-2:], self.kernel_size, self.stride, self.padding
        if (H + 2 * ph - kh) // sh + 1 != 1 or (W + 2 * pw - kw) // sw + 1 != 1:
            return None
        h, w = min(H, kh - ph), min(W, kw - pw)
        return (h, w) if h > 0 and w > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seen = self.window(x)
        if seen is None:
            return super().forward(x)
        (h, w), (ph, pw) = seen, self.padding
        taps = self.weight[:, :, ph:ph + h, pw:pw + w].reshape(self.out_channels, -1)
        out = F.linear(x[..., :h, :w].reshape(x.shape[0], -1), taps, self.bias)
        return out.view(x.shape[0], self.out_channels, 1, 1)


def eligible(module: nn.Module) -> bool:
    """A plain ``nn.Conv2d`` the matrix product computes exactly: one group, no dilation, zero padding given
    as numbers (not 'same' / 'valid')."""
    return (type(module) is nn.Conv2d and module.groups == 1 and module.dilation == (1, 1)
            and module.padding_mode == "zeros" and not isinstance(module.padding, str))


def one_by_one_outputs_as_matmul(net: nn.Module) -> nn.Module:
    """Give every eligible ``nn.Conv2d`` of ``net`` the 1 x 1-output fast path, in place: the modules keep
    their parameters, buffers, hooks and state-dict names (only their class changes).  Returns ``net``."""
    for module in net.modules():
        if eligible(module):
            module.__class__ = OneByOneOutputConv2d
    return net
