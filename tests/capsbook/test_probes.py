"""Tests for capsbook.probes: the perturbation figure and couplings on the image grid."""

import pytest
import torch

from capsbook.probes import (
    couplings_for_class,
    map_ink_correlation,
    perturbation_grid,
    perturbation_offsets,
    perturbed_poses,
    plot_couplings_over_images,
    primary_capsule_lengths,
    primary_receptive_field,
    spread_to_image,
)
from capslib.models import CapsNet, CapsNetConfig
from capslib.nn import CapsuleDecoder, PrimaryCapsules


def test_offsets_are_the_papers_eleven_steps():
    offsets = perturbation_offsets()
    assert offsets.shape == (11,)
    assert offsets[0].item() == pytest.approx(-0.25) and offsets[
        -1
    ].item() == pytest.approx(0.25)
    assert torch.allclose(
        offsets[1:] - offsets[:-1], torch.full((10,), 0.05), atol=1e-6
    )
    assert offsets[5].item() == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match="multiple"):
        perturbation_offsets(0.25, 0.07)


def test_perturbed_poses_move_one_dimension_at_a_time():
    pose = torch.arange(16, dtype=torch.float32) / 10
    varied = perturbed_poses(pose)
    assert varied.shape == (16, 11, 16)
    offsets = perturbation_offsets()
    for d in (0, 7, 15):
        assert torch.allclose(varied[d, :, d], pose[d] + offsets)
        others = [k for k in range(16) if k != d]
        assert torch.equal(varied[d][:, others], pose[others].expand(11, 15))
    subset = perturbed_poses(pose, torch.tensor([-1.0, 1.0]), dims=[3])
    assert subset.shape == (1, 2, 16) and subset[0, 1, 3].item() == pytest.approx(1.3)
    with pytest.raises(ValueError, match="dims"):
        perturbed_poses(pose, dims=[16])


def test_perturbation_grid_decodes_only_the_chosen_capsule():
    torch.manual_seed(0)
    decoder = CapsuleDecoder(10, 16, (8, 8), (1, 28, 28)).train()
    poses = torch.randn(10, 16) * 0.2
    grid = perturbation_grid(decoder, poses, label=3)
    assert grid.shape == (16, 11, 1, 28, 28)
    assert decoder.training  # left as it was
    # the offset-0 column is the plain reconstruction masked to capsule 3
    plain = decoder.eval()(poses.unsqueeze(0), mask_with=torch.tensor([3]))
    assert torch.allclose(grid[:, 5], plain.expand(16, 1, 28, 28), atol=1e-6)
    # one cell by hand: dimension 2 moved by +0.25
    moved = poses.clone()
    moved[3, 2] += 0.25
    assert torch.allclose(
        grid[2, 10],
        decoder(moved.unsqueeze(0), mask_with=torch.tensor([3]))[0],
        atol=1e-6,
    )
    # the other capsules are masked: changing them changes nothing
    other = poses.clone()
    other[[0, 1, 2, 4]] += 5.0
    assert torch.allclose(perturbation_grid(decoder, other, label=3), grid, atol=1e-6)
    with pytest.raises(ValueError, match="label"):
        perturbation_grid(decoder, poses, label=10)


def test_perturbation_grids_equal_one_grid_per_image():
    from capsbook.probes import perturbation_grids

    torch.manual_seed(1)
    decoder = CapsuleDecoder(10, 16, (8, 8), (1, 28, 28)).train()
    poses = torch.randn(3, 10, 16) * 0.2
    ends = torch.tensor([-0.25, 0.0, 0.25])
    grids = perturbation_grids(decoder, poses, 4, ends)
    assert grids.shape == (3, 16, 3, 1, 28, 28)
    assert decoder.training  # left as it was
    for i in range(3):  # each image's grid is its own, not its neighbour's
        one = perturbation_grid(decoder, poses[i], 4, ends)
        assert torch.allclose(grids[i], one, atol=1e-6)
    assert not torch.allclose(grids[0], grids[1], atol=1e-3)
    with pytest.raises(ValueError, match="n images"):
        perturbation_grids(decoder, poses[0], 4)


def test_couplings_for_class_follows_the_primary_capsule_layout():
    # a conv output whose every channel holds the position id y * 6 + x, cut into capsules by the
    # core's PrimaryCapsules: mapping a per-capsule value back must give the position ids again.
    types, dim, grid = 4, 8, 6
    layer = PrimaryCapsules(
        in_channels=1, capsule_types=types, capsule_dim=dim, kernel_size=1, stride=1
    )
    position_id = torch.arange(grid * grid, dtype=torch.float32).view(1, 1, grid, grid)
    conv_out = position_id.expand(1, types * dim, grid, grid)
    per_capsule = layer.capsules_from_channels(conv_out)[..., 0]  # (1, types * 36)
    couplings = torch.stack(
        [per_capsule, -per_capsule], dim=-1
    )  # (1, in_caps, 2 classes)
    mapped = couplings_for_class(couplings, torch.tensor([0]), types, grid)
    assert torch.equal(mapped[0], position_id[0, 0])
    assert torch.equal(
        couplings_for_class(couplings, torch.tensor([1]), types, grid)[0],
        -position_id[0, 0],
    )


def test_couplings_for_class_averages_and_weights_types():
    couplings = torch.zeros(1, 2 * 2 * 2, 3)
    couplings[0, 0, 1] = 0.6  # type 0 at (0, 0)
    couplings[0, 4, 1] = 0.2  # type 1 at (0, 0)
    mapped = couplings_for_class(couplings, torch.tensor([1]), capsule_types=2, grid=2)
    assert mapped[0, 0, 0].item() == pytest.approx(0.4) and mapped[0, 1, 1].item() == 0
    weights = torch.ones(1, 8)
    weights[0, 4] = 3.0  # type 1 at (0, 0) counts three times
    weighted = couplings_for_class(couplings, torch.tensor([1]), 2, 2, weights=weights)
    assert weighted[0, 0, 0].item() == pytest.approx((0.6 + 3 * 0.2) / 4)
    with pytest.raises(ValueError, match="input capsules"):
        couplings_for_class(couplings, torch.tensor([1]), capsule_types=3, grid=2)


def test_receptive_field_of_the_paper_network():
    assert primary_receptive_field(CapsNetConfig.paper()) == (17, 2)


def test_spread_to_image_lights_each_positions_patch():
    grid_map = torch.zeros(1, 6, 6)
    grid_map[0, 2, 4] = 1.0
    image = spread_to_image(grid_map, size=17, stride=2, image_size=28)
    assert image.shape == (1, 28, 28)
    # only pixels of the patch rows 4..20, columns 8..24 can be non-zero
    inside = torch.zeros(28, 28, dtype=torch.bool)
    inside[4:21, 8:25] = True
    assert (image[0][~inside] == 0).all() and (image[0][inside] > 0).all()
    # a constant map stays constant where covered (an average); row/column 27 is seen by no position
    flat = spread_to_image(torch.full((1, 6, 6), 0.3), 17, 2, 28)
    assert torch.allclose(flat[0, :27, :27], torch.full((27, 27), 0.3))
    assert (flat[0, 27] == 0).all() and (flat[0, :, 27] == 0).all()
    # pixel (4, 8) is seen by positions y in {0, 1, 2} and x in {0, ..., 4}: 15 of them, one is lit
    assert image[0, 4, 8].item() == pytest.approx(1.0 / 15)
    # pixel (0, 0) is seen by position (0, 0) alone
    corner = torch.zeros(1, 6, 6)
    corner[0, 0, 0] = 0.7
    assert spread_to_image(corner, 17, 2, 28)[0, 0, 0].item() == pytest.approx(0.7)
    with pytest.raises(ValueError, match="cover"):
        spread_to_image(grid_map, 17, 2, 20)


def test_primary_capsule_lengths_and_couplings_of_a_capsnet():
    torch.manual_seed(0)
    config = CapsNetConfig.small(
        conv_channels=8, primary_types=4, decoder_hidden=(8, 8)
    )
    model = CapsNet(config).eval()
    images = torch.rand(2, 1, 28, 28)
    out = model(images, return_couplings=True)
    lengths = primary_capsule_lengths(model, images)
    assert lengths.shape == (2, 4 * 36) and ((lengths >= 0) & (lengths < 1)).all()
    mapped = couplings_for_class(
        out.couplings, out.lengths.argmax(1), 4, config.primary_grid, weights=lengths
    )
    assert mapped.shape == (2, 6, 6)
    # couplings are probabilities over 10 classes: each averaged value lies in [0, 1]
    assert ((mapped >= 0) & (mapped <= 1)).all()
    size, stride = primary_receptive_field(config)
    pixels = spread_to_image(mapped, size, stride, 28)
    assert pixels.shape == (2, 28, 28)
    fig = plot_couplings_over_images(images, pixels, titles=["a", "b"])
    assert len(fig.axes) == 3  # two images and the colour bar


def test_coupling_maps_are_drawn_on_a_fixed_scale_centred_on_one_tenth():
    """A map that routing hardly moved must look white, not be stretched over the bar."""
    images = torch.rand(2, 1, 28, 28)
    nearly_uniform = 0.1 + 0.005 * torch.rand(2, 28, 28)  # the trained network's spread
    fig = plot_couplings_over_images(images, nearly_uniform)
    for ax in fig.axes[:2]:
        overlay = ax.get_images()[1]
        assert overlay.get_clim() == pytest.approx((0.0, 0.2))
        assert overlay.norm(0.1) == pytest.approx(0.5)  # the uniform coupling: centre
    moved = plot_couplings_over_images(images, nearly_uniform, half_range=0.05)
    assert moved.axes[0].get_images()[1].get_clim() == pytest.approx((0.05, 0.15))
    with pytest.raises(ValueError, match="half_range"):
        plot_couplings_over_images(images, nearly_uniform, half_range=0)


def test_map_ink_correlation_sees_a_map_that_follows_the_ink():
    torch.manual_seed(0)
    images = (torch.rand(4, 1, 28, 28) > 0.7).float()
    follows = 0.1 + 0.05 * images[:, 0]
    follows[:, -1, :] = 0  # pixels no position sees are left out
    assert map_ink_correlation(follows, images) == pytest.approx(1.0)
    assert map_ink_correlation(0.2 - follows.clamp_min(0.1), images) < -0.9
    unrelated = 0.1 + 0.01 * torch.rand(4, 28, 28)
    assert abs(float(map_ink_correlation(unrelated, images))) < 0.05
    with pytest.raises(ValueError, match="same batch"):
        map_ink_correlation(follows[:2], images)


# --------------------------------------------------------------------------- the trained network's figures
from capsbook.probes import (  # noqa: E402
    DIFFERENCE_SCALE,
    centre_of_mass,
    difference_maps,
    dimension_change,
    ink_statistics,
    mosaic,
    overlay_pair,
    plot_class_traversals,
    plot_difference_atlas,
    plot_pair_reconstructions,
    plot_perturbation_grid,
)


def test_offsets_have_an_exact_zero_in_the_middle_and_are_symmetric():
    offsets = perturbation_offsets()
    assert offsets[5].item() == 0.0  # exactly: difference_maps finds it
    assert torch.equal(offsets, -offsets.flip(0))
    assert perturbation_offsets(0.1, 0.05).tolist() == pytest.approx(
        [-0.1, -0.05, 0.0, 0.05, 0.1]
    )


def test_difference_maps_subtract_the_offset_zero_column():
    grid = torch.rand(3, 11, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    maps = difference_maps(grid)
    assert maps.shape == grid.shape
    assert torch.equal(maps[:, 5], torch.zeros(3, 1, 4, 4))
    assert torch.allclose(maps[2, 9], grid[2, 9] - grid[2, 5])
    odd = torch.tensor([-0.2, 0.0, 0.1])  # a zero that is not in the middle
    assert torch.allclose(
        difference_maps(grid[:, :3], odd)[:, 2], grid[:, 2] - grid[:, 1]
    )
    with pytest.raises(ValueError, match="exactly one offset 0"):
        difference_maps(grid[:, :3], torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="11 offsets"):
        difference_maps(grid, torch.zeros(3))
    with pytest.raises(ValueError, match="rows, steps"):
        difference_maps(grid[0])


def test_dimension_change_compares_the_two_ends_in_inked_pixels():
    grid = torch.zeros(2, 11, 1, 3, 3)
    grid[0, -1, 0, 0, 0] = 1.0  # row 0: one pixel appears between -0.25 and +0.25
    grid[1, 0, 0, 1, :] = 0.5  # row 1: three half pixels vanish, one half pixel appears
    grid[1, -1, 0, 2, 2] = 0.5
    assert torch.allclose(dimension_change(grid), torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="steps >= 2"):
        dimension_change(grid[:, :1])


def test_centre_of_mass_by_hand():
    image = torch.zeros(2, 1, 6, 6)
    image[0, 0, 1, 4] = 1.0
    image[1, 0, 2, 0] = image[1, 0, 4, 2] = 0.5  # two dots: halfway between them
    assert centre_of_mass(image).tolist() == [[[1.0, 4.0]], [[3.0, 1.0]]]
    assert centre_of_mass(torch.zeros(3, 3)).tolist() == [0.0, 0.0]  # blank: no NaN


def test_ink_statistics_by_hand():
    image = torch.zeros(10, 12)
    image[2, 3] = image[2, 7] = (
        1.0  # one row, columns 3 and 7: width 2 * 2 = 4, height 0
    )
    stats = ink_statistics(image)
    assert stats["ink"].item() == pytest.approx(2.0)
    assert stats["width"].item() == pytest.approx(4.0) and stats[
        "height"
    ].item() == pytest.approx(0.0)
    assert stats["slant"].item() == 0.0  # no vertical spread: no slant
    lean = torch.zeros(5, 5)
    for r in range(5):
        lean[r, 4 - r] = 1.0  # "/": the column grows as the row goes up
    tilted = ink_statistics(lean)
    assert tilted["slant"].item() == pytest.approx(1.0)
    assert ink_statistics(lean.flip(1))["slant"].item() == pytest.approx(-1.0)  # "\"
    assert tilted["height"].item() == pytest.approx(
        2 * 2**0.5
    )  # rows 0..4: std sqrt(2)
    # intensity scales the ink, not the shape; a blank picture gives zeros, not NaN
    half = ink_statistics(0.5 * lean)
    assert half["ink"].item() == pytest.approx(2.5) and half[
        "slant"
    ].item() == pytest.approx(1.0)
    batch = ink_statistics(torch.stack([lean, torch.zeros(5, 5)]))
    assert batch["width"].shape == (2,) and torch.equal(
        batch["width"][1], torch.tensor(0.0, dtype=torch.float64)
    )
    assert all(torch.isfinite(v).all() for v in batch.values())
    with pytest.raises(ValueError, match="floating"):
        ink_statistics(torch.zeros(4, 4, dtype=torch.uint8))


def test_mosaic_tiles_with_nan_gaps():
    images = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 1, 2, 2)
    tiled = mosaic(images, gap=1)
    assert tiled.shape == (2 * 3 - 1, 3 * 3 - 1)
    assert torch.equal(tiled[3:5, 6:8], images[1, 2, 0].double())
    assert torch.isnan(tiled[2]).all() and torch.isnan(tiled[:, 2]).all()
    with pytest.raises(ValueError, match="rows, cols"):
        mosaic(images[0, 0])


def test_overlay_pair_colours_each_reconstruction():
    image, first, second = torch.zeros(3, 3), torch.zeros(1, 3, 3), torch.zeros(3, 3)
    image[0, 0] = 1.0
    first[0, 1, 1] = 1.0
    second[1, 1] = 1.0
    second[2, 2] = 0.8
    rgb = overlay_pair(image, first, second, input_weight=0.35)
    assert rgb.shape == (3, 3, 3)
    assert torch.allclose(
        rgb[0, 0], torch.tensor([0.35, 0.35, 0.35])
    )  # input: dim grey
    assert torch.allclose(rgb[1, 1], torch.tensor([1.0, 1.0, 0.0]))  # both: yellow
    assert torch.allclose(
        rgb[2, 2], torch.tensor([0.0, 0.8, 0.0])
    )  # second only: green
    assert (rgb >= 0).all() and (rgb <= 1).all()
    with pytest.raises(ValueError, match="one shape"):
        overlay_pair(image, torch.zeros(4, 4), second)


def test_figures_share_the_fixed_difference_scale():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = torch.rand(4, 11, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    fig = plot_perturbation_grid(grid)
    shown = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(shown) == 2  # decodings and differences
    assert shown[0].get_clim() == (0.0, 1.0) and shown[1].get_clim() == (
        -DIFFERENCE_SCALE,
        DIFFERENCE_SCALE,
    )
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == [
        "dim 0",
        "dim 1",
        "dim 2",
        "dim 3",
    ]
    plt.close(fig)
    fig = plot_difference_atlas(
        grid[:, 5], grid[:, -1] - grid[:, 0], row_labels=list("abcd")
    )
    assert [ax.images[0].get_clim() for ax in fig.axes if ax.images][1] == (
        -DIFFERENCE_SCALE,
        DIFFERENCE_SCALE,
    )
    plt.close(fig)
    with pytest.raises(ValueError, match="3 reconstructions for 4 rows"):
        plot_difference_atlas(grid[:3, 5], grid[:, -1] - grid[:, 0])
    fig = plot_class_traversals(grid, row_labels=list("wxyz"))
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list("wxyz")
    plt.close(fig)


def test_plot_pair_reconstructions_marks_a_wrong_reading():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = torch.rand(2, 1, 8, 8)
    recons = torch.rand(2, 2, 1, 8, 8)
    fig = plot_pair_reconstructions(
        images, recons, torch.tensor([[3, 5], [1, 2]]), torch.tensor([[5, 3], [1, 7]])
    )
    titles = {ax.get_title(): ax.title.get_color() for ax in fig.axes}
    assert (
        titles["R: 5, 3"] == "black" and titles["R: 1, 7"] == "red"
    )  # order does not matter; 7 is wrong
    assert "L: 3, 5" in titles
    plt.close(fig)


# --------------------------------------------------------------------------- linear probes
from capsbook.probes import probe_r2  # noqa: E402


def test_probe_r2_reads_a_linear_quantity_and_not_noise():
    g = torch.Generator().manual_seed(0)
    features = torch.randn(300, 6, generator=g)
    targets = torch.stack(
        [
            features @ torch.arange(1.0, 7.0) + 5,  # linear in the features
            torch.randn(300, generator=g),  # unrelated
        ],
        1,
    )
    r2 = probe_r2(features, targets, splits=4)
    assert r2.shape == (4, 2)
    assert (r2[:, 0] > 0.999).all()
    assert r2[:, 1].mean() < 0.05
    # the same seed gives the same halvings: a paired comparison is possible
    assert torch.equal(r2, probe_r2(features, targets, splits=4))


def test_probe_r2_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="same n"):
        probe_r2(torch.randn(10, 3), torch.randn(9, 1))


# --------------------------------------------------------------------------- couplings on the grid
from capsbook.probes import (  # noqa: E402
    grid_correlations,
    ink_per_position,
    plot_grid_couplings,
)


def test_ink_per_position_is_the_mean_of_each_receptive_field_by_hand():
    images = torch.zeros(1, 1, 28, 28)
    images[0, 0, 0, 0] = 1.0  # one pixel, seen only by position (0, 0)
    images[0, 0, 20, 26] = 1.0  # seen by rows y with 2y <= 20 < 2y + 17: 2..5; cols 5
    ink = ink_per_position(images, 17, 2)
    assert ink.shape == (1, 6, 6)
    expected = torch.zeros(6, 6)
    expected[0, 0] += 1 / 289
    expected[2:6, 5] += 1 / 289
    assert torch.allclose(ink[0], expected)
    assert torch.allclose(ink_per_position(images[:, 0], 17, 2), ink)  # (b, H, W) too
    with pytest.raises(ValueError, match="size"):
        ink_per_position(images, 29, 2)


def test_ink_per_position_lines_up_with_couplings_for_class():
    """Position (y, x) of both maps is the place where capsules (type, y, x) sit."""
    types, grid = 3, 6
    couplings = torch.full((1, types * grid * grid, 10), 0.1)
    for t in range(types):
        couplings[0, (t * grid + 4) * grid + 1, 7] = 0.3  # every type at (4, 1)
    cmap = couplings_for_class(couplings, torch.tensor([7]), types, grid)
    images = torch.zeros(1, 1, 28, 28)
    images[0, 0, 24, 18] = 1.0  # seen by rows 4..5, columns 1..5 of the grid
    images[0, 0, 8:10, 2:4] = (
        1.0  # seen by rows 0..4, columns 0..1: only (4, 1) sees both
    )
    ink = ink_per_position(images, 17, 2)
    assert cmap[0].argmax() == ink[0].argmax() == 4 * grid + 1


def test_grid_correlations_one_r_per_image_by_hand():
    ink = torch.tensor([[[0.0, 1.0], [2.0, 3.0]], [[0.0, 1.0], [2.0, 3.0]]])
    maps = torch.stack([0.1 + 0.01 * ink[0], 0.1 - 0.01 * ink[1]])
    r = grid_correlations(maps, ink)
    assert r.shape == (2,)
    assert r[0].item() == pytest.approx(1.0) and r[1].item() == pytest.approx(-1.0)
    # by hand: x = (1, 0, 0, 1), y = (0, 1, 2, 3): centred (.5,-.5,-.5,.5), (-1.5,-.5,.5,1.5)
    # sum xy = -0.75 + 0.25 - 0.25 + 0.75 = 0: uncorrelated
    odd = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    assert grid_correlations(odd, ink[:1])[0].item() == pytest.approx(0.0, abs=1e-12)
    assert torch.isnan(grid_correlations(torch.full((1, 2, 2), 0.1), ink[:1]))[0]
    with pytest.raises(ValueError, match="same shape"):
        grid_correlations(maps[:1], ink)


def test_grid_coupling_figure_uses_the_fixed_scale_centred_on_one_tenth():
    images = torch.rand(3, 1, 28, 28)
    ink = ink_per_position(images, 17, 2)
    maps = 0.1 + 0.003 * torch.randn(3, 6, 6)
    fig = plot_grid_couplings(images, ink, maps, titles=["a", "b", "c"])
    coupling_axes = fig.axes[6:9]  # row 3 of the 3 x 3 grid
    for ax in coupling_axes:
        shown = ax.get_images()[0]
        assert shown.get_clim() == pytest.approx((0.0, 0.2))
        assert shown.norm(0.1) == pytest.approx(0.5)
    assert fig.axes[0].get_title() == "a"
    with pytest.raises(ValueError, match="half_range"):
        plot_grid_couplings(images, ink, maps, half_range=0)
    with pytest.raises(ValueError, match="one shape"):
        plot_grid_couplings(images, ink[:2], maps)


# --------------------------------------------------------------------------- one label per thing
def _labels(fig):
    """Every title, axis label and row (y tick) label of a figure, colour bars included."""
    found = [fig._suptitle.get_text()] if fig._suptitle is not None else []
    for ax in fig.axes:
        found += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        found += [t.get_text() for t in ax.get_yticklabels()]
    return [s for s in found if s.strip() and not _is_number(s)]


def _is_number(s):  # a colour bar's tick, not a label
    try:
        float(s.replace("\N{MINUS SIGN}", "-"))
    except ValueError:
        return False
    return True


def _words(fig, word):
    return [s for s in _labels(fig) if word in s.lower()]


def test_no_figure_names_a_thing_twice():
    """Each row, panel and colour bar is named once: no label is repeated, and the grid figure
    says "ink" and "coupling" once each (the colour bars give units, not the names again)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = torch.rand(3, 1, 28, 28)
    ink = ink_per_position(images, 17, 2)
    maps = 0.1 + 0.003 * torch.randn(3, 6, 6)
    grid_fig = plot_grid_couplings(images, ink, maps, titles=["a", "b", "c"])
    assert len(_words(grid_fig, "ink")) == 1
    assert len(_words(grid_fig, "coupling")) == 1
    assert grid_fig.axes[-2].get_ylabel() == "intensity"  # the ink row's bar
    grid = torch.rand(4, 11, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    over = plot_couplings_over_images(images[:2], torch.full((2, 28, 28), 0.1))
    figures = {
        "grid couplings": grid_fig,
        "perturbation grid": plot_perturbation_grid(grid),
        "atlas": plot_difference_atlas(
            grid[:, 5], grid[:, -1] - grid[:, 0], row_labels=list("abcd")
        ),
        "traversals": plot_class_traversals(grid, row_labels=list("wxyz")),
        "over images": over,
    }
    for name, fig in figures.items():
        labels = _labels(fig)
        repeated = {s for s in labels if labels.count(s) > 1}
        assert not repeated, f"{name}: {sorted(repeated)} written more than once"
        assert len(_words(fig, "coupling")) <= 1, name
        plt.close(fig)
    # the perturbation figure's rows are named on the decodings only
    fig = plot_perturbation_grid(grid)
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()] == []
