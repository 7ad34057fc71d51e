"""SAM-family optimizers: `SAM` (SAM, ASAM, GSAM, OBF, RandSAM, Momentum-SAM; SAM on some steps:
every k, random, AE-SAM, LookSAM; m-sharpness; DDP), the OBF loss, and what each step cost.

Example:
    >>> import torch
    >>> from samtrain.optim import SAM
    >>> model, x, y = torch.nn.Linear(4, 3), torch.randn(8, 4), torch.randint(0, 3, (8,))
    >>> sam = SAM(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), rho=0.05)
    >>> out = sam.backward(model, x, y, torch.nn.functional.cross_entropy)
    >>> sam.step(); sam.zero_grad()
    >>> bool(out.perturb_loss >= out.loss)
    True
"""

from samtrain.optim.obf import OutputBiasForget
from samtrain.optim.passes import FORWARD_ONLY
from samtrain.optim.sam import SAM, SAMOutput, StepCost

__all__ = ["FORWARD_ONLY", "SAM", "OutputBiasForget", "SAMOutput", "StepCost"]
