#!/usr/bin/env bash
# The fixed protocol of issue 16 for comparing taggers: 100,000 training jets from
# `jetcnn generate` (seed 1), 20,000 test jets (seed 3), 10 epochs, 3 training seeds per
# config; each config's three score files through `jetcnn roc --ensemble` (mean +- std of AUC
# and 1/eps_B at eps_S = 0.3 over the seeds). Results in runs/compare/CONFIG.roc.txt.
# Usage: bash jobs/compare_taggers.sh [CONFIG.cfg ...]   (default configs/resnet.cfg configs/deeptop.cfg)
# Needs a build in build/ (or JETCNN=path). OMP_NUM_THREADS (default 2) threads, one rank; the
# numbers do not depend on either (the weights are the same bits for any number of ranks and
# threads). OUT=dir changes runs/compare.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIGS=("$@")
[ ${#CONFIGS[@]} -eq 0 ] && CONFIGS=(configs/resnet.cfg configs/deeptop.cfg)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
JETCNN=${JETCNN:-build/jetcnn}
OUT=${OUT:-runs/compare}
mkdir -p "$OUT"
[ -f "$OUT/train.h5" ] || $JETCNN generate --jets 100000 --seed 1 --out "$OUT/train.h5"
[ -f "$OUT/test.h5" ] || $JETCNN generate --jets 20000 --seed 3 --out "$OUT/test.h5"
for cfg in "${CONFIGS[@]}"; do
  name=$(basename "$cfg" .cfg)
  scores=()
  for seed in 1 2 3; do
    run="$OUT/$name-seed$seed"
    $JETCNN train "$cfg" --train "$OUT/train.h5" --out "$run" --force --set epochs=10 --set seed=$seed \
      > "$run.log" 2>&1
    $JETCNN predict "$run/checkpoint.h5" --data "$OUT/test.h5" --out "$run.scores.h5" >> "$run.log"
    scores+=("$run.scores.h5")
  done
  $JETCNN roc "${scores[@]}" --ensemble --label "$name seed 1" --label "$name seed 2" --label "$name seed 3" \
    --json "$OUT/$name.roc.json" | tee "$OUT/$name.roc.txt"
done
