#!/usr/bin/env bash
# The real-data runs of docs/localization.md, one after another (CPU, 2 cores: about 3 hours in all).
# Needs ../shared/data. Builds the splits as symlinks under $OUT (nothing is copied), trains with a fixed
# seed, and writes each model's `evaluate` output (plain and flip-averaged) to $OUT/runs/NAME.eval.
#
#   bash benchmarks/real_ablation.sh [OUT=/tmp/real]          # everything
#   bash benchmarks/real_ablation.sh /tmp/real sq-mt-224-e60  # only the runs whose names are given
set -euo pipefail
source "$(dirname "$0")/real_splits.sh"

run() {  # NAME SPLIT_ROOT DATASET ARCH EPOCHS [train options...]
    local name=$1 root=$2 data=$3 arch=$4 epochs=$5
    shift 5
    if [ "$ONLY" != "  " ] && [[ "$ONLY" != *" $name "* ]]; then return; fi
    local group=()
    [ "$data" = magnetic_tile ] && group=(--group-pattern 'exp\d+')
    local model="$OUT/runs/$name.safetensors"
    local started=$SECONDS
    python -m cam_core train "$root/$data/train" --arch "$arch" --out "$model" --epochs "$epochs" \
        --pretrained none --seed 0 "${group[@]}" "$@" > "$OUT/runs/$name.log" 2>&1
    {
        echo "train_seconds $((SECONDS - started))"
        python -m cam_core evaluate "$root/$data/test" --model "$model"
        echo "=== flip-averaged"
        python -m cam_core evaluate "$root/$data/test" --model "$model" --flip-average
    } > "$OUT/runs/$name.eval" 2>&1
    echo "$name: $(grep -m1 AUROC "$OUT/runs/$name.eval")"
}

# magnetic tiles, test runs exp5-6
run sq-mt-224-e20     "$OUT" magnetic_tile squeezenet1_1 20
run sq-mt-224-e60     "$OUT" magnetic_tile squeezenet1_1 60
run sq-mt-asp224-e60  "$OUT" magnetic_tile squeezenet1_1 60 --resize aspect
run gn-mt-224-e8      "$OUT" magnetic_tile googlenet 8
run gn-mt-224-e40     "$OUT" magnetic_tile googlenet 40
# cross-validation over runs: test runs exp1-2 (f1) and exp3-4 (f2)
run sq-mtf1-224-e60    "$OUT/f1" magnetic_tile squeezenet1_1 60
run sq-mtf1-asp224-e60 "$OUT/f1" magnetic_tile squeezenet1_1 60 --resize aspect
run sq-mtf2-224-e60    "$OUT/f2" magnetic_tile squeezenet1_1 60
run sq-mtf2-asp224-e60 "$OUT/f2" magnetic_tile squeezenet1_1 60 --resize aspect
# MPDD metal plates, 70/30 seed 0
run sq-mpdd-224-e30      "$OUT" mpdd_metal_plate squeezenet1_1 30
run sq-mpdd-224-e100     "$OUT" mpdd_metal_plate squeezenet1_1 100
run gn-mpdd-224-e20      "$OUT" mpdd_metal_plate googlenet 20
run gn-mpdd-224-e40      "$OUT" mpdd_metal_plate googlenet 40
run gn-mpdd-224-e40-s16  "$OUT" mpdd_metal_plate googlenet 40 --map-stride 16
