# Sourced by the real-data scripts: parses `[OUT=/tmp/real] [RUN...]`, moves to the repository root and builds
# the splits once (magnetic tiles: test runs exp5-6 in $OUT, exp1-2 in $OUT/f1, exp3-4 in $OUT/f2; MPDD 70/30).
OUT=${1:-/tmp/real}
shift || true
ONLY=" $* "
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -d "$OUT/magnetic_tile" ] || python benchmarks/make_real_splits.py --out "$OUT"
[ -d "$OUT/f1/magnetic_tile" ] || python benchmarks/make_real_splits.py --out "$OUT/f1" --test-runs exp1,exp2
[ -d "$OUT/f2/magnetic_tile" ] || python benchmarks/make_real_splits.py --out "$OUT/f2" --test-runs exp3,exp4
mkdir -p "$OUT/runs"
