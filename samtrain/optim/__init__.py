"""SAM-family optimizers: `SAM` (SAM, ASAM, GSAM, OBF, RandSAM; m-sharpness; DDP) and the OBF loss.

Example:
    >>> from samtrain.optim import SAM
    >>> sam = SAM(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), rho=0.05)  # doctest: +SKIP
    >>> out = sam.backward(model, x, y, loss_fn); sam.step(); sam.zero_grad()  # doctest: +SKIP
"""

from samtrain.optim.obf import OutputBiasForget
from samtrain.optim.sam import SAM, SAMOutput

__all__ = ["SAM", "OutputBiasForget", "SAMOutput"]
