"""capslib: Capsule Networks (Sabour, Frosst & Hinton 2017) in readable, tested PyTorch.

The library behind the course "Capsule Networks, from pooling to GPU training".
Functions first (:mod:`capslib.functional`), modules on top (:mod:`capslib.nn`,
:mod:`capslib.models`).  Data in :mod:`capslib.data`, modes in :mod:`capslib.mode`.
"""
__version__ = "0.1.0"
REPOSITORY = "https://github.com/capsnet-course/capsule-networks-course"

from .mode import default_device, describe_run, device_name, get_mode, is_quick, versions  # noqa: E402
from .repro import seed_everything  # noqa: E402

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


def __getattr__(name: str):
    """Import submodules on first use, so that ``capslib.exercises.check_unsquash`` works after ``import capslib``."""
    import importlib

    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
