"""The controls of chapter 9's coupling rule: plant_ink_tilt and shuffle_positions."""

from types import SimpleNamespace

import pytest
import torch

from capsbook import probes

# a 2x2 grid of 2 capsule types, 3 classes; kernels of 1, stride 1: each cell sees
# exactly one pixel of a 2x2 image
CONFIG = SimpleNamespace(
    primary_types=2, primary_grid=2, conv_kernel=1, primary_kernel=1, primary_stride=1
)


def test_the_planted_tilt_by_hand():
    couplings = torch.full((1, 8, 3), 1 / 3)
    ink = torch.tensor([[[[0.0, 1.0], [0.5, 0.5]]]])
    # the ink 0, 1, .5, .5: mean .5, SD (n - 1) sqrt(.5 / 3); z = -1.2247, 1.2247, 0, 0
    z = [-(1.5**0.5), 1.5**0.5, 0.0, 0.0]
    planted = probes.plant_ink_tilt(couplings, ink, torch.tensor([2]), CONFIG, 0.1)
    for capsule in range(8):  # type-major: capsule 4 + c sits at cell c, like c
        cell = capsule % 4
        assert planted[0, capsule, 2].item() == pytest.approx(1 / 3 + 0.1 * z[cell])
        for other in (0, 1):  # the other classes give up half each
            expected = 1 / 3 - 0.05 * z[cell]
            assert planted[0, capsule, other].item() == pytest.approx(expected)
    assert torch.allclose(planted.sum(-1), torch.ones(1, 8))


def test_the_planted_map_moves_by_the_tilt_and_the_rule_sees_it():
    g = torch.Generator().manual_seed(0)
    n = 30
    ink = torch.rand(n, 1, 2, 2, generator=g)
    labels = torch.randint(0, 3, (n,), generator=g)
    # couplings near uniform with noise unrelated to the ink
    couplings = torch.softmax(0.05 * torch.randn(n, 8, 3, generator=g), -1)
    lengths = torch.rand(n, 8, generator=g) + 0.5
    before = probes.coupling_ink_test(couplings, lengths, ink, labels, CONFIG)
    spread = before.maps.flatten(1).std(1).median().item()
    planted = probes.plant_ink_tilt(couplings, ink, labels, CONFIG, 2 * spread)
    after = probes.coupling_ink_test(planted, lengths, ink, labels, CONFIG)
    flat = ink.flatten(1)
    z = (flat - flat.mean(1, keepdim=True)) / flat.std(1, keepdim=True)
    moved = (after.maps - before.maps).flatten(1)
    assert torch.allclose(moved, 2 * spread * z, atol=1e-5)
    assert after.held and not before.held
    with pytest.raises(ValueError, match="negative"):
        probes.plant_ink_tilt(couplings, ink, labels, CONFIG, 1.0)


def test_shuffled_positions_keep_each_capsule_with_its_length():
    g = torch.Generator().manual_seed(1)
    n = 5
    couplings = torch.softmax(torch.randn(n, 8, 3, generator=g), -1)
    lengths = torch.rand(n, 8, generator=g)
    moved, moved_lengths = probes.shuffle_positions(
        couplings, lengths, CONFIG, generator=torch.Generator().manual_seed(2)
    )
    assert moved.shape == couplings.shape and moved_lengths.shape == lengths.shape
    for d in range(n):
        for t in range(2):  # one permutation for both types of a digit
            cells = slice(4 * t, 4 * t + 4)
            old = {
                round(float(lengths[d, cells][c]), 6): couplings[d, cells][c]
                for c in range(4)
            }
            for c in range(4):  # each length still has its own couplings
                key = round(float(moved_lengths[d, cells][c]), 6)
                assert torch.equal(moved[d, cells][c], old[key])
        order_0 = [float(v) for v in moved_lengths[d, :4]]
        order_1 = [float(v) for v in moved_lengths[d, 4:]]
        index_0 = [float(v) for v in lengths[d, :4]]
        index_1 = [float(v) for v in lengths[d, 4:]]
        perm_0 = [index_0.index(v) for v in order_0]
        assert perm_0 == [index_1.index(v) for v in order_1]


def test_shuffled_positions_break_a_map_that_follows_the_ink():
    g = torch.Generator().manual_seed(3)
    n = 200
    ink = torch.rand(n, 1, 2, 2, generator=g)
    labels = torch.zeros(n, dtype=torch.long)
    follows = torch.zeros(n, 8, 3)
    follows[:, :, 0] = 0.1 + 0.8 * ink.flatten(1).repeat(1, 2)
    follows[:, :, 1] = 1 - follows[:, :, 0]
    lengths = torch.ones(n, 8)
    assert probes.coupling_ink_test(follows, lengths, ink, labels, CONFIG).held
    shuffled = probes.shuffle_positions(
        follows, lengths, CONFIG, generator=torch.Generator().manual_seed(4)
    )
    result = probes.coupling_ink_test(*shuffled, ink, labels, CONFIG)
    assert not result.held and abs(result.r_mean) < 3 * result.r_se + 0.05
    with pytest.raises(ValueError, match="expected couplings"):
        probes.shuffle_positions(follows[:, :6], lengths, CONFIG)
