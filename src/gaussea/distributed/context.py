"""Who this process is in a torch.distributed job, and the few collectives the rest of gaussea needs.

Everything distributed goes through one :class:`DistContext` passed explicitly (never a module global), so the
single-process code paths stay exactly as they were when it is None. torchrun starts the processes and sets
``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` / ``MASTER_ADDR`` / ``MASTER_PORT``; :func:`init_from_env` turns
that into a process group: gloo on CPU, NCCL when training asks for a CUDA device and NCCL exists. A CUDA run
puts rank ``r`` of a node on ``cuda:LOCAL_RANK`` (one GPU per process, as torchrun intends).

NCCL moves CUDA tensors only, while evaluation runs on CPU tensors (see :mod:`gaussea.runner`): the tensor
collectives below take a CPU tensor through the context's device and back, so callers need not care.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

import numpy as np
import torch
import torch.distributed as dist

T = TypeVar("T")


def backend_for(device: str) -> str:
    """NCCL for CUDA training when it is available (GPU collectives), gloo otherwise (CPU tensors)."""
    if str(device).startswith("cuda") and torch.cuda.is_available() and dist.is_nccl_available():
        return "nccl"
    return "gloo"


@dataclass
class DistContext:
    """This process's place in an initialised process group (``rank`` of ``world_size``)."""

    rank: int
    world_size: int
    local_rank: int = 0
    backend: str = "gloo"
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Rank 0: the only rank that writes files or prints."""
        return self.rank == 0

    def describe(self) -> dict[str, Any]:
        return {"world_size": self.world_size, "backend": self.backend}

    # --- sharding -------------------------------------------------------------------------------
    def share(self, items: Sequence[T]) -> Sequence[T]:
        """This rank's contiguous share of ``items`` (balanced: sizes differ by at most one)."""
        n = len(items)
        return items[self.rank * n // self.world_size:(self.rank + 1) * n // self.world_size]

    def shard_batch(self, idx: torch.Tensor) -> torch.Tensor:
        """This rank's part of a mini-batch; a batch smaller than the world gives each rank one (repeated) item.

        Every rank must take a step for every batch (DDP all-reduces at each backward), so no part may be empty.
        """
        part = idx.tensor_split(self.world_size)[self.rank]
        return part if len(part) else idx[self.rank % len(idx)].reshape(1)

    def rank_generator(self, seed: int) -> torch.Generator:
        """A generator for this rank's own random draws (negative sampling), fixed by ``(seed, rank)``."""
        state = np.random.SeedSequence([seed, self.rank]).generate_state(1, dtype=np.uint64)[0]
        return torch.Generator().manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)

    # --- collectives ----------------------------------------------------------------------------
    def barrier(self) -> None:
        dist.barrier()

    def broadcast_object(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank."""
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]  # type: ignore[return-value]

    def all_gather_object(self, obj: T) -> list[T]:
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def _wire(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` where the backend can send it: NCCL needs it on this rank's GPU, gloo takes it as it is."""
        return tensor.to(self.device) if self.backend == "nccl" else tensor

    def all_gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Every rank's ``tensor`` (same shape on every rank), in rank order, on ``tensor``'s device."""
        sent = self._wire(tensor.contiguous())
        out = [torch.empty_like(sent) for _ in range(self.world_size)]
        dist.all_gather(out, sent)
        return [t.to(tensor.device) for t in out]

    def all_reduce_sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        sent = self._wire(tensor)
        dist.all_reduce(sent, op=dist.ReduceOp.SUM)
        if sent is not tensor:
            tensor.copy_(sent)
        return tensor

    def mean_of(self, values: dict[str, float]) -> dict[str, float]:
        """The mean over ranks of each value (one all-reduce), e.g. per-rank epoch losses."""
        if not values:
            return values
        keys = sorted(values)
        t = torch.tensor([values[k] for k in keys], dtype=torch.float64)
        self.all_reduce_sum_(t)
        return {k: float(v) / self.world_size for k, v in zip(keys, t.tolist(), strict=True)}

    def main_only(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on rank 0 only and hand its result, or the exception it raised, to every rank.

        Used for writes (only rank 0 touches the run directory) and doubles as a barrier, so no rank runs
        ahead of a file rank 0 is still writing, and an error there stops every rank with the same message.
        """
        result: Any = None
        error: BaseException | None = None
        if self.is_main:
            try:
                result = fn()
            except Exception as exc:  # noqa: BLE001 - re-raised on every rank below
                error = _picklable(exc)
        result, error = self.broadcast_object((result, error))
        if error is not None:
            raise error
        return result

    def close(self) -> None:
        """Leave the group once every rank is done: tearing gloo down while a peer still talks to it can abort
        the process. (The abort that remained, in the interpreter's teardown after this, is what
        :func:`exit_now` avoids.)"""
        if dist.is_initialized():
            try:
                dist.barrier()
            finally:
                dist.destroy_process_group()


def exit_now(code: int) -> NoReturn:
    """End a torchrun worker with ``code`` once its work is done and the group closed, skipping interpreter
    teardown: flush the standard streams and logging, then ``os._exit``.

    Why: with torch 2.13's gloo, a worker sometimes aborts *after* its last Python line, in the C++ destructors
    run at exit ("terminate called without an active exception"; Python's fault handler shows no Python frame).
    Measured with the two-node loopback launch of tests/training/test_distributed.py (bench/probes/torchrun_exit.py,
    bench/results/tuning/2026-11-24-s10/torchrun_exit-*.json): before, 2 of 20 launches aborted so (rank 1, after
    rank 0 had written the whole run directory), after, 0 of 40. torchrun then reports the run as failed and the
    other node's agent waits out its 300 s exit barrier, an intermittent CI timeout. Every
    output is written (atomically) and every log closed before this is called, so nothing the skipped teardown
    would do is needed.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    logging.shutdown()
    os._exit(code)


def _picklable(exc: Exception) -> Exception:
    """``exc`` itself when it survives pickling (needed to broadcast it), else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any pickling failure
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def init_from_env(device: str = "cpu") -> DistContext | None:
    """A :class:`DistContext` when started by torchrun with more than one process, else None.

    One process (plain ``python -m gaussea`` or ``torchrun --nproc-per-node 1``) runs the single-process code
    unchanged, which is also the reference the distributed runs are compared against.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return None
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = backend_for(device)
    dev = torch.device("cpu")
    if str(device).startswith("cuda") and torch.cuda.is_available():
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise ValueError(f"train.device={device!r}: LOCAL_RANK {local_rank} but only {count} CUDA device(s) "
                             "are visible; start torchrun with at most that many processes per node")
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend)  # env:// rendezvous with the variables torchrun set
    return DistContext(rank, world_size, local_rank, backend, dev)
