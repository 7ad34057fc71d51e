"""Layer `search`: one trial-config shape (`trial_config`), the method schedule and Optuna
define-by-run sampling (`sampling`), the searcher (`searcher`), per-method ASHA (`scheduler`)."""
