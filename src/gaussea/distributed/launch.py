"""Start a small process group on this machine without torchrun: for tests and benchmarks.

The parent process hosts the rendezvous store on a port the OS picks (port 0), so concurrent runs (parallel
test runs, another benchmark) can never collide on a fixed port; the children connect to it, join a gloo
group, run ``fn(context, *args)`` and hand back its return value.
"""

from __future__ import annotations

import pickle
import socket
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gaussea.distributed.context import DistContext

HOST = "127.0.0.1"


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free on ``host`` now, for launchers that need a number up front (torchrun's static
    ``--master-port``); another process may take it before it is used, which only matters on a busy machine."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def run_local(
    fn: Callable[..., Any], world_size: int, *args: Any, threads: int | None = 1, backend: str = "gloo",
    timeout_s: float = 300.0,
) -> list[Any]:
    """``[fn(context_r, *args) for each rank r]``, each in its own spawned process (``fn`` must be picklable).

    ``threads`` sets ``torch.set_num_threads`` in every rank (None keeps torch's default); ``timeout_s`` bounds
    every collective, so a rank that dies or deadlocks fails the run instead of hanging it.
    """
    store = dist.TCPStore(HOST, 0, is_master=True, wait_for_workers=False, timeout=timedelta(seconds=timeout_s))
    with tempfile.TemporaryDirectory(prefix="gaussea-dist-") as tmp:
        mp.start_processes(_entry, args=(fn, args, world_size, store.port, backend, threads, timeout_s, tmp),
                           nprocs=world_size, start_method="spawn", join=True)
        return [pickle.loads((Path(tmp) / f"rank{r}.pkl").read_bytes()) for r in range(world_size)]


def _entry(rank: int, fn: Callable[..., Any], args: tuple, world_size: int, port: int, backend: str,
           threads: int | None, timeout_s: float, out_dir: str) -> None:
    if threads:
        torch.set_num_threads(threads)
    timeout = timedelta(seconds=timeout_s)
    store = dist.TCPStore(HOST, port, is_master=False, timeout=timeout)
    dist.init_process_group(backend, store=store, rank=rank, world_size=world_size, timeout=timeout)
    device = torch.device("cpu")
    if backend == "nccl":  # one GPU per rank, as torchrun's processes get one each (init_from_env)
        device = torch.device("cuda", rank)
        torch.cuda.set_device(device)
    context = DistContext(rank, world_size, rank, backend, device)
    try:
        result = fn(context, *args)
        (Path(out_dir) / f"rank{rank}.pkl").write_bytes(pickle.dumps(result))
    finally:
        context.close()
