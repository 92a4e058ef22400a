"""capslib.checks.require_shape: the one check of a tensor argument's kind, dtype and shape."""

import pytest
import torch

from capslib.checks import TensorTypeError, require_shape

IMAGES = ("batch", 1, 28, 28)


def test_a_tensor_that_fits_passes():
    require_shape(torch.zeros(2, 1, 28, 28), "f", "images", IMAGES, floating=True)
    require_shape(torch.zeros(0, 3, dtype=torch.float16), "f", "x", ("n", 3))
    require_shape(torch.zeros(5, dtype=torch.uint8), "f", "x", (5,), dtype=torch.uint8)
    require_shape(torch.zeros(4, 2, 3, 3), "f", "w", ("out", "in", "k", "k"))


def test_wrong_number_of_dimensions():
    with pytest.raises(ValueError) as err:
        require_shape(torch.zeros(2, 28, 28), "CapsNet", "images", IMAGES)
    assert str(err.value) == (
        "CapsNet: expected images of shape (batch, 1, 28, 28), "
        "got shape (2, 28, 28) of dtype float32"
    )
    assert not isinstance(err.value, TypeError)


def test_wrong_trailing_size_and_the_fix():
    with pytest.raises(ValueError) as err:
        require_shape(
            torch.zeros(3, 1, 36, 36),
            "CapsNet",
            "images",
            IMAGES,
            floating=True,
            fix="set input_size in CapsNetConfig",
            dtype_fix="not this one",
        )
    assert str(err.value) == (
        "CapsNet: expected floating images of shape (batch, 1, 28, 28), got shape "
        "(3, 1, 36, 36) of dtype float32; set input_size in CapsNetConfig"
    )


def test_one_dimension_reads_as_a_tuple():
    with pytest.raises(ValueError, match=r"of shape \(dim,\), got shape \(2, 3\) "):
        require_shape(torch.zeros(2, 3), "f", "pose", ("dim",))


def test_sizes_with_one_name_must_agree():
    with pytest.raises(
        ValueError, match=r"\(out, in, k, k\), got shape \(4, 2, 3, 5\)"
    ):
        require_shape(torch.zeros(4, 2, 3, 5), "f", "w", ("out", "in", "k", "k"))


def test_int_dtype_where_floating_is_required():
    with pytest.raises(TensorTypeError) as err:
        require_shape(
            torch.zeros(2, 1, 28, 28, dtype=torch.int64),
            "CapsNet",
            "images",
            IMAGES,
            floating=True,
            fix="not this one",
        )
    assert str(err.value) == (
        "CapsNet: expected floating images of shape (batch, 1, 28, 28), got shape "
        "(2, 1, 28, 28) of dtype int64; convert it with images.float()"
    )
    # the dtype is checked before the shape; the fix can be the site's own, and a
    # name that is not an identifier is not written as code
    with pytest.raises(TensorTypeError, match=r"int64; divide by 255$"):
        require_shape(
            torch.zeros(3, dtype=torch.int64),
            "f",
            "x",
            ("n", 1),
            floating=True,
            dtype_fix="divide by 255",
        )
    with pytest.raises(
        TensorTypeError,
        match=r"got shape \(3,\) of dtype int64; convert it with \.float\(\)$",
    ):
        require_shape(
            torch.zeros(3, dtype=torch.int64),
            "f",
            "input capsules",
            ("n",),
            floating=True,
        )


def test_exact_dtype():
    with pytest.raises(TensorTypeError) as err:
        require_shape(
            torch.zeros(2, 1, 4, 4),
            "P",
            "digits",
            ("n", 1, "h", "w"),
            dtype=torch.uint8,
        )
    assert str(err.value) == (
        "P: expected uint8 digits of shape (n, 1, h, w), "
        "got shape (2, 1, 4, 4) of dtype float32"
    )


def test_not_a_tensor():
    with pytest.raises(TensorTypeError) as err:
        require_shape([[0.0]], "f", "x", ("n", 1), floating=True)
    assert str(err.value) == "f: expected floating x of shape (n, 1), got list"


def test_a_wrong_kind_is_caught_as_a_type_error_or_a_value_error():
    # sites that raised ValueError for a wrong dtype before they shared the check
    for error in (TypeError, ValueError):
        with pytest.raises(error, match="expected floating x"):
            require_shape(
                torch.zeros(2, dtype=torch.int64), "f", "x", ("n",), floating=True
            )
