"""sweeps: the sweep launcher (search spaces, Ray Tune + Optuna, MLflow tracking, reports, CLI)."""
