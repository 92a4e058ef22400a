"""Where a face's parts are against where they belong: the measure of a scrambled face."""

from __future__ import annotations

import torch

from .dataset import FaceDataset
from .drawing import PART_SLOTS, frame_to_image


def home_positions(dataset: FaceDataset) -> torch.Tensor:
    """Where each part would sit if the image were a face with the same oval: ``(n, 4, 2)`` pixels.

    The four places of :data:`PART_SLOTS`, scaled, tilted and moved with each
    image's recorded ``face_poses`` (no part jitter); ``NaN`` where there is no oval.
    """
    scale = dataset.face_poses[:, 2]
    frame = (
        PART_SLOTS[None] * dataset.size * scale[:, None, None]
    )  # (n, 4, 2) in the face's frame
    return frame_to_image(frame, dataset.face_poses)


def part_displacements(dataset: FaceDataset) -> torch.Tensor:
    """How far each part sits from its place in a face, in pixels: ``(n, 4)``, ``NaN`` where it is absent.

    About the part jitter (under a pixel) for a face; for a scrambled face, the
    distance its part was moved to another part's place.
    """
    return torch.linalg.vector_norm(
        dataset.part_centres - home_positions(dataset), dim=-1
    )


__all__ = ["home_positions", "part_displacements"]
