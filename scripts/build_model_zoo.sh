#!/usr/bin/env bash
# Rebuild a shipped FOCUS checkpoint from scratch (issue 5). Usage: scripts/build_model_zoo.sh vnir204|vswir200
# Backbone first (once): python -m napari_focus.zoo.pretrain_backbone --out model/backbone --minutes 35
set -euo pipefail
cd "$(dirname "$0")/.."
S=${1:-vnir204}
N=.venv/bin/napari-focus
$N simulate --task bls --sensor "$S" --n 160 --size 96 --seed 1 --out "runs/bls_${S}_train" --overwrite
$N simulate --task bls --sensor "$S" --n 60 --size 96 --seed 2 --out "runs/bls_${S}_heldout" --overwrite
$N train --data "runs/bls_${S}_train" --out "model/focus_bls_${S}" --backbone-file model/backbone/backbone.json \
  --epochs 8 --seed 0
.venv/bin/python -m napari_focus.zoo.relink_backbone "model/focus_bls_${S}"
.venv/bin/python -m napari_focus.zoo.model_card --model "model/focus_bls_${S}" --train "runs/bls_${S}_train" \
  --heldout "runs/bls_${S}_heldout" --commands scripts/build_model_zoo.sh
