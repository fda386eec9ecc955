#!/usr/bin/env bash
# The source's two networks and a larger-input default, trained in one call on a lent GPU machine.
#
#   bash benchmarks/gpu_train.sh                                  # on the device: results in $OUT
#   SMOKE=1 OUT=/tmp/gpu-smoke bash benchmarks/gpu_train.sh      # here, on the CPU: tiny sizes, checks every stage
#
# Sized for the device's 15 minutes (an H100 or H200, 16 cores, torch 2.11, no network), all of it in one call
# of about 9 minutes (the machine's start costs 1–2 more):
#   data      PARTS synthetic parts (320 px, mixed plates and nuts) and FRAMES conveyor frames, one synth
#             process per core (JOBS), merged with benchmarks/merge_synth.py
#   students  at once on the one GPU, each stopped by SIGINT after BUDGET seconds (the best epoch so far is
#             kept): SqueezeNet 1.1 and GoogLeNet distilled from the shipped Lite0 (every layer, from the
#             students in unfinished_runs/), and Lite0 at LITE_SIZE px fine-tuned from the shipped model on the
#             labels; with SCRATCH=1 also SqueezeNet 1.1 and GoogLeNet from scratch on the labels alone
#   out       each model with its card; a file over 15 MiB (the trip back takes 16 MiB a file) is split into
#             NAME.part-aa, NAME.part-ab (join with `cat NAME.part-* > NAME`); the logs in logs.tar.gz
# Measured here with SMOKE=1 (24 parts, one epoch, 2-core CPU): 78 s, every stage run; with BUDGET=70 EPOCHS=500 each
# run stopped at its budget with its best epoch kept (86 s in all). Not yet run on a GPU.
# Then, here: `evaluate` each on fresh parts (`synth DIR --count 400 --seed 7 --size 320`) and the shipped-model
# checks (tests/core/test_shipped_models.py) before anything moves to models/.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the folder that comes back}
WORK=${WORK:-/tmp/gpu-train}
JOBS=${JOBS:-$(nproc)}
TEACHER=${TEACHER:-efficientnet_lite0-parts}
LITE_SIZE=${LITE_SIZE:-448}
SQ_INIT=${SQ_INIT:-unfinished_runs/squeezenet1_1-d12.safetensors}   # the students to continue
GN_INIT=${GN_INIT:-unfinished_runs/googlenet-d1.safetensors}
if [[ ${SMOKE:-0} == 1 ]]; then
  PARTS=${PARTS:-24} FRAMES=${FRAMES:-8} EPOCHS=${EPOCHS:-1} BATCH=${BATCH:-8} BUDGET=${BUDGET:-600} DEVICE=${DEVICE:-cpu}
  JOBS=2
else
  PARTS=${PARTS:-8000} FRAMES=${FRAMES:-2000} EPOCHS=${EPOCHS:-200} BATCH=${BATCH:-64} BUDGET=${BUDGET:-330}
  DEVICE=${DEVICE:-cuda}
fi
mkdir -p "$OUT" "$WORK/logs"
export PYTHONUNBUFFERED=1
start=$SECONDS
say() { echo "[$((SECONDS - start)) s] $*"; }

say "data: $PARTS parts + $FRAMES conveyor frames over $JOBS processes"
sources=()
for ((i = 0; i < JOBS; i++)); do
  python -m cam_core synth "$WORK/parts-$i" --count $((PARTS / JOBS)) --seed $((5000 + i)) --size 320 --kind mixed \
    > "$WORK/logs/synth-parts-$i.log" 2>&1 &
  python -m cam_core synth "$WORK/frames-$i" --count $((FRAMES / JOBS > 0 ? FRAMES / JOBS : 1)) --seed $((6000 + i)) \
    --kind conveyor > "$WORK/logs/synth-frames-$i.log" 2>&1 &
  sources+=("$WORK/parts-$i=p${i}_" "$WORK/frames-$i=f${i}_")
  if (( (i + 1) % 8 == 0 )); then wait; fi   # at most 16 synth processes at a time
done
wait
python benchmarks/merge_synth.py "$WORK/data" "${sources[@]}"

train() {  # train NAME ARCH [train options...]: one run in the background, stopped after BUDGET seconds
  local name=$1 arch=$2
  shift 2
  timeout -s INT "$BUDGET" python -m cam_core train "$WORK/data" --arch "$arch" --device "$DEVICE" --image-size 320 \
    --epochs "$EPOCHS" --batch-size "$BATCH" --val-fraction 0.1 --seed 3 --out "$WORK/$name.safetensors" "$@" \
    > "$WORK/logs/$name.log" 2>&1 || true
}
distil=(--teacher "$TEACHER" --teacher-cache "$WORK/cache" --freeze none)
say "students: ${BUDGET} s each, at once on $DEVICE"
train squeezenet1_1-gpu squeezenet1_1 "${distil[@]}" --init-from "$SQ_INIT" --image-size 384 &   # its own input size
train googlenet-gpu googlenet "${distil[@]}" --init-from "$GN_INIT" &
train "efficientnet_lite0-$LITE_SIZE" efficientnet_lite0 --init-from "models/$TEACHER.safetensors" --freeze none \
  --image-size "$LITE_SIZE" &    # the last --image-size wins
if [[ ${SCRATCH:-0} == 1 ]]; then
  train squeezenet1_1-scratch squeezenet1_1 --pretrained none &
  train googlenet-scratch googlenet --pretrained none &
fi
wait
say "students done"

shopt -s nullglob
models=("$WORK"/*.safetensors)
(( ${#models[@]} )) || say "no run finished an epoch: no model to bring back (see the logs)"
for model in "${models[@]}"; do
  name=$(basename "$model" .safetensors)
  if (( $(stat -c %s "$model") > 15 * 1024 * 1024 )); then
    split -b 15m "$model" "$OUT/$name.safetensors.part-"
  else
    cp "$model" "$OUT/"
  fi
done
cards=()
for card in "$WORK"/*.json; do cards+=("$(basename "$card")"); done
tar -czf "$OUT/cards-and-logs.tar.gz" -C "$WORK" logs "${cards[@]}"
ls -la "$OUT"
say "done"
