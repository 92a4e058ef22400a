"""Chapter 8's data path: from the files on disk to a training step, drawn from the trainer's numbers.

What :func:`capslib.train.train` does with MNIST, as boxes: once per run the
IDX files are read into float32 tensors, split into training and validation
digits and moved to the device; then every step draws its batch there (an
index into the device tensor and the 2-pixel shifts, one gather) and trains
on it, and every epoch ends with the validation pass and a checkpoint.  The
sizes in the boxes are computed from the arguments (the shipped schedule's by
default), not typed: see :func:`pipeline_numbers`.
"""

from __future__ import annotations

from capslib.data.device import steps_per_epoch

from ._style import (
    COLOURS,
    GREY,
    MIN_FONT,
    PALE,
    TITLE_FONT,
    arrow,
    box,
    new_figure,
    text,
)

__all__ = ["data_pipeline", "pipeline_numbers"]


def pipeline_numbers(
    n_train: int = 60_000,
    validation_size: int = 5_000,
    batch_size: int = 128,
    image_side: int = 28,
) -> dict[str, float]:
    """The sizes the diagram prints: bytes on disk and on the device, steps per epoch.

    An IDX file holds one byte per pixel; the trainer keeps float32 (4 bytes).
    The trainer drops the last, incomplete batch of an epoch
    (:func:`capslib.data.device.steps_per_epoch`).

    >>> pipeline_numbers()["steps_per_epoch"]
    429
    """
    pixels = n_train * image_side * image_side
    return {
        "disk_mb": pixels / 1e6,
        "device_mb": 4 * pixels / 1e6,
        "train": n_train - validation_size,
        "validation": validation_size,
        "steps_per_epoch": steps_per_epoch(n_train - validation_size, batch_size),
        "batch_size": batch_size,
    }


def data_pipeline(
    n_train: int = 60_000,
    validation_size: int = 5_000,
    batch_size: int = 128,
    max_shift: int = 2,
    *,
    title: str | None = None,
):
    """Disk -> tensors -> the device, once; then batch -> step on the device, every step.

    Top row, once per run: the IDX files (bytes), ``load_mnist`` (float32 in
    host memory), the validation split, one copy to the device.  Bottom row,
    on the device: the epoch's plan (order and shifts from the seed and the
    epoch number), the batch (a gather with the shifts), the training step,
    and after the epoch's last step the validation pass and checkpoint.  A
    grey line says what a per-image ``DataLoader`` would do instead.
    Returns a matplotlib Figure, 7.5 in wide; ``fig.capslib_numbers`` holds
    :func:`pipeline_numbers`.
    """
    n = pipeline_numbers(n_train, validation_size, batch_size)
    fig, ax = new_figure(3.9)
    top = 3.55
    if title:
        text(ax, 3.75, top, title, size=TITLE_FONT, weight="bold")
    w, h, gap, x0 = 1.62, 0.78, 0.22, 0.2
    xs = [x0 + k * (w + gap) for k in range(4)]
    y1, y2 = 2.3, 0.95  # lower edges of the two rows
    once = [
        f"IDX files on disk\n{n_train:,} images of\n28 × 28 bytes ({n['disk_mb']:.0f} MB)",
        "load_mnist\nfloat32 in [0, 1]\nin host memory",
        f"validation split\n{n['train']:,} train\n{n['validation']:,} validation",
        f"to the device, once\nDeviceDataset\n({n['device_mb']:.0f} MB)",
    ]
    each = [
        "epoch plan\norder and shifts from\n(seed, epoch)",
        f"a batch of {batch_size}:\none gather, shifts\nof up to {max_shift} px",
        "training step\nforward, loss,\nbackward, Adam",
        "end of the epoch\nvalidation pass,\ncheckpoint, metrics",
    ]
    text(ax, x0, y1 + h + 0.17, "once per run", size=MIN_FONT, colour=GREY, ha="left")
    text(
        ax,
        x0,
        y2 + h + 0.17,
        "on the device, every epoch and every step",
        size=MIN_FONT,
        colour=COLOURS["capsule"],
        ha="left",
    )
    for k in range(4):
        host = k < 3
        box(ax, xs[k], y1, w, h, face=PALE["setup"] if host else PALE["capsule"])
        text(ax, xs[k] + w / 2, y1 + h / 2, once[k], size=MIN_FONT, linespacing=1.2)
        face = PALE["agree"] if k == 2 else PALE["capsule"]
        box(ax, xs[k], y2, w, h, face=face, ls="--" if k == 3 else "-")
        text(ax, xs[k] + w / 2, y2 + h / 2, each[k], size=MIN_FONT, linespacing=1.2)
    for k in range(3):
        arrow(ax, (xs[k] + w, y1 + h / 2), (xs[k + 1], y1 + h / 2))
        arrow(ax, (xs[k] + w, y2 + h / 2), (xs[k + 1], y2 + h / 2))
    # the device copy feeds every batch: an index into it, no copy per step
    arrow(
        ax,
        (xs[3] + 0.3, y1),
        (xs[1] + w - 0.3, y2 + h),
        colour=COLOURS["capsule"],
        connection="arc3,rad=-0.08",
    )
    text(
        ax,
        xs[3] + 0.42,
        (y1 + y2 + h) / 2 - 0.02,
        "indices into it",
        size=MIN_FONT,
        colour=COLOURS["capsule"],
        ha="left",
    )
    # the loop: the step goes back for the next batch, steps_per_epoch times
    arrow(
        ax,
        (xs[2] + w / 2, y2),
        (xs[1] + w / 2, y2),
        colour=COLOURS["agree"],
        connection="arc3,rad=-0.45",
    )
    text(
        ax,
        (xs[1] + xs[2] + w) / 2,
        y2 - 0.47,
        f"next batch: {n['steps_per_epoch']} steps per epoch",
        size=MIN_FONT,
        colour=COLOURS["agree"],
    )
    text(
        ax,
        3.75,
        0.15,
        "A DataLoader instead: Python code per image on the CPU, and a copy "
        "to the device every step",
        size=MIN_FONT,
        colour=GREY,
    )
    fig.capslib_numbers = n
    return fig
