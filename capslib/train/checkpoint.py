"""Checkpoints that survive a crash and resume a run exactly.

A checkpoint holds everything that decides what training does next: the
model's and optimizer's and scheduler's state, the step and epoch, and the
state of every random number generator (Python, NumPy, torch CPU, every CUDA
device).  Two rules make it safe:

* **atomic writes**: the new file is written beside the old one under a
  temporary name, flushed to disk, and then renamed over it with
  ``os.replace`` (atomic on POSIX and Windows).  Before that, the last good
  checkpoint is kept as ``<name>.prev.pt``.  A crash in the middle of a write
  leaves the temporary file, never a half-written checkpoint;
* **safe loading**: ``torch.load(weights_only=True)``, which unpickles only
  tensors and plain Python containers (no code).  So every state is stored as
  tensors, numbers, strings, lists and dicts.

A crash (power cut, ``kill -9``) *between* the two renames leaves no
``<name>.pt`` but a good ``<name>.prev.pt``: :func:`resume_path` then picks the
previous checkpoint and says so (the run redoes at most one epoch).  A
``<name>.pt`` that is there but damaged is never passed over silently: loading
it stops with an error naming the file and the fix.
"""

from __future__ import annotations

import errno
import hashlib
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .interrupts import deferred

CHECKPOINT_NAME = "last.pt"
PREVIOUS_SUFFIX = ".prev.pt"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable or not a capslib training checkpoint."""


def previous_path(path: str | os.PathLike) -> Path:
    """Where the previous good checkpoint is kept: ``last.pt`` -> ``last.prev.pt``."""
    path = Path(path)
    return path.with_name(
        path.name[: -len(path.suffix)] + PREVIOUS_SUFFIX
        if path.suffix
        else path.name + PREVIOUS_SUFFIX
    )


def rng_state() -> dict[str, Any]:
    """The state of every generator, as tensors and plain types (loadable with ``weights_only=True``)."""
    version, internal, gauss = random.getstate()
    kind, keys, position, has_gauss, cached = np.random.get_state()
    state = {
        "python": [version, list(internal), gauss],
        "numpy": [
            kind,
            torch.from_numpy(keys.astype(np.int64)),
            int(position),
            int(has_gauss),
            float(cached),
        ],
        "torch": torch.get_rng_state(),
        "cuda": [s for s in torch.cuda.get_rng_state_all()]
        if torch.cuda.is_available()
        else [],
    }
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state(
        (kind, keys.cpu().numpy().astype(np.uint32), position, has_gauss, cached)
    )
    # States are CPU byte tensors, wherever map_location put the checkpoint's tensors.
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") and torch.cuda.is_available():
        cuda = [s.cpu() for s in state["cuda"][: torch.cuda.device_count()]]
        torch.cuda.set_rng_state_all(cuda)


def state_checksum(state: Any) -> str:
    """A SHA256 over everything in ``state`` (tensor bytes, numbers, strings), in a fixed order.

    Stored in every checkpoint as ``"checksum"`` and recomputed at load: a few
    flipped bytes inside a tensor still unpickle fine and would fail far away,
    at some later step; this finds them at once.
    """
    digest = hashlib.sha256()

    def feed(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous()
            digest.update(f"T{tensor.dtype}{tuple(tensor.shape)}".encode())
            digest.update(
                tensor.reshape(-1).view(torch.uint8).numpy().tobytes()
                if tensor.numel()
                else b""
            )
        elif isinstance(value, dict):
            digest.update(b"{")
            for key in sorted(value, key=str):
                if key != "checksum":
                    digest.update(repr(key).encode())
                    feed(value[key])
            digest.update(b"}")
        elif isinstance(value, (list, tuple)):
            digest.update(b"[")
            for item in value:
                feed(item)
            digest.update(b"]")
        else:
            digest.update(repr(value).encode())

    feed(state)
    return digest.hexdigest()


def remove_stale_temporaries(path: str | os.PathLike) -> list[str]:
    """Remove the ``.<name>.tmp-PID`` files that writers of ``path`` which are no longer running
    left behind (a ``kill -9`` in the middle of :func:`save_checkpoint`); returns their names."""
    path = Path(path)
    removed = []
    for leftover in path.parent.glob(f".{path.name}.tmp-*"):
        pid = leftover.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
            leftover.unlink(missing_ok=True)
            removed.append(leftover.name)
    return sorted(removed)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process: alive
        return True
    return True


def _write_failed(path: Path, err: BaseException) -> CheckpointError:
    """The one-line error of a checkpoint that could not be written (a full disk, most often)."""
    try:
        usage = shutil.disk_usage(path.parent)
        space = (
            f"the disk holding {path.parent} has {usage.free / 1e6:,.0f} MB free "
            f"of {usage.total / 1e9:,.1f} GB"
        )
    except OSError:
        space = f"the disk holding {path.parent} could not be queried"
    full = isinstance(err, OSError) and err.errno == errno.ENOSPC
    detail = (str(err).strip().splitlines() or [type(err).__name__])[0]
    previous = (
        f"the previous {path.name} is intact"
        if path.exists()
        else f"no {path.name} was there before"
    )
    return CheckpointError(
        f"could not write the checkpoint {path} ({'the disk is full' if full else detail}); "
        f"{space}; {previous}, and the unfinished file was removed. Fix: free space there "
        f"(or choose another --out), then continue with --resume."
    )


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically, keeping the previous checkpoint as ``*.prev.pt``.

    ``state`` must hold only tensors and plain types (so that it loads with
    ``weights_only=True``); its :func:`state_checksum` is stored with it.
    SIGINT and SIGTERM are held back until the write is complete
    (:func:`capslib.train.interrupts.deferred`).  Returns the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    state = {**state, "checksum": state_checksum(state)}
    remove_stale_temporaries(path)
    with deferred():
        try:
            try:
                with open(temporary, "wb") as handle:
                    torch.save(state, handle)
                    handle.flush()
                    os.fsync(handle.fileno())
            except (
                OSError,
                RuntimeError,
            ) as err:  # torch reports a full disk as a RuntimeError
                temporary.unlink(missing_ok=True)
                raise _write_failed(path, err) from err
            if path.exists():
                os.replace(
                    path, previous_path(path)
                )  # the last good checkpoint stays on disk
            os.replace(temporary, path)
        finally:
            if temporary.exists():
                temporary.unlink()
    return path


def load_state(
    path: str | os.PathLike,
    *,
    map_location: str | torch.device = "cpu",
    required: tuple[str, ...] = (),
    what: str = "checkpoint",
    fix: str = "",
) -> dict[str, Any]:
    """Load a file written by :func:`save_checkpoint`, verified: readable, a dict with ``required`` keys,
    and its checksum (when it has one) equal to its content's.  Raises :class:`CheckpointError` naming
    the file, what is wrong, and ``fix``."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for a damaged file
        detail = str(err).splitlines()[0] if str(err) else "no detail"
        if "weights_only" in str(err):  # never pass on torch's advice to unpickle code
            detail = "not a file that loads safely with torch.load(weights_only=True)"
        raise CheckpointError(
            f"the {what} {path} is corrupt or unreadable ({type(err).__name__}: "
            f"{detail}). It was left as it is. {fix}"
        ) from err
    missing = (
        [key for key in required if key not in state]
        if isinstance(state, dict)
        else ["everything"]
    )
    if missing:
        raise CheckpointError(
            f"{path} is not a capslib {what} (missing {', '.join(missing)}). {fix}"
        )
    if "checksum" in state and state["checksum"] != state_checksum(state):
        raise CheckpointError(
            f"the {what} {path} is damaged: its content does not match the checksum stored "
            f"with it (some bytes changed after it was written). It was left as it is. {fix}"
        )
    return state


def resume_path(path: str | os.PathLike) -> tuple[Path, str | None]:
    """The checkpoint to resume from for ``path`` and, when it is not ``path`` itself, why.

    Returns ``(path, None)`` when ``path`` exists (even if it is damaged:
    :func:`load_checkpoint` then refuses it with a clear error) or when neither
    it nor the previous checkpoint exists (the same error for a missing file).
    When only ``<name>.prev.pt`` is there (a crash between the two renames of
    :func:`save_checkpoint`), returns ``(previous, message)``: the caller must
    show the message, never resume silently from an older state.
    """
    path = Path(path)
    previous = previous_path(path)
    if path.exists() or not previous.is_file():
        return path, None
    removed = remove_stale_temporaries(path)
    leftovers = sorted(p.name for p in path.parent.glob(f".{path.name}.tmp-*"))
    message = (
        f"note: {path} is missing but the previous checkpoint {previous} is there (a crash while the "
        f"checkpoint was being replaced). Resuming from {previous}: up to one epoch of progress made "
        f"after it will be redone."
    )
    if removed:
        message += (
            f" Unfinished file(s) of the crashed write removed: {', '.join(removed)}."
        )
    if leftovers:
        message += (
            f" Unfinished temporary file(s) of a running process left as they are: "
            f"{', '.join(leftovers)}."
        )
    return previous, message


def load_checkpoint(
    path: str | os.PathLike, *, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Raises :class:`CheckpointError` naming the file and the fix when it is
    missing, unreadable (corrupt, cut short) or not a training checkpoint.
    The file itself is never modified, and the previous checkpoint is kept.
    """
    path = Path(path)
    previous = previous_path(path)
    fallback = (
        f" The previous checkpoint {previous} is still there: to resume from it, "
        f"copy it over {path} (`cp {previous} {path}`) and run again with --resume."
        if previous.is_file()
        else ""
    )
    if not path.is_file():
        raise CheckpointError(
            f"cannot resume: no checkpoint at {path}. Fix: check the --out folder (the checkpoint is "
            f"<out>/checkpoints/{CHECKPOINT_NAME}), or start the run without --resume.{fallback}"
        )
    fix = (fallback.strip() + " " if fallback else "") + (
        "Otherwise start again with --overwrite (this deletes the "
        "run), or choose a new --out."
    )
    return load_state(
        path,
        map_location=map_location,
        what="training checkpoint",
        fix=f"Cannot resume. {fix}",
        required=("model", "optimizer", "scheduler", "step", "epoch", "rng", "config"),
    )
