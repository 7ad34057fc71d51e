"""`SAM`: one optimizer for SAM, ASAM, GSAM, OBF and RandSAM, with m-sharpness, DDP and accumulation.

SAM (Foret et al. 2021, arXiv 2010.01412; m-sharpness), ASAM (Kwon et al. 2021, arXiv 2102.11600),
GSAM (Zhuang et al. 2022, arXiv 2203.08065), OBF and RandSAM (Vani et al. 2024, arXiv 2406.06700).
Per chunk c of m examples of the local batch (k = B/m chunks):

    g = grad L_pert(w; c)                       ("ascent": loss_fn, "obf": OutputBiasForget,
                                                 "random": Gaussian g, clean pass forward-only)
    ASAM before: g <- |w| g;  d = g / (||g|| + 1e-12)  (one global norm);  ASAM after: d <- |w| d
    h = grad loss_fn(w + rho_t d; c)            (norm-layer running statistics left untouched)
    GSAM: h <- h - alpha (o - (o . h_u) h_u),   h_u = h / ||h||,
          o = g as ASAM "before" left it (|w| g with "before" or "both", the raw g otherwise),
          or o = d when backup_normalized (as in the public code of Vani et al.,
          BorealisAI/perturbed-forgetting, which extends juntang-zhuang/GSAM with ASAM)
    p.grad += mean_c(h) / accum_steps           (DDP: all-reduced once, one flat buffer per dtype)

On the steps `perturb_policy` skips, one pass: p.grad += grad loss_fn(w) / accum_steps (LookSAM:
plus its reused orthogonal component, `samtrain.optim.efficient`); `perturbation="momentum"`
(Momentum-SAM) makes one pass at w - rho v / ||v||. After each `step()`, `last_step` holds the
gradient evaluations the step made (forward+backward over the worker's batch = 1, forward-only
= 1/3) and whether it perturbed; a step's decision holds for all its micro-batches.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from samtrain.config.sam_schema import SAMHParams
from samtrain.optim import path_choice
from samtrain.optim.batched import batched_sam
from samtrain.optim.buffers import batched_unsupported
from samtrain.optim.efficient import (
    looksam_gradient,
    momentum_direction,
    momentum_key,
    orthogonal_part,
    sgd_decay_shift,
    unit,
)
from samtrain.optim.hparams import validated
from samtrain.optim.obf import OutputBiasForget
from samtrain.optim.passes import (
    FORWARD_ONLY,
    LossFn,
    Step,
    add_grads,
    clean_pass,
    mean_sq_norm,
    perturbed_pass,
    plain_pass,
    shifted_pass,
)
from samtrain.optim.policy import StepPolicy

HPARAMS = SAMHParams.names() + ("lr_max", "lr_min", "batched", "total_steps", "seed")


class SAMOutput(NamedTuple):
    """Detached results of `SAM.backward`: clean mean loss at w, mean loss at w_hat = w + eps, and
    the logits at w and at w_hat (per example, in input order; for m < B each chunk's own w_hat).
    On a step that did not perturb, `perturb_loss` is the clean loss and `perturb_logits` None;
    with `perturbation="momentum"` the one pass is at w_hat: `loss`, `logits` are there."""

    loss: Tensor
    perturb_loss: Tensor
    logits: Tensor
    perturb_logits: Tensor | None


class StepCost(NamedTuple):
    """What one optimizer step spent: gradient evaluations over the worker's batch, and whether
    it perturbed."""

    grad_evals: float
    perturbed: bool


class SAM(torch.optim.Optimizer):
    """Sharpness-aware minimization family around a base optimizer (which does the actual step).

    `backward` adds the SAM gradient to `p.grad` (scaled by 1/accum_steps, so N micro-batch calls
    then `step()` equal one call on the whole batch with the same m) and returns `SAMOutput`.
    `param_groups` and `state` are the base's, so LR schedulers may wrap either.
    Hyperparameters follow `samtrain.config.sam_schema.SAMHParams` (ValueError otherwise), except
    `perturbation="none"`: use the base optimizer directly.
    Norm layers: the clean pass of each chunk updates running statistics as a training forward
    on that chunk would; the perturbed pass leaves them untouched.
    DDP: every forward/backward runs under `no_sync()` (each worker perturbs with its own
    gradient); the final gradient is averaged with one all-reduce of one flat buffer.
    Mixed precision: `torch.autocast` with bfloat16 (grads stay in the parameters' dtype; the
    autocast weight cache is cleared around the perturbation). fp16 with a GradScaler is not
    supported (the losses are computed inside `backward`, out of the scaler's reach).
    m-sharpness paths (m < B): a loop over the chunks, or all chunks at once with vmap. `batched`
    True/False forces one; "auto" (default) times both on the first steps and keeps the faster
    (`samtrain.optim.path_choice`; decision in `msharp_choice`), and takes the loop under DDP, for
    norm layers with momentum=None, and after a failure of the vmap path (with a warning).
    Dropout masks on the two paths come from different random streams.
    Step policies (`perturb_policy` and its knobs, named as in `SAMHParams`) and Momentum-SAM: see
    the module docstring; `total_steps` (the run's steps: their schedules) and `seed` (the "prob"
    draws). After `step()`, `last_step` is the step's `StepCost`.

    Example:
        >>> model = nn.Linear(4, 3)
        >>> sam = SAM(torch.optim.SGD(model.parameters(), lr=0.1), rho=0.05, perturb_batch_size=2)
        >>> out = sam.backward(model, torch.randn(8, 4), torch.randint(0, 3, (8,)),
        ...                    nn.CrossEntropyLoss())
        >>> sam.step(); sam.zero_grad()
        >>> out.logits.shape, out.perturb_logits.shape
        (torch.Size([8, 3]), torch.Size([8, 3]))
    """

    def __init__(self, base_optimizer: torch.optim.Optimizer, rho: float = 0.05,
                 perturbation: str = "ascent", perturb_batch_size: int | None = None,
                 adaptive: str | None = None, gsam_alpha: float = 0.0,
                 backup_normalized: bool = False, obf_C: float = -1.0, obf_gamma: float = 1.0,
                 obf_sigmoid: bool = True, rho_policy: str = "constant", rho_min: float = 0.0,
                 lr_max: float | None = None, lr_min: float = 0.0,
                 batched: bool | str = "auto", total_steps: int | None = None, seed: int = 0,
                 **policy: Any) -> None:
        self.base_optimizer = base_optimizer
        self._set_hparams(dict(
            rho=rho, perturbation=perturbation, perturb_batch_size=perturb_batch_size,
            adaptive=adaptive, gsam_alpha=gsam_alpha, backup_normalized=backup_normalized,
            obf_C=obf_C, obf_gamma=obf_gamma, obf_sigmoid=obf_sigmoid, rho_policy=rho_policy,
            rho_min=rho_min, lr_max=lr_max, lr_min=lr_min, batched=batched,
            total_steps=total_steps, seed=seed, **policy))
        super().__init__(base_optimizer.param_groups, base_optimizer.defaults)
        self._share_base()
        self._lr_ref = float(self.param_groups[0]["lr"])  # lr_max fallback without 'initial_lr'
        self._batched_failed = False
        self._chooser = path_choice.PathChooser()
        self.rho_t = float(self.rho)  # until the first backward
        self._decision: bool | None = None  # this step's "perturb?", None before its first pass
        self._pending_cost = 0.0
        self._gv_sum: list[Tensor] | None = None  # LookSAM: g_v summed over this step's passes
        self._gv_unit: list[Tensor] | None = None  # LookSAM: g_v / ||g_v|| of the last SAM step
        self.last_step = StepCost(0.0, False)

    # ---- hyperparameters ----
    def _set_hparams(self, hp: dict[str, Any]) -> None:
        unknown = set(hp) - set(HPARAMS)
        if unknown:
            raise TypeError(f"SAM got unexpected keyword arguments {sorted(unknown)}")
        defaults = SAMHParams.model_fields
        sam = validated(**{k: hp.get(k, defaults[k].default) for k in SAMHParams.names()})
        if sam.perturbation == "none":
            raise ValueError("perturbation='none' is invalid: SAM needs a perturbation; "
                             "use the base optimizer directly")
        lr_max, lr_min, batched = hp["lr_max"], hp["lr_min"], hp["batched"]
        if lr_max is not None and not lr_max > lr_min:
            raise ValueError(f"lr_max={lr_max} is invalid: must be > lr_min={lr_min}")
        if not (batched is True or batched is False or batched == "auto"):
            raise ValueError(f"batched={batched!r} is invalid: must be 'auto', True or False")
        if sam.perturbation == "momentum":
            momentum_key(self.base_optimizer)  # raises for an unsupported base
        for k in SAMHParams.names():
            setattr(self, k, getattr(sam, k))
        self.lr_max, self.lr_min, self.batched = lr_max, lr_min, batched
        self.total_steps, self.seed = hp.get("total_steps"), int(hp.get("seed", 0))
        self.obf = OutputBiasForget(sam.obf_C, sam.obf_gamma, sam.obf_sigmoid)
        self._policy = StepPolicy(
            sam.perturb_policy, sam.perturb_every, sam.perturb_prob, sam.perturb_prob_schedule,
            sam.perturb_prob_start, sam.aesam_c_start, sam.aesam_c_end, sam.aesam_decay,
            self.total_steps, self.seed)

    def current_rho(self) -> float:
        """rho for the next backward: constant, or linear in the current lr ("lr_prop"), within
        [0, rho]: an lr above `lr_max` (a OneCycle schedule's `initial_lr` is max_lr / 25, the
        fallback when `lr_max` is None) gives rho, not more."""
        if self.rho_policy == "constant":
            return float(self.rho)
        group = self.param_groups[0]
        lr_max = self.lr_max if self.lr_max is not None else group.get("initial_lr", self._lr_ref)
        if not lr_max > self.lr_min:
            raise ValueError(f"rho_policy='lr_prop' needs lr_max > lr_min, got lr_max={lr_max} "
                             f"and lr_min={self.lr_min}")
        frac = min(1.0, (float(group["lr"]) - self.lr_min) / (lr_max - self.lr_min))
        return max(0.0, self.rho_min + (self.rho - self.rho_min) * frac)

    @property
    def msharp_choice(self) -> dict[str, Any] | None:
        """The m-sharpness path `batched="auto"` chose, `{"msharp_path": "loop" | "batched",
        "msharp_loop_ms": float, "msharp_batched_ms": float}` (mean probed step times; NaN if not
        measured); None while undecided or when there is no choice (m = B, DDP, forced path)."""
        choice = self._chooser.choice
        return None if choice is None else dict(choice)

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
        ddp = isinstance(model, DistributedDataParallel)
        module = model.module if ddp else model
        params = [p for g in self.param_groups for p in g["params"] if p.requires_grad]
        self.rho_t = self.current_rho()
        step = Step(model, module, params, inputs, targets, loss_fn, self.rho_t, n // m,
                    1.0 / accum_steps, ddp)
        with model.no_sync() if ddp else contextlib.nullcontext():
            if self.perturbation == "momentum":
                out, cost = self._momentum(step)
            elif self.perturb_policy in ("aesam", "looksam"):
                out, cost = self._clean_first(step)
            else:
                if self._decision is None:
                    self._decision = self._policy.planned()
                out, cost = self._sam(step) if self._decision else self._plain(step)
        self._pending_cost += cost * step.scale
        return out

    def _sam(self, step: Step) -> tuple[SAMOutput, float]:
        """The SAM gradient on the loop or the batched path, and its cost."""
        path, probing, key = self._path(step), False, None
        if path == "auto":
            key = path_choice.probe_key(step.module, step.x, step.x.shape[0] // step.k, variant=(
                self.perturbation, self.adaptive, self.gsam_alpha > 0))
            path, probing = self._chooser.path(key)
        start = path_choice.tic(step.x.device) if probing else 0.0
        out = self._batched(step) if path == "batched" else None
        if out is None:
            if path == "batched":  # it failed (only possible with "auto")
                self._chooser.failed(key)
            out = self._loop(step)
        if probing:
            self._chooser.record(key, path, path_choice.toc(step.x.device, start))
        return out, (FORWARD_ONLY if self.perturbation == "random" else 1.0) + 1.0

    def _plain(self, step: Step) -> tuple[SAMOutput, float]:
        """A step that does not perturb: one forward+backward at w."""
        loss, logits, g = plain_pass(step)
        self._add(step, g, step.scale)
        loss = loss.detach()
        return SAMOutput(loss, loss, logits.detach(), None), 1.0

    def _clean_first(self, step: Step) -> tuple[SAMOutput, float]:
        """AE-SAM and LookSAM: the clean gradient g first (it decides, or is reused), then the
        perturbed pass on SAM steps."""
        loss, logits, g, _ = clean_pass(self, step, step.x, step.y)
        loss, logits = loss.detach(), logits.detach()
        if self._decision is None:
            self._decision = (self._policy.observe(mean_sq_norm(g, step))
                              if self.perturb_policy == "aesam" else self._policy.planned())
        if not self._decision:
            if self.perturb_policy == "looksam" and self._gv_unit is not None:
                g = looksam_gradient(g, self._gv_unit, self.looksam_alpha)
            self._add(step, g, step.scale)
            return SAMOutput(loss, loss, logits, None), 1.0
        ploss, plogits, h = perturbed_pass(self, step, step.x, step.y, g)
        if self.perturb_policy == "looksam":
            gv = orthogonal_part(h, g)
            self._gv_sum = gv if self._gv_sum is None else [a + b for a, b in
                                                            zip(self._gv_sum, gv, strict=True)]
        self._add(step, h, step.scale)
        return SAMOutput(loss, ploss.detach(), logits, plogits.detach()), 2.0

    def _momentum(self, step: Step) -> tuple[SAMOutput, float]:
        """Momentum-SAM: one forward+backward at w - rho v / ||v|| (at w before the first step)."""
        d = momentum_direction(self.base_optimizer, step.params)
        if d is None:
            loss, logits, h = plain_pass(step)
        else:
            loss, logits, h = shifted_pass(step, step.x, step.y, d, step.rho, frozen=False)
            shift = sgd_decay_shift(self.base_optimizer, step.params, d, step.rho)
            if shift is not None:
                h = [hi + si for hi, si in zip(h, shift, strict=True)]
        self._decision = d is not None
        self._add(step, h, step.scale)
        loss = loss.detach()
        return SAMOutput(loss, loss, logits.detach(), None), 1.0

    def _add(self, step: Step, h: list[Tensor], scale: float) -> None:
        add_grads(step.params, h, scale, step.model if step.ddp else None)

    def _path(self, step: Step) -> str:
        """The path of this step: "loop", "batched", or "auto" (both possible; the chooser decides)."""
        if self.batched is False:
            return "loop"
        reason = batched_unsupported(step.module)
        if self.batched is True:
            if reason:
                raise ValueError(f"batched=True is not possible: {reason}")
            return "batched"
        eligible = step.k > 1 and not step.ddp and reason is None and not self._batched_failed
        return "auto" if eligible else "loop"

    def _batched(self, step: Step) -> SAMOutput | None:
        """The vmap path; None if it failed and `batched` is "auto" (the caller takes the loop)."""
        try:
            loss, ploss, logits, plogits, h = batched_sam(
                self, step.module, step.params, step.x, step.y, step.loss_fn, step.rho, step.k)
        except (RuntimeError, NotImplementedError, ValueError, IndexError) as e:
            if self.batched is True:
                raise
            warnings.warn(f"SAM: batched m-sharpness failed ({e}); using the loop from now",
                          stacklevel=3)
            self._batched_failed = True
            return None
        self._add(step, h, step.scale)
        return SAMOutput(loss, ploss, logits, plogits)

    def _loop(self, step: Step) -> SAMOutput:
        outs, total = [], None
        for x, y in zip(step.x.chunk(step.k), step.y.chunk(step.k), strict=True):
            *out, h = self._chunk(step, x, y)
            outs.append(out)
            if not step.ddp:  # accumulate straight into p.grad: no extra parameter-sized buffer
                add_grads(step.params, h, step.scale / step.k, None)
            elif total is None:
                total = h
            else:
                torch._foreach_add_(total, h)
        if step.ddp:
            add_grads(step.params, total, step.scale / step.k, step.model)
        loss, ploss, logits, plogits = zip(*outs, strict=True)
        return SAMOutput(torch.stack(loss).mean(), torch.stack(ploss).mean(), torch.cat(logits),
                         torch.cat(plogits))

    def _chunk(self, step: Step, x: Tensor, y: Tensor
               ) -> tuple[Tensor, Tensor, Tensor, Tensor, list[Tensor]]:
        """The formula on one chunk; returns (clean loss, perturbed loss, clean logits, perturbed
        logits, h)."""
        loss, logits, g, _ = clean_pass(self, step, x, y)
        ploss, plogits, h = perturbed_pass(self, step, x, y, g)
        return loss.detach(), ploss.detach(), logits.detach(), plogits.detach(), h

    # ---- optimizer plumbing ----
    def _share_base(self) -> None:
        self.param_groups = self.base_optimizer.param_groups
        self.state = self.base_optimizer.state
        self.defaults = self.base_optimizer.defaults

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """The base optimizer's step (call after `backward`); sets `last_step`."""
        result = self.base_optimizer.step(closure)
        perturbed = bool(self._decision)
        if self.perturb_policy == "looksam" and perturbed and self._gv_sum is not None:
            self._gv_unit, self._gv_sum = unit(self._gv_sum), None
        self.last_step = StepCost(self._pending_cost, perturbed)
        self._pending_cost, self._decision = 0.0, None
        self._policy.advance()
        return result

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base_optimizer.zero_grad(set_to_none=set_to_none)

    def hparams(self) -> dict[str, Any]:
        """The hyperparameters, by `HPARAMS` name."""
        return {k: getattr(self, k) for k in HPARAMS}

    def state_dict(self) -> dict[str, Any]:
        """Base state, hyperparameters and the m-sharpness path decisions."""
        return {"base": self.base_optimizer.state_dict(),
                "sam": {**self.hparams(), "lr_ref": self._lr_ref,
                        "msharp_decisions": self._chooser.state(),
                        "policy": self._policy.state_dict(), "looksam_gv": self._gv_unit}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load base state and SAM hyperparameters (a bare base state dict loads the base only)."""
        if "base" not in state_dict:
            self.base_optimizer.load_state_dict(state_dict)
        else:
            sam = dict(state_dict["sam"])
            self._lr_ref = float(sam.pop("lr_ref", self._lr_ref))
            self._chooser.load(sam.pop("msharp_decisions", ()))
            policy, self._gv_unit = sam.pop("policy", None), sam.pop("looksam_gv", None)
            if sam.get("batched", "auto") is None:  # saved before "auto" replaced None
                sam["batched"] = "auto"
            self._set_hparams({**self.hparams(), **sam})
            if policy is not None:
                self._policy.load_state_dict(policy)
            self.base_optimizer.load_state_dict(state_dict["base"])
        self._share_base()  # load_state_dict replaces the base's param_groups list

    def __getstate__(self) -> dict[str, Any]:  # Optimizer's keeps only defaults/state/groups
        return self.__dict__

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hparams().items())
        return f"SAM({self.base_optimizer.__class__.__name__}, {args})"

