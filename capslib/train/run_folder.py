"""One run per folder: ``results/<run>/`` is locked while a run writes it, and never mixes two runs.

What a run folder guarantees (README, "Training from the command line"):

* **one run per folder.**  Starting a run in a folder that already holds one
  (its ``metrics.jsonl``, ``summary.json`` or checkpoints) is refused, with
  the two ways forward: ``--resume`` to continue it, ``--overwrite`` to
  delete it and start again;
* **locked.**  While a run writes the folder it holds an exclusive lock on
  ``<folder>/.lock`` (``fcntl.flock``, released by the kernel when the
  process ends, however it ends); a second run on the same folder is refused
  with the holder's PID.  The lock file stays in the folder (unlinking it
  at release would let two runs lock two different files of one name); a
  run that ends empties it, so one left with a PID in it was left by a
  process that died, and is taken over, with a note;
* **resumable and never mixed.**  Every run gets a random run id, stored in
  its checkpoints (``last.pt``, ``best.pt``) and its summary; a resume
  adopts a ``best.pt`` only if it carries the same run id;
* **writable, checked first.**  The folder and its ``checkpoints/`` are
  created and test-written before any data is loaded or any step is taken,
  so a path that is a file, lies under a file, or cannot be written fails
  at once, in one line.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from pathlib import Path

try:
    import fcntl
except (
    ImportError
):  # Windows: no advisory locks here; the folder is still checked and never mixed
    fcntl = None

__all__ = [
    "RunFolderError",
    "RunLock",
    "existing_run_files",
    "new_run_id",
    "prepare_run_folder",
]

LOCK_NAME = ".lock"
#: The files that mean "a run lives here".
RUN_FILES = (
    "metrics.jsonl",
    "summary.json",
    "checkpoints/last.pt",
    "checkpoints/last.prev.pt",
    "checkpoints/best.pt",
)


class RunFolderError(RuntimeError):
    """The output folder cannot be used as asked (a file, unwritable, locked, or holding another run)."""


def new_run_id() -> str:
    return uuid.uuid4().hex[:16]


def existing_run_files(folder: Path) -> list[str]:
    return [name for name in RUN_FILES if (folder / name).exists()]


def _check_writable(folder: Path) -> None:
    for parent in [folder, *folder.parents]:
        if parent.exists() and not parent.is_dir():
            raise RunFolderError(
                f"--out {folder}: {parent} is a file, not a folder; choose another --out "
                f"(e.g. results/NAME)"
            )
        if parent.exists():
            break
    try:
        (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
        for where in (folder, folder / "checkpoints"):
            probe = where / f".write-test-{os.getpid()}"
            probe.write_bytes(b"ok")
            probe.unlink()
    except OSError as err:
        raise RunFolderError(
            f"--out {folder}: cannot write there ({err.strerror or err}); choose a folder you "
            f"can write, or fix its permissions"
        ) from None


class RunLock:
    """An exclusive lock on ``<folder>/.lock`` for the life of a run (see the module docstring)."""

    def __init__(self, folder: Path):
        self.path = folder / LOCK_NAME
        self.handle = None
        self.stale_note: str | None = None

    def acquire(self) -> RunLock:
        if self.path.is_dir() or (self.path.exists() and not self.path.is_file()):
            raise RunFolderError(
                f"--out {self.path.parent}: {self.path} is a folder, not the run's lock file; "
                f"remove it (`rmdir {self.path}`) or choose another --out"
            )
        try:
            self.handle = open(self.path, "a+", encoding="utf-8")
        except OSError as err:
            raise RunFolderError(
                f"--out {self.path.parent}: cannot open the lock file {self.path} "
                f"({err.strerror or err}); choose another --out, or fix its permissions"
            ) from None
        if fcntl is not None:
            try:
                fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self.handle.seek(0)
                holder = self.handle.read().strip() or "another process"
                self.handle.close()
                self.handle = None
                raise RunFolderError(
                    f"--out {self.path.parent}: another run is writing this folder ({holder}); "
                    f"wait for it to finish, stop it, or choose another --out"
                ) from None
        self.handle.seek(0)
        previous = (
            self.handle.read().strip()
        )  # read under the lock: no other run writes it now
        if previous:
            self.stale_note = (
                f"note: {self.path} was left by a run that is no longer running ({previous}); "
                f"taking it over"
            )
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
        self.handle.flush()
        return self

    def release(self) -> None:
        """Empty the lock file (a clean end) and unlock it; the file itself stays (see the module docstring)."""
        if self.handle is not None:
            try:
                self.handle.seek(0)
                self.handle.truncate()
                self.handle.flush()
            except OSError:
                pass
            self.handle.close()  # closing releases the flock
            self.handle = None


def prepare_run_folder(folder: Path, *, resume: bool, overwrite: bool) -> RunLock:
    """Check, lock and (with ``overwrite``) clear ``folder`` before a run; returns the held lock."""
    folder = Path(folder)
    if resume and overwrite:
        raise RunFolderError(
            "--resume and --overwrite contradict each other: choose one"
        )
    _check_writable(folder)
    lock = RunLock(folder).acquire()
    try:
        found = existing_run_files(folder)
        if found and not resume:
            if not overwrite:
                raise RunFolderError(
                    f"--out {folder} already holds a run ({', '.join(found)}). To continue it, add --resume; to "
                    f"delete it and start again, add --overwrite; or choose a new --out folder."
                )
            for name in ("metrics.jsonl", "summary.json", "curves.png"):
                (folder / name).unlink(missing_ok=True)
            shutil.rmtree(folder / "checkpoints", ignore_errors=True)
            (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
    except BaseException:
        lock.release()
        raise
    return lock
