"""Layer `store`: what survives a crash. A sweep on disk (`sweep_dir`), the tracking URI
(`tracking_uri`), the MLflow schema incl. `RunRecord` (`schema`) and a run's `phase`, its
`writer`, MLflow's runs read back as records (`mlflow_records`), the delivery journal (`outbox`)
and a sweep opened for a command, undelivered records sent first (`sweep_access`)."""
