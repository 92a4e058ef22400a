"""Routing's couplings on the image: from the primary capsules' grid to the pixels they see.

:func:`couplings_for_class` maps the couplings ``c_ij`` from the primary capsules
to one digit capsule back onto the primary capsules' spatial grid (6x6 for 28x28
inputs), using the type-major layout of :class:`capslib.nn.PrimaryCapsules`;
:func:`spread_to_image` spreads such a grid over the input pixels each position
sees (its receptive field), so that it can be drawn over the image, and
:func:`map_ink_correlation` measures how much such a map follows the ink.

At the level where routing acts, the grid itself: :func:`ink_per_position` is the ink
under each position's receptive field, and :func:`grid_correlations` the correlation,
digit by digit, between a coupling map on the grid and that ink;
:func:`coupling_ink_test` is chapter 9's rule built on them (chapter 11 reads it
too), and :func:`routed_couplings` runs a CapsNet to get its inputs.  The rule's two
controls: :func:`plant_ink_tilt` builds couplings that follow the ink by a chosen
amount (the rule must see them), :func:`shuffle_positions` moves each digit's cells
at random (the rule must not).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from capslib.functional import capsule_length

from ..conv_arithmetic import receptive_field_and_jump

#: The coupling of every primary capsule to every digit capsule before routing moves it:
#: the uniform 1 / 10 of the ten classes (the routing logits start at 0).
UNIFORM_COUPLING = 0.1


def couplings_for_class(
    couplings: Tensor,
    classes: Tensor,
    capsule_types: int,
    grid: int,
    weights: Tensor | None = None,
) -> Tensor:
    """The couplings to one digit capsule per image, averaged over capsule types at each position.

    ``couplings``: ``(batch, capsule_types * grid * grid, num_classes)`` as returned by
    ``CapsNet(..., return_couplings=True)`` (type-major: capsule ``(type * grid + y) * grid + x``
    sits at ``(y, x)``); ``classes``: ``(batch,)`` the digit capsule to show for each image;
    ``weights``: optional ``(batch, in_caps)`` (e.g. :func:`primary_capsule_lengths`) to
    weight each primary capsule (an inactive capsule's couplings say little).
    Returns ``(batch, grid, grid)``: the (weighted) mean over types.
    """
    if not isinstance(couplings, Tensor) or couplings.ndim != 3:
        got = (
            f"shape {tuple(couplings.shape)}"
            if isinstance(couplings, Tensor)
            else type(couplings).__name__
        )
        raise ValueError(
            f"couplings_for_class: expected couplings (batch, in_caps, num_classes), got {got}"
        )
    batch, in_caps, num_classes = couplings.shape
    if in_caps != capsule_types * grid * grid:
        raise ValueError(
            f"couplings_for_class: expected {capsule_types} x {grid} x {grid} = "
            f"{capsule_types * grid * grid} input capsules, got {in_caps}"
        )
    classes = torch.as_tensor(classes, device=couplings.device).long()
    if classes.shape != (batch,) or classes.min() < 0 or classes.max() >= num_classes:
        raise ValueError(
            f"couplings_for_class: expected ({batch},) class indices in [0, {num_classes}), got {classes}"
        )
    chosen = couplings.gather(
        2, classes.view(batch, 1, 1).expand(batch, in_caps, 1)
    ).squeeze(2)  # (batch, in)
    chosen = chosen.view(batch, capsule_types, grid, grid)
    if weights is None:
        return chosen.mean(dim=1)
    if weights.shape != (batch, in_caps):
        raise ValueError(
            f"couplings_for_class: expected weights of shape ({batch}, {in_caps}), "
            f"got {tuple(weights.shape)}"
        )
    w = weights.view(batch, capsule_types, grid, grid)
    return (chosen * w).sum(dim=1) / w.sum(dim=1).clamp_min(1e-12)


@torch.no_grad()
def primary_capsule_lengths(model, images: Tensor) -> Tensor:
    """The lengths of a :class:`capslib.models.CapsNet`'s primary capsules, ``(batch, in_caps)``."""
    return capsule_length(model.primary_caps(torch.relu(model.conv1(images))), dim=-1)


def primary_receptive_field(config) -> tuple[int, int]:
    """``(size, stride)`` in input pixels of one primary capsule position of a CapsNet configuration.

    Paper: conv1 9x9 stride 1 then primary 9x9 stride 2 -> each position sees a
    17x17 patch, and neighbouring positions are 2 pixels apart
    (:func:`capsbook.conv_arithmetic.receptive_field_and_jump` of the two layers).
    """
    return receptive_field_and_jump(
        [(config.conv_kernel, 1), (config.primary_kernel, config.primary_stride)]
    )


def spread_to_image(
    grid_map: Tensor, size: int, stride: int, image_size: int
) -> Tensor:
    """Spread a per-position map over the pixels each position sees; average where patches overlap.

    ``grid_map``: ``(batch, grid, grid)``; position ``(y, x)`` covers pixels
    ``[y * stride, y * stride + size)`` (same for ``x``).  Returns
    ``(batch, image_size, image_size)``; pixels that no position sees are 0.
    """
    if (
        not isinstance(grid_map, Tensor)
        or grid_map.ndim != 3
        or grid_map.shape[1] != grid_map.shape[2]
    ):
        got = (
            f"shape {tuple(grid_map.shape)}"
            if isinstance(grid_map, Tensor)
            else type(grid_map).__name__
        )
        raise ValueError(
            f"spread_to_image: expected a square map (batch, grid, grid), got {got}"
        )
    grid = grid_map.shape[1]
    covered = (grid - 1) * stride + size
    if covered > image_size:
        raise ValueError(
            f"spread_to_image: {grid} positions of size {size} and stride {stride} cover "
            f"{covered} pixels, more than image_size={image_size}"
        )
    kernel = torch.ones(1, 1, size, size, dtype=grid_map.dtype, device=grid_map.device)
    pad = image_size - covered
    total = torch.nn.functional.conv_transpose2d(
        grid_map.unsqueeze(1), kernel, stride=stride, output_padding=0
    )
    count = torch.nn.functional.conv_transpose2d(
        torch.ones_like(grid_map).unsqueeze(1), kernel, stride=stride
    )
    total = torch.nn.functional.pad(total, (0, pad, 0, pad))
    count = torch.nn.functional.pad(count, (0, pad, 0, pad))
    return (total / count.clamp_min(1)).squeeze(1)


def map_ink_correlation(maps: Tensor, images: Tensor) -> Tensor:
    """Pearson's r between a coupling map's pixels and the ink of the image under them.

    ``maps``: ``(batch, H, W)`` from :func:`spread_to_image`; ``images``: ``(batch, 1, H, W)``
    or ``(batch, H, W)`` with ink in [0, 1].  The pixels no position sees (value 0 in ``maps``)
    are left out.  Returns the r over all the remaining pixels of all the images (one number,
    a 0-dim tensor): near +1 if routing sends the inked parts to the digit more than the
    background, near 0 if the map does not follow the ink.
    """
    maps = torch.as_tensor(maps).detach().double()
    ink = torch.as_tensor(images).detach().double()
    if ink.ndim == 4:
        ink = ink[:, 0]
    if maps.ndim != 3 or ink.shape != maps.shape:
        raise ValueError(
            f"map_ink_correlation: expected maps (batch, H, W) and images of the same batch and "
            f"size, got {tuple(maps.shape)} and {tuple(torch.as_tensor(images).shape)}"
        )
    seen = maps > 0
    x, y = maps[seen], ink[seen]
    x, y = x - x.mean(), y - y.mean()
    denominator = (x.square().sum() * y.square().sum()).sqrt()
    if denominator == 0:
        raise ValueError(
            "map_ink_correlation: a constant map or image has no correlation"
        )
    return (x * y).sum() / denominator


def ink_per_position(images: Tensor, size: int, stride: int) -> Tensor:
    """The mean ink under each primary-capsule position's receptive field, ``(batch, grid, grid)``.

    ``images``: ``(batch, 1, H, W)`` or ``(batch, H, W)`` with ink in [0, 1]; ``size``,
    ``stride``: the receptive field in input pixels (:func:`primary_receptive_field`: 17 and 2
    in the paper's network).  Position ``(y, x)`` averages pixels
    ``[y * stride, y * stride + size)`` (same for ``x``): the patch that its 32 primary
    capsules see, so the result lines up with :func:`couplings_for_class`.
    """
    ink = torch.as_tensor(images).detach()
    if ink.ndim == 3:
        ink = ink.unsqueeze(1)
    if ink.ndim != 4 or ink.shape[1] != 1:
        raise ValueError(
            "ink_per_position: expected images (batch, 1, H, W) or (batch, H, W), "
            f"got shape {tuple(ink.shape)}"
        )
    if not (0 < size <= min(ink.shape[-2:]) and stride >= 1):
        raise ValueError(
            f"ink_per_position: expected 0 < size <= {min(ink.shape[-2:])} and stride >= 1, "
            f"got size={size}, stride={stride}"
        )
    return torch.nn.functional.avg_pool2d(ink.float(), size, stride)[:, 0]


def grid_correlations(maps: Tensor, ink: Tensor) -> Tensor:
    """Pearson's r between two ``(batch, grid, grid)`` maps, one r per image: ``(batch,)``.

    Each r is taken over the ``grid * grid`` positions of one image (e.g. a coupling map from
    :func:`couplings_for_class` against :func:`ink_per_position`), so a digit's r does not
    depend on how much ink the other digits have.  An image whose map or ink is constant has
    no correlation: ``nan`` there.
    """
    maps, ink = torch.as_tensor(maps).double(), torch.as_tensor(ink).double()
    if maps.ndim != 3 or maps.shape != ink.shape:
        raise ValueError(
            "grid_correlations: expected two maps (batch, grid, grid) of the same shape, "
            f"got {tuple(maps.shape)} and {tuple(ink.shape)}"
        )
    x, y = maps.flatten(1), ink.flatten(1)
    x, y = x - x.mean(1, keepdim=True), y - y.mean(1, keepdim=True)
    denominator = (x.square().sum(1) * y.square().sum(1)).sqrt()
    r = (x * y).sum(1) / denominator
    return torch.where(denominator > 0, r, torch.full_like(r, float("nan")))


#: Chapter 9's rule: the couplings follow the ink if the mean r exceeds this by 2 SE.
INK_RULE_THRESHOLD = 0.3


@dataclass(frozen=True)
class CouplingInkTest:
    """What :func:`coupling_ink_test` measured, for ``n`` digits on a ``grid x grid`` grid.

    ``maps``: ``(n, grid, grid)`` each cell's length-weighted coupling to the true
    class; ``ink``: ``(n, grid, grid)`` the mean ink under each cell; ``r``: ``(n,)``
    the per-digit correlation between the two (``nan`` where either is constant);
    ``r_mean``, ``r_se``: over the digits with an r; ``held``: ``r_mean - 2 r_se >
    threshold``; ``true_class_share``: the share of primary capsules (all digits)
    whose largest coupling goes to the digit's true class (chance: 1 / classes);
    ``largest_mean``, ``largest_max``: a primary capsule's largest coupling.
    """

    maps: Tensor
    ink: Tensor
    r: Tensor
    r_mean: float
    r_se: float
    threshold: float
    held: bool
    true_class_share: float
    chance: float
    largest_mean: float
    largest_max: float


def coupling_ink_test(
    couplings: Tensor,
    primary_lengths: Tensor,
    images: Tensor,
    labels: Tensor,
    config,
    threshold: float = INK_RULE_THRESHOLD,
) -> CouplingInkTest:
    """Chapter 9's test of "routing sends the parts of the digit to the digit", on the grid.

    ``couplings``: ``(n, in_caps, classes)`` from ``CapsNet(..., return_couplings=True)``;
    ``primary_lengths``: ``(n, in_caps)`` (:func:`primary_capsule_lengths`);
    ``images``: ``(n, 1, H, W)``; ``labels``: ``(n,)`` true classes; ``config``: the
    network's :class:`capslib.models.CapsNetConfig` (grid, types, receptive field).
    For each digit: the coupling of each grid cell to the true class (its capsule
    types weighted by their lengths, :func:`couplings_for_class`), the ink under the
    cell (:func:`ink_per_position`) and their correlation over the cells
    (:func:`grid_correlations`).  The rule holds if the mean r over the digits
    exceeds ``threshold`` by more than 2 standard errors.
    """
    labels = torch.as_tensor(labels).long().cpu()
    couplings, primary_lengths = (
        couplings.detach().cpu(),
        primary_lengths.detach().cpu(),
    )
    maps = couplings_for_class(
        couplings,
        labels,
        config.primary_types,
        config.primary_grid,
        weights=primary_lengths,
    )
    size, stride = primary_receptive_field(config)
    ink = ink_per_position(torch.as_tensor(images).cpu(), size, stride)
    r_all = grid_correlations(maps, ink)
    r = r_all[~r_all.isnan()]
    if len(r) < 2:
        raise ValueError(
            f"coupling_ink_test: expected at least 2 digits with a correlation, got {len(r)}"
        )
    r_mean, r_se = r.mean().item(), (r.std() / len(r) ** 0.5).item()
    largest = couplings.max(dim=-1)
    return CouplingInkTest(
        maps=maps,
        ink=ink,
        r=r_all,
        r_mean=r_mean,
        r_se=r_se,
        threshold=threshold,
        held=r_mean - 2 * r_se > threshold,
        true_class_share=(largest.indices == labels[:, None]).float().mean().item(),
        chance=1.0 / couplings.shape[-1],
        largest_mean=largest.values.mean().item(),
        largest_max=largest.values.max().item(),
    )


@torch.no_grad()
def routed_couplings(model, images: Tensor, batch_size: int = 100):
    """``(couplings, primary_lengths)`` of a CapsNet on ``images``, in batches, on the CPU.

    ``couplings``: ``(n, in_caps, classes)``; ``primary_lengths``: ``(n, in_caps)``;
    the images are moved to the model's device batch by batch.
    """
    device = next(model.parameters()).device
    couplings, lengths = [], []
    for x in torch.as_tensor(images).split(batch_size):
        x = x.to(device)
        couplings.append(model(x, return_couplings=True).couplings.cpu())
        lengths.append(primary_capsule_lengths(model, x).cpu())
    return torch.cat(couplings), torch.cat(lengths)


def plant_ink_tilt(
    couplings: Tensor, images: Tensor, labels: Tensor, config, amplitude: float
) -> Tensor:
    """Couplings built to follow the ink: a positive control for :func:`coupling_ink_test`.

    ``couplings``: ``(n, in_caps, classes)``, type-major as :func:`couplings_for_class`
    reads them; ``images``: ``(n, 1, H, W)``; ``labels``: ``(n,)``; ``config``: the
    network's grid and receptive field.  For each digit, ``z`` is the ink under each
    grid cell (:func:`ink_per_position`) standardised over the digit's cells (mean 0,
    SD 1).  Every primary capsule at a cell gets ``amplitude * z`` added to its coupling
    to the digit's true class and ``amplitude * z / (classes - 1)`` taken from each
    other class, so its couplings still sum to 1 and the test's length-weighted map
    moves by exactly ``amplitude * z``: an effect of known size, laid along the ink.
    Returns new couplings of the same shape; raises ``ValueError`` if the amplitude
    would make a coupling negative.
    """
    couplings = couplings.detach().cpu().double()
    n, in_caps, classes = couplings.shape
    types, grid = config.primary_types, config.primary_grid
    if in_caps != types * grid * grid:
        raise ValueError(
            f"plant_ink_tilt: expected {types} x {grid} x {grid} = "
            f"{types * grid * grid} input capsules, got {in_caps}"
        )
    size, stride = primary_receptive_field(config)
    ink = ink_per_position(torch.as_tensor(images).cpu(), size, stride).double()
    flat = ink.flatten(1)
    z = (flat - flat.mean(1, keepdim=True)) / flat.std(1, keepdim=True).clamp_min(1e-12)
    tilt = (amplitude * z).repeat(1, types)  # (n, in_caps): type-major, like the input
    labels = torch.as_tensor(labels).long().cpu()
    to_label = torch.nn.functional.one_hot(labels, classes).double()[:, None, :]
    change = tilt[..., None] * (to_label - (1 - to_label) / (classes - 1))
    planted = couplings + change
    if planted.min() < 0:
        raise ValueError(
            f"plant_ink_tilt: amplitude {amplitude} makes a coupling negative "
            f"(lowest {planted.min().item():.4f}); use a smaller one"
        )
    return planted.float()


def shuffle_positions(
    couplings: Tensor, primary_lengths: Tensor, config, generator=None
) -> tuple[Tensor, Tensor]:
    """A negative control for :func:`coupling_ink_test`: the grid cells moved at random.

    Within each digit, the ``grid * grid`` positions are permuted (one permutation
    for all the capsule types of the digit, a new one for each digit), carrying each
    capsule's couplings and length with it.  Each digit keeps the same couplings,
    only at other cells, so any relation between a cell's coupling and the ink under
    it is broken.  Returns ``(couplings, primary_lengths)`` of the input shapes.
    """
    n, in_caps, classes = couplings.shape
    types, cells = config.primary_types, config.primary_grid**2
    if in_caps != types * cells or primary_lengths.shape != (n, in_caps):
        raise ValueError(
            f"shuffle_positions: expected couplings (n, {types * cells}, classes) and "
            f"lengths (n, {types * cells}), got {tuple(couplings.shape)} and "
            f"{tuple(primary_lengths.shape)}"
        )
    order = torch.stack([torch.randperm(cells, generator=generator) for _ in range(n)])
    by_cell = couplings.detach().cpu().view(n, types, cells, classes)
    lengths = primary_lengths.detach().cpu().view(n, types, cells)
    index = order[:, None, :].expand(n, types, cells)
    moved = by_cell.gather(2, index[..., None].expand(n, types, cells, classes))
    return moved.reshape(n, in_caps, classes), lengths.gather(2, index).reshape(n, -1)


@dataclass(frozen=True)
class CouplingPolarization:
    """What :func:`coupling_polarization` measured, one entry per iteration count.

    ``iterations``: the counts, in order; for each (lists of floats, one per count):
    ``largest_mean`` and ``largest_max``, a primary capsule's largest coupling (mean
    over all primary capsules of all digits, and the highest); ``largest_se``: the
    standard error of ``largest_mean`` over the digits; ``above_half``: the share of
    primary capsules whose largest coupling exceeds 0.5; ``true_class_share``: the
    share whose largest coupling goes to the digit's true class (chance: 1 /
    classes); ``errors``: the digits the network gets wrong with that count.
    ``per_digit``: ``(counts, n)`` each digit's mean largest coupling, for paired
    comparisons between counts.
    """

    iterations: list[int]
    largest_mean: list[float]
    largest_se: list[float]
    largest_max: list[float]
    above_half: list[float]
    true_class_share: list[float]
    errors: list[int]
    per_digit: Tensor
    chance: float


@torch.no_grad()
def coupling_polarization(
    model, images: Tensor, labels: Tensor, iterations=(3, 5, 10, 20), batch_size=100
) -> CouplingPolarization:
    """How polarized routing's couplings become as the iterations go on (Paik et al.).

    ``model``: a trained :class:`capslib.models.CapsNet`; ``images``: ``(n, 1, H, W)``;
    ``labels``: ``(n,)``.  Each digit's predictions :math:`\\hat u_{j|i}` are routed
    once, for ``max(iterations)`` iterations of Procedure 1 (the weights are not
    changed), and the couplings and capsules are read after each count in
    ``iterations``: routing is sequential, so what a run of ``k`` iterations gives is
    what a longer run holds after its ``k``-th (the tests check this against
    :func:`capslib.functional.dynamic_routing`).  Each primary capsule's couplings
    over the classes are summarised: the largest one, how often it exceeds 0.5, and
    how often it goes to the true class.  A coupling of 1 is one-hot; 1 / classes is
    uniform (with one iteration every class ties, so ask for counts of 2 or more to
    read ``true_class_share``).
    """
    from capslib.functional import squash

    model.eval()
    device = next(model.parameters()).device
    labels = torch.as_tensor(labels).long().cpu()
    counts = sorted({int(k) for k in iterations})
    if not counts or counts[0] < 1:
        raise ValueError(
            f"coupling_polarization: expected iteration counts >= 1, got {iterations!r}"
        )
    largest, above, true, wrong = ({k: [] for k in counts} for _ in range(4))
    classes = None
    for x, y in zip(
        torch.as_tensor(images).split(batch_size), labels.split(batch_size)
    ):
        u_hat = model.digit_caps.predictions(model.primary_capsules(x.to(device)))
        classes = u_hat.shape[2]
        b = torch.zeros(u_hat.shape[:3], device=u_hat.device, dtype=u_hat.dtype)
        for k in range(1, counts[-1] + 1):
            c = b.softmax(dim=2)  # (batch, in_caps, classes)
            v = squash(torch.einsum("bij,bijd->bjd", c, u_hat))  # (batch, classes, dim)
            if k in largest:
                top = c.max(dim=-1)  # over the classes: (batch, in_caps)
                largest[k].append(top.values.cpu())
                above[k].append((top.values > 0.5).cpu())
                true[k].append(top.indices.cpu() == y[:, None])
                wrong[k].append(v.norm(dim=-1).argmax(1).cpu() != y)
            b = b + torch.einsum("bijd,bjd->bij", u_hat, v)  # agreement
    per_digit = torch.stack([torch.cat(largest[k]).mean(1) for k in counts])
    n = per_digit.shape[1]
    return CouplingPolarization(
        iterations=counts,
        largest_mean=[torch.cat(largest[k]).mean().item() for k in counts],
        largest_se=[(p.std() / n**0.5).item() for p in per_digit],
        largest_max=[torch.cat(largest[k]).max().item() for k in counts],
        above_half=[torch.cat(above[k]).float().mean().item() for k in counts],
        true_class_share=[torch.cat(true[k]).float().mean().item() for k in counts],
        errors=[int(torch.cat(wrong[k]).sum()) for k in counts],
        per_digit=per_digit,
        chance=1.0 / classes,
    )
