"""`Phase`: which part of a sweep a run belongs to (search, select, confirm, transfer, or a
single train).

Every run carries its phase as a tag (`sweeps.store.schema.Tag.PHASE`); search, results and
reports pick runs by it. A `str` enum: it compares equal to the tag's text.

Example:
    >>> Phase("confirm") is Phase.CONFIRM, Phase.SEARCH == "search", f"{Phase.SELECT}"
    (True, True, 'select')
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Phase"]


class Phase(str, Enum):
    """The phases of a sweep, in the order they run (`TRAIN`: a `sweep train` run)."""

    SEARCH = "search"
    SELECT = "select"    # `confirm --top K > 1`: seeds that choose among a method's K configs
    CONFIRM = "confirm"  # fresh seeds that report the chosen config's test score
    TRAIN = "train"
    TRANSFER = "transfer"        # `sweep transfer`: a confirmed checkpoint fine-tuned on a target
    TRANSFER_LR = "transfer-lr"  # its lr searched once on the target's validation split

    def __str__(self) -> str:
        return self.value
