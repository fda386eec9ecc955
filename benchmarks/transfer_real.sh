#!/usr/bin/env bash
# Lite0 transfer on the real data sets with the default recipe (`train DIR` with no training options), then
# `evaluate` on held-out parts. Needs ../shared/data; splits are symlinks under $OUT (nothing is copied).
# Magnetic tiles: three folds over acquisition runs (test exp5-6, exp1-2, exp3-4; validation inside
# training grouped by run too). MPDD: the 70/30 split of docs/localization.md.
#
#   bash benchmarks/transfer_real.sh [OUT=/tmp/real] [RUN...]      # RUN: lite0-mt-f0 lite0-mt-f1 lite0-mt-f2 lite0-mpdd
set -euo pipefail
source "$(dirname "$0")/real_splits.sh"

run() {  # NAME SPLIT_ROOT DATASET [train options...]
    local name=$1 root=$2 data=$3
    shift 3
    if [ "$ONLY" != "  " ] && [[ "$ONLY" != *" $name "* ]]; then return; fi
    local model="$OUT/runs/$name.safetensors" started=$SECONDS
    python -m cam_core train "$root/$data/train" --out "$model" "$@" > "$OUT/runs/$name.log" 2>&1
    {
        echo "train_seconds $((SECONDS - started))"
        python -m cam_core evaluate "$root/$data/test" --model "$model"
    } > "$OUT/runs/$name.eval" 2>&1
    echo "$name: $(grep -m1 AUROC "$OUT/runs/$name.eval") ($(head -1 "$OUT/runs/$name.eval"))"
}

run lite0-mt-f0 "$OUT" magnetic_tile --group-pattern 'exp\d+'
run lite0-mpdd  "$OUT" mpdd_metal_plate
run lite0-mt-f1 "$OUT/f1" magnetic_tile --group-pattern 'exp\d+'
run lite0-mt-f2 "$OUT/f2" magnetic_tile --group-pattern 'exp\d+'
