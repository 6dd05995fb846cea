"""Data sets too large for memory (an ImageNet folder): read from disk batch by batch.

:class:`StreamingData` wraps any map-style ``torch.utils.data.Dataset`` of
``(image, label)`` pairs and serves :meth:`batches` through a ``DataLoader``
with worker processes and a ``DistributedSampler``: under ``torchrun`` each
rank reads only its share of every epoch's seeded shuffle.  It offers the
same ``batches``, ``__len__``, ``y`` and identity fields as an in-memory
:class:`~kdcourse.data.TensorData`, so ``engine.fit`` trains on either; small
sets stay in memory, where slicing tensors beats any loader.

A streaming set has no ``x``: teachers run live on its batches (no
teacher-output cache), and evaluation reads it in order, batch by batch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from .imagefolder import _split_dir, preprocess


class _Indexed(Dataset):
    """``(index, image, label)`` of the wrapped data set, so batches carry their sample indices."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        x, y = self.dataset[i]
        return i, x, y


class StreamingData:
    """A map-style data set read through a DataLoader: ``batches`` like TensorData's, per rank."""

    streaming = True

    def __init__(self, dataset: Dataset, name: str, split: str, source: str, classes: list[str],
                 targets: list[int] | torch.Tensor, num_workers: int = 4):
        if len(targets) != len(dataset):
            raise ValueError(f"{len(targets)} targets for {len(dataset)} samples")
        self.dataset, self.name, self.split, self.source = dataset, name, split, source
        self.classes, self.num_workers = list(classes), int(num_workers)
        self.y = torch.as_tensor(targets, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def title(self) -> str:
        return self.name

    def batches(self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None,
                rank: int = 0, world: int = 1) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Yield ``(index, x, y)`` of this rank's share: ``batch_size`` samples a batch, read by workers.

        With ``shuffle`` the epoch's order is drawn from ``generator`` (the same on every rank) and split
        between the ``world`` ranks by a DistributedSampler; without it the order is the data set's.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        seed = int(torch.randint(2 ** 62, (1,), generator=generator)) if shuffle else 0
        sampler = DistributedSampler(_Indexed(self.dataset), num_replicas=world, rank=rank, shuffle=shuffle,
                                     seed=seed, drop_last=False)
        loader = DataLoader(_Indexed(self.dataset), batch_size=batch_size, sampler=sampler,
                            num_workers=self.num_workers, pin_memory=torch.cuda.is_available(),
                            persistent_workers=False)
        for idx, x, y in loader:
            yield idx, x, torch.as_tensor(y, dtype=torch.long)


class _Transformed(Dataset):
    def __init__(self, folder, transform: Callable):
        self.folder, self.transform = folder, transform

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, i: int):
        image, label = self.folder[i]
        return self.transform(image), label


def stream_imagefolder(root: str | Path, split: str = "train", size: int = 224, mean=(0.485, 0.456, 0.406),
                       std=(0.229, 0.224, 0.225), augment: Callable | None = None,
                       num_workers: int = 4) -> StreamingData:
    """One split of ``root/<split>/<class>/*`` streamed from disk, preprocessed as seed 000 section III-C
    (RGB, padded / cropped to ``size``, standardised with ``mean`` / ``std``), ``augment`` applied to the
    float image (e.g. torchvision's random crop and flip) when given."""
    from torchvision.datasets import ImageFolder
    root = Path(root)
    folder = ImageFolder(str(_split_dir(root, split)))
    m, s = torch.tensor(mean).view(-1, 1, 1), torch.tensor(std).view(-1, 1, 1)

    def transform(image):
        x = (preprocess(image, size).float() / 255.0 - m) / s
        return augment(x) if augment is not None else x
    return StreamingData(_Transformed(folder, transform), root.name, split,
                         f"{root}/{split} (streamed from disk)", folder.classes, folder.targets, num_workers)
