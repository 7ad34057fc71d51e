"""Scoring a run's shifted evaluation sets (`TrainConfig.eval_sets`) when the test split is scored.

For every set (`samtrain.data.eval_sets`): `shift_acc/<set>` and `shift_loss/<set>`; with
corruption sets (generated, or folders named `<corruption>_<severity>`) also
`shift_acc/corruption_mean`, their mean accuracy (the run's mean corruption accuracy). A set
mapped onto some training classes is scored on those classes' logits only. These are reported,
never selected on: search, pruning and selection read the validation split alone.

Example:
    >>> from samtrain.config.train_config import TrainConfig
    >>> from samtrain.engine.run_setup import build_run
    >>> from samtrain.engine.worker_context import LocalContext
    >>> cfg = TrainConfig(dataset="digits", eval_sets=[{"corruption": "impulse_noise",
    ...                                                 "severity": [1, 5], "examples": 40}])
    >>> sorted(score_eval_sets(build_run(cfg, LocalContext())))  # doctest: +NORMALIZE_WHITESPACE
    ['shift_acc/corruption_mean', 'shift_acc/impulse_noise_1', 'shift_acc/impulse_noise_5',
     'shift_loss/impulse_noise_1', 'shift_loss/impulse_noise_5']
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

import torch
from torch import nn

from samtrain.engine.epoch import evaluate
from samtrain.engine.loaders import make_eval_loader

if TYPE_CHECKING:
    from samtrain.engine.run_setup import Run

__all__ = ["Restricted", "score_eval_sets"]

EVAL_BATCH = 256


class Restricted(nn.Module):
    """`model`'s logits of `classes` only (in that order): targets are positions in `classes`.

    Example:
        >>> m = Restricted(nn.Identity(), (2, 0))
        >>> m(torch.tensor([[1.0, 2.0, 3.0]])).tolist()
        [[3.0, 1.0]]
    """

    def __init__(self, model: nn.Module, classes: tuple[int, ...]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("classes", torch.as_tensor(classes, dtype=torch.int64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[:, self.classes.to(x.device)]


def score_eval_sets(run: Run) -> dict[str, float]:
    """Accuracy and loss of the run's model on each of its shifted sets (none: `{}`)."""
    cfg = run.cfg
    if not cfg.eval_sets:
        return {}
    from samtrain.data.build import load_source
    from samtrain.data.eval_sets import build_eval_sets

    out: dict[str, float] = {}
    corrupted: list[float] = []
    batch = max(cfg.per_worker_batch_size, EVAL_BATCH)
    for s in build_eval_sets(cfg, load_source(cfg)):
        loader = make_eval_loader(s.make(), batch, run.ctx.world_size, run.ctx.world_rank)
        model = run.model if s.classes is None else Restricted(run.model, s.classes)
        scored = evaluate(model, loader, run.loss_fn, cfg, run.device)
        out[f"shift_acc/{s.name}"], out[f"shift_loss/{s.name}"] = scored["acc"], scored["loss"]
        if s.corruption is not None:
            corrupted.append(scored["acc"])
    if corrupted:
        out["shift_acc/corruption_mean"] = statistics.fmean(corrupted)
    return out
