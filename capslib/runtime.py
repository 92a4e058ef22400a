"""Runtime facts: quick and full modes, the device, seeding, versions, and the one line every result carries.

One switch serves every notebook and script: the environment variable
``CAPSLIB_MODE`` set to ``quick`` (the default, also when it is unset),
``full`` or ``auto``.  Full mode runs only when asked for: ``full``, or
``auto``, which means ``full`` where a CUDA GPU is present and ``quick``
otherwise.  A GPU alone never starts hours of training.

* quick: small data and few steps, so that each notebook runs in under three
  minutes on two CPU cores (the book is built and tested in this mode);
* full: the paper's settings (complete data, full schedules), meant for a GPU.
"""

from __future__ import annotations

import os
import platform
import random
import sys

import numpy as np
import torch

MODE_ENV_VAR = "CAPSLIB_MODE"
MODES = ("quick", "full")


def get_mode(mode: str | None = None) -> str:
    """Return ``"quick"`` or ``"full"``; ``"quick"`` unless full mode is asked for.

    ``mode`` overrides the environment variable ``CAPSLIB_MODE``.  With neither
    (or an empty value) the mode is ``"quick"``, on a GPU too: full mode trains
    for hours, so it runs only when the reader asks, with ``"full"``, or with
    ``"auto"`` (full on a CUDA GPU, quick otherwise).

    >>> get_mode("full"), get_mode(" Quick ")
    ('full', 'quick')
    """
    value = mode if mode is not None else os.environ.get(MODE_ENV_VAR, "quick")
    if not isinstance(value, str):
        raise TypeError(
            f"mode: expected a string (quick, full or auto), got {type(value).__name__}"
        )
    value = value.strip().lower() or "quick"
    if value == "auto":
        return "full" if torch.cuda.is_available() else "quick"
    if value not in MODES:
        raise ValueError(
            f"{MODE_ENV_VAR} must be one of quick, full or auto, got {value!r}; "
            f"fix it with e.g. `export {MODE_ENV_VAR}=quick`"
        )
    return value


def is_quick(mode: str | None = None) -> bool:
    """True in quick mode (see :func:`get_mode`)."""
    return get_mode(mode) == "quick"


def default_device() -> torch.device:
    """The device to compute on: the first CUDA GPU if there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name(device: torch.device | str | None = None) -> str:
    """A human-readable name, e.g. ``"NVIDIA H100 80GB HBM3"`` or ``"CPU (2 threads, x86_64)"``."""
    device = torch.device(device) if device is not None else default_device()
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model, extensions = cpu_model()
    threads = torch.get_num_threads()
    details = ", ".join(
        [
            f"{threads} thread{'' if threads == 1 else 's'}",
            platform.machine() or "unknown",
            *extensions,
        ]
    )
    return f"CPU {model} ({details})" if model else f"CPU ({details})"


def _cpuinfo() -> str:
    """The text of ``/proc/cpuinfo`` (Linux), or ``""`` where there is none."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            return cpuinfo.read()
    except OSError:
        return ""


def _first_field(text: str, key: str) -> str:
    """The value of the first ``key : value`` line of ``/proc/cpuinfo``'s ``text`` (``""`` if none)."""
    return next(
        (line.split(":", 1)[1] for line in text.splitlines() if line.startswith(key)),
        "",
    )


def cpu_flags() -> set[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (Linux; an empty set elsewhere)."""
    return set(_first_field(_cpuinfo(), "flags").split())


def cpu_model() -> tuple[str, list[str]]:
    """The CPU's model name and its wide vector units, from ``/proc/cpuinfo`` (Linux; else ``("", [])``).

    E.g. ``("Intel(R) Xeon(R) Processor", ["AVX-512", "AMX"])``: what decides how fast a CPU trains
    (AVX-512 doubles the float32 FLOPs of AVX2; AMX multiplies bf16 matrices in hardware).
    """
    text = _cpuinfo()
    if not text:
        return "", []
    model = _first_field(text, "model name").strip()
    flags = cpu_flags()
    extensions = [
        name
        for name, flag in (
            ("AVX2", "avx2"),
            ("AVX-512", "avx512f"),
            ("AMX", "amx_bf16"),
        )
        if flag in flags
    ]
    if "AVX-512" in extensions:
        extensions.remove("AVX2")
    return model, extensions


def describe_run(
    *,
    mode: str | None = None,
    device: torch.device | str | None = None,
    data: str | None = None,
) -> str:
    """The line that every training or evaluation output carries.

    >>> describe_run(mode="quick", device="cpu", data="MNIST sample: 5,000 train")  # doctest: +ELLIPSIS
    'mode=quick | data=MNIST sample: 5,000 train | device=CPU (...)'
    """
    parts = [f"mode={get_mode(mode)}"]
    if data:
        parts.append(f"data={data}")
    parts.append(f"device={device_name(device)}")
    return " | ".join(parts)


def versions() -> dict[str, str]:
    """Versions of Python and the libraries the course depends on."""
    import matplotlib
    import numpy
    import torchvision

    report = {
        "python": sys.version.split()[0],
        "capslib": _capslib_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": numpy.__version__,
        "matplotlib": matplotlib.__version__,
        "cuda": torch.version.cuda or "none",
    }
    return report


def seed_everything(seed: int = 0, *, deterministic: bool = True) -> int:
    """Seed Python's, NumPy's and PyTorch's generators (CPU and every GPU).

    With ``deterministic=True`` PyTorch is also asked for deterministic
    algorithms where they exist (``warn_only``, so an operation without one
    still runs), which makes two CPU runs with the same seed bitwise identical.
    Returns the seed, so a notebook can print what it used.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(
            f"seed_everything: expected an int seed, got {type(seed).__name__}"
        )
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed_everything: expected 0 <= seed < 2**32, got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    return seed


def _capslib_version() -> str:
    """capslib's installed version (read from the package metadata: no import of capslib itself)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("capslib")
    except PackageNotFoundError:  # run from a source tree without installing
        return "unknown"
