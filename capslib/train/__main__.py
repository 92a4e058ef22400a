"""``python -m capslib.train``: train CapsNet or the baseline CNN from the command line.

Examples::

    python -m capslib.train --config small --dataset mnist-sample --epochs 2 --out results/try
    python -m capslib.train --mode full --config paper --dataset mnist --epochs 50 --out results/mnist-paper
    python -m capslib.train --mode full --config paper --dataset mnist --epochs 20 --schedule shipped \\
        --out results/mnist-capsnet                                   # the shipped models' recipe
    python -m capslib.train ... --out results/mnist-paper --resume          # continue after Ctrl-C
    torchrun --nproc_per_node=4 -m capslib.train --mode full --config paper --dataset mnist --out results/ddp

Unset options take the defaults of the mode (``CAPSLIB_MODE`` or ``--mode``):
quick (small subsets, 2 epochs, the small configuration) or full (the paper's).
"""

from __future__ import annotations

import argparse
import os
import sys

from ..cpu_memory import keep_freed_memory
from ..data.sources import DataNotFoundError
from ..precision import DTYPES
from .checkpoint import CheckpointError
from .config import CONFIGS, DATASETS, MODELS, SCHEDULES, VALUE_CHECKS, TrainConfig
from .interrupts import TrainingDiverged, TrainingInterrupted
from .run_folder import RunFolderError
from .trainer import train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m capslib.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add(
        "--model",
        choices=MODELS,
        default="capsnet",
        help="capsnet (default), the paper's baseline CNN, or pooled-cnn (max-pooling, sized to match the CapsNet)",
    )
    add(
        "--config",
        choices=CONFIGS,
        default=None,
        help="model size: paper or small (default: the mode's)",
    )
    add("--dataset", choices=DATASETS, default="mnist-sample")
    add("--epochs", type=int, default=None)
    add(
        "--schedule",
        choices=tuple(SCHEDULES),
        default=None,
        help="a named schedule: shipped = the shipped models' (--batch-size 128 --lr 1e-3 "
        "--lr-decay 0.9 --lr-decay-steps 430 --validation-size 5000 --seed 0); "
        "flags given explicitly override it",
    )
    add("--batch-size", type=int, default=128)
    add("--lr", type=float, default=1e-3, help="initial learning rate (paper: 1e-3)")
    add(
        "--lr-decay",
        type=float,
        default=0.96,
        help="decay factor per --lr-decay-steps (official: 0.96)",
    )
    add("--lr-decay-steps", type=int, default=2000)
    add(
        "--staircase",
        action="store_true",
        help="decay in steps instead of smoothly (official: smooth)",
    )
    add(
        "--routing-iterations",
        type=int,
        default=None,
        help="routing iterations (paper: 3)",
    )
    add(
        "--no-reconstruction",
        action="store_true",
        help="train without the decoder (Table 1 ablation)",
    )
    add(
        "--max-shift",
        type=int,
        default=None,
        help="shift augmentation in px (default 2; 6 for affine)",
    )
    add(
        "--train-size",
        "--max-train",
        dest="train_size",
        type=int,
        default=None,
        help="number of training examples (MultiMNIST: pairs)",
    )
    add("--validation-size", type=int, default=None)
    add("--test-size", type=int, default=None)
    add("--seed", type=int, default=0)
    add(
        "--loss-scale",
        choices=("paper", "official"),
        default="paper",
        help="CapsNet's margin term as in the paper (default) or as the official code (the paper's / 20)",
    )
    add(
        "--init",
        choices=("pytorch", "official"),
        default="pytorch",
        help="CapsNet's initialisation: PyTorch's defaults or the official code's",
    )
    add(
        "--value-checks",
        choices=VALUE_CHECKS,
        default="always",
        help="when the finite-value and label checks run (each a host sync on a GPU): always, epoch-start, off",
    )
    add(
        "--stop-at-val-accuracy",
        type=float,
        default=None,
        help="stop after the first epoch whose validation accuracy reaches this fraction (e.g. 0.992)",
    )
    add(
        "--test-each-epoch",
        action="store_true",
        help="also test each epoch's model, for time to accuracy only (the test set is read once "
        "per epoch; the model is still chosen on validation)",
    )
    add(
        "--dtype",
        choices=DTYPES,
        default="auto",
        help="autocast dtype (auto: bf16 where the CPU or GPU computes it natively, see capslib.precision)",
    )
    add("--compile", action="store_true", help="torch.compile the model")
    add("--device", default=None, help="cpu or cuda (default: cuda if available)")
    add(
        "--mode",
        choices=("quick", "full", "auto"),
        default=None,
        help="override CAPSLIB_MODE",
    )
    add(
        "--out",
        default=None,
        help="output folder, e.g. results/NAME (metrics, checkpoints, summary)",
    )
    add("--resume", action="store_true", help="continue from <out>/checkpoints/last.pt")
    add(
        "--overwrite",
        action="store_true",
        help="delete the run already in --out and start again",
    )
    add(
        "--max-steps",
        type=int,
        default=None,
        help="stop (with a checkpoint) after this many steps",
    )
    add("--log-every", type=int, default=0, help="also log a step record every N steps")
    add("--no-progress", action="store_true", help="no progress bar")
    add(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="deterministic algorithms (default: on a CPU yes, on a GPU no: cuDNN autotuning and TF32 instead)",
    )
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line's options, with a ``--schedule``'s values where no flag overrides them."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.schedule is not None:
        parser.set_defaults(**SCHEDULES[args.schedule])
        args = parser.parse_args(argv)
    return args


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        model=args.model,
        config=args.config,
        dataset=args.dataset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_decay=args.lr_decay,
        lr_decay_steps=args.lr_decay_steps,
        staircase=args.staircase,
        routing_iterations=args.routing_iterations,
        reconstruction=not args.no_reconstruction,
        max_shift=args.max_shift,
        train_size=args.train_size,
        validation_size=args.validation_size,
        test_size=args.test_size,
        seed=args.seed,
        loss_scale=args.loss_scale,
        init=args.init,
        value_checks=args.value_checks,
        stop_at_val_accuracy=args.stop_at_val_accuracy,
        test_each_epoch=args.test_each_epoch,
        dtype=args.dtype,
        compile=args.compile,
        device=args.device,
        mode=args.mode,
        out=args.out,
        max_steps=args.max_steps,
        log_every=args.log_every,
        progress=False if args.no_progress else None,
        deterministic=args.deterministic,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.resume and not args.out:
        print(
            "error: --resume needs --out (the folder of the run to continue)",
            file=sys.stderr,
        )
        return 2
    if (args.device or "cpu").startswith("cpu"):
        keep_freed_memory()  # large CPU tensors reused, not faulted in anew every step (capslib.cpu_memory)
    try:
        result = train(
            config_from_args(args), resume=args.resume, overwrite=args.overwrite
        )
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except (CheckpointError, RunFolderError, DataNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except TrainingInterrupted as err:
        print(f"\n{err}", file=sys.stderr)
        return 130
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    main_process = (
        os.environ.get("RANK", "0") == "0"
    )  # under torchrun, only rank 0 writes the summary
    if result.status == "finished" and result.run_dir is not None and main_process:
        print(f"summary: {result.run_dir / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
