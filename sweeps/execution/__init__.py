"""Layer `execution`: Ray and trial resources (`ray_cluster`, `resources`), the Tune runs
(`runner`), one trial (`trainable`, `trial_context`), Tune events -> MLflow (`mlflow_callback`),
crash reconciliation (`orphans`) the confirm phase (`confirm`) and `sweep train` (`train_command`)."""
