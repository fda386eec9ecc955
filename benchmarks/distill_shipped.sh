#!/usr/bin/env bash
# Distil SqueezeNet 1.1 and GoogLeNet students from the shipped EfficientNet-Lite0 teacher on synthetic parts.
#
#   bash benchmarks/distill_shipped.sh [WORK_DIR] [STAGE...]      stages: data squeezenet googlenet (default: all)
#
# WORK_DIR (default /tmp/distill) gets the data, the teacher cache, the logs and the students; nothing is
# written into the repository. Each student starts from the former from-scratch model of its architecture
# (git show d84f176:models/<arch>-parts.safetensors: trained on synthetic parts only, 224 px, val accuracy
# 0.765 / 0.845), is trained at the teacher's input size (320 px: a 19×19 map for SqueezeNet, 10×10 for
# GoogLeNet) and stops at its epoch count or after STOP_AFTER seconds (SIGINT: the best epoch so far is kept,
# marked interrupted). Continue a student with INIT_FROM=FILE (default: the former model). Other settings, from the
# environment: PARTS/PARTS_SEED, FRAMES/FRAMES_SEED (data), MIX_PARTS/MIX_FRAMES (mix), EPOCHS, EPOCH_IMAGES,
# STOP_AFTER, FREEZE (auto|none), OUT_NAME (default <arch>-distilled), TEACHER. The runs kept in
# unfinished_runs/ say which settings made them.
#
# Wall times measured on the project's 2-core CPU shared with other jobs (load average 12–22), 3 Dec 2026:
#   data       1600 parts (seed 101, 320 px): about 13 min; 200 conveyor frames (seed 105): 182 s
#   mix        a few seconds (symlinks): mix = 1500 parts + 200 frames, mix-small = 250 parts + 40 frames
#   squeezenet decoding 1700 images about 6 min; the teacher's outputs for the 1530 training images 12 min
#              the first time (then cached in WORK/cache: 0 s); 4 epochs of 240 images, 109–125 s each
#              (2.3–2.6 img/s); 566 s in all with the cache
#   googlenet  teacher for 261 images about 3 min; 3 epochs of 240 images: 513 s, 424 s, 190 s (0.5–1.3 img/s,
#              as the machine's load fell); 1331 s in all
# Where that left the students: README.md, "Distillation".
set -euo pipefail
WORK=${1:-/tmp/distill}
shift || true
STAGES=${*:-data mix squeezenet googlenet}
TEACHER=${TEACHER:-efficientnet_lite0-parts}
STOP_AFTER=${STOP_AFTER:-2400}
EPOCH_IMAGES=${EPOCH_IMAGES:-240}     # a random draw of this many training images per epoch: frequent checkpoints
mkdir -p "$WORK/former" "$WORK/cache"

mix() {  # mix NAME N_PARTS N_FRAMES: class folders of symlinks to the first parts and frames, with a manifest
  python "$(dirname "$0")/merge_synth.py" "$WORK/data/$1" "$WORK/data/parts:$2" "$WORK/data/conveyor=cv_:$3"
}

student() {  # student ARCH DATA EPOCHS
  local arch=$1 data=$2 epochs=$3
  git show "d84f176:models/$arch-parts.safetensors" > "$WORK/former/$arch-former.safetensors"
  local init=${INIT_FROM:-$WORK/former/$arch-former.safetensors} start=$SECONDS
  timeout -s INT "$STOP_AFTER" python -m cam_core train "$WORK/data/$data" --arch "$arch" \
    --init-from "$init" --freeze "${FREEZE:-auto}" --image-size 320 --epochs "$epochs" --batch-size 16 --epoch-images "$EPOCH_IMAGES" \
    --val-fraction 0.1 --seed 3 --teacher "$TEACHER" --teacher-cache "$WORK/cache" \
    --out "$WORK/${OUT_NAME:-$arch-distilled}.safetensors" > "$WORK/$arch.log" 2>&1 || true
  echo "$arch: $((SECONDS - start)) s (log $WORK/$arch.log)"
}

for stage in $STAGES; do
  case $stage in
    data)
      start=$SECONDS
      python -m cam_core synth "$WORK/data/parts" --count "${PARTS:-1600}" --seed "${PARTS_SEED:-101}" --size 320 --kind mixed
      python -m cam_core synth "$WORK/data/conveyor" --count "${FRAMES:-200}" --seed "${FRAMES_SEED:-105}" --kind conveyor
      echo "data: $((SECONDS - start)) s";;
    mix) mix mix "${MIX_PARTS:-1500}" "${MIX_FRAMES:-200}"; mix mix-small 250 40;;
    squeezenet) student squeezenet1_1 mix "${EPOCHS:-4}";;
    googlenet) student googlenet mix-small "${EPOCHS:-3}";;
    *) echo "unknown stage $stage" >&2; exit 2;;
  esac
done
