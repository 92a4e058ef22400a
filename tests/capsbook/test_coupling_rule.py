"""capsbook.probes.coupling_ink_test: chapter 9's coupling rule, against a hand computation."""

from types import SimpleNamespace

import pytest
import torch

from capsbook import probes
from capslib.models import CapsNet, CapsNetConfig

# a 2x2 grid of 2 capsule types, 3 classes; conv1 and primary kernels of 1 with
# stride 1, so each cell sees exactly one pixel of a 2x2 image
CONFIG = SimpleNamespace(
    primary_types=2, primary_grid=2, conv_kernel=1, primary_kernel=1, primary_stride=1
)


def pearson(xs, ys):
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / (sxx * syy) ** 0.5


def case():
    # couplings (digits, types * grid * grid, classes), type-major; both types equal
    # length, so a cell's map is the mean of its two types' couplings to the label
    to_label = [[0.55, 0.1, 0.3, 0.2], [0.2, 0.2, 0.4, 0.6], [0.1, 0.7, 0.2, 0.3]]
    labels = torch.tensor([0, 2, 1])
    couplings = torch.full((3, 8, 3), 0.0)
    for d, values in enumerate(to_label):
        for cell, value in enumerate(values):
            for capsule in (cell, 4 + cell):  # type 0 and type 1 at this cell
                couplings[d, capsule, labels[d]] = value
                other = (labels[d] + 1) % 3  # the rest to one other class
                couplings[d, capsule, other] = 1 - value
    ink = torch.tensor(
        [[1.0, 0.0, 0.5, 0.2], [0.0, 0.3, 0.9, 0.8], [0.2, 1.0, 0.1, 0.0]]
    )
    return couplings, labels, ink.view(3, 1, 2, 2), to_label


def test_coupling_ink_test_by_hand():
    couplings, labels, images, to_label = case()
    result = probes.coupling_ink_test(
        couplings, torch.ones(3, 8), images, labels, CONFIG, threshold=0.3
    )
    rs = [pearson(to_label[d], images[d].flatten().tolist()) for d in range(3)]
    assert result.r.tolist() == pytest.approx(rs, abs=1e-6)
    mean = sum(rs) / 3
    se = (sum((r - mean) ** 2 for r in rs) / 2) ** 0.5 / 3**0.5
    assert result.r_mean == pytest.approx(mean, abs=1e-6)
    assert result.r_se == pytest.approx(se, abs=1e-6)
    assert result.held == (mean - 2 * se > 0.3)
    # the largest coupling goes to the label where its value is above 1/2
    largest_to_label = sum(v > 0.5 for values in to_label for v in values)
    assert result.true_class_share == pytest.approx(largest_to_label / 12)
    assert result.chance == pytest.approx(1 / 3)
    assert result.largest_max == pytest.approx(0.9)
    assert torch.allclose(result.maps.flatten(1), torch.tensor(to_label))


def test_the_rule_holds_when_couplings_follow_the_ink_and_not_otherwise():
    g = torch.Generator().manual_seed(0)
    ink = torch.rand(20, 1, 2, 2, generator=g)
    labels = torch.zeros(20, dtype=torch.long)
    following = torch.zeros(20, 8, 3)
    following[:, :, 0] = 0.1 + 0.8 * ink.flatten(1).repeat(1, 2)
    following[:, :, 1] = 1 - following[:, :, 0]
    result = probes.coupling_ink_test(following, torch.ones(20, 8), ink, labels, CONFIG)
    assert result.held and result.r_mean == pytest.approx(1.0)
    against = following.clone()
    against[:, :, 0] = 0.9 - 0.8 * ink.flatten(1).repeat(1, 2)
    against[:, :, 1] = 1 - against[:, :, 0]
    result = probes.coupling_ink_test(against, torch.ones(20, 8), ink, labels, CONFIG)
    assert not result.held and result.r_mean == pytest.approx(-1.0)


def test_routed_couplings_of_a_capsnet_feed_the_rule():
    torch.manual_seed(0)
    config = CapsNetConfig.small()
    model = CapsNet(config).eval()
    images, labels = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    couplings, lengths = probes.routed_couplings(model, images, batch_size=3)
    assert couplings.shape == (4, config.num_primary_caps, 10)
    assert lengths.shape == (4, config.num_primary_caps)
    assert torch.allclose(couplings.sum(-1), torch.ones(4, config.num_primary_caps))
    result = probes.coupling_ink_test(couplings, lengths, images, labels, config)
    assert result.maps.shape == result.ink.shape == (4, 6, 6)
    assert 0 <= result.true_class_share <= 1
