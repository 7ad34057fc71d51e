"""Training diagnostics: example forgetting, perturbed-prediction statistics of SAM steps, and
opt-in sharpness measures (adaptive worst-case m-sharpness, Hessian top eigenvalue and trace).

Epoch accumulators (`ForgettingTracker`, `PerturbedAccumulator`) record on the device without
host syncs and merge DDP workers with one collective per epoch (`all_reduce_fn`).

Example:
    >>> import torch
    >>> t = ForgettingTracker(2, "cpu")
    >>> t.record(torch.tensor([0, 1]), torch.tensor([True, False]))
    >>> t.end_epoch(all_reduce_fn(t.REDUCE_OP))["clean_fit"]
    0.5
"""

from samtrain.diagnostics.adaptive import adaptive_sharpness
from samtrain.diagnostics.collective import all_reduce_fn
from samtrain.diagnostics.forgetting import ForgettingTracker
from samtrain.diagnostics.hessian import hessian_top_eigenvalue, hessian_trace
from samtrain.diagnostics.perturbed import PerturbedAccumulator, perturbed_sums
from samtrain.diagnostics.sharpness import METRICS as SHARPNESS_METRICS
from samtrain.diagnostics.sharpness import measure_sharpness

__all__ = ["ForgettingTracker", "PerturbedAccumulator", "SHARPNESS_METRICS", "adaptive_sharpness",
           "all_reduce_fn", "hessian_top_eigenvalue", "hessian_trace", "measure_sharpness",
           "perturbed_sums"]
