"""Example forgetting (Toneva et al. 2019, "An Empirical Study of Example Forgetting during Deep
Neural Network Learning", arXiv 1812.05159; reference code: github.com/mtoneva/example_forgetting).

Each training example's classification at its presentations (the clean training forward of the
step) is recorded; a forgetting event is a correct -> wrong change between two consecutive
presentations of the example. An example not presented in an epoch (drop_last, a subset sampler)
is compared at its next presentation with its previous one. Several presentations of one example
within an epoch (DistributedSampler pads its shards by repeating examples; samplers with
replacement) count as one presentation, correct if correct at any of them.

With label noise (`flipped`: the example's training label was flipped), "correct" means "predicts
the given label": on flipped examples that is memorization of the wrong label, reported apart as
`noisy_fit` (the clean/noisy split of Baek et al. 2024, arXiv 2405.03676).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from samtrain.diagnostics.collective import AllReduce

NOT_PRESENTED = -1
STATE_KEYS = ("last", "forgets", "learned", "epoch")


class ForgettingTracker:
    """Per-example forgetting statistics, merged across DDP workers once per epoch.

    `record(indices, correct)` each step (global dataset indices; a few device index ops, no host
    sync); `end_epoch(all_reduce)` merges the workers' epoch buffers with one MAX all-reduce of
    int8 (-1 not presented, 0 wrong, 1 correct), updates the state identically on every worker and
    returns (fractions are of all `num_examples`):

    - `forget_events`: correct -> wrong transitions this epoch;
    - `ever_forgotten`: fraction of examples with >= 1 forgetting event so far;
    - `unforgettable`: fraction correct at some presentation and never forgotten so far;
    - `clean_fit`: accuracy at presentation on the unflipped examples presented this epoch (the
      training accuracy without label noise);
    - `noisy_fit` (only if `flipped` has a True): fraction of the flipped examples presented this
      epoch that were predicted as their given, wrong label.

    A fit with no example to average over is NaN.

    Example:
        >>> t = ForgettingTracker(4, "cpu")
        >>> t.record(torch.tensor([0, 1, 2, 3]), torch.tensor([True, True, False, True]))
        >>> t.end_epoch()["clean_fit"]
        0.75
        >>> t.record(torch.tensor([0, 1, 2, 3]), torch.tensor([False, True, True, True]))
        >>> m = t.end_epoch(); m["forget_events"], m["ever_forgotten"], m["unforgettable"]
        (1.0, 0.25, 0.75)
    """

    REDUCE_OP = "max"  # the collective `end_epoch`'s `all_reduce` must perform

    def __init__(self, num_examples: int, device: torch.device | str,
                 flipped: Tensor | None = None) -> None:
        if num_examples < 1:
            raise ValueError(f"num_examples={num_examples} is invalid: must be >= 1")
        if flipped is not None and tuple(flipped.shape) != (num_examples,):
            raise ValueError(f"flipped has shape {tuple(flipped.shape)}, expected ({num_examples},)")
        self.num_examples = num_examples
        self.device = torch.device(device)
        self.flipped = None if flipped is None else flipped.to(self.device, torch.bool)
        self.noisy = bool(flipped is not None and flipped.any())
        self._epoch = self._full(NOT_PRESENTED, torch.int8)  # this epoch, this worker
        self._last = self._full(NOT_PRESENTED, torch.int8)  # at the latest earlier presentation
        self._forgets = self._full(0, torch.int32)  # forgetting events per example
        self._learned = self._full(False, torch.bool)  # correct at some presentation

    def _full(self, value: int | bool, dtype: torch.dtype) -> Tensor:
        return torch.full((self.num_examples,), value, dtype=dtype, device=self.device)

    def record(self, indices: Tensor, correct: Tensor) -> None:
        """Note whether the examples `indices` were classified correctly (as their given label)."""
        if indices.shape != correct.shape or indices.dim() != 1:
            raise ValueError(f"indices {tuple(indices.shape)} and correct {tuple(correct.shape)} "
                             "must be 1-d of the same length")
        idx = indices.to(self.device, torch.int64, non_blocking=True)
        val = correct.to(self.device, torch.int8, non_blocking=True)
        self._epoch.scatter_reduce_(0, idx, val, "amax")

    def end_epoch(self, all_reduce: AllReduce | None = None) -> dict[str, float]:
        """Merge this epoch over the workers (`all_reduce`: in-place MAX collective, e.g.
        `all_reduce_fn(ForgettingTracker.REDUCE_OP)`), update the state, return the metrics."""
        if all_reduce is not None:
            all_reduce(self._epoch)
        cur = self._epoch
        seen, correct = cur != NOT_PRESENTED, cur == 1
        forgot = (self._last == 1) & seen & ~correct
        self._forgets += forgot
        self._learned |= correct
        self._last = torch.where(seen, cur, self._last)
        clean = seen if self.flipped is None else seen & ~self.flipped
        counts = [forgot.sum(), (self._forgets > 0).sum(), (self._learned & (self._forgets == 0)).sum(),
                  clean.sum(), (clean & correct).sum()]
        if self.noisy:
            noisy = seen & self.flipped
            counts += [noisy.sum(), (noisy & correct).sum()]
        c = torch.stack(counts).tolist()  # the one host sync
        self._epoch.fill_(NOT_PRESENTED)
        out = {"forget_events": float(c[0]), "ever_forgotten": c[1] / self.num_examples,
               "unforgettable": c[2] / self.num_examples, "clean_fit": _ratio(c[4], c[3])}
        if self.noisy:
            out["noisy_fit"] = _ratio(c[6], c[5])
        return out

    @property
    def forget_counts(self) -> Tensor:
        """Forgetting events per example so far (Toneva et al. rank examples by this)."""
        return self._forgets.clone()

    @property
    def learned(self) -> Tensor:
        """Whether each example was correct at some presentation so far."""
        return self._learned.clone()

    def state_dict(self) -> dict[str, Tensor]:
        """Plain tensors (`torch.load(weights_only=True)` reads them). After `end_epoch` they are
        the same on every worker; `epoch` holds the current worker's unmerged epoch buffer."""
        return {"last": self._last.clone(), "forgets": self._forgets.clone(),
                "learned": self._learned.clone(), "epoch": self._epoch.clone()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        if set(state) != set(STATE_KEYS):
            raise ValueError(f"state keys {sorted(state)} != {sorted(STATE_KEYS)}")
        for key, dst in zip(STATE_KEYS, (self._last, self._forgets, self._learned, self._epoch),
                            strict=True):
            if tuple(state[key].shape) != (self.num_examples,):
                raise ValueError(f"state[{key!r}] has shape {tuple(state[key].shape)}, "
                                 f"expected ({self.num_examples},)")
            dst.copy_(state[key])


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan
