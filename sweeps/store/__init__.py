"""Layer `store`: what survives a crash. A sweep on disk (`sweep_dir`), the tracking URI
(`tracking_uri`), the MLflow schema incl. `RunRecord` (`schema`), its `writer`, `reader`,
the delivery journal (`outbox`) and a sweep's records as the commands read them (`records`)."""
