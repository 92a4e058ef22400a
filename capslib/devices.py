"""Which device a setting names: ``cpu``, ``cuda`` or ``cuda:N``, checked once for every entry point.

The trainer (``--device``), the benchmark (``--device``) and
:func:`capslib.pretrained.load` (``device=``) all read a device name through
:func:`parse_device`, so a name that torch does not know (``"gpu"``), a GPU
asked for on a machine without one, or an index past the last GPU fails in one
line that says what was expected, instead of a torch traceback at first use.
"""

from __future__ import annotations

import torch

__all__ = ["parse_device"]


def parse_device(name, what: str = "device") -> torch.device:
    """``name`` (a string or a ``torch.device``) as a ``torch.device`` that exists here.

    Raises ``ValueError`` naming ``what`` (e.g. ``"--device"``) and the fix.
    """
    if isinstance(name, torch.device):
        device = name
    else:
        try:
            device = torch.device(name)
        except (RuntimeError, TypeError):
            raise ValueError(
                f"{what}: expected cpu, cuda or cuda:N, got {name!r}"
            ) from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"{what}: expected cpu, cuda or cuda:N, got {name!r}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"{what}: {str(name)!r} asked for, but no CUDA GPU is available here "
                f"(torch {torch.__version__}); use cpu, or leave the device out"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(
                f"{what}: {str(name)!r} asked for, but this machine has {count} GPU(s), "
                f"cuda:0 to cuda:{count - 1}"
            )
    return device
