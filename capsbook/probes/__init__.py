"""What capsules learn: the perturbation figure and routing couplings drawn over the image.

Sabour, Frosst & Hinton (2017), Section 5.1 and Figure 4: "We tweak each
dimension [of the digit capsule] by intervals of 0.05 in the range
[-0.25, 0.25]" and feed the result to the decoder, which shows what each of the
16 dimensions encodes (stroke thickness, skew, width, ...).  One idea per module:

* :mod:`capsbook.probes.perturbation`: the perturbation grid and the measures read
  from it (:func:`perturbation_grid`, :func:`difference_maps`,
  :func:`dimension_change`, :func:`centre_of_mass`, :func:`ink_statistics`);
* :mod:`capsbook.probes.couplings`: routing's couplings on the primary capsules'
  grid and on the image (:func:`couplings_for_class`, :func:`primary_receptive_field`,
  :func:`spread_to_image`, :func:`map_ink_correlation`, :func:`ink_per_position`,
  :func:`grid_correlations`, the rule chapters 9 and 11 apply,
  :func:`coupling_ink_test`, and its controls, :func:`plant_ink_tilt` and
  :func:`shuffle_positions`);
* :mod:`capsbook.probes.linear`: linear probes, what a pose holds beyond the class
  (:func:`probe_r2`);
* :mod:`capsbook.probes.plots`: the figures of chapters 9 and 10 (perturbation
  grids, the atlas, traversals, coupling maps on a fixed scale centred on 1/10,
  and :func:`overlay_pair` for MultiMNIST).

Every name is importable from ``capsbook.probes`` itself, as the notebooks do.
"""

from capsbook.probes.couplings import (
    INK_RULE_THRESHOLD,
    UNIFORM_COUPLING,
    CouplingInkTest,
    CouplingPolarization,
    coupling_ink_test,
    coupling_polarization,
    couplings_for_class,
    grid_correlations,
    ink_per_position,
    map_ink_correlation,
    plant_ink_tilt,
    primary_capsule_lengths,
    primary_receptive_field,
    routed_couplings,
    shuffle_positions,
    spread_to_image,
)
from capsbook.probes.linear import probe_r2
from capsbook.probes.perturbation import (
    DIFFERENCE_CMAP,
    DIFFERENCE_SCALE,
    centre_of_mass,
    difference_maps,
    dimension_change,
    ink_statistics,
    perturbation_grid,
    perturbation_grids,
    perturbation_offsets,
    perturbed_poses,
)
from capsbook.probes.plots import (
    mosaic,
    overlay_pair,
    plot_class_traversals,
    plot_coupling_scales,
    plot_couplings_over_images,
    plot_difference_atlas,
    plot_grid_couplings,
    plot_pair_reconstructions,
    plot_perturbation_grid,
)

#: The name chapters 9 and 11 call it by: :func:`primary_receptive_field`.
receptive_field = primary_receptive_field

__all__ = [
    "DIFFERENCE_CMAP",
    "DIFFERENCE_SCALE",
    "INK_RULE_THRESHOLD",
    "UNIFORM_COUPLING",
    "CouplingInkTest",
    "CouplingPolarization",
    "centre_of_mass",
    "coupling_ink_test",
    "coupling_polarization",
    "couplings_for_class",
    "difference_maps",
    "dimension_change",
    "grid_correlations",
    "ink_per_position",
    "ink_statistics",
    "map_ink_correlation",
    "mosaic",
    "overlay_pair",
    "perturbation_grid",
    "perturbation_grids",
    "perturbation_offsets",
    "perturbed_poses",
    "plant_ink_tilt",
    "plot_class_traversals",
    "plot_coupling_scales",
    "plot_couplings_over_images",
    "plot_grid_couplings",
    "plot_difference_atlas",
    "plot_pair_reconstructions",
    "plot_perturbation_grid",
    "primary_capsule_lengths",
    "primary_receptive_field",
    "probe_r2",
    "receptive_field",
    "routed_couplings",
    "shuffle_positions",
    "spread_to_image",
]
