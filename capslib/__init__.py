"""capslib: Capsule Networks (Sabour, Frosst & Hinton 2017) in readable, tested PyTorch.

The library behind the course "Capsule Networks, from pooling to GPU training".
Functions first (:mod:`capslib.functional`), modules on top (:mod:`capslib.nn`,
:mod:`capslib.models`), the CPU fast paths in :mod:`capslib.kernels`.  Data in
:mod:`capslib.data`, training in :mod:`capslib.train`, shipped models in
:mod:`capslib.pretrained`, modes, devices, seeding and versions in
:mod:`capslib.runtime`, the training dtype in :mod:`capslib.precision`.  The
book's aids (glue, diagrams, exercises, toy worlds, probes) are the separate
package :mod:`capsbook`, which imports capslib; capslib never imports it.
"""

from .runtime import (
    default_device,
    describe_run,
    device_name,
    get_mode,
    is_quick,
    seed_everything,
    versions,
)

__version__ = "0.1.0"
REPOSITORY = "https://github.com/capsnet-course/capsule-networks-course"

__all__ = [
    "REPOSITORY",
    "__version__",
    "default_device",
    "describe_run",
    "device_name",
    "get_mode",
    "is_quick",
    "seed_everything",
    "versions",
]
