#!/usr/bin/env python3
"""Train the small CapsNet with the paper's reconstruction loss, the mistaken mean and none, at several seeds; measure them.

Chapter 6 asks what the reconstruction loss does, and what the common mistake
(0.0005 times the *mean* squared error, 784 times weaker on MNIST) does to it.
This script trains the small CapsNet on the complete MNIST with the shipped
schedule (scripts/train_shipped_models.sh: batch 128, Adam at 1e-3 decayed by
0.9 per 430 steps, 5,000 validation digits, --dtype auto), identical but for
the reconstruction term, the three *arms*:

* ``sum``: the paper's, 0.0005 x the sum of squared errors;
* ``mean``: the mistake (``capsbook.loss_experiments.MeanReconstructionTrainer``);
* ``none``: no decoder, the margin loss alone;

each once per seed of ``--seeds`` (default 0,1,2: the chapter's rules decide
nothing about an arm with fewer than 3), into ``results/losses-<arm>`` for
seed 0 and ``results/losses-<arm>-seed<k>`` for seed k
(``capsbook.loss_experiments.seeds.run_folder``).  A seed changes the initial
weights, the batches and the validation split.

Chapter 6's floor (each class's mean training digit) is added to the record
afterwards by ``python -m capsbook.loss_experiments.floor``; the script says so.

Every run is resumable: run the same command again after an interruption and
each run continues from its last checkpoint (a finished run is skipped; a
larger ``--epochs`` extends finished runs).  Then, on all 10,000 test digits, it
measures each network's test errors, the reconstruction error of each decoder
per digit against drawing the mean training digit, what a linear probe reads of
each digit's ink, width, height and slant from its capsule
(``capsbook.loss_experiments``), how far each decoder's weights moved, where
Adam's epsilon matters, and the reconstruction's share of the gradient in the
shared layers, and writes them per run, with each arm's mean and between-seed
standard error (``capsbook.loss_experiments.seeds.summarise``) and the
provenance, to
``results/reconstruction-losses.json``, which chapter 6 reads.  The chapter
compares two arms seed by seed, from the per-run entries
(``capsbook.loss_experiments.seeds.paired_compare``).  Checkpoints
stay in ``results/losses-*/checkpoints/`` (git-ignored); the measurement needs
them.  ``--results`` measures (or trains) the runs of another folder.

Usage (from the repository root; CAPSLIB_DATA: the folder holding mnist/)::

    CAPSLIB_DATA=../shared/data python scripts/measure_reconstruction_losses.py
    CAPSLIB_DATA=../shared/data python scripts/measure_reconstruction_losses.py \
        --seeds 0,1,2,3

Time: nine runs (three arms, three seeds) of ``--epochs`` epochs of 430 steps
each, then the measurement.  With the default 2 epochs in bf16 (--dtype auto
chooses bf16 where the CPU has native bf16) one run took 6 to 45 minutes on the
course's shared 2-core CPU (the record's ``train_wall_s``), so the nine take 2
to 4 hours; measuring them about 10 minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from capsbook.loss_experiments import (  # noqa: E402
    COMMAND,
    QUANTITIES,
    RESULT,
    VARIANTS,
    adam_below_eps,
    encode_pictures,
    gradient_shares,
    paired_difference,
    probe_appearance,
    relative_change,
    squared_errors,
    trainer_for,
)
from capsbook.loss_experiments.seeds import (  # noqa: E402
    parse_seeds,
    run_folder,
    run_key,
    summarise,
)
from capsbook.provenance import provenance  # noqa: E402
from capslib.precision import DTYPES  # noqa: E402
from capslib.train import TrainConfig, TrainingInterrupted, plot_metrics  # noqa: E402
from capslib.train.checkpoint import load_checkpoint, load_state  # noqa: E402

#: The baseline decoder: the same picture, whatever the input.
BASELINE = "mean training digit"


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[1:]),
    )
    add = parser.add_argument
    add("--epochs", type=int, default=2, help="epochs of each run (default 2)")
    add("--results", type=Path, default=REPO / "results", help="where the runs go")
    add("--out", type=Path, default=RESULT, help="the measurement's JSON file")
    add("--dataset", choices=("mnist", "mnist-sample"), default="mnist")
    add("--config", choices=("small", "tiny"), default="small")
    add("--batch-size", type=int, default=128)
    add("--lr", type=float, default=1e-3)
    add("--lr-decay", type=float, default=0.9)
    add("--lr-decay-steps", type=int, default=430)
    add("--validation-size", type=int, default=5000)
    add("--train-size", type=int, default=None, help="default: all")
    add("--test-size", type=int, default=None, help="default: all 10,000")
    add("--seeds", type=parse_seeds, default=[0, 1, 2], help="default 0,1,2")
    add("--dtype", choices=DTYPES, default="auto")
    add("--device", default="cpu")
    add("--splits", type=int, default=10, help="the probe's random halvings")
    add("--gradient-digits", type=int, default=500)
    add("--pictures", type=int, default=8, help="reconstructions kept to show")
    add(
        "--max-steps",
        type=int,
        default=None,
        help="stop each run after this many steps in all (simulates an interruption)",
    )
    return parser.parse_args(argv)


def runs_of(args) -> dict[str, tuple[str, int, str]]:
    """``{key: (variant, seed, run folder name)}`` of the runs to train and measure,
    seed by seed (:func:`capsbook.loss_experiments.seeds.run_key`, ``run_folder``)."""
    return {
        run_key(v, seed): (v, seed, run_folder(v, seed))
        for seed in args.seeds
        for v in VARIANTS
    }


def base_config(args, seed: int) -> TrainConfig:
    return TrainConfig(
        mode="full",
        model="capsnet",
        config=args.config,
        dataset=args.dataset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_decay=args.lr_decay,
        lr_decay_steps=args.lr_decay_steps,
        validation_size=args.validation_size,
        train_size=args.train_size,
        test_size=args.test_size,
        seed=seed,
        dtype=args.dtype,
        device=args.device,
        progress=False,
        max_steps=args.max_steps,
    )


def train(key, variant, config, folder: Path) -> dict | None:
    """Train (or resume, or skip) one run; its summary, or ``None`` when it stopped early."""
    summary_path = folder / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        if summary["epochs"] == config.epochs:
            print(
                f"== {key}: finished already ({folder.name}/summary.json)", flush=True
            )
            return summary
        if summary["epochs"] > config.epochs:
            raise SystemExit(
                f"{folder.name} was trained for {summary['epochs']} epochs, more than "
                f"--epochs {config.epochs}: run with --epochs {summary['epochs']}"
            )
    checkpoints = folder / "checkpoints"
    resume = any((checkpoints / n).is_file() for n in ("last.pt", "last.prev.pt"))
    print(
        f"== {key}: {VARIANTS[variant]}, seed {config.seed}, into {folder.name}"
        + (" (resuming)" if resume else ""),
        flush=True,
    )
    trainer = trainer_for(variant, dataclasses.replace(config, out=str(folder)))
    result = trainer.run(resume=resume)
    if result.status != "finished":
        return None
    plot_metrics(folder).savefig(folder / "curves.png", dpi=110)
    return result.summary


@torch.no_grad()
def outputs(model, images, batch_size=500):
    """``(lengths, poses, reconstructions)`` of ``images``, in evaluation mode (the
    decoder draws from the longest capsule); reconstructions ``None`` without one."""
    model.eval()
    lengths, poses, pictures = [], [], []
    for batch in images.split(batch_size):
        out = model(batch)
        lengths.append(out.lengths.float().cpu())
        poses.append(out.poses.float().cpu())
        if out.reconstructions is not None:
            pictures.append(out.reconstructions.float().cpu())
    return (
        torch.cat(lengths),
        torch.cat(poses),
        torch.cat(pictures) if pictures else None,
    )


def tested_model(key, variant, config, folder: Path):
    """``(initial decoder-and-all state, the tested model, its trainer)``: the model
    the run tested (``best.pt``, chosen on validation) and its seeded start."""
    trainer = trainer_for(variant, config, verbose=False)
    trainer.setup()  # seeds and builds the model as the run did, before its first step
    initial = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
    best = folder / "checkpoints" / "best.pt"
    fix = (
        f"Fix: the measurement needs the trained weights; train {folder.name} again "
        "(delete the folder and rerun this script)."
    )
    state = load_state(best, required=("model",), what="best model", fix=fix)
    trainer.model.load_state_dict(state["model"])
    trainer.model.eval()
    return initial, trainer.model, trainer


def measure(args, runs, summaries) -> dict:
    device = torch.device(args.device)
    record_runs, errors, poses, pictures = {}, {}, {}, {}
    movement, adam, shares = {}, {}, {}
    images = labels = baseline = None
    for key, (variant, seed, name) in runs.items():
        folder = args.results / name
        config = dataclasses.replace(base_config(args, seed), max_steps=None)
        initial, model, trainer = tested_model(key, variant, config, folder)
        if images is None:  # the test digits (the same for every run) and the baseline
            images = trainer.data.test.images.float().cpu()
            labels = trainer.data.test.labels.cpu()
            mean_digit = trainer.data.train.images.float().mean(0).cpu()
            baseline = squared_errors(mean_digit, images)
            pictures[BASELINE] = encode_pictures(mean_digit[None])[0]
        lengths, poses[key], recon = outputs(model, images.to(device))
        wrong = (lengths.argmax(1) != labels).nonzero().flatten().tolist()
        s = summaries[key]
        record_runs[key] = {
            "run": name,
            "variant": variant,
            "loss": VARIANTS[variant],
            "seed": seed,
            "epochs": s["epochs"],
            "steps": s["steps"],
            "dtype": s["dtype"],
            "best_val_accuracy": s["best_val_accuracy"],
            "tested_epoch": s.get("tested_epoch"),
            "test_accuracy_summary": s["test_accuracy"],
            "test_accuracy": (len(labels) - len(wrong)) / len(labels),
            "test_errors": len(wrong),
            "wrong": wrong,
            "train_wall_s": round(s["wall_time_s"], 1),
            "git_commit": s["git_commit"],
        }
        if recon is not None:
            errors[key] = squared_errors(recon, images)
            if seed == args.seeds[0]:  # the first seed's, under the arm's name
                pictures[variant] = encode_pictures(recon[: args.pictures])
            total, each = relative_change(initial, model.state_dict())
            movement[key] = {"total": total, "per_tensor": each}
            last = load_checkpoint(folder / "checkpoints" / "last.pt")
            names = [n for n, _ in model.named_parameters()]
            adam[key] = adam_below_eps(last["optimizer"], names)
            g = min(args.gradient_digits, len(images))
            shares[key] = gradient_shares(
                model, images[:g].to(device), labels[:g].to(device)
            )
        print(f"   measured {key}: {len(wrong)} test errors", flush=True)

    reconstruction = {
        "baseline": f"the {BASELINE} (of seed {args.seeds[0]}'s training split), "
        "drawn for every test digit",
        "errors": {BASELINE: baseline.mean().item()}
        | {k: e.mean().item() for k, e in errors.items()},
        "sd": {BASELINE: baseline.std().item()}
        | {k: e.std().item() for k, e in errors.items()},
        "below_baseline_se": {
            k: paired_difference(baseline, e)[1] for k, e in errors.items()
        },
        "better_than_baseline": {
            k: (e < baseline).double().mean().item() for k, e in errors.items()
        },
    }
    reconstruction["mean_minus_sum"] = {}  # paired on the test digits, seed by seed
    for seed in args.seeds:
        a, b = run_key("mean", seed), run_key("sum", seed)
        d, se = paired_difference(errors[a], errors[b])
        reconstruction["mean_minus_sum"][a] = {"difference": d, "se": se}
    reconstruction["pictures"] = {
        "indices": list(range(min(args.pictures, len(images)))),
        "encoding": "hexadecimal bytes, 0-255 for intensities 0-1, 28x28 row by row",
        **pictures,
    }
    r2 = probe_appearance(poses, images, labels, splits=args.splits, ridge=0.1)
    return {
        "test_digits": len(images),
        "seeds": list(args.seeds),
        "runs": record_runs,
        "reconstruction": reconstruction,
        "probe": {
            "quantities": list(QUANTITIES),
            "features": "the label's capsule (the 160 masked numbers the decoder sees "
            "in training) and the class as one-hot; 'the class alone': the one-hot",
            "ridge": 0.1,
            "splits": args.splits,
            "r2": {k: v.tolist() for k, v in r2.items()},
        },
        "decoder": {"movement": movement, "adam": adam},
        "shared_gradient": {
            "digits": min(args.gradient_digits, len(images)),
            "shares": shares,
        },
    }


def shown_command(argv: list[str]) -> str:
    """The command as run, with no machine folder in it: paths inside the repository
    relative to it, others by their last part only."""
    shown = []
    for token in argv:
        path = Path(token)
        if path.is_absolute():
            try:
                token = str(path.resolve().relative_to(REPO))
            except ValueError:
                token = ".../" + path.name
        shown.append(token)
    return (COMMAND + " " + " ".join(shown)).rstrip()


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    start = time.perf_counter()
    runs = runs_of(args)
    summaries = {}
    try:
        for key, (variant, seed, name) in runs.items():
            summary = train(key, variant, base_config(args, seed), args.results / name)
            if summary is None:
                print(
                    f"{name} stopped before its last epoch (--max-steps): run the same "
                    "command again to continue it; nothing measured yet"
                )
                return 3
            summaries[key] = summary
    except TrainingInterrupted as err:
        print(f"{err}\nRun the same command again to continue.", file=sys.stderr)
        return 130
    train_seconds = time.perf_counter() - start
    measure_start = time.perf_counter()
    measured = measure(args, runs, summaries)
    measure_seconds = time.perf_counter() - measure_start
    dtypes = sorted({s["dtype"] for s in summaries.values()})
    record = {
        "what": "the small CapsNet trained identically but for the reconstruction "
        "term (the paper's sum, the mistaken mean, none), each at several seeds, "
        "measured on the test digits: errors, reconstructions against the mean "
        "training digit, a linear probe of each digit's appearance, the decoder's "
        "weights and Adam's state; per run, and per arm as the mean over seeds "
        "and its between-seed standard error ('arms')",
        "dataset": next(iter(summaries.values()))["data"],
        "epochs": args.epochs,
        "schedule": {
            "batch_size": args.batch_size,
            "lr": args.lr,
            "lr_decay": args.lr_decay,
            "lr_decay_steps": args.lr_decay_steps,
            "validation_size": args.validation_size,
            "model": args.config,
        },
        **measured,
        "arms": summarise(measured),
        "provenance": provenance(
            shown_command(argv),
            train_seconds + measure_seconds,
            device=torch.device(args.device),
            dtype=dtypes[0] if len(dtypes) == 1 else dtypes,
            epochs=args.epochs,
            train_wall_s={k: v["train_wall_s"] for k, v in measured["runs"].items()},
            measure_seconds=round(measure_seconds, 1),
        ),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    rec = measured["reconstruction"]
    for key, run in measured["runs"].items():
        error = rec["errors"].get(key)
        print(
            f"{key:>10}: {run['test_errors']} test errors"
            + (f", reconstruction error {error:.1f}" if error is not None else "")
        )
    print(f"{BASELINE:>10}: reconstruction error {rec['errors'][BASELINE]:.1f}")
    print(
        "the record has no floor yet (the class-mean digits chapter 6 compares with): "
        "add it with `python -m capsbook.loss_experiments.floor`"
    )
    for quantity, arms in record["arms"].items():
        for arm, a in arms.items():
            se = "n/a" if a["se"] is None else f"{a['se']:.4g}"
            print(f"{quantity} {arm}: {a['mean']:.4g} +/- {se} ({a['n']} seeds)")
    print(f"wrote {args.out.name} in {train_seconds + measure_seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
