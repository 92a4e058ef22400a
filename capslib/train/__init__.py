"""Training CapsNet and the baseline CNN: the engine behind ``python -m capslib.train``.

* :mod:`capslib.train.trainer`: :class:`TrainConfig`, :func:`train` (Adam, the
  official learning-rate decay, bf16 autocast, ``torch.compile``, validation
  each epoch, ``summary.json``);
* :mod:`capslib.train.checkpoint`: atomic checkpoints, loaded with ``weights_only=True``;
* :mod:`capslib.train.metrics`: ``metrics.jsonl`` and :func:`plot_metrics` for notebooks;
* :mod:`capslib.train.distributed`: DistributedDataParallel under ``torchrun``.
"""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .metrics import plot_metrics, read_metrics
from .trainer import (
    TrainConfig,
    Trainer,
    TrainingInterrupted,
    TrainResult,
    train,
    validate_summary,
)

__all__ = [
    "CheckpointError",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingInterrupted",
    "load_checkpoint",
    "plot_metrics",
    "read_metrics",
    "save_checkpoint",
    "train",
    "validate_summary",
]
