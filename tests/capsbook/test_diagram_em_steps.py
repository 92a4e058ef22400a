"""Chapter 11's diagram of EM routing: the picture is capslib's M-steps and E-steps."""

from __future__ import annotations

import math

import torch
from matplotlib.patches import Ellipse

from capsbook.diagrams.clustering import ASSIGNMENT_CMAP
from capsbook.diagrams.em_steps import (
    BETA_A,
    BETA_U,
    CHILD_ACTIVATION,
    CLUSTERS,
    LAMBDA,
    em_numbers,
    em_routing_loop,
)
from capslib.em_routing import em_routing


def test_the_numbers_are_capslibs_em_routing():
    n = em_numbers()
    V = n["V"][None]
    a_in = n["a_in"][None]
    for t in range(n["a"].shape[0]):
        # em_routing with t + 1 iterations ends with the M-step drawn in panel t + 1
        routed = em_routing(
            V, a_in, BETA_U, BETA_A, t + 1, inverse_temperatures=[LAMBDA] * (t + 1)
        )
        assert torch.allclose(routed.assignments[0], n["R"][t], atol=1e-9)
        assert torch.allclose(routed.poses[0], n["mu"][t], atol=1e-9)
        assert torch.allclose(routed.activations[0], n["a"][t], atol=1e-9)
    assert torch.allclose(n["R"].sum(-1), torch.ones(3, 8, dtype=torch.float64))


def test_the_first_m_step_by_hand():
    n = em_numbers()
    V = n["V"]  # (8 children, 2 parents, 2 entries); uniform R, equal child activations
    mean = V.mean(0)
    sigma = ((V - mean) ** 2).mean(0).sqrt()
    assert torch.allclose(n["mu"][0], mean) and torch.allclose(n["sigma"][0], sigma)
    weight = 8 * 0.5 * CHILD_ACTIVATION  # sum_i R_ij a_i
    cost = ((BETA_U + sigma.log()) * weight).sum(-1)
    assert torch.allclose(n["cost"][0], cost)
    a = 1 / (1 + torch.exp(-LAMBDA * (BETA_A - cost)))
    assert torch.allclose(n["a"][0], a)


def test_each_parent_tightens_on_its_cluster_and_the_fed_one_wakes_up():
    n = em_numbers()
    for j, members in CLUSTERS.items():
        others = [i for i in range(8) if i not in members]
        spread = n["sigma"][:, j].prod(-1)  # the area of the Gaussian
        assert (spread[1:] < spread[:-1]).all()
        # each E-step sends the agreeing children more of themselves, the others less
        inside = n["R"][:, list(members), j].mean(-1)
        assert (inside[1:] > inside[:-1]).all() and inside[-1] > 0.85
        assert (n["R"][-1, list(members), j] > 0.75).all()
        assert (n["R"][-1, others, j] < 0.25).all()
        assert n["a"][-1, j] > n["a"][0, j]
    # five tight votes make parent 0 active; three looser ones leave parent 1 below 0.5
    assert n["a"][-1, 0] > 0.99 and n["a"][-1, 1] < 0.5
    assert n["a"][0].max() < 0.05  # wide Gaussians at the start: both inactive


def test_the_figure_draws_the_numbers():
    """What the figure shows (its readability: the shared checks of test_diagrams.py)."""
    fig = em_routing_loop()
    n = fig.capslib_numbers
    texts = [
        t
        for t in fig.findobj(lambda a: hasattr(a, "get_fontsize"))
        if t.get_text().strip() and t.get_visible()
    ]
    written = {t.get_text() for t in texts}
    panels = fig.axes[1:4]
    for t, ax in enumerate(panels):
        for j in range(2):
            assert f"$a_{j}$ = {n['a'][t, j]:.2f}" in written
            points = ax.collections[j]
            assert points.get_cmap().name == ASSIGNMENT_CMAP
            assert points.norm.vmin == 0 and points.norm.vmax == 1
            assert torch.allclose(
                torch.as_tensor(points.get_array(), dtype=torch.float64),
                n["R"][t, :, j],
            )
        ellipses = [p for p in ax.patches if isinstance(p, Ellipse)]
        for j, ellipse in enumerate(ellipses):
            assert math.isclose(ellipse.width, 4 * n["sigma"][t, j, 0].item())
            assert math.isclose(ellipse.height, 4 * n["sigma"][t, j, 1].item())
            assert torch.allclose(
                torch.tensor(ellipse.center, dtype=torch.float64), n["mu"][t, j]
            )
    assert "R_{ij}" in fig.axes[-1].get_ylabel()
