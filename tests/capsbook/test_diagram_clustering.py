"""Chapter 11's diagram of routing as clustering: the picture is dynamic routing's numbers."""

from __future__ import annotations

import torch

from capsbook.diagrams.clustering import (
    ASSIGNMENT_CMAP,
    CLUSTERS,
    clustering_numbers,
    routing_as_clustering,
)
from capslib import functional as cf


def test_the_numbers_are_dynamic_routings():
    n = clustering_numbers()
    u_hat = n["u_hat"][None]
    for r in range(1, 4):
        v, c = cf.dynamic_routing(u_hat, r, return_couplings=True)
        assert torch.allclose(n["c"][r - 1], c[0]) and torch.allclose(
            n["v"][r - 1], v[0]
        )
        # the loop version of Procedure 1 gives the same couplings
        _, c_loop = cf.dynamic_routing_loop(u_hat, r, return_couplings=True)
        assert torch.allclose(n["c"][r - 1], c_loop[0], atol=1e-10)
    # iteration 1: uniform couplings, so the centre is the plain mean of the votes
    assert torch.allclose(n["c"][0], torch.full((9, 2), 0.5, dtype=torch.float64))
    assert torch.allclose(n["centre"][0], n["u_hat"].mean(0))
    # the centre points where v does: v = squash(s), s = centre * sum_i c_ij
    direction = n["centre"] / n["centre"].norm(dim=-1, keepdim=True)
    assert torch.allclose(direction, n["v"] / n["v"].norm(dim=-1, keepdim=True))


def test_agreement_pulls_each_centre_to_its_cluster_and_outliers_lose_coupling():
    n = clustering_numbers()
    c, centre, u_hat = n["c"], n["centre"], n["u_hat"]
    for j, members in CLUSTERS.items():
        inside = list(members)
        outside = [i for i in range(9) if i not in members]
        cluster_mean = u_hat[inside, j].mean(0)
        distance = (centre[:, j] - cluster_mean).norm(dim=-1)
        assert (distance[1:] < distance[:-1]).all(), "each iteration moves it closer"
        # after 3 iterations every agreeing child couples more than any outlier
        assert c[-1, inside, j].min() > c[-1, outside, j].max()
        assert (c[-1, outside, j] < c[0, outside, j]).all()
        assert (c[-1, outside, j] < 0.3).all()
        # agreement u_hat . v is higher for the cluster than for the outliers
        agreement = n["agreement"][-1, :, j]
        assert agreement[inside].min() > agreement[outside].max()


def test_the_figure_draws_the_couplings():
    """What the figure shows (its readability: the shared checks of test_diagrams.py)."""
    fig = routing_as_clustering()
    texts = [
        t
        for t in fig.findobj(lambda a: hasattr(a, "get_fontsize"))
        if t.get_text().strip() and t.get_visible()
    ]
    # the colour bar says what the colour is
    assert "coupling" in fig.axes[-1].get_ylabel()
    # the couplings written beside the outliers are the routed ones
    written = {t.get_text() for t in texts}
    n = fig.capslib_numbers
    for j, members in CLUSTERS.items():
        for i in range(9):
            if i not in members:
                assert f"{n['c'][-1, i, j]:.2f}" in written
    # the points are coloured by their final coupling
    shown = [ax.collections[0] for ax in fig.axes[:2]]
    for j, points in enumerate(shown):
        # one colour map for a share of a child, bright = 1, as in chapter 11's other figures
        assert points.get_cmap().name == ASSIGNMENT_CMAP == "viridis"
        assert points.norm.vmin == 0 and points.norm.vmax == 1
        assert torch.allclose(
            torch.as_tensor(points.get_array(), dtype=torch.float64), n["c"][-1, :, j]
        )


def test_shows_as_a_png_in_ipython_even_as_a_notebooks_first_figure():
    """Chapter 11's first figure: it must not print '<Figure size ...>' instead of the picture."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        data, _ = shell.display_formatter.format(routing_as_clustering())
        assert data["image/png"][:4] == b"\x89PNG"
    finally:
        InteractiveShell.clear_instance()
