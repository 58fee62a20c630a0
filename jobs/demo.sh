#!/usr/bin/env bash
# The main job, end to end on built-in defaults: install the Debian packages, build,
# generate synthetic top/QCD jets (2 ranks, parallel HDF5), train the DeepTop CNN with
# mpirun -np 2, score the test jets, compute the ROC and plot it to runs/demo/roc.png.
# Usage: bash jobs/demo.sh [JETS]      (default 20000 training jets)
set -euo pipefail
cd "$(dirname "$0")/.."
JETS=${1:-20000}
NP=${NP:-2}
bash .ci/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 >/dev/null
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
MPIRUN="mpirun --oversubscribe -np $NP"
JETCNN=build/jetcnn
mkdir -p runs/demo
$MPIRUN $JETCNN generate --jets "$JETS" --seed 1 --out runs/demo/train.h5
$MPIRUN $JETCNN generate --jets $((JETS / 4)) --seed 2 --out runs/demo/val.h5
$MPIRUN $JETCNN generate --jets $((JETS / 4)) --seed 3 --out runs/demo/test.h5
$MPIRUN $JETCNN train configs/deeptop.cfg --train runs/demo/train.h5 --val runs/demo/val.h5 \
  --out runs/demo/model --force --set epochs=5
$MPIRUN $JETCNN predict runs/demo/model/checkpoint.h5 --data runs/demo/test.h5 --out runs/demo/scores.h5
$JETCNN roc runs/demo/scores.h5 --label "DeepTop CNN" --observable jet_mass --observable tau32 --likelihood \
  --csv runs/demo/roc.csv --json runs/demo/metrics.json
/usr/bin/python3 analysis/plot_roc.py runs/demo/roc.csv --out runs/demo/roc.png
echo "ROC plot: $(pwd)/runs/demo/roc.png (and roc.pdf); metrics: runs/demo/metrics.json"
