#!/usr/bin/env bash
# Rebuilds a shipped model's domain reference from fresh synthetic parts of the kinds it was trained on
# (plates and hex nuts at 320 px, and conveyor frames; see its card's "stages"), then measures it.
# Usage: [MODEL=squeezenet1_1-parts] bash benchmarks/ship_reference.sh [WORK_DIR]   (about 15 min on the 2-core
# CPU; default MODEL efficientnet_lite0-parts; the parts are drawn again only when WORK_DIR lacks them)
set -euo pipefail
work=${1:-/tmp/ship-reference}
model=${MODEL:-efficientnet_lite0-parts}
[ -f "$work/ref/parts/manifest.csv" ] || python -m cam_core synth "$work/ref/parts" --count 900 --seed 301 --kind mixed --size 320
[ -f "$work/ref/frames/manifest.csv" ] || python -m cam_core synth "$work/ref/frames" --count 240 --seed 305 --kind conveyor
python -m cam_core reference "$model" "$work/ref" --describe "fresh synthetic parts: synth --kind mixed --count 900 \
--seed 301 --size 320 and synth --kind conveyor --count 240 --seed 305 (benchmarks/ship_reference.sh)"
[ -f "$work/test/parts/manifest.csv" ] || python -m cam_core synth "$work/test/parts" --count 300 --seed 103 --kind mixed
[ -f "$work/test/frames/manifest.csv" ] || python -m cam_core synth "$work/test/frames" --count 60 --seed 107 --kind conveyor
python benchmarks/domain_check.py --model "$model" --in-domain "$work/test" --limit 400 \
    --foreign tiles=../shared/data/magnetic_tile --foreign plates=../shared/data/mpdd_metal_plate
