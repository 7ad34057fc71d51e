"""`SAMHParams`: the SAM-family hyperparameters and their rules, written once.

Besides the perturbation (what w + eps is), `perturb_policy` says on which steps to perturb:
every step, every k-th, at random with a scheduled probability, adaptively (AE-SAM), or LookSAM's
every k-th with the stored SAM component reused in between; `perturbation="momentum"` is
Momentum-SAM. docs/efficient_sam.md explains them and their cost.

`TrainConfig` inherits these fields (same names, same constraints) and `samtrain.optim.SAM`
validates its arguments with this model, so a rule lives in one place. Torch-free.

Example:
    >>> SAMHParams(rho=0.1, perturbation="obf", obf_C=10).obf_C
    10.0
    >>> SAMHParams.names()[:3]
    ('rho', 'perturbation', 'perturb_batch_size')
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Perturbation = Literal["none", "ascent", "obf", "random", "momentum"]
PerturbPolicy = Literal["always", "every", "prob", "aesam", "looksam"]
ProbSchedule = Literal["constant", "linear", "cosine"]
Adaptive = Literal["before", "after", "both"]


class SAMHParams(BaseModel):
    """SAM (Foret et al. 2021), ASAM (Kwon et al. 2021), GSAM (Zhuang et al. 2022), OBF and RandSAM
    (Vani et al. 2024), Momentum-SAM (Becker et al. 2024) settings and the step policy (SS-SAM /
    RST, Zhao et al. 2022; AE-SAM, Jiang et al. 2023; LookSAM, Liu et al. 2022);
    `perturbation="none"` means plain SGD/AdamW.

    - `perturbation="momentum"`: w_hat = w - rho * v / ||v|| with v the base optimizer's momentum
      (SGD's buffer, AdamW's first moment); one gradient pass a step, at w_hat.
    - `perturb_policy`: "always"; "every": perturb on steps 0, k, 2k, ... (k = `perturb_every`);
      "prob": perturb with probability p_t, p_t = `perturb_prob` ("constant") or going from
      `perturb_prob_start` to `perturb_prob` over training ("linear", "cosine"); "aesam": perturb
      when ||g||^2 >= mu + c_t * sigma (EMAs of ||g||^2 with decay `aesam_decay`, c_t linear from
      `aesam_c_start` to `aesam_c_end`); "looksam": the SAM gradient on steps 0, k, 2k, ...,
      g + `looksam_alpha` * ||g|| * g_v / ||g_v|| in between (g_v: the SAM gradient's part
      orthogonal to g at the last SAM step). A step that does not perturb makes one pass.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_assignment=True)

    rho: float = Field(0.05, ge=0)
    perturbation: Perturbation = "ascent"
    perturb_batch_size: int | None = Field(None, ge=1)
    adaptive: Adaptive | None = None
    gsam_alpha: float = Field(0.0, ge=0)
    backup_normalized: bool = False
    obf_C: float = -1.0
    obf_gamma: float = Field(1.0, ge=0, le=1)
    obf_sigmoid: bool = True
    rho_policy: Literal["constant", "lr_prop"] = "constant"
    rho_min: float = Field(0.0, ge=0)
    perturb_policy: PerturbPolicy = "always"
    perturb_every: int = Field(5, ge=1)
    perturb_prob: float = Field(0.5, gt=0, le=1)
    perturb_prob_schedule: ProbSchedule = "constant"
    perturb_prob_start: float = Field(0.0, ge=0, le=1)
    aesam_c_start: float = 1.0
    aesam_c_end: float = -1.0
    aesam_decay: float = Field(0.9, gt=0, lt=1)
    looksam_alpha: float = Field(0.7, ge=0)

    @field_validator("obf_C")
    @classmethod
    def _obf_c(cls, v: float) -> float:
        if 0.0 <= v <= 1.0:
            raise ValueError("must be < 0 (lambda = 0) or > 1 (lambda = 1/C); [0, 1] is not allowed")
        return v

    @model_validator(mode="after")
    def _gsam_needs_a_gradient(self) -> SAMHParams:
        if self.gsam_alpha > 0 and self.perturbation == "random":
            raise ValueError(f"gsam_alpha={self.gsam_alpha} needs a clean gradient; "
                             "perturbation 'random' (RandSAM) computes none")
        return self

    @model_validator(mode="after")
    def _policy_fits_perturbation(self) -> SAMHParams:
        why = policy_conflict(self)
        if why:
            raise ValueError(why)
        return self

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The hyperparameter names, in declaration order (`SAM`'s keyword arguments)."""
        return tuple(SAMHParams.model_fields)


def policy_conflict(hp: SAMHParams) -> str | None:
    """Why the step policy or Momentum-SAM cannot go with the other settings, or None."""
    policy, perturbation = hp.perturb_policy, hp.perturbation
    if perturbation == "none" and policy != "always":
        return f"perturb_policy={policy!r} needs a perturbation; perturbation is 'none'"
    if perturbation == "momentum":
        if policy != "always":
            return (f"perturb_policy={policy!r} does not apply to perturbation 'momentum': its "
                    "perturbation costs no gradient pass, there is nothing to skip")
        if hp.adaptive is not None or hp.gsam_alpha > 0:
            return ("perturbation 'momentum' takes no adaptive/gsam_alpha: it perturbs along the "
                    "momentum, not along a gradient")
        if hp.perturb_batch_size is not None:
            return (f"perturb_batch_size={hp.perturb_batch_size} does not apply to perturbation "
                    "'momentum': its perturbation is one for the whole batch")
    if policy in ("aesam", "looksam"):
        if perturbation != "ascent":
            return (f"perturb_policy={policy!r} needs perturbation 'ascent': it uses the clean "
                    f"loss gradient, which perturbation {perturbation!r} does not compute")
        if hp.perturb_batch_size is not None:
            return (f"perturb_policy={policy!r} does not work with perturb_batch_size="
                    f"{hp.perturb_batch_size} (m-sharpness): it needs the whole batch's gradient")
    return None


def expected_grad_evals(hp: SAMHParams) -> float | None:
    """Gradient evaluations a step is expected to make on average (forward+backward = 1,
    forward-only = 1/3), None where only the run can tell (AE-SAM decides from the gradients).
    What a run made is what it logs (`grad_evals`); this is the plan.

    Example:
        >>> expected_grad_evals(SAMHParams(perturb_policy="looksam", perturb_every=5))
        1.2
        >>> expected_grad_evals(SAMHParams(perturbation="random")), expected_grad_evals(
        ...     SAMHParams(perturbation="momentum"))
        (1.3333333333333333, 1.0)
    """
    if hp.perturbation in ("none", "momentum"):
        return 1.0
    extra = 1.0 / 3.0 if hp.perturbation == "random" else 1.0  # a perturbing step's extra pass
    share = {"always": 1.0, "every": 1.0 / hp.perturb_every, "looksam": 1.0 / hp.perturb_every,
             "aesam": None}.get(hp.perturb_policy)
    if hp.perturb_policy == "prob":
        share = hp.perturb_prob if hp.perturb_prob_schedule == "constant" else (
            (hp.perturb_prob_start + hp.perturb_prob) / 2)
    return None if share is None else 1.0 + extra * share
