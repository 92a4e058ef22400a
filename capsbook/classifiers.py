"""Small teaching CNNs and a minimal, reusable loop to fit and evaluate them.

Chapters 1, 2 and 10 train small convolutional classifiers on MNIST and on
the synthetic faces (:mod:`capsbook.faces`).  This module holds what they
share, so that a notebook shows the idea and not the boilerplate:

* :class:`SmallCNN`: convolution, ReLU and pooling twice, then a classifier
  (LeCun et al. 1998 in miniature); its pooling can be max, average or none;
* :func:`train_classifier`: mini-batch Adam on cross-entropy, seeded, with an
  optional augmentation, returning a per-epoch :class:`TrainingHistory`: the
  epochs and batches of a small in-memory set around the trainer's own loss and
  update (:mod:`capslib.train.step`), so the book has one training step;
* :func:`predict_proba` and :func:`accuracy`: evaluation in batches, without
  gradients, in eval mode; :func:`map_batches` for any other per-batch output
  (capsule lengths, reconstructions);
* :func:`capsnet_objective`: lets :func:`train_classifier` fit a CapsNet with
  its own loss (margin plus reconstruction) instead of the cross-entropy;
* :func:`affine_images` and :func:`random_affine`: rotate and shift a batch
  of images (the robustness tests and the augmentation of chapter 2).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from capslib.checks import require_shape
from capslib.nn import count_parameters  # re-exported: chapter 1 imports it from here
from capslib.train.step import compute_loss, optimizer_step

POOLING = ("max", "avg", "none")
Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
# objective(model, images, targets) -> (loss, scores): scores (batch, classes), argmax = prediction
Objective = Callable[
    [nn.Module, torch.Tensor, torch.Tensor], "tuple[torch.Tensor, torch.Tensor]"
]


def cross_entropy_objective(
    model: nn.Module, images: torch.Tensor, targets: torch.Tensor
):
    """The default objective: ``model(images)`` are logits; cross-entropy loss, logits as scores.

    The trainer's own loss for a CNN (:func:`capslib.train.step.compute_loss`).
    """
    return compute_loss(model, images, targets)


def capsnet_objective(model: nn.Module, images: torch.Tensor, targets: torch.Tensor):
    """A CapsNet's own loss (margin + scaled reconstruction, masked by the true label); lengths as scores.

    The trainer's own loss for a CapsNet (:func:`capslib.train.step.compute_loss`).
    """
    return compute_loss(model, images, targets, capsnet=model)


class SmallCNN(nn.Module):
    """A small convolutional classifier for one-channel images.

    ``conv(5x5) -> ReLU -> pool(2) -> conv(5x5) -> ReLU -> pool(2) -> flatten
    -> linear -> ReLU -> linear``: the shape of LeNet (LeCun et al. 1998) with
    padding that keeps the size through each convolution.

    Args:
        num_classes: number of outputs (logits).
        image_size: height and width of the (square) input images.
        channels: feature maps of the two convolutions.
        hidden: units of the hidden fully connected layer.
        pooling: ``"max"`` (2x2 max pooling), ``"avg"`` (2x2 average
            pooling) or ``"none"`` (no pooling: the classifier sees the full
            resolution feature maps).
        in_channels: channels of the input images.

    ``forward(images)``: ``images (batch, in_channels, image_size, image_size)``
    -> logits ``(batch, num_classes)``.
    """

    def __init__(
        self,
        num_classes: int = 10,
        *,
        image_size: int = 28,
        channels: tuple[int, int] = (8, 16),
        hidden: int = 64,
        pooling: str = "max",
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        if pooling not in POOLING:
            raise ValueError(
                f"SmallCNN: expected pooling in {POOLING}, got {pooling!r}"
            )
        for name, value in (
            ("num_classes", num_classes),
            ("image_size", image_size),
            ("hidden", hidden),
            ("in_channels", in_channels),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"SmallCNN: expected a positive int {name}, got {value!r}"
                )
        if len(channels) != 2 or any(int(c) < 1 for c in channels):
            raise ValueError(
                f"SmallCNN: expected two positive channel counts, got {channels!r}"
            )
        if pooling != "none" and image_size % 4:
            raise ValueError(
                f"SmallCNN: with pooling, image_size must be a multiple of 4, got {image_size}"
            )
        self.pooling, self.image_size, self.in_channels = (
            pooling,
            image_size,
            in_channels,
        )
        self.conv1 = nn.Conv2d(in_channels, channels[0], kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(channels[0], channels[1], kernel_size=5, padding=2)
        if pooling == "max":
            self.pool = nn.MaxPool2d(2)
        elif pooling == "avg":
            self.pool = nn.AvgPool2d(2)
        else:
            self.pool = nn.Identity()
        side = image_size // 4 if pooling != "none" else image_size
        self.fc1 = nn.Linear(channels[1] * side * side, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def feature_maps(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The intermediate activations, by name, for plotting.

        ``conv1``: ``(batch, c1, s, s)`` after ReLU; ``pool1``: ``(batch, c1,
        s/2, s/2)``; ``conv2``, ``pool2`` likewise; ``hidden``: ``(batch,
        hidden)``; ``logits``: ``(batch, num_classes)``.
        """
        self._check_images(images)
        maps = {}
        maps["conv1"] = x = F.relu(self.conv1(images))
        maps["pool1"] = x = self.pool(x)
        maps["conv2"] = x = F.relu(self.conv2(x))
        maps["pool2"] = x = self.pool(x)
        maps["hidden"] = x = F.relu(self.fc1(x.flatten(1)))
        maps["logits"] = self.fc2(x)
        return maps

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.feature_maps(images)["logits"]

    def _check_images(self, images: torch.Tensor) -> None:
        size = self.image_size
        require_shape(
            images,
            "SmallCNN",
            "images",
            ("batch", self.in_channels, size, size),
            floating=True,
            fix="build the SmallCNN with image_size / in_channels for other sizes",
        )


@dataclass
class TrainingHistory:
    """Per-epoch metrics of :func:`train_classifier` (lists, one entry per epoch)."""

    loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    examples_seen: int = 0

    @property
    def epochs(self) -> int:
        return len(self.loss)

    def as_dict(self) -> dict:
        return {
            "loss": self.loss,
            "train_accuracy": self.train_accuracy,
            "val_accuracy": self.val_accuracy,
            "seconds": self.seconds,
            "examples_seen": self.examples_seen,
        }

    def __str__(self) -> str:
        rows = [
            f"epoch {i + 1}: loss {loss:.4f}, train accuracy {acc:.3f}"
            + (
                f", validation accuracy {self.val_accuracy[i]:.3f}"
                if i < len(self.val_accuracy)
                else ""
            )
            + f" ({self.seconds[i]:.1f} s)"
            for i, (loss, acc) in enumerate(zip(self.loss, self.train_accuracy))
        ]
        return "\n".join(rows)


def _model_device(model: nn.Module, device) -> torch.device:
    """``device`` if given, else where the model's first parameter lives (the CPU for a parameter-free model)."""
    if device is not None:
        return torch.device(device)
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def check_images(images, where: str) -> None:
    """Raise a ``ValueError`` naming ``where`` unless ``images`` is a floating ``(n, channels, h, w)`` tensor.

    (Not a tensor or not floating: a :class:`capslib.checks.TensorTypeError`, a
    ``ValueError`` and a ``TypeError``.)
    """
    require_shape(images, where, "images", ("n", "channels", "h", "w"), floating=True)


def _check_data(images, labels, where: str) -> None:
    check_images(images, where)
    if labels is not None:
        require_shape(
            labels,
            where,
            "labels",
            (len(images),),
            dtype=torch.int64,
            dtype_fix="convert it with labels.long()",
        )


def train_classifier(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    device: torch.device | str | None = None,
    augment: Augment | None = None,
    seed: int = 0,
    weight_decay: float = 0.0,
    validation: tuple[torch.Tensor, torch.Tensor] | None = None,
    verbose: bool = False,
    objective: Objective = cross_entropy_objective,
    scores: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
) -> TrainingHistory:
    """Fit ``model`` to ``(images, labels)`` with Adam on the cross-entropy loss (or ``objective``).

    Args:
        images: ``(n, channels, h, w)`` float; labels: ``(n,)`` int64 class indices.
        epochs: passes over the data (each in a fresh order, drawn from ``seed``).
        augment: optional ``augment(batch, generator) -> batch`` applied to each
            training batch (e.g. :func:`random_affine`), drawing from the seeded generator.
        device: where to train (default: the model's device).
        validation: optional ``(images, labels)`` evaluated after each epoch.
        verbose: print one line per epoch.
        objective: ``objective(model, images, targets) -> (loss, scores)``; the
            default is the cross-entropy on logits, :func:`capsnet_objective`
            trains a CapsNet with the paper's loss.
        scores: ``scores(model, images)`` for the validation accuracy (default:
            ``model(images)``; for a CapsNet, ``lambda m, x: m(x).lengths``).

    The model is left on ``device`` in eval mode.  The shuffling and the
    augmentation depend only on ``seed``; the initial weights are the model's
    own (seed with :func:`capslib.seed_everything` before building it).
    Returns the per-epoch :class:`TrainingHistory` (mean loss and accuracy
    over the epoch's batches, as the model was while it learned).
    """
    _check_data(images, labels, "train_classifier")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(
            f"train_classifier: expected epochs >= 1 (an int), got {epochs!r}"
        )
    if batch_size < 1:
        raise ValueError(
            f"train_classifier: expected batch_size >= 1, got {batch_size}"
        )
    device = _model_device(model, device)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    history = TrainingHistory()
    n = len(images)
    for _ in range(epochs):
        start, total_loss, correct = time.perf_counter(), 0.0, 0
        model.train()
        for index in torch.randperm(n, generator=generator).split(batch_size):
            batch = images[index]
            if augment is not None:
                batch = augment(batch, generator)
            batch, target = batch.to(device), labels[index].to(device)
            loss, logits = objective(model, batch, target)
            optimizer_step(loss, optimizer)  # the trainer's own update
            total_loss += float(loss.detach()) * len(index)
            correct += int((logits.argmax(1) == target).sum())
        history.loss.append(total_loss / n)
        history.train_accuracy.append(correct / n)
        history.examples_seen += n
        if validation is not None:
            history.val_accuracy.append(
                accuracy(model, *validation, device=device, scores=scores)
            )
        history.seconds.append(time.perf_counter() - start)
        if verbose:
            print(str(history).splitlines()[-1])
    model.eval()
    return history


@torch.no_grad()
def map_batches(
    fn: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    *,
    batch_size: int = 250,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``fn`` applied to ``images`` a batch at a time, without gradients; the outputs joined on the CPU.

    ``fn`` takes a batch ``(b, ...)`` on ``device`` (default: the CPU) and
    returns a tensor whose first dimension is ``b``, e.g.
    ``map_batches(lambda x: model(x).lengths, images, device=DEVICE)``.
    Put the model in eval mode first: ``fn`` is called as it is.
    """
    if not torch.is_tensor(images) or images.ndim < 1 or len(images) == 0:
        got = (
            f"shape {tuple(images.shape)}"
            if torch.is_tensor(images)
            else type(images).__name__
        )
        raise ValueError(
            f"map_batches: expected a non-empty tensor of examples, got {got}"
        )
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or batch_size < 1
    ):
        raise ValueError(
            f"map_batches: expected batch_size >= 1 (an int), got {batch_size!r}"
        )
    device = torch.device(device) if device is not None else torch.device("cpu")
    outputs = []
    for chunk in images.split(batch_size):
        out = fn(chunk.to(device))
        if not torch.is_tensor(out) or out.ndim < 1 or len(out) != len(chunk):
            got = (
                f"shape {tuple(out.shape)}"
                if torch.is_tensor(out)
                else type(out).__name__
            )
            raise ValueError(
                f"map_batches: fn must return a tensor with one row per example "
                f"({len(chunk)} here), got {got}"
            )
        outputs.append(out.cpu())
    return torch.cat(outputs)


@torch.no_grad()
def predict_proba(
    model: nn.Module,
    images: torch.Tensor,
    *,
    batch_size: int = 1000,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Class probabilities (softmax of the logits): ``images (n, c, h, w)`` -> ``(n, num_classes)`` on the CPU.

    Runs in eval mode without gradients, and leaves the model in eval mode.
    """
    _check_data(images, None, "predict_proba")
    model.eval()
    return map_batches(
        lambda x: F.softmax(model(x), dim=1),
        images,
        batch_size=batch_size,
        device=_model_device(model, device),
    )


def accuracy(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    batch_size: int = 1000,
    device: torch.device | str | None = None,
    scores: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
) -> float:
    """The fraction of ``images`` whose highest-scoring class is ``labels`` (a float in [0, 1]).

    ``scores(model, batch)`` gives the per-class scores (default: the logits,
    ``model(batch)``; for a CapsNet, ``lambda m, x: m(x).lengths``).  Eval
    mode, no gradients; the model is left in eval mode.
    """
    _check_data(images, labels, "accuracy")
    if scores is None:
        predictions = predict_proba(
            model, images, batch_size=batch_size, device=device
        ).argmax(1)
    else:
        model.eval()
        predictions = map_batches(
            lambda x: scores(model, x),
            images,
            batch_size=batch_size,
            device=_model_device(model, device),
        ).argmax(1)
    return float((predictions == labels.cpu()).float().mean())


def affine_images(
    images: torch.Tensor, *, degrees=0.0, shift=(0.0, 0.0)
) -> torch.Tensor:
    """Rotate each image about its centre by ``degrees`` (counter-clockwise) and shift it by ``shift`` pixels.

    ``images``: ``(n, c, h, w)``; ``degrees``: a number or ``(n,)``;
    ``shift``: ``(dx, dy)`` in pixels (right, down) or ``(n, 2)``.  Bilinear
    interpolation; what comes in from outside the image is zero (background).
    """
    _check_data(images, None, "affine_images")
    n, _, h, w = images.shape
    angle = torch.deg2rad(torch.as_tensor(degrees, dtype=torch.float32).expand(n))
    shift = torch.as_tensor(shift, dtype=torch.float32).expand(n, 2)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # affine_grid maps output coordinates (normalised to [-1, 1]) to input coordinates:
    # the inverse of "rotate by angle, then shift" (y points down, so counter-clockwise is -angle there).
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * h / w
    theta[:, 1, 0], theta[:, 1, 1] = sin * w / h, cos
    tx, ty = shift[:, 0] * 2 / w, shift[:, 1] * 2 / h
    theta[:, 0, 2] = -(theta[:, 0, 0] * tx + theta[:, 0, 1] * ty)
    theta[:, 1, 2] = -(theta[:, 1, 0] * tx + theta[:, 1, 1] * ty)
    grid = F.affine_grid(
        theta.to(images.device, images.dtype), list(images.shape), align_corners=False
    )
    return F.grid_sample(
        images, grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )


def random_affine(max_degrees: float = 0.0, max_shift: float = 0.0) -> Augment:
    """An augmentation for :func:`train_classifier`: each image rotated by up to
    ``max_degrees`` and shifted by up to ``max_shift`` pixels each way (uniform)."""
    if max_degrees < 0 or max_shift < 0 or not math.isfinite(max_degrees + max_shift):
        raise ValueError(
            f"random_affine: expected finite max_degrees, max_shift >= 0, "
            f"got {max_degrees}, {max_shift}"
        )

    def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n = len(batch)
        degrees = (torch.rand(n, generator=generator) * 2 - 1) * max_degrees
        shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * max_shift
        return affine_images(batch, degrees=degrees, shift=shift)

    augment.__doc__ = (
        f"random rotation up to {max_degrees} degrees and shift up to {max_shift} px"
    )
    return augment


__all__ = [
    "SmallCNN",
    "TrainingHistory",
    "accuracy",
    "affine_images",
    "count_parameters",
    "predict_proba",
    "random_affine",
    "train_classifier",
]
