"""Training and exact retrieval across processes with torch.distributed (torchrun; gloo on CPU, NCCL on GPU).

``torchrun --nproc-per-node N -m gaussea run ...`` trains one model with DistributedDataParallel: every rank
holds the whole model, takes its shard of each mini-batch and draws its own negatives; gradients are averaged
across ranks at each step. Evaluation is sharded the same way (each rank scores its share of the sources) and
gives exactly the single-process ranks. Only rank 0 writes the run directory. See docs/distributed.md.
"""

from gaussea.distributed.context import DistContext, backend_for, init_from_env
from gaussea.distributed.ddp import DistributedLoss, LossForward
from gaussea.distributed.launch import free_port, run_local
from gaussea.distributed.retrieval import (
    sharded_alignment_ranks,
    sharded_evaluate_alignment,
    sharded_target_radius,
)

__all__ = [
    "free_port",
    "DistContext",
    "DistributedLoss",
    "LossForward",
    "backend_for",
    "init_from_env",
    "run_local",
    "sharded_alignment_ranks",
    "sharded_evaluate_alignment",
    "sharded_target_radius",
]
