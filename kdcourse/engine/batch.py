"""One training batch, as the loop hands it to a distiller."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data import TensorData


@dataclass
class Batch:
    """Inputs, labels, their sample indices and the data set they index.

    ``data`` is None when ``x`` was augmented: cached teacher outputs do not
    apply, and the teacher runs live on ``x``.
    """

    x: torch.Tensor
    y: torch.Tensor
    idx: torch.Tensor | None = None
    data: TensorData | None = None
