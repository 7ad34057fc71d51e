"""`SAMHParams`: the SAM-family hyperparameters and their rules, written once.

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

Perturbation = Literal["none", "ascent", "obf", "random"]
Adaptive = Literal["before", "after", "both"]


class SAMHParams(BaseModel):
    """SAM (Foret et al. 2021), ASAM (Kwon et al. 2021), GSAM (Zhuang et al. 2022), OBF (Vani et
    al. 2024) and RandSAM settings; `perturbation="none"` means plain SGD/AdamW."""

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

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The hyperparameter names, in declaration order (`SAM`'s keyword arguments)."""
        return tuple(SAMHParams.model_fields)
