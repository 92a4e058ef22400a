"""Data for the course: the IDX reader, MNIST and Fashion-MNIST loaders, and
(from the training engine) datasets held on the device and derived datasets.

Submodules, one idea each:

* :mod:`capslib.data.idx`: the strict IDX file reader;
* :mod:`capslib.data.sources`: where the data comes from (disk, download, bundled sample).
"""
from .idx import IDXError, read_idx, write_idx
from .sources import (
    DATA_ENV_VAR,
    DataNotFoundError,
    ImageDataset,
    load_fashion_mnist,
    load_mnist,
)

__all__ = [
    "DATA_ENV_VAR",
    "DataNotFoundError",
    "IDXError",
    "ImageDataset",
    "load_fashion_mnist",
    "load_mnist",
    "read_idx",
    "write_idx",
]
