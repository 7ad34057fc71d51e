"""waveforms: a researcher's own problem for samsweep, outside samsweep.

Noisy 1-D waveforms (sine, square, triangle, sawtooth) to classify (`waveforms.data:build`), a
small 1-D CNN (`waveforms.nets:build`) and the generalized cross-entropy, a loss robust to label
noise (`waveforms.losses:make`). samsweep knows them only by these import strings
(`../study.yaml`); nothing here imports samsweep.
"""
