#!/usr/bin/env bash
# Line-speed figures on a lent GPU machine, in one call: the CUDA path (CAM over a bare forward at batch 64, and
# video end to end) and the video pipeline on that machine's 16 cores (e2e against its slowest stage).
#
#   bash benchmarks/gpu_bench.sh                 # on the device (PyAV carried as a wheel, below)
#   SMOKE=1 bash benchmarks/gpu_bench.sh         # here, on the CPU: small sizes, checks every step runs
#
# The device has PyTorch, onnxruntime, numpy, Pillow and safetensors but not PyAV. Once, here, in the repo root:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl av==18.1.0
# then run with carry [".whl"] and the command
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site;
#   bash benchmarks/gpu_bench.sh 2>&1 | tee $OUT/bench.log
# About 4 minutes there. Absolute times count on the GPU; ratios are measured within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
if [[ ${SMOKE:-0} == 1 ]]; then
  DEVICE=cpu BATCHES="1 4" REPS=3 SECONDS_OF_VIDEO=2 STAGE_FRAMES=8
else
  DEVICE=cuda BATCHES="1 16 64" REPS=15 SECONDS_OF_VIDEO=10 STAGE_FRAMES=60
fi
echo "== CAM over a bare forward ($DEVICE)"
python benchmarks/bench_cam.py --device "$DEVICE" --batches $BATCHES --classes 2 --reps "$REPS" \
  --archs squeezenet1_1 googlenet
echo "== video end to end ($DEVICE, ${SECONDS_OF_VIDEO} s of 720p)"
python benchmarks/bench_video.py --device "$DEVICE" --seconds "$SECONDS_OF_VIDEO" --stage-frames "$STAGE_FRAMES" \
  --naive-frames "$STAGE_FRAMES"
if [[ $DEVICE == cuda ]]; then
  echo "== video end to end on the CPU ($(nproc) cores, ONNX Runtime)"
  python benchmarks/bench_video.py --device cpu --seconds "$SECONDS_OF_VIDEO"
fi
