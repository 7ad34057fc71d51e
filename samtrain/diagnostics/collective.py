"""The one collective an epoch accumulator needs under DDP, as an in-place callable.

`ForgettingTracker.end_epoch` and `PerturbedAccumulator.end_epoch` take `all_reduce`, a callable
that reduces one tensor in place across the workers; each class names the reduction it needs in
its `REDUCE_OP` ("max" or "sum"). `all_reduce_fn` builds that callable from `torch.distributed`.

Example:
    >>> all_reduce_fn("max") is None  # no process group: nothing to merge
    True
"""

from __future__ import annotations

from collections.abc import Callable

import torch.distributed as dist
from torch import Tensor

AllReduce = Callable[[Tensor], None]
OPS = ("sum", "max")


def all_reduce_fn(op: str, group: dist.ProcessGroup | None = None) -> AllReduce | None:
    """`t -> dist.all_reduce(t, op)` on `group`, or None without a process group of >= 2 workers.

    Example:
        >>> all_reduce_fn("sum") is None
        True
    """
    if op not in OPS:
        raise ValueError(f"op={op!r} is invalid: must be one of {OPS}")
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size(group) < 2:
        return None
    reduce_op = dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX

    def reduce(t: Tensor) -> None:
        dist.all_reduce(t, op=reduce_op, group=group)

    return reduce
