"""What a run is asked to do, checked before anything runs: `TrainConfig` and its rules.

`train_config` (the one typed config, from YAML to MLflow params to `SAM(...)` arguments),
`sam_schema` (the SAM-family hyperparameters and their rules, which `TrainConfig` inherits),
`eval_set_spec` (shifted test sets), `registry` (built-in names and import strings of models,
datasets and losses), `strict_yaml`, `error_messages` (pydantic's errors as one line) and
`suggest` (did you mean). Torch-free; it imports only `samtrain.errors` below it.

Example:
    >>> from samtrain.config.train_config import TrainConfig
    >>> TrainConfig(rho=0.05).rho
    0.05
"""
