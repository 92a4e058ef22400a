"""Chapter 10's rules, stated once, and the measurements they judge.

* :mod:`capsbook.robustness.verdicts`: the affine, MultiMNIST and segmentation
  verdicts from run summaries and measurements, and where each run comes from;
* :mod:`capsbook.robustness.face_seeds`: chapter 2's scrambled faces, a CapsNet
  and a CNN retrained on each of many seeds, and the rule over the seeds.

The names of :mod:`~capsbook.robustness.verdicts` are importable from here.
"""

from . import face_seeds
from .verdicts import (
    AFFINE_CLAIM,
    AFFINE_FLOOR,
    COMMON_FLAGS,
    MULTIMNIST_CAPSNET_RUNS,
    MULTIMNIST_CLAIM,
    MULTIMNIST_CNN_COMMAND,
    TRAINING_KEYS,
    LateImprovement,
    Verdict,
    affine_verdict,
    closer_own_rate,
    difference_standard_error,
    late_improvement,
    multimnist_compared_run,
    multimnist_verdict,
    paired_difference,
    provenance_table,
    run_state,
    segmentation_verdict,
    template_reconstructions,
    train_command,
    trained_verdicts,
    training_state,
    verdict_sentence,
)

__all__ = [
    "face_seeds",
    "AFFINE_CLAIM",
    "AFFINE_FLOOR",
    "COMMON_FLAGS",
    "MULTIMNIST_CAPSNET_RUNS",
    "MULTIMNIST_CLAIM",
    "MULTIMNIST_CNN_COMMAND",
    "TRAINING_KEYS",
    "affine_verdict",
    "closer_own_rate",
    "difference_standard_error",
    "late_improvement",
    "LateImprovement",
    "multimnist_compared_run",
    "multimnist_verdict",
    "paired_difference",
    "provenance_table",
    "run_state",
    "segmentation_verdict",
    "template_reconstructions",
    "train_command",
    "trained_verdicts",
    "training_state",
    "verdict_sentence",
    "Verdict",
]
