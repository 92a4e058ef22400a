"""Data for the course: the IDX reader, MNIST and Fashion-MNIST loaders, and
(from the training engine) datasets held on the device and derived datasets.

Submodules, one idea each:

* :mod:`capslib.data.idx`: the strict IDX file reader;
* :mod:`capslib.data.sources`: where the data comes from (disk, download, bundled sample);
* :mod:`capslib.data.device`: datasets held on the device, batches and shift augmentation drawn there,
  a validation split carved from the training data;
* :mod:`capslib.data.derived`: the affine (affNIST-like) test set and the 40x40 shifted training
  set, seeded;
* :mod:`capslib.data.multimnist`: MultiMNIST pairs, made on demand from the digits.
"""

from .derived import AFFINE_RANGES, affine_mnist, shifted_mnist
from .device import (
    DeviceDataset,
    epoch_plan,
    iterate_batches,
    pad_to_canvas,
    random_shift,
    shift_images,
    train_validation_split,
)
from .idx import IDXError, read_idx, write_idx
from .multimnist import MultiMNISTPairs
from .sources import (
    DATA_ENV_VAR,
    DataNotFoundError,
    ImageDataset,
    load_fashion_mnist,
    load_mnist,
)

__all__ = [
    "AFFINE_RANGES",
    "DeviceDataset",
    "MultiMNISTPairs",
    "affine_mnist",
    "epoch_plan",
    "iterate_batches",
    "pad_to_canvas",
    "random_shift",
    "shift_images",
    "shifted_mnist",
    "train_validation_split",
    "DATA_ENV_VAR",
    "DataNotFoundError",
    "IDXError",
    "ImageDataset",
    "load_fashion_mnist",
    "load_mnist",
    "read_idx",
    "write_idx",
]
