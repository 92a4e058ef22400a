"""Which number format to train in: the choice behind ``--dtype auto``.

A dtype is worth choosing only where the hardware computes it natively.
bfloat16 halves the bytes of every matrix and, on a processor with bf16
units, doubles or triples the speed of the matrix products; where it is only
emulated it is slower than float32.  So ``auto`` asks the hardware, never
the vendor's name:

* a CPU with AMX (``amx_bf16``) or AVX512_BF16 (``avx512_bf16``): bf16
  autocast (appendix B of the book times the paper CapsNet's training step
  in float32 and in bf16 side by side, in alternating rounds, on the machine
  that builds the page: 1.7-1.8x on an AMD EPYC with AVX512_BF16, 1 thread,
  2026-12-07, after the bf16 fast paths of the fused convolution and routing;
  ``python -m capslib.bench --dtypes float32,bfloat16`` measures it anywhere,
  and the project's parity runs compare the accuracy);
* any other CPU: float32;
* a GPU with bf16 units (``torch.cuda.is_bf16_supported(including_emulation=False)``:
  Ampere and newer): bf16 autocast;
* a GPU without them but with float16 tensor cores (compute capability 7.x,
  e.g. a Colab T4): float16 autocast with loss scaling;
* an older GPU: float32.

Under autocast the precision-sensitive parts stay in float32 whatever is
chosen: the squash and the capsule lengths reduce in float64/float32, the
routing logits and their softmax are float32, and both losses are summed in
float32 (:mod:`capslib.functional`).  The weights and Adam's state are
always float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import runtime

#: The values ``--dtype`` accepts.
DTYPES = ("auto", "float32", "bfloat16", "float16")

_AUTOCAST = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class DtypeChoice:
    """A training dtype and why it was chosen.

    ``name`` is ``"float32"``, ``"bfloat16"`` or ``"float16"``; ``reason``
    is one sentence a run prints and records in its ``summary.json``.
    """

    name: str
    reason: str

    @property
    def autocast(self) -> torch.dtype | None:
        """The autocast dtype (``None``: plain float32, no autocast)."""
        return _AUTOCAST[self.name]


def cpu_bf16_units(flags: set[str] | None = None) -> list[str]:
    """The CPU's native bf16 matrix units: a sublist of ``["AMX", "AVX512_BF16"]``.

    Read from the CPU's flags (``amx_bf16``, ``avx512_bf16``), not guessed
    from its vendor; ``flags`` overrides ``/proc/cpuinfo`` (for tests).
    """
    flags = runtime.cpu_flags() if flags is None else flags
    return [
        unit
        for unit, flag in (("AMX", "amx_bf16"), ("AVX512_BF16", "avx512_bf16"))
        if flag in flags
    ]


def gpu_has_native_bf16(device: torch.device) -> bool:
    """True when ``device`` (a CUDA GPU) computes bf16 in hardware, emulation not counted."""
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # a torch without the argument (before 2.3): native bf16 needs compute capability 8.0
        return torch.cuda.get_device_capability(device) >= (8, 0)


def choose_dtype(requested: str, device: torch.device | str) -> DtypeChoice:
    """The dtype to train in on ``device`` for ``--dtype requested``, with the reason.

    ``requested`` other than ``"auto"`` is taken as it is (the reason says so).

    >>> choose_dtype("float32", "cpu")
    DtypeChoice(name='float32', reason='--dtype float32 was asked for')
    """
    if requested not in DTYPES:
        raise ValueError(
            f"dtype: expected one of {', '.join(DTYPES)}, got {requested!r}"
        )
    if requested != "auto":
        return DtypeChoice(requested, f"--dtype {requested} was asked for")
    device = torch.device(device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        if gpu_has_native_bf16(device):
            return DtypeChoice("bfloat16", f"auto: {name} has native bf16 units")
        capability = torch.cuda.get_device_capability(device)
        if capability >= (7, 0):
            return DtypeChoice(
                "float16",
                f"auto: {name} (compute capability {capability[0]}.{capability[1]}) "
                "has float16 tensor cores but no native bf16; float16 with loss scaling",
            )
        return DtypeChoice(
            "float32", f"auto: {name} has neither native bf16 nor float16 tensor cores"
        )
    if device.type == "cpu":
        units = cpu_bf16_units()
        if units:
            return DtypeChoice(
                "bfloat16", f"auto: this CPU has native bf16 ({' and '.join(units)})"
            )
        return DtypeChoice(
            "float32", "auto: this CPU has no native bf16 (no AMX, no AVX512_BF16)"
        )
    return DtypeChoice("float32", f"auto: float32 on a {device.type} device")
