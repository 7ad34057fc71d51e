"""Keep a training thread's freed memory in its process (glibc malloc), so every step does not
fault fresh pages in.

A Ray Tune function trainable, and a Ray Train worker, run the training loop in a thread that is
not the process's main thread. glibc gives such a thread its own arena, made of 64 MiB heaps; when
a step frees its activations, glibc unmaps or shrinks the heaps that became empty, and the next
step maps them again and faults every page in (a zero-filled page each time). On the demo's CPU
runs that was 30-100 thousand page faults a second in some trial processes and epochs 25-50 %
slower than the same epoch in a plain process (benchmarks/RESULTS.md, "Page faults in Ray
trials"). The main thread's arena adapts its thresholds and stays steady.

`hold_freed_memory` sets glibc's thresholds (`mallopt`) so that freed memory stays mapped for
reuse: no trimming below 1 GiB of free top space (`M_TRIM_THRESHOLD`), a 64 MiB top pad, which
also keeps empty heaps (`M_TOP_PAD`), and blocks up to 32 MiB from the heap rather than from
`mmap` (`M_MMAP_THRESHOLD`, glibc's own ceiling for it). The cost: a process keeps its peak heap
until it exits, which a training process reaches in its first steps anyway.

It does nothing (and returns False) where the C library is not glibc, where the user set glibc's
malloc settings (`MALLOC_*_` variables or `glibc.malloc` tunables in `GLIBC_TUNABLES`), or where
`SAMTRAIN_MALLOC_DEFAULTS=1` asks for glibc's defaults.

Example (first thing in a training thread's entry point, as `sweeps.execution.trainable` does)::

    from samtrain.engine.allocator import hold_freed_memory

    hold_freed_memory()
"""

from __future__ import annotations

import ctypes
import os

__all__ = ["DEFAULTS_ENV", "MALLOPT_SETTINGS", "hold_freed_memory"]

DEFAULTS_ENV = "SAMTRAIN_MALLOC_DEFAULTS"
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3   # glibc's malloc.h
MALLOPT_SETTINGS = ((M_TRIM_THRESHOLD, 1 << 30), (M_TOP_PAD, 64 << 20),
                    (M_MMAP_THRESHOLD, 32 << 20))


def _user_set_malloc(env: dict[str, str]) -> bool:
    return (any(k.startswith("MALLOC_") and k.endswith("_") for k in env)
            or "glibc.malloc." in env.get("GLIBC_TUNABLES", ""))


def hold_freed_memory() -> bool:
    """Set glibc malloc to keep freed memory mapped (see the module); True if it was set."""
    env = dict(os.environ)
    if env.get(DEFAULTS_ENV, "") not in ("", "0") or _user_set_malloc(env):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in MALLOPT_SETTINGS)
