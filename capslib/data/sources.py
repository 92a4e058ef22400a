"""Where the digits come from: complete data on disk, a download, or the bundled sample.

``load_mnist`` looks, in this order, for:

1. the complete MNIST in a data directory: the ``data_dir`` argument, else the
   folder named by the environment variable ``CAPSLIB_DATA``, else the
   repository's ``data/`` folder (files in ``<dir>/mnist/``, ``<dir>/`` or
   torchvision's ``<dir>/MNIST/raw/``);
2. a download with torchvision's downloader and checksums, where there is a
   network (after a bounded connection probe, so offline it fails in seconds
   instead of hanging);
3. the real 5,000-digit sample bundled with capslib (``source="auto"`` only).

It always says which one it used.  ``source="full"`` never falls back: with
no data and no network it raises :class:`DataNotFoundError` saying how to fix it.
"""
from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .idx import IDXError, read_idx

DATA_ENV_VAR = "CAPSLIB_DATA"
SAMPLE_DIR = Path(__file__).resolve().parent / "mnist-sample"
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
# In a clone of the course repository: its data/ folder; installed from a wheel (Colab, pip):
# a per-user cache, never site-packages.
REPO_DATA_DIR = (_PACKAGE_ROOT / "data" if (_PACKAGE_ROOT / "pyproject.toml").is_file()
                 else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "capslib")
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
MNIST_CREDIT = "MNIST by Yann LeCun, Corinna Cortes and Christopher J.C. Burges (CC BY-SA 3.0)"
FASHION_CREDIT = "Fashion-MNIST by Han Xiao, Kashif Rasul and Roland Vollgraf, Zalando Research (MIT licence)"
NETWORK_PROBE = ("ossci-datasets.s3.amazonaws.com", 443)
PROBE_TIMEOUT_S = 3.0


class DataNotFoundError(FileNotFoundError):
    """The requested dataset is neither on disk nor downloadable here."""


@dataclass
class ImageDataset(torch.utils.data.Dataset):
    """Labelled images held in memory.

    ``images``: ``(n, 1, height, width)`` float32 in [0, 1];
    ``labels``: ``(n,)`` int64.  Works as a ``torch.utils.data.Dataset``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    name: str
    split: str
    source: str
    classes: tuple[str, ...] = MNIST_CLASSES
    credit: str = MNIST_CREDIT
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.labels.ndim != 1 or len(self.images) != len(self.labels):
            raise ValueError(
                f"ImageDataset: expected images (n, 1, h, w) and labels (n,), got "
                f"{tuple(self.images.shape)} and {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]

    def describe(self) -> str:
        """E.g. ``"MNIST sample, train split: 5,000 images"`` (used in every result's provenance)."""
        return f"{self.name}, {self.split} split: {len(self):,} images"

    def subset(self, n: int, *, seed: int | None = None) -> "ImageDataset":
        """The first ``n`` examples (or ``n`` drawn at random with ``seed``), as a new dataset."""
        if not 0 < n <= len(self):
            raise ValueError(f"subset: expected 0 < n <= {len(self)}, got {n}")
        if n == len(self):
            return self
        if seed is None:
            index = torch.arange(n)
        else:
            index = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        return ImageDataset(self.images[index], self.labels[index], self.name, self.split,
                            self.source, self.classes, self.credit,
                            self.notes + [f"subset of {n:,} of {len(self):,}"])


def data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: the argument, else ``$CAPSLIB_DATA``, else the repository's ``data/``."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return Path(env).expanduser()
    return REPO_DATA_DIR


def _find_idx_pair(candidates: list[Path], split: str) -> tuple[Path, Path] | None:
    images_name, labels_name = IDX_FILES[split]
    for folder in candidates:
        for suffix in ("", ".gz"):
            images, labels = folder / (images_name + suffix), folder / (labels_name + suffix)
            if images.is_file() and labels.is_file():
                return images, labels
    return None


def read_idx_pair(images_path: Path, labels_path: Path, *, num_classes: int = 10,
                  image_size: tuple[int, int] = (28, 28)) -> tuple[torch.Tensor, torch.Tensor]:
    """Read an image file and its label file and check that they belong together.

    The images must be ``image_size`` (28x28 for MNIST and Fashion-MNIST), the
    label and image counts equal, and every label in ``0..num_classes-1``.
    """
    images = read_idx(images_path, expected_ndim=3, expected_shape=(None, *image_size))
    labels = read_idx(labels_path, expected_ndim=1)
    if len(images) != len(labels):
        raise IDXError(
            f"{images_path} holds {len(images):,} images but {labels_path} holds {len(labels):,} labels: "
            "the two files do not belong together"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise IDXError(f"{labels_path}: labels must lie in 0..{num_classes - 1}, found {labels.min()}..{labels.max()}")
    image_tensor = torch.from_numpy(images).to(torch.float32).div_(255.0).unsqueeze(1)
    return image_tensor, torch.from_numpy(labels.astype("int64"))


def network_available(host_port: tuple[str, int] | None = None, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True if a TCP connection to the dataset host opens within ``timeout`` seconds.

    The whole probe is bounded, the name lookup included (``create_connection``'s
    own timeout covers only the connection, and a dead resolver can stall a
    lookup for tens of seconds): it runs in a daemon thread that is given up
    on after ``timeout`` seconds.
    """
    host_port = NETWORK_PROBE if host_port is None else host_port
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection(host_port, timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, name="capslib-network-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def _download(dataset_cls, root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Download with torchvision (its mirrors and MD5 checksums), under a bounded socket timeout."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)
    try:
        ds = dataset_cls(root=str(root), train=(split == "train"), download=True)
    finally:
        socket.setdefaulttimeout(previous)
    return ds.data.to(torch.float32).div_(255.0).unsqueeze(1), ds.targets.to(torch.int64)


def _check_split(split: str) -> None:
    if split not in IDX_FILES:
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")


def load_mnist(split: str = "train", *, source: str = "auto", data_dir_: str | os.PathLike | None = None,
               download: bool = True, verbose: bool = True) -> ImageDataset:
    """Load MNIST's ``"train"`` or ``"test"`` split (LeCun et al. 1998).

    ``source``: ``"auto"`` (complete data if found or downloadable, else the
    bundled sample), ``"full"`` (complete data or an error) or ``"sample"``
    (the bundled 5,000-digit training sample and the full 10,000-digit test
    set).  Prints which data it used unless ``verbose=False``.
    """
    _check_split(split)
    if source not in ("auto", "full", "sample"):
        raise ValueError(f"load_mnist: source must be 'auto', 'full' or 'sample', got {source!r}")
    root = data_dir(data_dir_)
    if source in ("auto", "full"):
        found = _find_idx_pair([root / "mnist", root, root / "MNIST" / "raw"], split)
        dataset = None
        if found is not None:
            images, labels = read_idx_pair(*found)
            dataset = ImageDataset(images, labels, "MNIST", split, str(found[0].parent))
        elif download and network_available():
            images, labels = _download(__import__("torchvision").datasets.MNIST, root, split)
            dataset = ImageDataset(images, labels, "MNIST", split, f"downloaded to {root / 'MNIST'}")
        elif source == "full":
            raise DataNotFoundError(
                f"load_mnist: the complete MNIST {split} files ({IDX_FILES[split][0]}[.gz] and "
                f"{IDX_FILES[split][1]}[.gz]) are not in {root / 'mnist'}, {root} or {root / 'MNIST' / 'raw'}, "
                "and there is no network to download them. Fix: copy the four MNIST files into one of "
                f"those folders, or point {DATA_ENV_VAR} at a folder that holds them "
                f"(e.g. `export {DATA_ENV_VAR}=../shared/data`), or use source='sample'."
            )
        if dataset is not None:
            if verbose:
                print(f"Using the complete MNIST {split} set: {len(dataset):,} images from {dataset.source}")
            return dataset
    found = _find_idx_pair([SAMPLE_DIR], split)
    if found is None:
        raise DataNotFoundError(
            f"load_mnist: the bundled MNIST sample is missing from {SAMPLE_DIR}; reinstall capslib "
            f"from the repository, or set {DATA_ENV_VAR} to a folder holding the complete MNIST"
        )
    images, labels = read_idx_pair(*found)
    name = "MNIST sample" if split == "train" else "MNIST"
    dataset = ImageDataset(images, labels, name, split, str(SAMPLE_DIR))
    if verbose:
        why = "" if source == "sample" else (
            f" (no complete MNIST in {root}"
            + (" and no network to download it" if download else ", and downloads were turned off")
            + f"; set {DATA_ENV_VAR} to a folder holding mnist/ to use the complete data)")
        what = "5,000-digit training sample" if split == "train" else "complete 10,000-digit test set"
        print(f"Using the bundled MNIST {what}{why}: {len(dataset):,} images")
    return dataset


def load_fashion_mnist(split: str = "train", *, data_dir_: str | os.PathLike | None = None,
                       download: bool = True, verbose: bool = True) -> ImageDataset:
    """Load Fashion-MNIST (Xiao et al. 2017): 60,000 + 10,000 28x28 images of 10 clothing classes.

    Looked for in ``<data dir>/fashion-mnist``, ``<data dir>/FashionMNIST/raw``
    and Debian's ``/usr/share/datasets/fashion-mnist`` (``apt-get install
    dataset-fashion-mnist``), then downloaded where there is a network.
    """
    _check_split(split)
    root = data_dir(data_dir_)
    found = _find_idx_pair([root / "fashion-mnist", root / "FashionMNIST" / "raw", FASHION_SYSTEM_DIR], split)
    if found is not None:
        images, labels = read_idx_pair(*found)
        source = str(found[0].parent)
    elif download and network_available():
        images, labels = _download(__import__("torchvision").datasets.FashionMNIST, root, split)
        source = f"downloaded to {root / 'FashionMNIST'}"
    else:
        raise DataNotFoundError(
            f"load_fashion_mnist: the Fashion-MNIST {split} files are not in {root / 'fashion-mnist'}, "
            f"{root / 'FashionMNIST' / 'raw'} or {FASHION_SYSTEM_DIR}, and there is no network to download "
            "them. Fix: `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu, works offline from a "
            f"local mirror), or copy the four IDX files into {root / 'fashion-mnist'}."
        )
    dataset = ImageDataset(images, labels, "Fashion-MNIST", split, source, FASHION_CLASSES, FASHION_CREDIT)
    if verbose:
        print(f"Using Fashion-MNIST {split} set: {len(dataset):,} images from {source}")
    return dataset
