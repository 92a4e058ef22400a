"""Trained networks that ship with the course: ``capslib.pretrained.load("mnist-capsnet")``.

The book's second half needs networks that have learned something, on any
CPU, in seconds.  They were trained on a CPU with ``python -m capslib.train``
(``scripts/train_shipped_models.sh`` holds the exact commands) and ship here,
inside the package, so that they travel in the wheel (Colab installs from
git) and need no network:

* ``<name>.pt``: the weights in float16 (half the bytes of float32; the
  accuracy they reproduce is measured and recorded at export), loaded with
  ``torch.load(weights_only=True)``;
* ``MANIFEST.json``: for every model its file, SHA256 and size, how to build
  it, and its summary (dataset, accuracy, the commit it was trained at,
  hardware, wall time, and the command that remakes it).

:func:`load` checks the SHA256 before it unpickles anything: a missing,
damaged or altered file is refused with an error that names the file and the
command that remakes it.  The manifest entry that says how to build the model
is covered too: each entry carries ``entry_sha256``, a SHA256 over the rest of
the entry (:func:`entry_digest`), so an edited architecture or summary is
refused as well.

>>> capslib.pretrained.available()                          # doctest: +SKIP
['mnist-capsnet', 'multimnist-capsnet']
>>> model, summary = capslib.pretrained.load("mnist-capsnet")  # doctest: +SKIP
>>> summary["test_accuracy"]                                # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import torch

from ..data import DataNotFoundError, affine_mnist
from ..data.multimnist import MultiMNISTPairs
from ..data.sources import load_fashion_mnist, load_mnist
from ..devices import parse_device
from ..functional import capsule_length
from ..models import BaselineCNN, CapsNet, CapsNetConfig, PooledCNN

__all__ = [
    "PretrainedError",
    "PretrainedModel",
    "Remeasurement",
    "available",
    "build",
    "info",
    "evaluate",
    "load",
    "remeasure",
    "sha256_of",
    "test_batches",
]

PACKAGE_DIR = Path(__file__).resolve().parent
MANIFEST_NAME = "MANIFEST.json"
#: The most the shipped weights may weigh in all (the wheel carries them).
SIZE_LIMIT_BYTES = 40 * 10**6


class PretrainedError(RuntimeError):
    """A shipped model is unknown, missing, damaged or altered."""


class PretrainedModel(NamedTuple):
    """What :func:`load` returns: the model (eval mode, float32) and its summary (see :func:`info`)."""

    model: torch.nn.Module
    summary: dict


def _directory(directory: str | os.PathLike | None) -> Path:
    return Path(directory) if directory is not None else PACKAGE_DIR


REMAKE_ALL = (
    "reinstall capslib (pip install --force-reinstall ...), or remake the models with "
    "`bash scripts/train_shipped_models.sh all`"
)
#: The keys every manifest entry holds.
ENTRY_KEYS = ("file", "sha256", "bytes", "architecture", "summary", "entry_sha256")


def entry_digest(entry: dict) -> str:
    """The SHA256 of a manifest entry without its ``entry_sha256`` (canonical JSON: sorted keys)."""
    rest = {key: value for key, value in entry.items() if key != "entry_sha256"}
    return hashlib.sha256(
        json.dumps(rest, sort_keys=True, separators=(",", ":")).encode("utf-8")
    ).hexdigest()


def _manifest(directory: str | os.PathLike | None = None) -> dict[str, Any]:
    path = _directory(directory) / MANIFEST_NAME
    if not path.is_file():
        raise PretrainedError(f"the manifest {path} is missing. Fix: {REMAKE_ALL}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise PretrainedError(
            f"{path} is not valid JSON ({err}); reinstall capslib, or remake the models with "
            "`bash scripts/train_shipped_models.sh all`"
        ) from err
    models = manifest.get("models") if isinstance(manifest, dict) else None
    if not isinstance(models, dict):
        raise PretrainedError(
            f'{path} holds no "models" table: it is not a capslib manifest. Fix: {REMAKE_ALL}'
        )
    return models


def available(directory: str | os.PathLike | None = None) -> list[str]:
    """The names of the shipped models, e.g. ``["mnist-capsnet", "multimnist-capsnet"]``."""
    return sorted(_manifest(directory))


def info(name: str, directory: str | os.PathLike | None = None) -> dict:
    """The manifest entry of ``name``: file, sha256, bytes, architecture and ``summary`` (no weights loaded)."""
    models = _manifest(directory)
    if name not in models:
        shipped = ", ".join(sorted(models)) or "none"
        raise PretrainedError(f"no shipped model named {name!r}; available: {shipped}")
    entry = models[name]
    where = _directory(directory) / MANIFEST_NAME
    missing = (
        [key for key in ENTRY_KEYS if key not in entry]
        if isinstance(entry, dict)
        else ["everything"]
    )
    if missing:
        raise PretrainedError(
            f"the entry of {name!r} in {where} lacks {', '.join(missing)}: the manifest was "
            f"edited or damaged. Fix: {REMAKE_ALL}"
        )
    if entry_digest(entry) != entry["entry_sha256"]:
        raise PretrainedError(
            f"the entry of {name!r} in {where} was changed after export (its content does not "
            f"match its entry_sha256), so it may no longer say how to build these weights. "
            f"Fix: undo the edit, or {REMAKE_ALL}"
        )
    return entry


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build(architecture: dict) -> torch.nn.Module:
    """An untrained model from a manifest's ``architecture`` entry (``kind`` and its arguments)."""
    kind, arguments = architecture["kind"], dict(architecture["arguments"])
    if kind == "capsnet":
        arguments["decoder_hidden"] = tuple(arguments["decoder_hidden"])
        return CapsNet(CapsNetConfig(**arguments))
    if kind in ("pooled-cnn", "baseline"):
        for key in ("conv_channels", "hidden"):
            arguments[key] = tuple(arguments[key])
        return (PooledCNN if kind == "pooled-cnn" else BaselineCNN)(**arguments)
    raise PretrainedError(f"unknown architecture kind {kind!r} in the manifest")


def describe_architecture(model: torch.nn.Module) -> dict:
    """The manifest's ``architecture`` entry for ``model`` (enough for :func:`build` to make it again)."""
    if isinstance(model, CapsNet):
        return {"kind": "capsnet", "arguments": dataclasses.asdict(model.config)}
    if isinstance(model, (PooledCNN, BaselineCNN)):
        return {
            "kind": "pooled-cnn" if isinstance(model, PooledCNN) else "baseline",
            "arguments": model.arguments,
        }
    raise PretrainedError(f"cannot describe a {type(model).__name__} for the manifest")


def load(
    name: str,
    device: torch.device | str | None = None,
    *,
    directory: str | os.PathLike | None = None,
) -> PretrainedModel:
    """The shipped model ``name`` in eval mode (float32 weights) on ``device``, with its summary.

    Raises :class:`PretrainedError` naming the file and the command that remakes it when the
    weights are missing, or their SHA256 differs from the manifest's (damaged or altered).
    """
    entry = info(name, directory)
    if device is not None:
        device = parse_device(device, "pretrained.load: device")
    path = _directory(directory) / entry["file"]
    remake = (
        f"Fix: reinstall capslib (pip install --force-reinstall ...), or remake it: "
        f"`{entry['summary'].get('command', 'bash scripts/train_shipped_models.sh all')}` then "
        f"`bash scripts/train_shipped_models.sh export`."
    )
    if not path.is_file():
        raise PretrainedError(
            f"the weights of {name!r} are missing: {path} does not exist. {remake}"
        )
    actual = sha256_of(path)
    if actual != entry["sha256"]:
        raise PretrainedError(
            f"the weights of {name!r} in {path} are damaged or altered: their SHA256 is {actual}, "
            f"the manifest expects {entry['sha256']}. {remake}"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        model = build(entry["architecture"])
        model.load_state_dict({key: value.float() for key, value in state.items()})
    except (RuntimeError, TypeError, ValueError, KeyError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise PretrainedError(
            f"the weights of {name!r} do not fit the architecture its manifest entry describes "
            f"({type(err).__name__}: {first}). {remake}"
        ) from None
    model.eval()
    if device is not None:
        model.to(device)
    return PretrainedModel(model, dict(entry["summary"]))


# ----------------------------------------------------------------------------
# the test set a shipped model was measured on, and measuring it again
# ----------------------------------------------------------------------------
def image_size_of(dataset: str) -> int:
    """The input size the trainer uses for ``dataset`` (28, or 36 for MultiMNIST, 40 for the affine test)."""
    return {"multimnist": 36, "affine": 40}.get(dataset, 28)


def test_batches(
    dataset: str,
    seed: int,
    *,
    batch_size: int = 500,
    limit: int | None = None,
    source: str = "full",
):
    """``(images, labels)`` batches of the test set the trainer tested ``dataset`` on, remade here.

    The complete 10,000-digit MNIST test set ships with capslib (in the sample), so this works offline:
    ``"mnist"`` is that set as it is; ``"multimnist"`` one pair per test digit (seed ``seed + 2``, as the
    trainer draws it); ``"affine"`` every test digit affine-transformed (seed ``seed + 2``).
    ``"fashion-mnist"`` is the complete Fashion-MNIST test set (``source="full"``: a
    :class:`~capslib.data.DataNotFoundError` naming the fix where it is not installed) or the
    2,000-image class-balanced sample bundled with capslib (``source="sample"``), in their order.
    ``labels`` are ``(b,)`` class indices, or ``(b, 2)`` for MultiMNIST.  ``limit``: the first examples only.
    """
    if source not in ("full", "sample"):
        raise PretrainedError(
            f"test_batches: source must be 'full' or 'sample', got {source!r}"
        )
    if dataset == "fashion-mnist":
        test = load_fashion_mnist("test", source=source, verbose=False, download=False)
    else:  # the official 10,000 MNIST test digits ship with capslib: complete either way
        test = load_mnist("test", source="sample", verbose=False)
    if limit is not None:
        test = test.subset(min(limit, len(test)))
    if dataset == "multimnist":
        pairs = MultiMNISTPairs.from_dataset(
            test, None, seed=seed + 2, fresh=False, split="test"
        )
        for images, labels, _ in pairs.batches(batch_size, drop_last=False):
            yield images, labels
        return
    if dataset == "affine":
        test = affine_mnist(test, seed=seed + 2)
    elif dataset not in ("mnist", "mnist-sample", "fashion-mnist"):
        raise PretrainedError(f"no bundled test set for dataset {dataset!r}")
    for lo in range(0, len(test), batch_size):
        yield test.images[lo : lo + batch_size], test.labels[lo : lo + batch_size]


@torch.no_grad()
def _count_right(
    model: torch.nn.Module,
    dataset: str,
    seed: int,
    *,
    limit: int | None,
    source: str,
) -> tuple[int, int]:
    """``(right, seen)``: how many of the test examples (see :func:`test_batches`) ``model`` gets right."""
    model.eval()
    device = next(model.parameters()).device
    right = seen = 0
    for images, labels in test_batches(dataset, seed, limit=limit, source=source):
        images, labels = images.to(device), labels.to(device)
        if isinstance(model, CapsNet):
            scores = capsule_length(model.digit_caps(model.primary_capsules(images)))
        else:
            scores = model(images)
        if labels.dim() == 1:
            right += int((scores.argmax(1) == labels).sum())
        else:
            top = scores.topk(labels.shape[1], dim=1).indices.sort(1).values
            right += int((top == labels.sort(1).values).all(1).sum())
        seen += len(labels)
    return right, seen


def evaluate(
    model: torch.nn.Module,
    dataset: str,
    seed: int = 0,
    *,
    limit: int | None = None,
    source: str = "full",
) -> float:
    """The fraction of the test set (see :func:`test_batches`) that ``model`` gets right.

    A CapsNet's prediction is its longest class capsule (the two longest for MultiMNIST: right when
    they are exactly the two digits, the paper's criterion); a CNN's, its highest logits.  Written
    with plain torch, independently of the trainer, so it checks the trainer's numbers.
    """
    right, seen = _count_right(model, dataset, seed, limit=limit, source=source)
    return right / seen


class Remeasurement(NamedTuple):
    """What :func:`remeasure` returns: a shipped model measured again, beside its record.

    ``measured``: the accuracy now, on the first ``examples`` of the test set;
    ``recorded``: the accuracy recorded at export, on the whole test set of
    ``test_size`` examples, described by ``test_set``.
    """

    measured: float
    recorded: float
    test_set: str
    test_size: int
    examples: int


def remeasure(
    model: torch.nn.Module, summary: dict, limit: int | None = None
) -> Remeasurement:
    """Measure a shipped model again on the test set it was exported with: the one re-measuring.

    ``summary``: the model's summary (:func:`load` returns it).  The test set is
    the one recorded at export, or the bundled sample where that set is not
    installed here and the summary records the sample's accuracy too (a
    :class:`~capslib.data.DataNotFoundError` otherwise).  ``limit``: only the
    first ``limit`` examples (``None``: all).  Uses :func:`evaluate`'s counting,
    written independently of the trainer.  ``python -m capslib.pretrained
    check`` and the book's ``capsbook.runs.check_shipped`` both call this.
    """
    dataset, seed = summary["dataset"], summary["config"]["seed"]
    size = int(summary["test_size"])
    try:
        right, seen = _count_right(
            model,
            dataset,
            seed,
            limit=size if limit is None else min(limit, size),
            source="full",
        )
        return Remeasurement(
            right / seen,
            summary["test_accuracy_float16"],
            summary["test_set"],
            size,
            seen,
        )
    except DataNotFoundError:
        if "sample_test_accuracy_float16" not in summary:
            raise
    right, seen = _count_right(model, dataset, seed, limit=limit, source="sample")
    if limit is not None:  # the sample's size, to set the record against
        size = sum(len(y) for _, y in test_batches(dataset, seed, source="sample"))
    else:
        size = seen
    return Remeasurement(
        right / seen,
        summary["sample_test_accuracy_float16"],
        summary["sample_test_set"],
        size,
        seen,
    )
