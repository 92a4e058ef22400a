"""The face dataset: images, labels, and what drew each image (its kind, its parts, its pose)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

FACE, NON_FACE, SCRAMBLED = 0, 1, 2
"""Codes of the three kinds of image (``FaceDataset.kinds``)."""

KIND_NAMES = ("face", "non-face", "scrambled face")
"""``KIND_NAMES[kind]`` names a kind code."""

CLASS_NAMES = ("not a face", "face")
"""The classification task's classes: label 1 is a face, label 0 is anything else."""

PART_NAMES = ("left eye", "right eye", "nose", "mouth")
"""The four parts, in the order of ``FaceDataset.part_centres``'s second axis."""


@dataclass
class FaceDataset(torch.utils.data.Dataset):
    """Face / non-face images and what drew them.

    * ``images``: ``(n, 1, size, size)`` float32 in [0, 1];
    * ``labels``: ``(n,)`` int64, 1 for a face and 0 otherwise (a scrambled
      face is *not* a face: label 0);
    * ``kinds``: ``(n,)`` int64, :data:`FACE`, :data:`NON_FACE` or :data:`SCRAMBLED`;
    * ``part_centres``: ``(n, 4, 2)`` float32, the ``(x, y)`` pixel centre of
      each part in :data:`PART_NAMES` order, ``NaN`` where the part is absent;
    * ``face_poses``: ``(n, 4)`` float32, the oval's ``(x, y, scale, tilt in
      degrees)``, ``NaN`` where there is no oval.

    Works as a ``torch.utils.data.Dataset`` of ``(image, label)`` pairs.
    """

    images: torch.Tensor
    labels: torch.Tensor
    kinds: torch.Tensor
    part_centres: torch.Tensor
    face_poses: torch.Tensor
    notes: list[str] = field(default_factory=list)
    classes: tuple[str, ...] = CLASS_NAMES

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim != 4 or self.images.shape[1] != 1:
            raise ValueError(
                f"FaceDataset: expected images (n, 1, h, w), got {tuple(self.images.shape)}"
            )
        shapes = {
            "labels": (n,),
            "kinds": (n,),
            "part_centres": (n, 4, 2),
            "face_poses": (n, 4),
        }
        for name, shape in shapes.items():
            if tuple(getattr(self, name).shape) != shape:
                raise ValueError(
                    f"FaceDataset: expected {name} of shape {shape}, "
                    f"got {tuple(getattr(self, name).shape)}"
                )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]

    @property
    def size(self) -> int:
        """The images' height and width in pixels."""
        return self.images.shape[-1]

    def describe(self) -> str:
        """E.g. ``"synthetic faces (28x28): 1,000 faces, 1,000 non-faces"`` (a result's provenance)."""
        counts = [
            f"{int((self.kinds == k).sum()):,} {name}s"
            for k, name in enumerate(KIND_NAMES)
            if (self.kinds == k).any()
        ]
        return f"synthetic faces ({self.size}x{self.size}): " + ", ".join(counts)

    def select(self, index: torch.Tensor) -> FaceDataset:
        """The examples at ``index`` (a boolean mask or integer indices), as a new dataset."""
        return FaceDataset(
            self.images[index],
            self.labels[index],
            self.kinds[index],
            self.part_centres[index],
            self.face_poses[index],
            list(self.notes),
            self.classes,
        )

    def of_kind(self, kind: int) -> FaceDataset:
        """Only the faces, non-faces or scrambled faces (``kind`` is one of the kind codes)."""
        if kind not in (FACE, NON_FACE, SCRAMBLED):
            raise ValueError(
                f"of_kind: expected FACE (0), NON_FACE (1) or SCRAMBLED (2), got {kind!r}"
            )
        return self.select(self.kinds == kind)

    @staticmethod
    def concatenate(datasets: list[FaceDataset]) -> FaceDataset:
        """One dataset holding the examples of ``datasets`` in order."""
        if not datasets:
            raise ValueError("concatenate: expected at least one FaceDataset, got none")
        return FaceDataset(
            *(
                torch.cat([getattr(d, name) for d in datasets])
                for name in ("images", "labels", "kinds", "part_centres", "face_poses")
            ),
            notes=[note for d in datasets for note in d.notes],
        )


__all__ = [
    "CLASS_NAMES",
    "FACE",
    "FaceDataset",
    "KIND_NAMES",
    "NON_FACE",
    "PART_NAMES",
    "SCRAMBLED",
]
