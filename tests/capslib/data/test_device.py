"""Data on the device: shift augmentation, epoch plans, batches, validation split."""

import pytest
import torch

from capslib.data import (
    DeviceDataset,
    ImageDataset,
    iterate_batches,
    load_mnist,
    random_shift,
    shift_images,
)
from capslib.data.device import epoch_plan, steps_per_epoch, train_validation_split


def _numbered(n=6, size=5):
    """Images whose pixel (y, x) of example b holds 1 + b*100 + y*size + x (every pixel unique, nonzero)."""
    values = torch.arange(size * size, dtype=torch.float32).reshape(size, size) + 1
    images = torch.stack([values + 100 * b for b in range(n)])[:, None]
    return images


def test_shift_images_matches_hand_translation():
    images = _numbered(3)
    shifts = torch.tensor([[1, 0], [0, -2], [-1, 2]])
    out = shift_images(images, shifts, 2)
    # Example 0 moves one row down: first row zero, row y holds old row y-1.
    assert torch.equal(out[0, 0, 0], torch.zeros(5))
    assert torch.equal(out[0, 0, 1:], images[0, 0, :-1])
    # Example 1 moves two columns left: last two columns zero.
    assert torch.equal(out[1, 0, :, :3], images[1, 0, :, 2:])
    assert torch.equal(out[1, 0, :, 3:], torch.zeros(5, 2))
    # Example 2: up one, right two.
    assert torch.equal(out[2, 0, :4, 2:], images[2, 0, 1:, :3])
    assert out[2, 0, 4].abs().sum() == 0 and out[2, 0, :, :2].abs().sum() == 0


def test_random_shift_bounds_and_per_example():
    """Shifts stay within 2 px, every example gets its own, and values are moved, never changed."""
    images = _numbered(400, size=7)
    out = random_shift(images, 2, generator=torch.Generator().manual_seed(0))
    found = set()
    for b in range(len(images)):
        nonzero = out[b, 0][out[b, 0] > 0]
        # Recover the shift from where the pixel (3, 3) went: it is never cut off by a 2 px shift.
        centre = images[b, 0, 3, 3]
        y, x = (out[b, 0] == centre).nonzero()[0].tolist()
        dy, dx = y - 3, x - 3
        assert abs(dy) <= 2 and abs(dx) <= 2
        assert torch.equal(
            out[b], shift_images(images[b : b + 1], torch.tensor([[dy, dx]]), 2)[0]
        )
        assert set(nonzero.tolist()) <= set(images[b, 0].flatten().tolist())
        found.add((dy, dx))
    assert (
        len(found) == 25
    )  # all 5x5 offsets occur among 400 examples: shifts are per example


def test_random_shift_is_seeded_and_rejects_bad_input():
    images = torch.rand(8, 1, 28, 28)
    a = random_shift(images, generator=torch.Generator().manual_seed(3))
    b = random_shift(images, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.equal(random_shift(images, 0), images)
    with pytest.raises(ValueError, match="floating images"):
        random_shift(torch.zeros(8, 28, 28))
    with pytest.raises(ValueError, match="shifts must lie"):
        shift_images(images, torch.full((8, 2), 3), 2)


def test_evaluation_batches_are_never_augmented_and_cover_the_data_in_order():
    data = DeviceDataset(torch.rand(10, 1, 28, 28), torch.arange(10))
    batches = list(iterate_batches(data, 4, drop_last=False))
    assert [len(labels) for _, labels in batches] == [4, 4, 2]
    assert torch.equal(torch.cat([images for images, _ in batches]), data.images)


def test_training_plan_shuffles_shifts_and_is_a_function_of_seed_and_epoch():
    data = DeviceDataset(_numbered(12), torch.arange(12))
    plan = epoch_plan(12, seed=1, epoch=0, max_shift=2)
    assert sorted(plan.order.tolist()) == list(
        range(12)
    ) and plan.order.tolist() != list(range(12))
    assert plan.shifts.abs().max() <= 2
    again = epoch_plan(12, seed=1, epoch=0, max_shift=2)
    assert torch.equal(plan.order, again.order) and torch.equal(
        plan.shifts, again.shifts
    )
    assert not torch.equal(
        plan.order, epoch_plan(12, seed=1, epoch=1, max_shift=2).order
    )
    batches = list(iterate_batches(data, 4, plan=plan))
    labels = torch.cat([lab for _, lab in batches])
    assert torch.equal(labels, plan.order)
    assert torch.equal(
        batches[1][0], shift_images(data.images[plan.order[4:8]], plan.shifts[4:8], 2)
    )
    # Resuming at step 2 gives exactly the remaining batches.
    resumed = list(iterate_batches(data, 4, plan=plan, start_step=2))
    assert len(resumed) == 1 and torch.equal(resumed[0][0], batches[2][0])


def test_distributed_shares_partition_each_global_batch():
    data = DeviceDataset(torch.rand(16, 1, 4, 4), torch.arange(16))
    plan = epoch_plan(16, seed=0, epoch=0)
    whole = [lab for _, lab in iterate_batches(data, 8, plan=plan)]
    shares = [
        [lab for _, lab in iterate_batches(data, 8, plan=plan, rank=r, world_size=2)]
        for r in range(2)
    ]
    for step, labels in enumerate(whole):
        assert torch.equal(torch.cat([shares[0][step], shares[1][step]]), labels)
    with pytest.raises(ValueError, match="divisible"):
        next(iterate_batches(data, 7, plan=plan, world_size=2))
    assert steps_per_epoch(10, 4) == 2 and steps_per_epoch(10, 4, drop_last=False) == 3


def test_validation_split_is_disjoint_complete_and_seeded():
    train = load_mnist("train", source="sample", verbose=False)
    fit, validation = train_validation_split(train, 500, seed=0)
    assert (
        len(fit) == 4500 and len(validation) == 500 and validation.split == "validation"
    )
    flat = train.images.flatten(1)
    # Each validation image is a training image, none is in the fitting part (sample digits are distinct).
    fit_keys = {hash(row.numpy().tobytes()) for row in fit.images.flatten(1)}
    assert not any(
        hash(row.numpy().tobytes()) in fit_keys for row in validation.images.flatten(1)
    )
    assert len(fit_keys) + 500 == len({hash(row.numpy().tobytes()) for row in flat})
    again = train_validation_split(DeviceDataset.from_dataset(train), 500, seed=0)[1]
    assert torch.equal(again.images, validation.images)
    with pytest.raises(ValueError, match="validation_size"):
        train_validation_split(train, 5000)


def test_device_dataset_checks_inputs():
    with pytest.raises(ValueError, match="int64 labels"):
        DeviceDataset(torch.rand(3, 1, 4, 4), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(TypeError, match="expected tensors"):
        DeviceDataset([1], torch.zeros(1, dtype=torch.int64))
    moved = DeviceDataset.from_dataset(
        ImageDataset(torch.rand(3, 1, 4, 4), torch.arange(3), "x", "train", "here")
    )
    assert (
        moved.describe() == "x, train split: 3 images" and moved.labels_per_image == 1
    )
