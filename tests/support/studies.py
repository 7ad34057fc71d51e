"""Study files shared by tests of several layers."""

# SGD against SAM searching rho: the smallest study with a searched and an unsearched method
SGD_VS_SAM = """name: s
budget: 3
methods:
  sgd: {fixed: {perturbation: none}}
  sam:
    fixed: {perturbation: ascent}
    space: {rho: {loguniform: [0.01, 0.2]}}
"""
