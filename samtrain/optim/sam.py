"""`SAM`: one optimizer for SAM, ASAM, GSAM, OBF and RandSAM, with m-sharpness, DDP and accumulation.

Per chunk c of m examples of the local batch (k = B/m chunks; see shared/reference/sam-family.md):

    g = grad L_pert(w; c)                       ("ascent": loss_fn, "obf": OutputBiasForget,
                                                 "random": Gaussian g, clean pass forward-only)
    ASAM before: g <- |w| g;  d = g / (||g|| + 1e-12)  (one global norm);  ASAM after: d <- |w| d
    h = grad loss_fn(w + rho_t d; c)            (norm-layer running statistics left untouched)
    GSAM: h <- h - alpha (o - (o . h_u) h_u),   h_u = h / ||h||
          o = the raw first-pass g (before any ASAM |w| scaling), or d when backup_normalized
    p.grad += mean_c(h) / accum_steps           (DDP: all-reduced once, one flat buffer per dtype)
"""

from __future__ import annotations

import contextlib
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors
from torch.nn.parallel import DistributedDataParallel

from samtrain.optim.batched import batched_sam
from samtrain.optim.buffers import batched_unsupported, frozen_running_stats
from samtrain.optim.functional import ascent_direction, gaussian, gsam_correct
from samtrain.optim.obf import OutputBiasForget, check_obf_args

PERTURBATIONS = ("ascent", "obf", "random")
ADAPTIVE = (None, "before", "after", "both")
RHO_POLICIES = ("constant", "lr_prop")
# Device types where the automatic choice takes the batched (vmap) path for m < B. On CPU the loop
# measured faster (benchmarks/RESULTS.md); on CUDA batched is the expected winner (not measured).
BATCHED_DEVICES = frozenset({"cuda"})
HPARAMS = ("rho", "perturbation", "perturb_batch_size", "adaptive", "gsam_alpha",
           "backup_normalized", "obf_C", "obf_gamma", "obf_sigmoid", "rho_policy", "rho_min",
           "lr_max", "lr_min", "batched")

LossFn = Callable[[Tensor, Tensor], Tensor]


class SAMOutput(NamedTuple):
    """Detached results of `SAM.backward`: clean mean loss at w, mean loss at w_hat, clean logits."""

    loss: Tensor
    perturb_loss: Tensor
    logits: Tensor


def _grads(loss: Tensor, params: Sequence[Tensor]) -> list[Tensor]:
    gs = torch.autograd.grad(loss, list(params), allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, gs, strict=True)]


class SAM(torch.optim.Optimizer):
    """Sharpness-aware minimization family around a base optimizer (which does the actual step).

    `backward` adds the SAM gradient to `p.grad` (scaled by 1/accum_steps, so N micro-batch calls
    then `step()` equal one call on the whole batch with the same m) and returns `SAMOutput`.
    `param_groups` and `state` are the base's, so LR schedulers may wrap either.
    Norm layers: the clean pass of each chunk updates running statistics as a training forward
    on that chunk would; the perturbed pass leaves them untouched.
    DDP: every forward/backward runs under `no_sync()` (each worker perturbs with its own
    gradient); the final gradient is averaged with one all-reduce of one flat buffer.
    Mixed precision: `torch.autocast` with bfloat16 (grads stay in the parameters' dtype; the
    autocast weight cache is cleared around the perturbation). fp16 with a GradScaler is not
    supported (the losses are computed inside `backward`, out of the scaler's reach).
    `batched=None` takes the vmap path when m < B on CUDA and the loop elsewhere (the loop is
    faster on CPU), under DDP, or for norm layers with momentum=None; failures of the vmap path
    fall back to the loop with a warning. Dropout masks on the two paths come from different
    random streams.

    Example:
        >>> model = nn.Linear(4, 3)
        >>> sam = SAM(torch.optim.SGD(model.parameters(), lr=0.1), rho=0.05, perturb_batch_size=2)
        >>> out = sam.backward(model, torch.randn(8, 4), torch.randint(0, 3, (8,)),
        ...                    nn.CrossEntropyLoss())
        >>> sam.step(); sam.zero_grad()
        >>> out.logits.shape
        torch.Size([8, 3])
    """

    def __init__(self, base_optimizer: torch.optim.Optimizer, rho: float = 0.05,
                 perturbation: str = "ascent", perturb_batch_size: int | None = None,
                 adaptive: str | None = None, gsam_alpha: float = 0.0,
                 backup_normalized: bool = False, obf_C: float = -1.0, obf_gamma: float = 1.0,
                 obf_sigmoid: bool = True, rho_policy: str = "constant", rho_min: float = 0.0,
                 lr_max: float | None = None, lr_min: float = 0.0,
                 batched: bool | None = None) -> None:
        self.base_optimizer = base_optimizer
        self._set_hparams(dict(
            rho=rho, perturbation=perturbation, perturb_batch_size=perturb_batch_size,
            adaptive=adaptive, gsam_alpha=gsam_alpha, backup_normalized=backup_normalized,
            obf_C=obf_C, obf_gamma=obf_gamma, obf_sigmoid=obf_sigmoid, rho_policy=rho_policy,
            rho_min=rho_min, lr_max=lr_max, lr_min=lr_min, batched=batched))
        super().__init__(base_optimizer.param_groups, base_optimizer.defaults)
        self._share_base()
        self._lr_ref = float(self.param_groups[0]["lr"])  # lr_max fallback without 'initial_lr'
        self._batched_failed = False
        self.rho_t = float(rho)  # until the first backward

    # ---- hyperparameters ----
    def _set_hparams(self, hp: dict[str, Any]) -> None:
        if not hp["rho"] >= 0:
            raise ValueError(f"rho={hp['rho']} is invalid: must be >= 0")
        if hp["perturbation"] not in PERTURBATIONS:
            hint = ": use the base optimizer directly" if hp["perturbation"] == "none" else ""
            raise ValueError(f"perturbation={hp['perturbation']!r} is invalid: must be one of "
                             f"{PERTURBATIONS}{hint}")
        m = hp["perturb_batch_size"]
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
            raise ValueError(f"perturb_batch_size={m!r} is invalid: must be an int >= 1 or None")
        if hp["adaptive"] not in ADAPTIVE:
            raise ValueError(f"adaptive={hp['adaptive']!r} is invalid: must be one of {ADAPTIVE}")
        if not hp["gsam_alpha"] >= 0:
            raise ValueError(f"gsam_alpha={hp['gsam_alpha']} is invalid: must be >= 0")
        if hp["gsam_alpha"] > 0 and hp["perturbation"] == "random":
            raise ValueError(f"gsam_alpha={hp['gsam_alpha']} is invalid with perturbation='random'"
                             " (GSAM needs a clean gradient; RandSAM computes none)")
        check_obf_args(hp["obf_C"], hp["obf_gamma"])
        if hp["rho_policy"] not in RHO_POLICIES:
            raise ValueError(f"rho_policy={hp['rho_policy']!r} is invalid: must be one of "
                             f"{RHO_POLICIES}")
        if not hp["rho_min"] >= 0:
            raise ValueError(f"rho_min={hp['rho_min']} is invalid: must be >= 0")
        if hp["lr_max"] is not None and not hp["lr_max"] > hp["lr_min"]:
            raise ValueError(f"lr_max={hp['lr_max']} is invalid: must be > lr_min={hp['lr_min']}")
        if hp["batched"] not in (None, True, False):
            raise ValueError(f"batched={hp['batched']!r} is invalid: must be None, True or False")
        for k in HPARAMS:
            setattr(self, k, hp[k])
        self.obf = OutputBiasForget(hp["obf_C"], hp["obf_gamma"], hp["obf_sigmoid"])

    def current_rho(self) -> float:
        """rho for the next backward: constant, or linear in the current lr ("lr_prop")."""
        if self.rho_policy == "constant":
            return float(self.rho)
        group = self.param_groups[0]
        lr_max = self.lr_max if self.lr_max is not None else group.get("initial_lr", self._lr_ref)
        if not lr_max > self.lr_min:
            raise ValueError(f"rho_policy='lr_prop' needs lr_max > lr_min, got lr_max={lr_max} "
                             f"and lr_min={self.lr_min}")
        frac = (float(group["lr"]) - self.lr_min) / (lr_max - self.lr_min)
        return max(0.0, self.rho_min + (self.rho - self.rho_min) * frac)

    # ---- the SAM gradient ----
    def backward(self, model: nn.Module, inputs: Tensor, targets: Tensor, loss_fn: LossFn,
                 accum_steps: int = 1) -> SAMOutput:
        """Add the SAM gradient of this (micro-)batch, divided by `accum_steps`, to `p.grad`."""
        if isinstance(accum_steps, bool) or not isinstance(accum_steps, int) or accum_steps < 1:
            raise ValueError(f"accum_steps={accum_steps!r} is invalid: must be an int >= 1")
        n = inputs.shape[0]
        m = self.perturb_batch_size or n
        if n % m:
            raise ValueError(f"perturb_batch_size={m} does not divide the local batch of {n}")
        k = n // m
        ddp = isinstance(model, DistributedDataParallel)
        module = model.module if ddp else model
        params = [p for g in self.param_groups for p in g["params"] if p.requires_grad]
        self.rho_t = rho = self.current_rho()
        out = None
        with model.no_sync() if ddp else contextlib.nullcontext():
            if self._use_batched(module, inputs, k, ddp):
                try:
                    loss, ploss, logits, h = batched_sam(self, module, params, inputs, targets,
                                                         loss_fn, rho, k)
                except (RuntimeError, NotImplementedError) as e:
                    if self.batched:
                        raise
                    warnings.warn(f"SAM: batched m-sharpness failed ({e}); using the loop from now",
                                  stacklevel=2)
                    self._batched_failed = True
                else:
                    out = SAMOutput(loss, ploss, logits)
                    self._add_grads(params, h, 1.0 / accum_steps, model if ddp else None)
            if out is None:
                out = self._loop(model, module, params, inputs, targets, loss_fn, rho, k,
                                 accum_steps, ddp)
        return out

    def _use_batched(self, module: nn.Module, inputs: Tensor, k: int, ddp: bool) -> bool:
        if self.batched is False:
            return False
        reason = batched_unsupported(module)
        if self.batched:
            if reason:
                raise ValueError(f"batched=True is not possible: {reason}")
            return True
        return (k > 1 and not ddp and reason is None and not self._batched_failed
                and inputs.device.type in BATCHED_DEVICES)

    def _loop(self, model: nn.Module, module: nn.Module, params: list[Tensor], inputs: Tensor,
              targets: Tensor, loss_fn: LossFn, rho: float, k: int, accum_steps: int,
              ddp: bool) -> SAMOutput:
        losses, plosses, logits, total = [], [], [], None
        for x, y in zip(inputs.chunk(k), targets.chunk(k), strict=True):
            loss, ploss, z, h = self._chunk(model, module, params, x, y, loss_fn, rho)
            losses.append(loss), plosses.append(ploss), logits.append(z)
            if not ddp:  # accumulate straight into p.grad: no extra parameter-sized buffer
                self._add_grads(params, h, 1.0 / (k * accum_steps), None)
            elif total is None:
                total = h
            else:
                torch._foreach_add_(total, h)
        if ddp:
            self._add_grads(params, total, 1.0 / (k * accum_steps), model)
        return SAMOutput(torch.stack(losses).mean(), torch.stack(plosses).mean(), torch.cat(logits))

    def _chunk(self, model: nn.Module, module: nn.Module, params: list[Tensor], x: Tensor,
               y: Tensor, loss_fn: LossFn, rho: float) -> tuple[Tensor, Tensor, Tensor, list[Tensor]]:
        """Steps 1-8 on one chunk; returns (clean loss, perturbed loss, clean logits, h)."""
        if self.perturbation == "random":
            with torch.no_grad():
                logits = model(x)
                loss = loss_fn(logits, y)
            g = gaussian(params)
        else:
            logits = model(x)
            loss = loss_fn(logits, y)
            g = _grads(loss if self.perturbation == "ascent" else self.obf(logits, y), params)
        w = [p.detach() for p in params]
        d = ascent_direction(g, w, self.adaptive)
        o = (d if self.backup_normalized else g) if self.gsam_alpha > 0 else None
        del g
        backup = [p.clone() for p in w]
        try:
            torch._foreach_add_(w, d, alpha=rho)
            del d
            torch.clear_autocast_cache()  # autocast caches low-precision copies of the weights
            with frozen_running_stats(module):
                ploss = loss_fn(model(x), y)
                h = _grads(ploss, params)
        finally:
            torch._foreach_copy_(w, backup)
            torch.clear_autocast_cache()
        if o is not None:
            h = gsam_correct(h, o, self.gsam_alpha)
        return loss.detach(), ploss.detach(), logits.detach(), h

    @staticmethod
    def _add_grads(params: list[Tensor], h: list[Tensor], scale: float,
                   ddp_model: nn.Module | None) -> None:
        """p.grad += scale * h; under DDP h is first averaged over the workers with one all-reduce
        of a flat buffer per dtype (a single one in practice)."""
        if ddp_model is not None:
            group = ddp_model.process_group
            scale /= dist.get_world_size(group)
            h = list(h)
            for dtype in dict.fromkeys(t.dtype for t in h):
                idx = [i for i, t in enumerate(h) if t.dtype == dtype]
                flat = _flatten_dense_tensors([h[i] for i in idx])
                dist.all_reduce(flat, group=group)
                for i, v in zip(idx, _unflatten_dense_tensors(flat, [h[i] for i in idx]),
                                strict=True):
                    h[i] = v
        uses = Counter(t.data_ptr() for t in h)
        with torch.no_grad():
            for p, hi in zip(params, h, strict=True):
                if p.grad is not None:
                    p.grad.add_(hi, alpha=scale)
                    continue
                # take ownership of hi unless it may be shared or is not dense (autograd.grad can
                # return expanded tensors or one tensor for several inputs)
                if not hi.is_contiguous() or uses[hi.data_ptr()] > 1:
                    hi = hi.clone(memory_format=torch.contiguous_format)
                p.grad = hi.mul_(scale) if scale != 1.0 else hi

    # ---- optimizer plumbing ----
    def _share_base(self) -> None:
        self.param_groups = self.base_optimizer.param_groups
        self.state = self.base_optimizer.state
        self.defaults = self.base_optimizer.defaults

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """The base optimizer's step (call after `backward`)."""
        return self.base_optimizer.step(closure)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base_optimizer.zero_grad(set_to_none=set_to_none)

    def hparams(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in HPARAMS}

    def state_dict(self) -> dict[str, Any]:
        return {"base": self.base_optimizer.state_dict(),
                "sam": {**self.hparams(), "lr_ref": self._lr_ref}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load base state and SAM hyperparameters (a bare base state dict loads the base only)."""
        if "base" not in state_dict:
            self.base_optimizer.load_state_dict(state_dict)
        else:
            sam = dict(state_dict["sam"])
            self._lr_ref = float(sam.pop("lr_ref", self._lr_ref))
            self._set_hparams({**self.hparams(), **sam})
            self.base_optimizer.load_state_dict(state_dict["base"])
        self._share_base()  # load_state_dict replaces the base's param_groups list

    def __getstate__(self) -> dict[str, Any]:  # Optimizer's keeps only defaults/state/groups
        return self.__dict__

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hparams().items())
        return f"SAM({self.base_optimizer.__class__.__name__}, {args})"
