"""A dataset as torch tensors, for the stages that run the PyTorch model (train, export)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from flow.data.base import Dataset


@dataclass
class Tensors:
    """A dataset as float tensors of integer pixel values."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def to_tensors(ds: Dataset, device: torch.device) -> Tensors:
    """Pixels stay integers (as float32): the model's input quantizer has scale 1. Labels
    become int64; target images (super-resolution) float32 pixels like the inputs."""

    def t(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(a, dtype=dtype, device=device)

    ytype = torch.float32 if ds.y_train.ndim == 4 else torch.int64
    return Tensors(
        t(ds.x_train, torch.float32),
        t(ds.y_train, ytype),
        t(ds.x_test, torch.float32),
        t(ds.y_test, ytype),
    )
