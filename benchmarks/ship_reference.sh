#!/usr/bin/env bash
# Rebuilds the shipped model's domain reference from fresh synthetic parts of the kinds it was trained on
# (plates and hex nuts at 320 px, and conveyor frames; see its card's "stages"), then measures it.
# Usage: bash benchmarks/ship_reference.sh [WORK_DIR]   (about 15 min on the 2-core CPU)
set -euo pipefail
work=${1:-/tmp/ship-reference}
model=efficientnet_lite0-parts
python -m cam_core synth "$work/ref/parts" --count 900 --seed 301 --kind mixed --size 320
python -m cam_core synth "$work/ref/frames" --count 240 --seed 305 --kind conveyor
python -m cam_core reference "$model" "$work/ref" --describe "fresh synthetic parts: synth --kind mixed --count 900 \
--seed 301 --size 320 and synth --kind conveyor --count 240 --seed 305 (benchmarks/ship_reference.sh)"
python -m cam_core synth "$work/test/parts" --count 300 --seed 103 --kind mixed
python -m cam_core synth "$work/test/frames" --count 60 --seed 107 --kind conveyor
python benchmarks/domain_check.py --model "$model" --in-domain "$work/test" --limit 400 \
    --foreign tiles=../shared/data/magnetic_tile --foreign plates=../shared/data/mpdd_metal_plate
