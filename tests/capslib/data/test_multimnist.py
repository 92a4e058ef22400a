"""capslib.data.multimnist: MultiMNIST pairs of different classes, made on demand and seeded."""

import torch

from capslib.data import (
    MultiMNISTPairs,
)


def test_multimnist_pairs_of_different_classes(digits):
    def fixed_pairs(n):
        return MultiMNISTPairs.from_dataset(
            digits, n, seed=0, fresh=False, split="test"
        )

    images, labels, components = next(fixed_pairs(500).batches(500))
    assert images.shape == (500, 1, 36, 36) and labels.shape == (500, 2)
    assert components.shape == (500, 2, 1, 36, 36)
    assert (labels[:, 0] != labels[:, 1]).all()
    # The image is the clipped sum of its two components, each a whole digit shifted by up to 4 px.
    assert torch.equal(images, components.sum(1).clamp(max=1))
    again = next(fixed_pairs(500).batches(500))
    assert torch.equal(again[0], images) and torch.equal(again[1], labels)
    # Every top class appears, and every ordered pair of classes is possible.
    assert len(set(labels[:, 1].tolist())) == 10
    # n = len(digits): each digit is the base once, and stays whole on the 36x36 canvas.
    once = fixed_pairs(None)
    plan = once.plan()
    assert sorted(plan.base.tolist()) == list(range(len(digits)))
    _, pair_labels, parts = next(once.batches(len(digits)))
    assert torch.equal(pair_labels[:, 0], digits.labels[plan.base])
    assert torch.allclose(
        parts[:, 0].sum((1, 2, 3)),
        once.digits[plan.base].float().div(255).sum((1, 2, 3)),
        atol=1e-3,
    )
