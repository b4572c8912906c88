"""The type every model returns and the evaluator, the decoders and the run files read: one graph's embeddings.

It lives outside :mod:`gaussea.evaluate` so that a model depends on this small type, not on the evaluator.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Embeddings:
    """Entity embeddings of one graph: diagonal Gaussians ``N(mean[i], var[i])``, or points (``var=None``).

    ``mean`` and ``var`` are ``(n, d)``; ``var`` holds variances (not standard deviations), all positive.
    """

    mean: torch.Tensor
    var: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.mean.ndim != 2:
            raise ValueError(f"mean must be 2-D (n, d), got shape {tuple(self.mean.shape)}")
        if self.var is not None:
            if self.var.shape != self.mean.shape:
                raise ValueError(f"var shape {tuple(self.var.shape)} != mean shape {tuple(self.mean.shape)}")
            if self.var.device != self.mean.device:
                raise ValueError(f"var on {self.var.device} but mean on {self.mean.device}")

    def __len__(self) -> int:
        return self.mean.shape[0]

    @property
    def dim(self) -> int:
        return self.mean.shape[1]

    @property
    def device(self) -> torch.device:
        return self.mean.device

    def cpu(self) -> Embeddings:
        """Detached CPU tensors (the same ones when already there): what the runner evaluates and saves, so metrics
        of a CUDA-trained model come from the same CPU kernels as a CPU-trained one's."""
        return Embeddings(self.mean.detach().cpu(), None if self.var is None else self.var.detach().cpu())

    def subset(self, index: torch.Tensor) -> Embeddings:
        """The embeddings of the entities ``index`` (in that order)."""
        index = index.to(self.device)
        return Embeddings(self.mean[index], None if self.var is None else self.var[index])
