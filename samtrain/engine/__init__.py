"""The run: build it, resume it, train and score it epoch by epoch, checkpoint and report it.

`loop` (read top to bottom: build, resume, epochs), `epoch` (one epoch's training and scoring),
`run_setup` (model, data, optimizer and schedule of a run), `loaders`, `schedule`, `checkpoint`,
`status` (a run's final status words), `shift_eval` (shifted test sets), `preflight` (a run's
components built and tried on two examples before anything starts), `worker_context` (where the
loop runs) and `ray_train` (the Ray Train adapter, the only module that imports `ray.train`).

Example:
    >>> from samtrain.config.train_config import TrainConfig
    >>> from samtrain.engine.loop import run_training
    >>> from samtrain.engine.worker_context import LocalContext
    >>> run_training(TrainConfig(dataset="digits", epochs=1, train_subset=200), LocalContext())["status"]
    'completed'
"""
