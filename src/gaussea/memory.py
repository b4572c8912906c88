"""Process-wide glibc allocator settings suited to training on large graphs on the CPU.

Why: glibc serves a block above its mmap threshold with a fresh ``mmap`` and returns it with ``munmap`` when
freed, and it starts that threshold at 128 KiB (raising it as blocks are freed, to at most 32 MiB). A block
served that way page-faults all its memory in on first touch and the kernel zeroes every page: measured on a
2-core machine, ``x * x`` on a 259k x 128 tensor took ~200 ms that way and ~25 ms in memory kept from the
previous step (``bench/results/encoder-probe/README.md``, findings). :func:`keep_freed_memory` fixes the
threshold at glibc's largest, ``MMAP_THRESHOLD`` (32 MiB), and keeps up to ``trim_threshold`` bytes of freed
memory at the heap's top (``M_TRIM_THRESHOLD``), so every block below 32 MiB is recycled from the heap; code
whose temporaries stay below that size (the graph encoder's edge slices, ``EDGE_CHUNK_BYTES`` in
:mod:`gaussea.encoders.graph_attention`) then stops faulting. Larger blocks are still mapped and returned:
serving those from the heap too (``M_MMAP_MAX = 0``) fragmented it so that the graph encoder's resident memory
grew from step to step, past 4.5 GB on FB15K*-DB15K (``bench/results/encoder-budget/README.md``).

Safety: numerical results do not depend on where memory comes from. The settings are a no-op (returning
``False``) where there is no glibc ``mallopt`` (macOS, Windows, musl-based Linux), and where the user has set
glibc's own malloc environment variables (``MALLOC_MMAP_MAX_``, ``MALLOC_TRIM_THRESHOLD_``,
``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TOP_PAD_`` or ``glibc.malloc.*`` in ``GLIBC_TUNABLES``): those are an
explicit choice and win. To keep glibc's own behaviour, set one that changes no threshold, e.g.
``GLIBC_TUNABLES=glibc.malloc.tcache_count=7`` (its default). Applying the settings again changes nothing
(``mallopt`` sets the same values), so callers need not track whether it was done.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Mapping

#: ``mallopt`` parameter numbers (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

#: The largest mmap threshold glibc accepts on 64-bit systems (half its 64 MiB heap size): blocks below it are
#: served from the heap.
MMAP_THRESHOLD = 32 * 2**20

#: Freed memory glibc may keep at the top of its heap: large enough for any phase of a run on the largest
#: benchmark, so that nothing is returned to the kernel (and faulted in again) between steps.
DEFAULT_TRIM_THRESHOLD = 2_000_000_000

#: glibc's own malloc environment variables: if any is set, the user chose the allocator's behaviour.
USER_MALLOC_VARIABLES = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_")


def user_chose_malloc_settings(environ: Mapping[str, str]) -> bool:
    """Whether ``environ`` sets any of glibc's malloc variables or tunables (then they are left alone)."""
    return (any(name in environ for name in USER_MALLOC_VARIABLES)
            or "glibc.malloc." in environ.get("GLIBC_TUNABLES", ""))


def glibc_mallopt() -> Callable[[int, int], int] | None:
    """glibc's ``mallopt`` in this process, or ``None`` where the C library is not glibc (or has none).

    ``gnu_get_libc_version`` exists only in glibc: musl ships a ``mallopt`` that ignores its arguments.
    """
    if os.name != "posix":
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - the lookup is the glibc test (AttributeError elsewhere)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt


def keep_freed_memory(trim_threshold: int = DEFAULT_TRIM_THRESHOLD, environ: Mapping[str, str] | None = None,
                      mallopt: Callable[[int, int], int] | None = None) -> bool:
    """Serve blocks below ``MMAP_THRESHOLD`` from glibc's heap and keep freed memory for reuse (module docstring).

    Returns whether the settings were applied: ``False`` without glibc or when ``environ`` (default
    ``os.environ``) holds the user's own malloc settings. ``mallopt`` defaults to :func:`glibc_mallopt`'s.
    """
    if not 0 <= trim_threshold < 2**31:
        raise ValueError(f"trim_threshold must be in [0, 2**31), got {trim_threshold}")
    if user_chose_malloc_settings(os.environ if environ is None else environ):
        return False
    mallopt = mallopt if mallopt is not None else glibc_mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, trim_threshold))
