#!/usr/bin/env bash
# The exact commands that remake the trained models shipped in capslib.pretrained (issue 18).
#
#   bash scripts/train_shipped_models.sh mnist        # CapsNet, paper size, complete MNIST (~3 h on 2 shared CPU cores)
#   bash scripts/train_shipped_models.sh multimnist   # small CapsNet, MultiMNIST, per-digit reconstructions (~95 min)
#   bash scripts/train_shipped_models.sh multimnist-cnn  # its parameter-matched max-pooling CNN (results only)
#   bash scripts/train_shipped_models.sh multimnist-bf16 # the same CapsNet in bf16, the CNN's dtype (results only)
#   bash scripts/train_shipped_models.sh affine       # small CapsNet and a matched max-pooling CNN, 40x40 -> affine
#   bash scripts/train_shipped_models.sh fashion      # small CapsNet and a matched CNN, complete Fashion-MNIST
#   bash scripts/train_shipped_models.sh parity       # float32 against bf16, same seed: small 3 epochs, paper 1
#                                                     # (its halves: parity-small, parity-paper)
#   bash scripts/train_shipped_models.sh time-to-accuracy  # wall time to 99.0/99.5% test (issue 22): small, then paper
#                                                     # (its halves: time-small, time-paper; results only)
#   bash scripts/train_shipped_models.sh export       # float16 weights + SHA256 + summary into capslib/pretrained/
#   bash scripts/train_shipped_models.sh all          # all of the above, in this order
#
# Every run is resumable: run the same stage again after an interruption and it continues from its last
# checkpoint (a finished run is skipped). Results go to results/<run>/ (summary.json, metrics.jsonl,
# curves.png; checkpoints/ is git-ignored). Needs the complete MNIST: set CAPSLIB_DATA to the folder that
# holds mnist/ (on the course machines: ../shared/data). Times above: measured on the course's 2-core CPU
# (Intel Xeon, AVX-512), see each summary.json for the real wall time.
#
# Choices (the paper gives no epoch counts for these; the CPU budget decides them: MultiMNIST 15 epochs
# of fresh pairs, the affine pair at most 15 epochs each; the learning-rate schedule is per step, so a run
# whose --epochs changed at a resume is the run it would have been with that --epochs from the start):
#   * learning rate 1e-3 decayed by 0.9 per epoch (430 steps of 128 = one epoch of 55,000 digits), as
#     XifengGuo's CapsNet-Keras does, instead of the official 0.96 per 2,000 steps, which would barely
#     decay in a run this short;
#   * a validation split of 5,000 training digits chooses the model; the test set is used once, at the end;
#   * affine: both networks stop at the first epoch whose accuracy on the shifted validation digits reaches
#     AFFINE_TARGET, 99.0% (the paper's CapsNet reached 99.23% test accuracy on expanded MNIST); if the
#     CapsNet never reaches it, the CNN's target is the CapsNet's best, so that they are compared at matched
#     validation accuracy (chapter 10 then reads "not tested at the paper's operating point");
#   * --dtype auto: bf16 autocast where the CPU has native bf16 (AVX512_BF16 or AMX), float32 elsewhere
#     (capslib.precision); each summary records the dtype and why. The parity stage checks that bf16
#     trains as well as float32 (same seed, same schedule); its runs are results only.
#   * fashion: the small CapsNet (it fits the 40 MB of shipped weights beside the other two models) and a
#     max-pooling CNN matched to its parameter count, 20 epochs each, on the complete Fashion-MNIST
#     (Debian: apt-get install dataset-fashion-mnist; CAPSLIB_DATA or /usr/share/datasets/fashion-mnist).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python}
: "${CAPSLIB_DATA:?set CAPSLIB_DATA to the folder holding mnist/ (the complete MNIST), e.g. ../shared/data}"
export CAPSLIB_DATA
AFFINE_TARGET=${AFFINE_TARGET:-0.99}
COMMON=(--mode full --device cpu --batch-size 128 --lr 1e-3 --lr-decay 0.9 --lr-decay-steps 430
        --validation-size 5000 --seed 0 --no-progress)

run() {  # run NAME ARGS...: train into results/NAME unless it finished; resume when a checkpoint exists
  local name=$1; shift
  local out=results/$name
  if [ -f "$out/summary.json" ]; then echo "== $name: finished already ($out/summary.json)"; return; fi
  local resume=()
  [ -f "$out/checkpoints/last.pt" ] || [ -f "$out/checkpoints/last.prev.pt" ] && resume=(--resume)
  local dtype=(--dtype "${DTYPE:-auto}")
  echo "== $name: $PYTHON -m capslib.train ${COMMON[*]} ${dtype[*]} $* --out $out ${resume[*]}"
  "$PYTHON" -m capslib.train "${COMMON[@]}" "${dtype[@]}" "$@" --out "$out" "${resume[@]}"
  "$PYTHON" -c "import sys; from capslib.train import plot_metrics; plot_metrics(sys.argv[1]).savefig(sys.argv[1] + '/curves.png', dpi=110)" "$out"
}

stage_mnist() {
  run mnist-capsnet --model capsnet --config paper --dataset mnist --epochs 20
}

stage_multimnist() {
  run multimnist-capsnet --model capsnet --config small --dataset multimnist --epochs 15
}

# The CNN baseline of chapter 10: a max-pooling CNN matched to the MultiMNIST CapsNet's parameter
# count, the same pairs, schedule and epochs (results only).
stage_multimnist_cnn() {
  run multimnist-cnn --model pooled-cnn --config small --dataset multimnist --epochs 15
}

# The CNN above ran under bf16 autocast (an AMD EPYC with AVX512_BF16), the shipped CapsNet in float32
# (an Intel Xeon): this run is the CapsNet again, same pairs, schedule and epochs, in the CNN's dtype, so
# that chapter 10 compares the two networks with nothing else changed (results only, not shipped).
stage_multimnist_bf16() {
  DTYPE=bfloat16 run multimnist-capsnet-bf16 --model capsnet --config small --dataset multimnist --epochs 15
}

stage_affine() {
  run affine-capsnet --model capsnet --config small --dataset affine --epochs 15 --stop-at-val-accuracy "$AFFINE_TARGET"
  local target
  target=$("$PYTHON" -c "import json, sys; s = json.load(open('results/affine-capsnet/summary.json')); print(min(float(sys.argv[1]), s['best_val_accuracy']))" "$AFFINE_TARGET")
  run affine-cnn --model pooled-cnn --config small --dataset affine --epochs 15 --stop-at-val-accuracy "$target"
}

stage_fashion() {
  run fashion-capsnet --model capsnet --config small --dataset fashion-mnist --epochs 20
  run fashion-cnn --model pooled-cnn --config small --dataset fashion-mnist --epochs 20
}

# The same runs in float32 and in bf16 autocast: same seed, data and schedule.
stage_parity_small() {
  local dtype
  for dtype in float32 bfloat16; do
    DTYPE=$dtype run "parity-small-$dtype" --model capsnet --config small --dataset mnist --epochs 3
  done
}

stage_parity_paper() {
  local dtype
  for dtype in float32 bfloat16; do
    DTYPE=$dtype run "parity-paper-$dtype" --model capsnet --config paper --dataset mnist --epochs 1
  done
}

# Time to accuracy (issue 22): the shipped schedule with --dtype auto, and the test set read after every
# epoch (--test-each-epoch) so that the first epoch at 99.0% and at 99.5% test accuracy can be timed;
# the model is still chosen on validation. Results only, not shipped.
stage_time_small() {
  run time-small-capsnet --model capsnet --config small --dataset mnist --epochs 15 --test-each-epoch
}

stage_time_paper() {
  run time-paper-capsnet --model capsnet --config paper --dataset mnist --epochs 20 --test-each-epoch
}

stage_export() {
  "$PYTHON" -m capslib.pretrained export mnist-capsnet results/mnist-capsnet \
    --command "bash scripts/train_shipped_models.sh mnist"
  "$PYTHON" -m capslib.pretrained export multimnist-capsnet results/multimnist-capsnet \
    --command "bash scripts/train_shipped_models.sh multimnist"
  "$PYTHON" -m capslib.pretrained export fashion-capsnet results/fashion-capsnet \
    --command "bash scripts/train_shipped_models.sh fashion"
}

case "${1:-}" in
  mnist) stage_mnist ;;
  multimnist) stage_multimnist ;;
  multimnist-cnn) stage_multimnist_cnn ;;
  multimnist-bf16) stage_multimnist_bf16 ;;
  affine) stage_affine ;;
  time-small) stage_time_small ;;
  time-paper) stage_time_paper ;;
  time-to-accuracy) stage_time_small; stage_time_paper ;;
  fashion) stage_fashion ;;
  parity) stage_parity_small; stage_parity_paper ;;
  parity-small) stage_parity_small ;;
  parity-paper) stage_parity_paper ;;
  export) stage_export ;;
  all) stage_mnist; stage_multimnist; stage_multimnist_cnn; stage_affine; stage_fashion; stage_parity_small; stage_parity_paper; stage_export ;;
  *) echo "usage: $0 mnist|multimnist|multimnist-cnn|multimnist-bf16|affine|time-to-accuracy|time-small|time-paper|fashion|parity|parity-small|parity-paper|export|all" >&2; exit 2 ;;
esac
