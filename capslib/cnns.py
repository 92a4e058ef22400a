"""The CNNs CapsNet is compared with: the paper's baseline and a max-pooling CNN matched in size.

Sabour, Frosst & Hinton (2017), Section 5 (the baseline CNN of 35.4M
parameters) and Section 5.2 (the affNIST comparison's CNN "with a similar
number of parameters").
"""

from __future__ import annotations

from torch import Tensor, nn

from .checks import require_shape

__all__ = ["BaselineCNN", "PooledCNN"]


def _check_images(model: nn.Module, owner: str, images) -> None:
    size = model.input_size
    require_shape(
        images,
        owner,
        "images",
        ("batch", model.in_channels, size, size),
        floating=True,
        fix=f"build the {owner} with input_size / in_channels for other sizes",
    )


def _checked_arguments(
    owner: str,
    input_size,
    in_channels,
    num_classes,
    conv_channels,
    kernel_size,
    hidden,
    dropout,
    *,
    odd_kernel: bool,
    hidden_required: bool,
) -> dict:
    """The constructor's arguments, checked: what rebuilds the network (``capslib.pretrained``)."""
    for name, value in [
        ("input_size", input_size),
        ("in_channels", in_channels),
        ("num_classes", num_classes),
        ("kernel_size", kernel_size),
    ]:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"{owner}: expected {name} to be a positive int, got {value!r}"
            )
    if odd_kernel and kernel_size % 2 == 0:
        raise ValueError(
            f"{owner}: expected an odd kernel_size ('same' padding), got {kernel_size}"
        )
    for name, sizes, required in [
        ("conv_channels", conv_channels, True),
        ("hidden", hidden, hidden_required),
    ]:
        if (required and not sizes) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes
        ):
            raise ValueError(
                f"{owner}: expected {name} to be a {'non-empty ' if required else ''}"
                f"tuple of positive ints, got {sizes!r}"
            )
    if not 0 <= dropout < 1:
        raise ValueError(f"{owner}: expected 0 <= dropout < 1, got {dropout!r}")
    return dict(
        input_size=input_size,
        in_channels=in_channels,
        num_classes=num_classes,
        conv_channels=tuple(conv_channels),
        kernel_size=kernel_size,
        hidden=tuple(hidden),
        dropout=dropout,
    )


# ----------------------------------------------------------------------------
# a CNN with max-pooling, sized to match a CapsNet (the affNIST comparison)
# ----------------------------------------------------------------------------
class PooledCNN(nn.Module):
    """A conventional CNN with max-pooling and dropout: the kind of network the paper's affNIST test compares with.

    Section 5.2: "we trained a traditional convolutional model with a similar
    number of parameters which achieved similar accuracy (99.22%) on the
    expanded mnist test set".  The paper gives no more; this is the classic
    recipe: ``conv 5x5 -> ReLU -> max-pool 2x2`` blocks, then fully connected
    ReLU layers with dropout before each, and a linear output (cross-entropy).
    Choose ``conv_channels`` and ``hidden`` so that the parameter count
    matches the CapsNet it is compared with (``python -m capslib.train
    --model pooled-cnn`` does this for the ``affine`` runs).

    Shapes: ``images`` ``(batch, in_channels, input_size, input_size)`` -> logits ``(batch, num_classes)``.
    """

    def __init__(
        self,
        input_size: int = 40,
        in_channels: int = 1,
        num_classes: int = 10,
        conv_channels: tuple[int, ...] = (64, 128),
        kernel_size: int = 5,
        hidden: tuple[int, ...] = (512,),
        dropout: float = 0.5,
    ):
        super().__init__()
        owner = "PooledCNN"
        self.arguments = _checked_arguments(
            owner,
            input_size,
            in_channels,
            num_classes,
            conv_channels,
            kernel_size,
            hidden,
            dropout,
            odd_kernel=False,
            hidden_required=False,
        )
        size = input_size
        layers: list[nn.Module] = []
        channels = [in_channels, *conv_channels]
        for n_in, n_out in zip(channels[:-1], channels[1:]):
            if size < 2:
                raise ValueError(
                    f"{owner}: input_size {input_size} is too small for {len(conv_channels)} "
                    f"pooling stages"
                )
            layers += [
                nn.Conv2d(n_in, n_out, kernel_size, padding=kernel_size // 2),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            size //= 2
        self.input_size, self.in_channels, self.num_classes = (
            input_size,
            in_channels,
            num_classes,
        )
        self.features = nn.Sequential(*layers)
        sizes = [channels[-1] * size * size, *hidden]
        fcs: list[nn.Module] = [nn.Flatten()]
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            fcs += [nn.Dropout(dropout), nn.Linear(n_in, n_out), nn.ReLU(inplace=True)]
        fcs += [nn.Dropout(dropout), nn.Linear(sizes[-1], num_classes)]
        self.classifier = nn.Sequential(*fcs)

    def forward(self, images: Tensor) -> Tensor:
        _check_images(self, "PooledCNN", images)
        return self.classifier(self.features(images))


# ----------------------------------------------------------------------------
# the baseline CNN of Section 5
# ----------------------------------------------------------------------------
class BaselineCNN(nn.Module):
    """The paper's baseline CNN (Section 5): three 5x5 convolutions and two fully connected layers.

    "Three convolutional layers of 256, 256, 128 channels. Each has 5x5
    kernels and stride of 1. The last convolutional layers are followed by two
    fully connected layers of size 328, 192. The last fully connected layer is
    connected with dropout to a 10 class softmax layer with cross entropy loss."

    The paper does not say how the convolutions are padded, nor whether there
    is pooling.  We use 'same' padding (2) and no pooling: that is the reading
    whose size matches the paper's count.  On 28x28 inputs the parameters are

    ======================  ===========
    conv 1x5x5 -> 256             6,656
    conv 256x5x5 -> 256       1,638,656
    conv 256x5x5 -> 128         819,328
    fc 28*28*128 -> 328      32,915,784
    fc 328 -> 192                63,168
    fc 192 -> 10                  1,930
    **total**              **35,445,522**
    ======================  ===========

    i.e. 35.4M, the paper's figure (the paper rounds; with 'valid' padding the
    count would be 13.3M, and any pooling would shrink it further).  The count
    grows with the input, because the first fully connected layer sees every
    position: 36x36 inputs give 56,941,330, 40x40 give 69,704,466.  ReLU follows every
    hidden layer; dropout (p=0.5) precedes the output layer.

    The layer sizes are arguments (paper defaults), so a smaller baseline can
    be built for CPU runs.

    Shapes: ``images`` ``(batch, in_channels, input_size, input_size)`` -> logits ``(batch, num_classes)``.
    """

    def __init__(
        self,
        input_size: int = 28,
        in_channels: int = 1,
        num_classes: int = 10,
        conv_channels: tuple[int, ...] = (256, 256, 128),
        kernel_size: int = 5,
        hidden: tuple[int, ...] = (328, 192),
        dropout: float = 0.5,
    ):
        super().__init__()
        self.arguments = _checked_arguments(
            "BaselineCNN",
            input_size,
            in_channels,
            num_classes,
            conv_channels,
            kernel_size,
            hidden,
            dropout,
            odd_kernel=True,
            hidden_required=True,
        )
        self.input_size, self.in_channels, self.num_classes = (
            input_size,
            in_channels,
            num_classes,
        )
        convs: list[nn.Module] = []
        channels = [in_channels, *conv_channels]
        for n_in, n_out in zip(channels[:-1], channels[1:]):
            convs += [
                nn.Conv2d(n_in, n_out, kernel_size, padding=kernel_size // 2),
                nn.ReLU(inplace=True),
            ]
        self.features = nn.Sequential(*convs)
        sizes = [channels[-1] * input_size * input_size, *hidden]
        fcs: list[nn.Module] = [nn.Flatten()]
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            fcs += [nn.Linear(n_in, n_out), nn.ReLU(inplace=True)]
        fcs += [nn.Dropout(dropout), nn.Linear(sizes[-1], num_classes)]
        self.classifier = nn.Sequential(*fcs)

    def forward(self, images: Tensor) -> Tensor:
        _check_images(self, "BaselineCNN", images)
        return self.classifier(self.features(images))
