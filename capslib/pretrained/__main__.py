"""``python -m capslib.pretrained``: list the shipped models, check them, or export a trained run.

    python -m capslib.pretrained list
    python -m capslib.pretrained check                 # load every model, verify its SHA256, re-measure it

``check`` fails (exit status 1) when a model's re-measured test accuracy differs from the one recorded
at export by more than :data:`ACCURACY_TOLERANCE` (the same weights on the same test set give the same
count up to a few borderline images, whatever the CPU or GPU).
    python -m capslib.pretrained export NAME results/RUN --command "bash scripts/train_shipped_models.sh mnist"

``export`` takes the model chosen on validation (``results/RUN/checkpoints/best.pt``), stores its weights in
float16 as ``capslib/pretrained/NAME.pt``, measures the float16 weights on the run's test set again (with
:func:`capslib.pretrained.evaluate`, not the trainer) and records everything in ``MANIFEST.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch

from ..builders import build_model
from ..train import TrainConfig
from . import (
    MANIFEST_NAME,
    PACKAGE_DIR,
    SIZE_LIMIT_BYTES,
    PretrainedError,
    available,
    describe_architecture,
    entry_digest,
    evaluate,
    image_size_of,
    info,
    load,
    remeasure,
    sha256_of,
)

#: How far ``check``'s re-measured accuracy may be from the recorded one: 0.2 percentage points
#: (20 of 10,000 test images), room for a few borderline images on other hardware, far less
#: than any real change of the weights or of the test set moves it.
ACCURACY_TOLERANCE = 0.002

#: The fields of a training run's summary.json that a shipped model's summary keeps.
SUMMARY_FIELDS = (
    "dataset",
    "data",
    "model",
    "model_config",
    "parameters",
    "routing_iterations",
    "reconstruction",
    "epochs",
    "steps",
    "batch_size",
    "dtype",
    "dtype_reason",
    "best_val_accuracy",
    "best_val_epoch",
    "test_accuracy",
    "test_error_percent",
    "train_size",
    "validation_size",
    "test_size",
    "git_commit",
    "torch_version",
    "device_name",
    "mode",
    "wall_time_s",
    "train_time_s",
    "images_per_s",
    "stop_at_val_accuracy",
    "reached_target",
    "credit",
)


def export(
    name: str, run_dir: Path, command: str, directory: Path = PACKAGE_DIR
) -> dict:
    """Export ``run_dir``'s best model as the shipped model ``name``; returns its manifest entry."""
    summary_path = run_dir / "summary.json"
    best_path = run_dir / "checkpoints" / "best.pt"
    for path in (summary_path, best_path):
        if not path.is_file():
            raise PretrainedError(
                f"export: {path} is missing; train the run first (`{command}`)"
            )
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in summary["config"].items() if k in fields})
    model = build_model(config, image_size_of(config.dataset))
    state = torch.load(best_path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / f"{name}.pt"
    torch.save(
        {
            k: v.detach().to(torch.float16) if v.is_floating_point() else v
            for k, v in model.state_dict().items()
        },
        weights,
    )
    entry = {
        "file": weights.name,
        "sha256": sha256_of(weights),
        "bytes": weights.stat().st_size,
        "architecture": describe_architecture(model),
    }
    manifest_path = directory / MANIFEST_NAME
    manifest = (
        json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest_path.is_file()
        else {}
    )
    models = manifest.setdefault("models", {})
    models[name] = {**entry, "summary": {}}
    models[name]["entry_sha256"] = entry_digest(models[name])
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    shipped, _ = load(name, directory=directory)
    measured = evaluate(
        shipped, config.dataset, config.seed, limit=summary["test_size"]
    )
    kept = {key: summary.get(key) for key in SUMMARY_FIELDS}
    on_sample = {}
    if (
        config.dataset in SAMPLED_TEST_SETS
    ):  # also the bundled sample, for a fresh machine
        on_sample = {
            "sample_test_accuracy_float16": evaluate(
                shipped, config.dataset, config.seed, source="sample"
            ),
            "sample_test_set": SAMPLED_TEST_SETS[config.dataset],
        }
    models[name]["summary"] = {
        **kept,
        "test_accuracy_float16": measured,
        "test_set": _test_set_description(
            config.dataset, config.seed, summary["test_size"]
        ),
        **on_sample,
        "weights": "float16 (the float32 model chosen on validation, rounded); loaded back as float32",
        "command": command,
        "run": summary.get("describe"),
        "config": summary["config"],
    }
    models[name]["entry_sha256"] = entry_digest(models[name])
    total = sum(m["bytes"] for m in models.values())
    if total > SIZE_LIMIT_BYTES:
        raise PretrainedError(
            f"export: the shipped weights would weigh {total / 1e6:.1f} MB, over the "
            f"{SIZE_LIMIT_BYTES / 1e6:.0f} MB limit; ship a smaller model"
        )
    manifest["note"] = (
        "Made by `python -m capslib.pretrained export`; the commands that remake every model are "
        "in scripts/train_shipped_models.sh. Do not edit by hand: the SHA256s are checked at load."
    )
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return models[name]


#: Datasets whose complete test set does not ship with capslib: their models are measured at export
#: on the complete set and on the bundled sample, and ``check`` uses the sample where the
#: complete set is not installed.
SAMPLED_TEST_SETS = {
    "fashion-mnist": "the 2,000-image class-balanced Fashion-MNIST test sample bundled with capslib",
}


def _test_set_description(dataset: str, seed: int, size: int) -> str:
    return {
        "mnist": f"the first {size:,} digits of the official MNIST test set (bundled with capslib)",
        "fashion-mnist": f"the first {size:,} images of the official Fashion-MNIST test set",
        "multimnist": f"{size:,} MultiMNIST pairs, one per official test digit as the base (seed {seed + 2})",
        "affine": f"{size:,} official test digits affine-transformed on 40x40 (seed {seed + 2})",
    }.get(dataset, dataset)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m capslib.pretrained",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="action", required=True)
    for action, text in (
        ("list", "the shipped models and their recorded test accuracy"),
        ("check", "load every shipped model (SHA256 checked) and measure it again"),
    ):
        sub.add_parser(action, help=text).add_argument(
            "--directory", type=Path, default=PACKAGE_DIR
        )
    ex = sub.add_parser("export", help="ship a trained run's best model")
    ex.add_argument("name")
    ex.add_argument("run_dir", type=Path)
    ex.add_argument("--command", required=True, help="the command that remakes the run")
    ex.add_argument("--directory", type=Path, default=PACKAGE_DIR)
    args = parser.parse_args(argv)
    try:
        if args.action == "export":
            entry = export(args.name, args.run_dir, args.command, args.directory)
            s = entry["summary"]
            print(
                f"exported {args.name}: {entry['bytes'] / 1e6:.1f} MB, sha256 {entry['sha256'][:12]}..., test "
                f"accuracy {s['test_accuracy']:.4f} (float32, trainer) / {s['test_accuracy_float16']:.4f} "
                f"(float16 weights, re-measured)"
            )
        elif args.action == "list":
            for name in available(args.directory):
                s = info(name, args.directory)["summary"]
                print(
                    f"{name:22s} {s['dataset']:12s} test accuracy {s['test_accuracy_float16']:.4f}  "
                    f"{s['parameters']:,} parameters  trained at {s['git_commit'][:10]} on {s['device_name']}"
                )
        else:
            failed = []
            for name in available(args.directory):
                model, s = load(name, directory=args.directory)
                measured, recorded, test_set, _, _ = remeasure(model, s)
                ok = abs(measured - recorded) <= ACCURACY_TOLERANCE
                print(
                    f"{name}: SHA256 ok; accuracy on {test_set} {measured:.4f} "
                    f"(recorded {recorded:.4f}): "
                    + (
                        "ok"
                        if ok
                        else f"FAILED, more than {ACCURACY_TOLERANCE:.3f} from the record"
                    )
                )
                if not ok:
                    failed.append(name)
            if failed:
                print(
                    f"error: {', '.join(failed)} no longer measure(s) what MANIFEST.json records; "
                    f"remake them (`bash scripts/train_shipped_models.sh export`)",
                    file=sys.stderr,
                )
                return 1
    except PretrainedError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
