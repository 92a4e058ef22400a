"""Where the images come from: complete data on disk, a download, or the bundled sample.

``load_mnist`` and ``load_fashion_mnist`` look, in this order, for:

1. the complete dataset in a data directory: the ``data_dir_`` argument, else
   the folder named by the environment variable ``CAPSLIB_DATA``, else the
   repository's ``data/`` folder (MNIST in ``<dir>/mnist/``, ``<dir>/`` or
   torchvision's ``<dir>/MNIST/raw/``; Fashion-MNIST in ``<dir>/fashion-mnist/``,
   ``<dir>/FashionMNIST/raw/`` or Debian's ``/usr/share/datasets/fashion-mnist``);
2. a download with torchvision's downloader and checksums, where there is a
   network: after a bounded connection probe (offline it fails in seconds),
   and with every read bounded (``DOWNLOAD_TIMEOUT_S``, or
   ``$CAPSLIB_DOWNLOAD_TIMEOUT``), so a host that accepts the connection and
   never answers (a captive portal) ends in a fallback, not a hang;
3. the real sample bundled with capslib (``source="auto"`` only): 5,000 MNIST
   training digits with the complete MNIST test set, or 5,000 + 2,000
   class-balanced Fashion-MNIST images.

They always say which one they used, and why when it is the sample, naming
folders as the reader knows them (``$CAPSLIB_DATA/mnist``, the repository's
``data/mnist``, Debian's ``dataset-fashion-mnist``, the sample bundled with
capslib), never by this machine's absolute paths (:func:`shown`).
``source="full"`` never falls back: it raises :class:`DataNotFoundError`
saying how to fix it.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from .dataset import MNIST_CLASSES, MNIST_CREDIT, ImageDataset
from .idx import IDXError, check_labels, read_idx, to_unit_float

DATA_ENV_VAR = "CAPSLIB_DATA"
DOWNLOAD_TIMEOUT_ENV_VAR = "CAPSLIB_DOWNLOAD_TIMEOUT"
SAMPLE_DIR = Path(__file__).resolve().parent / "mnist-sample"
FASHION_SAMPLE_DIR = Path(__file__).resolve().parent / "fashion-mnist-sample"
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
# In a clone of the course repository: its data/ folder; installed from a wheel (Colab, pip):
# a per-user cache, never site-packages.
REPO_DATA_DIR = (
    _PACKAGE_ROOT / "data"
    if (_PACKAGE_ROOT / "pyproject.toml").is_file()
    else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "capslib"
)
# Debian's `dataset-fashion-mnist`; read at call time, so tests can hide it by pointing it elsewhere.
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
FASHION_CREDIT = "Fashion-MNIST by Han Xiao, Kashif Rasul and Roland Vollgraf, Zalando Research (MIT licence)"
# Both are read at call time (tests point them at local ports).
NETWORK_PROBE = ("ossci-datasets.s3.amazonaws.com", 443)
PROBE_TIMEOUT_S = 3.0
DOWNLOAD_TIMEOUT_S = 10.0  # per socket operation (connect, each read) of a download


class DataNotFoundError(FileNotFoundError, ValueError):
    """The requested dataset is neither on disk nor downloadable here.

    Its message is one line that names the fix.  It is also a ``ValueError``
    (a setting asks for data this machine does not have), so a command line
    that reports bad settings as one ``error:`` line reports this one too.
    """


def data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: the argument, else ``$CAPSLIB_DATA``, else the repository's ``data/``."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return Path(env).expanduser()
    return REPO_DATA_DIR


def shown(path: Path, data_dir_=None) -> str:
    """``path`` as the reader knows it, without this machine's folders: ``$CAPSLIB_DATA/mnist``,
    ``the repository's data/mnist``, ``Debian's dataset-fashion-mnist``, ``the MNIST sample
    bundled with capslib``, or relative to the ``data_dir_`` argument as it was written."""
    path = Path(path)
    env = os.environ.get(DATA_ENV_VAR)
    places = [
        (SAMPLE_DIR, "the MNIST sample bundled with capslib"),
        (FASHION_SAMPLE_DIR, "the Fashion-MNIST sample bundled with capslib"),
        (FASHION_SYSTEM_DIR, "Debian's dataset-fashion-mnist"),
    ]
    if data_dir_ is not None:
        places.append((Path(data_dir_).expanduser(), str(data_dir_)))
    elif env:
        places.append((Path(env).expanduser(), f"${DATA_ENV_VAR}"))
    else:
        places.append(
            (
                REPO_DATA_DIR,
                "the repository's data"
                if REPO_DATA_DIR == _PACKAGE_ROOT / "data"
                else "~/.cache/capslib",
            )
        )
    for root, name in places:
        try:
            rest = path.relative_to(root)
        except ValueError:
            continue
        return name if rest == Path(".") else f"{name}/{rest.as_posix()}"
    return path.name  # elsewhere: the folder's name only


def _find_idx_pair(candidates: list[Path], split: str) -> tuple[Path, Path] | None:
    images_name, labels_name = IDX_FILES[split]
    for folder in candidates:
        for suffix in ("", ".gz"):
            images, labels = (
                folder / (images_name + suffix),
                folder / (labels_name + suffix),
            )
            if images.is_file() and labels.is_file():
                return images, labels
    return None


def read_idx_pair(
    images_path: Path,
    labels_path: Path,
    *,
    num_classes: int = 10,
    image_size: tuple[int, int] = (28, 28),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read an image file and its label file and check that they belong together.

    Returns ``images``: ``(n, 1, h, w)`` float32 in [0, 1] and ``labels``: ``(n,)`` int64.
    The images must be ``image_size`` (28x28 for MNIST and Fashion-MNIST) and
    either unsigned bytes (0..255, scaled by 1/255) or finite floats already in
    [0, 1] (kept as they are); the labels integers in ``0..num_classes-1``; the
    two counts equal.  Anything else raises :class:`IDXError` naming the file.
    """
    images = read_idx(images_path, expected_ndim=3, expected_shape=(None, *image_size))
    labels = read_idx(labels_path, expected_ndim=1)
    if len(images) != len(labels):
        raise IDXError(
            f"{images_path} holds {len(images):,} images but {labels_path} holds {len(labels):,} labels: "
            "the two files do not belong together"
        )
    labels = check_labels(labels, labels_path, num_classes)
    image_tensor = torch.from_numpy(to_unit_float(images, images_path)).unsqueeze(1)
    return image_tensor, torch.from_numpy(labels)


def network_available(
    host_port: tuple[str, int] | None = None, timeout: float = PROBE_TIMEOUT_S
) -> bool:
    """True if a TCP connection to the dataset host opens within ``timeout`` seconds.

    The whole probe is bounded, the name lookup included (``create_connection``'s
    own timeout covers only the connection, and a dead resolver can stall a
    lookup for tens of seconds): it runs in a daemon thread that is given up
    on after ``timeout`` seconds.  Whatever the thread meets, it never raises
    (an exception in an abandoned thread would be printed long after the answer).
    """
    host_port = NETWORK_PROBE if host_port is None else host_port
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection(host_port, timeout=timeout):
                result.append(True)
        except Exception:  # noqa: BLE001 - any failure means "no network", and a thread must not raise
            result.append(False)

    thread = threading.Thread(target=probe, name="capslib-network-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def download_timeout() -> float:
    """Seconds a download may wait on one socket operation: ``$CAPSLIB_DOWNLOAD_TIMEOUT``, else ``DOWNLOAD_TIMEOUT_S``."""
    value = os.environ.get(DOWNLOAD_TIMEOUT_ENV_VAR, "").strip()
    if not value:
        return float(DOWNLOAD_TIMEOUT_S)
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0:
        raise ValueError(
            f"{DOWNLOAD_TIMEOUT_ENV_VAR} must be a positive number of seconds, got {value!r}"
        )
    return seconds


class _DownloadFailed(Exception):
    """The download started (the host answered the probe) but did not finish."""


def _download(dataset_cls, root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Download with torchvision (its mirrors and MD5 checksums), every socket operation bounded.

    A failure (no answer within the timeout, a refused or broken connection, a
    bad checksum) raises :class:`_DownloadFailed` and removes the partial files
    this attempt wrote, so that the next run does not find a truncated file.
    """
    timeout = download_timeout()
    raw = root / dataset_cls.__name__ / "raw"
    before = set(raw.iterdir()) if raw.is_dir() else set()
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        ds = dataset_cls(root=str(root), train=(split == "train"), download=True)
    except (
        OSError,
        RuntimeError,
    ) as err:  # URLError and TimeoutError are OSErrors; torchvision raises RuntimeError
        for path in set(raw.iterdir()) - before if raw.is_dir() else ():
            if path.is_file():
                path.unlink()
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise _DownloadFailed(
            f"{type(err).__name__}: {first_line} (at most {timeout:g} s per read, "
            f"${DOWNLOAD_TIMEOUT_ENV_VAR})"
        ) from err
    finally:
        socket.setdefaulttimeout(previous)
    images = to_unit_float(
        ds.data.numpy(), f"the downloaded {dataset_cls.__name__} {split} images"
    )
    return torch.from_numpy(images).unsqueeze(1), ds.targets.to(torch.int64)


def _check_split(split: str) -> None:
    if split not in IDX_FILES:
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")


@dataclass(frozen=True)
class _Kind:
    """What differs between MNIST and Fashion-MNIST for the loader."""

    name: str  # "MNIST"
    function: str  # "load_mnist", for messages
    torchvision_name: (
        str  # the torchvision dataset class (and its folder under the data dir)
    )
    folder: str  # <data dir>/<folder>/
    files_in_root: bool  # the files may also lie in <data dir>/ itself
    system_dirs: tuple  # folders a system package installs
    sample_dir: Path
    sample_names: dict  # split -> the dataset's name when it comes from the sample
    sample_what: dict  # split -> what the sample holds, for the message
    classes: tuple
    credit: str
    fix: str  # how to get the complete data (error messages)
    short_fix: str  # the same, in a few words (the printed line)
    sample_enough: str  # what running on the sample means, for the printed line

    def folders(self, root: Path) -> list[Path]:
        return [
            root / self.folder,
            *([root] if self.files_in_root else []),
            root / self.torchvision_name / "raw",
            *self.system_dirs,
        ]


def _mnist_kind() -> _Kind:
    return _Kind(
        "MNIST",
        "load_mnist",
        "MNIST",
        "mnist",
        True,
        (),
        SAMPLE_DIR,
        {"train": "MNIST sample", "test": "MNIST"},
        {
            "train": "MNIST 5,000-digit training sample",
            "test": "MNIST complete 10,000-digit test set",
        },
        MNIST_CLASSES,
        MNIST_CREDIT,
        f"copy the four MNIST files into one of those folders, or point {DATA_ENV_VAR} at a folder that holds "
        f"them in mnist/ (e.g. `export {DATA_ENV_VAR}=../shared/data`)",
        f"to use it, set {DATA_ENV_VAR} to a folder that holds it in mnist/",
        "Every chapter runs on the sample; the complete set (60,000 training digits) gives "
        "the chapters that train more data and smaller error bars",
    )


def _fashion_kind() -> _Kind:
    # built at call time: FASHION_SYSTEM_DIR and FASHION_SAMPLE_DIR may have been pointed elsewhere (tests)
    return _Kind(
        "Fashion-MNIST",
        "load_fashion_mnist",
        "FashionMNIST",
        "fashion-mnist",
        False,
        (FASHION_SYSTEM_DIR,),
        FASHION_SAMPLE_DIR,
        {"train": "Fashion-MNIST sample", "test": "Fashion-MNIST sample"},
        {
            "train": "Fashion-MNIST training sample (500 images of each class)",
            "test": "Fashion-MNIST test sample (200 images of each class)",
        },
        FASHION_CLASSES,
        FASHION_CREDIT,
        f"`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu; it installs the complete set in "
        f"{FASHION_SYSTEM_DIR}), or copy the four IDX files into <data dir>/fashion-mnist "
        f"(the data dir is ${DATA_ENV_VAR}, else the repository's data/)",
        f"to use it, `apt-get install dataset-fashion-mnist` or set {DATA_ENV_VAR} to a folder "
        "that holds it in fashion-mnist/",
        "The appendix runs on the sample; the complete set (70,000 images) gives it more data "
        "and smaller error bars",
    )


def _load(
    kind: _Kind, split: str, source: str, data_dir_, download: bool, verbose: bool
) -> ImageDataset:
    _check_split(split)
    if source not in ("auto", "full", "sample"):
        raise ValueError(
            f"{kind.function}: source must be 'auto', 'full' or 'sample', got {source!r}"
        )
    root = data_dir(data_dir_)
    why = ""
    if source in ("auto", "full"):
        folders = kind.folders(root)
        found = _find_idx_pair(folders, split)
        dataset = None
        if found is not None:
            images, labels = read_idx_pair(*found)
            dataset = ImageDataset(
                images,
                labels,
                kind.name,
                split,
                shown(found[0].parent, data_dir_),
                kind.classes,
                kind.credit,
            )
        else:
            # the error names the folders in full (where to put the files); the printed line as
            # the reader knows them (see shown())
            places = ", ".join(str(f) for f in folders[:-1]) + f" or {folders[-1]}"
            named = [shown(f, data_dir_) for f in folders]
            # "the repository's data/mnist, data or data/MNIST/raw": a shared lead named once
            lead = os.path.commonprefix(named)
            lead = lead[: lead.rfind(" ") + 1]
            named = named[:1] + [name[len(lead) :] for name in named[1:]]
            places_shown = ", ".join(named[:-1]) + f" or {named[-1]}"
            if not download:
                why = f"no complete {kind.name} in {{}}, and downloads were turned off"
            elif not network_available():
                why = f"no complete {kind.name} in {{}} and no network to download it"
            else:
                try:
                    images, labels = _download(
                        getattr(
                            __import__("torchvision").datasets, kind.torchvision_name
                        ),
                        root,
                        split,
                    )
                except _DownloadFailed as err:
                    why = f"no complete {kind.name} in {{}}, and its download failed ({err})"
                else:
                    dataset = ImageDataset(
                        images,
                        labels,
                        kind.name,
                        split,
                        f"downloaded to {shown(root / kind.torchvision_name, data_dir_)}",
                        kind.classes,
                        kind.credit,
                    )
        if dataset is not None:
            if verbose:
                print(
                    f"Using the complete {kind.name} {split} set: {len(dataset):,} images from {dataset.source}"
                )
            return dataset
        if source == "full":
            images_name, labels_name = IDX_FILES[split]
            raise DataNotFoundError(
                f"{kind.function}: source='full' needs the complete {kind.name} {split} files "
                f"({images_name}[.gz] and {labels_name}[.gz]), but there is {why.replace('{}', places, 1)}. "
                f"Fix: {kind.fix}. Or take the bundled sample: source='auto' (as quick mode does)."
            )
        why = why.replace("{}", places_shown, 1)
    found = _find_idx_pair([kind.sample_dir], split)
    if found is None:
        raise DataNotFoundError(
            f"{kind.function}: the bundled {kind.name} sample is missing from {kind.sample_dir}; reinstall capslib "
            f"from the repository, or {kind.fix}"
        )
    images, labels = read_idx_pair(*found)
    dataset = ImageDataset(
        images,
        labels,
        kind.sample_names[split],
        split,
        shown(kind.sample_dir),
        kind.classes,
        kind.credit,
        [f"bundled sample ({why})" if why else "bundled sample (asked for)"],
    )
    if (
        verbose and kind.sample_names[split] == kind.name
    ):  # the bundled split is the complete one
        print(
            f"Using the complete {kind.name} {split} set, bundled with capslib: "
            f"{len(dataset):,} images"
        )
    elif verbose:
        print(sample_message(kind, split, len(dataset), why))
    return dataset


def sample_message(kind: _Kind, split: str, count: int, why: str) -> str:
    """The line printed when the bundled sample stands in for the complete data.

    A fresh clone without the data meets it first, so it reads as information, not as an
    error: what was used, why (when it was not asked for), what the complete data would
    change, and how to get it, in one line: ``Using the bundled MNIST 5,000-digit training
    sample: 5,000 images (no complete MNIST in ... and no network to download it). Every
    chapter runs on the sample; ... to use it, set CAPSLIB_DATA to a folder holding mnist/.``
    """
    line = f"Using the bundled {kind.sample_what[split]}: {count:,} images"
    if not why:  # asked for with source="sample": nothing to explain
        return line
    return f"{line} ({why}). {kind.sample_enough}; {kind.short_fix}."


def load_mnist(
    split: str = "train",
    *,
    source: str = "auto",
    data_dir_: str | os.PathLike | None = None,
    download: bool = True,
    verbose: bool = True,
) -> ImageDataset:
    """Load MNIST's ``"train"`` or ``"test"`` split (LeCun et al. 1998).

    ``source``: ``"auto"`` (complete data if found or downloadable, else the
    bundled sample), ``"full"`` (complete data or a :class:`DataNotFoundError`
    naming the fix) or ``"sample"`` (the bundled 5,000-digit training sample and
    the complete 10,000-digit test set).  Prints which data it used, and why when
    it is the sample, unless ``verbose=False``.
    """
    return _load(_mnist_kind(), split, source, data_dir_, download, verbose)


def load_fashion_mnist(
    split: str = "train",
    *,
    source: str = "auto",
    data_dir_: str | os.PathLike | None = None,
    download: bool = True,
    verbose: bool = True,
) -> ImageDataset:
    """Load Fashion-MNIST (Xiao et al. 2017): 60,000 + 10,000 28x28 images of 10 clothing classes.

    The complete set is looked for in ``<data dir>/fashion-mnist``,
    ``<data dir>/FashionMNIST/raw`` and Debian's ``/usr/share/datasets/fashion-mnist``
    (``apt-get install dataset-fashion-mnist``), then downloaded where there is
    a network.  ``source``: ``"auto"`` (else the bundled sample: 5,000 training
    and 2,000 test images, class-balanced, drawn with a fixed seed from the
    official sets), ``"full"`` (the complete set or a :class:`DataNotFoundError`
    naming the fix) or ``"sample"``.  Prints which data it used, and why when it
    is the sample, unless ``verbose=False``; the sample's ``notes`` say why too.
    """
    return _load(_fashion_kind(), split, source, data_dir_, download, verbose)
