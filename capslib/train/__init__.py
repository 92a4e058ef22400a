"""Training CapsNet and the baseline CNN: the engine behind ``python -m capslib.train``.

* :mod:`capslib.train.trainer`: :func:`train` and the loop (Adam, the official
  learning-rate decay, bf16 autocast, ``torch.compile``, validation each epoch);
* :mod:`capslib.train.config`: :class:`TrainConfig`, its choices and checks;
* :mod:`capslib.train.run_data`: the splits on the device and their fingerprint;
* :mod:`capslib.train.setup`: a run assembled before its first step;
* :mod:`capslib.train.step`: one training step (shared with :mod:`capslib.bench`);
* :mod:`capslib.train.resume`: the checkpoint's state, and the checks before a resume;
* :mod:`capslib.train.summary`: ``summary.json`` and its schema;
* :mod:`capslib.train.run_folder`: one locked run per folder;
* :mod:`capslib.train.interrupts`: Ctrl-C and SIGTERM without lost work;
* :mod:`capslib.train.checkpoint`: atomic checkpoints, loaded with ``weights_only=True``;
* :mod:`capslib.train.metrics`: ``metrics.jsonl`` and :func:`plot_metrics` for notebooks;
* :mod:`capslib.train.distributed`: DistributedDataParallel under ``torchrun``.
"""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .interrupts import TrainingDiverged, TrainingInterrupted
from .metrics import plot_metrics, read_metrics, time_to_accuracy
from .summary import validate_summary
from .trainer import Trainer, TrainResult, train

__all__ = [
    "CheckpointError",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingDiverged",
    "TrainingInterrupted",
    "load_checkpoint",
    "plot_metrics",
    "read_metrics",
    "time_to_accuracy",
    "save_checkpoint",
    "train",
    "validate_summary",
]
