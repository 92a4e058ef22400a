"""capslib.functional.spread_loss against the formula of the EM-routing paper.

Hinton, Sabour & Frosst (2018), Section 3.1: L_i = (max(0, m - (a_t - a_i)))^2,
L = sum_{i != t} L_i; here averaged over the batch.
"""

import pytest
import torch

import capslib.em_routing
from capslib.em_routing import MatrixCapsNet, MatrixCapsNetConfig
from capslib.functional import spread_loss
from capslib.train.step import compute_loss


def paper_formula(activations, targets, margin):
    """The paper's sum over the wrong classes, one image at a time, in plain Python."""
    total = 0.0
    for a, t in zip(activations.tolist(), targets.tolist()):
        total += sum(
            max(0.0, margin - (a[t] - a_i)) ** 2 for i, a_i in enumerate(a) if i != t
        )
    return total / len(targets)


def test_spread_loss_is_the_papers_formula():
    g = torch.Generator().manual_seed(0)
    activations = torch.rand(7, 5, generator=g, dtype=torch.float64)
    targets = torch.randint(5, (7,), generator=g)
    for margin in (0.0, 0.2, 0.55, 0.9):
        assert spread_loss(activations, targets, margin).item() == pytest.approx(
            paper_formula(activations, targets, margin), rel=1e-12
        )


def test_spread_loss_by_hand_values():
    # a_t = 0.9 beats 0.1 by 0.8 > m = 0.4 (no loss); 0.6 is within the margin:
    # (0.4 - 0.3)^2 = 0.01. Equal activations cost (C - 1) m^2 = 2 * 0.16.
    activations = torch.tensor([[0.9, 0.1, 0.6], [0.5, 0.5, 0.5]])
    loss = spread_loss(activations, torch.tensor([0, 1]), margin=0.4)
    assert loss.item() == pytest.approx((0.01 + 2 * 0.16) / 2)


def test_spread_loss_checks_its_inputs():
    with pytest.raises(ValueError, match="spread_loss: expected integer targets"):
        spread_loss(torch.rand(2, 3), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"targets in \[0, 2\]"):
        spread_loss(torch.rand(2, 3), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="margin"):
        spread_loss(torch.rand(2, 3), torch.tensor([0, 1]), margin=-0.1)
    with pytest.raises(TypeError, match="targets to be a torch.Tensor, got list"):
        spread_loss(torch.rand(2, 3), [0, 1])


def test_em_routing_and_the_training_step_use_the_one_spread_loss():
    assert capslib.em_routing.spread_loss is spread_loss
    torch.manual_seed(0)
    net = MatrixCapsNet(MatrixCapsNetConfig.small())
    images, labels = torch.rand(3, 1, 28, 28), torch.tensor([1, 4, 7])
    loss, scores = compute_loss(net, images, labels, spread_margin=0.3)
    torch.manual_seed(0)
    again = MatrixCapsNet(MatrixCapsNetConfig.small())
    expected = paper_formula(again(images).activations.detach(), labels, 0.3)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert scores.shape == (3, 10)
