#!/usr/bin/env bash
# `make demo`: the Fashion-MNIST label-noise study end to end on this machine: search on the
# validation split (Ray Tune + Optuna TPE + per-method ASHA; every method, SGD included, tunes
# lr and weight decay with the same trial count; sgd_x2 searches its epochs within SAM's
# compute), confirm (the study's 5 fresh seeds, each drawing the data split and label noise),
# report on the test split (paired permutation tests, one Holm family), the forgetting/sharpness
# analysis; then the README's results section and docs/demo-results.md are regenerated from the
# report files (DEMO_README=0 skips that). `sweep plan` first prints the study's predicted cost
# (benchmarks/RESULTS.md compares it with what the run spent).
set -euo pipefail
cd "$(dirname "$0")/.."
export RAY_USAGE_STATS_ENABLED=0 PYTHONUNBUFFERED=1
SWEEP=.venv/bin/sweep
NAME=${DEMO_NAME:-fashion_demo}
STORAGE=${DEMO_STORAGE:-runs}
URI="sqlite:///$PWD/mlflow.db"
start=$(date +%s)
mkdir -p "$STORAGE"
if [ ! -f "$STORAGE/$NAME.plan.txt" ]; then
  echo "== plan: $SWEEP plan search_spaces/fashion_label_noise.yaml"
  $SWEEP plan search_spaces/fashion_label_noise.yaml --storage "$STORAGE" | tee "$STORAGE/$NAME.plan.txt"
fi
if [ -f "$STORAGE/$NAME/sweep.json" ]; then
  echo "== sweep $NAME exists: resuming any unfinished trials"
  $SWEEP resume "$NAME" --storage "$STORAGE"
else
  echo "== search: $SWEEP run search_spaces/fashion_label_noise.yaml --name $NAME"
  $SWEEP run search_spaces/fashion_label_noise.yaml --name "$NAME" --storage "$STORAGE" \
    --tracking-uri "$URI"
fi
$SWEEP status "$NAME" --storage "$STORAGE"
echo "== confirm: best config of each method x the study's confirm seeds (5)"
$SWEEP confirm "$NAME" --top 1 --storage "$STORAGE"
echo "== report"
$SWEEP report "$NAME" --storage "$STORAGE" --format md
echo "== analyze: does generalization track forgetting or sharpness?"
$SWEEP analyze "$NAME" --storage "$STORAGE"
minutes=$(( ($(date +%s) - start) / 60 ))
if [ "${DEMO_README:-1}" = 1 ]; then
  cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | xargs)
  .venv/bin/python scripts/readme_results.py "$STORAGE/$NAME/report" \
    "$(nproc) cores ($cpu), $(date -u +%Y-%m-%d), make demo took $minutes min"
fi
echo
echo "Demo took $minutes min. Open the runs in the MLflow UI with:"
echo "  .venv/bin/mlflow ui --backend-store-uri $URI --host 127.0.0.1 --port 5000"
