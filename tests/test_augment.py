"""grader.trainer.augment against torchvision itself: same pixels for fixed parameters, same distributions when
sampled."""

from pathlib import Path

import pytest
import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import InterpolationMode

from grader.errors import SubmissionError
from grader.trainer.augment import (
    AugmentConfig,
    Augmenter,
    adjust_brightness_contrast,
    affine,
    sample_affine_params,
    sample_color_params,
)

MNIST_TEST_IMAGES = Path("/work/shared/data/MNIST/raw/t10k-images-idx3-ubyte")
FULL = {"degrees": 20, "translate": (0.1, 0.1), "scale": (0.9, 1.1), "shear": 5, "brightness": 0.2, "contrast": 0.2}


def digits(n: int) -> torch.Tensor:
    """(n, 1, 28, 28) float digits in [0, 1]: real MNIST when present, else blobs and strokes that look alike."""
    if MNIST_TEST_IMAGES.exists():
        raw = MNIST_TEST_IMAGES.read_bytes()[16 : 16 + n * 28 * 28]
        return torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(n, 1, 28, 28).float() / 255
    g = torch.Generator().manual_seed(0)
    img = torch.zeros(n, 1, 28, 28)
    img[:, :, 6:22, 6:22] = torch.randint(0, 256, (n, 1, 16, 16), generator=g).float() / 255
    img[:, :, 4:24, 13:15] = 1.0  # a vertical stroke reaching near the border, where fill matters
    return img


def torchvision_affine(images, angle, translate, scale, shear, interpolation, fill=0.0):
    """The reference: one torchvision call per sample with that sample's parameters as Python numbers."""
    mode = InterpolationMode.NEAREST if interpolation == "nearest" else InterpolationMode.BILINEAR
    return torch.cat(
        [
            TF.affine(
                images[i : i + 1],
                angle=float(angle[i]),
                translate=[float(translate[i, 0]), float(translate[i, 1])],
                scale=float(scale[i]),
                shear=[float(shear[i, 0]), float(shear[i, 1])],
                interpolation=mode,
                fill=fill,
            )
            for i in range(images.shape[0])
        ]
    )


def params(n, angle=0.0, translate=(0.0, 0.0), scale=1.0, shear=(0.0, 0.0)):
    """The same parameters for n samples, as the float32 tensors the sampler produces."""
    return (
        torch.full((n,), float(angle)),
        torch.tensor([translate] * n, dtype=torch.float32),
        torch.full((n,), float(scale)),
        torch.tensor([shear] * n, dtype=torch.float32),
    )


FIXED = {
    "rotate30": params(4, angle=30),
    "rotate90": params(4, angle=90),
    "rotate-45": params(4, angle=-45),
    "rotate180": params(4, angle=180),
    "translate": params(4, translate=(3, -2)),
    "scale_up": params(4, scale=1.1),
    "scale_half": params(4, scale=0.5),  # every other output pixel lands on a half-pixel tie
    "shear_x": params(4, shear=(10, 0)),
    "shear_xy": params(4, shear=(-5, 12)),
    "combined": params(4, angle=-17.3, translate=(-1, 2), scale=0.93, shear=(4.2, -3.1)),
    "per_sample": (
        torch.tensor([0.0, 12.5, -20.0, 7.0, 90.0, -3.3]),
        torch.tensor([[0, 0], [3, -3], [-2, 1], [0, 2], [1, 0], [-3, -1]], dtype=torch.float32),
        torch.tensor([1.0, 0.9, 1.1, 1.05, 0.95, 1.0]),
        torch.tensor([[0, 0], [5, 0], [-4.5, 2], [0, -5], [2.5, 2.5], [-1, 0]], dtype=torch.float32),
    ),
}


@pytest.mark.parametrize("name", FIXED)
def test_nearest_affine_equals_torchvision_exactly(name):
    angle, translate, scale, shear = FIXED[name]
    images = digits(len(angle))
    ours = affine(images, angle, translate, scale, shear, "nearest")
    assert torch.equal(ours, torchvision_affine(images, angle, translate, scale, shear, "nearest"))
    assert not torch.equal(ours, images)  # the parameters really moved pixels


@pytest.mark.parametrize("name", FIXED)
def test_bilinear_affine_matches_torchvision(name):
    angle, translate, scale, shear = FIXED[name]
    images = digits(len(angle))
    ours = affine(images, angle, translate, scale, shear, "bilinear")
    theirs = torchvision_affine(images, angle, translate, scale, shear, "bilinear")
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_nonzero_fill_matches_torchvision(interpolation):
    angle, translate, scale, shear = params(3, angle=25, translate=(2, -3), scale=0.8)
    images = digits(3)
    ours = affine(images, angle, translate, scale, shear, interpolation, fill=0.3)
    theirs = torchvision_affine(images, angle, translate, scale, shear, interpolation, fill=0.3)
    assert (ours == 0.3).any()  # the fill really shows in the uncovered corners
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0 if interpolation == "nearest" else 1e-5)


def test_sampled_parameters_match_torchvision_on_a_wide_recipe():
    # many random parameter sets, far wider than the course uses, to catch rare rounding disagreements
    wide = {"degrees": 180, "translate": (0.2, 0.2), "scale": (0.5, 1.5), "shear": (-30, 30, -30, 30)}
    cfg = AugmentConfig.from_dict(wide)
    p = sample_affine_params(300, cfg, (28, 28), torch.Generator().manual_seed(1), "cpu")
    images = digits(300)
    ours = affine(images, p["angle"], p["translate"], p["scale"], p["shear"], "nearest")
    assert torch.equal(ours, torchvision_affine(images, p["angle"], p["translate"], p["scale"], p["shear"], "nearest"))


def test_nearest_half_pixel_ties_resolve_like_torchvision():
    # Right angles and scales like 0.5 or 1.5 put many source coordinates exactly on a half pixel, where the
    # last bit of theta decides the neighbour: computing the matrix in float32 instead of torchvision's
    # float64, or reordering its arithmetic, fails here. Noise images so that every pixel tells.
    grid = [
        (angle, translate, scale, shear)
        for angle in (0.0, 90.0, -90.0, 180.0, 45.0)
        for scale in (0.5, 0.8, 1.5, 2 / 3, 1.1)
        for translate in ((0, 0), (1, -3), (3, 2))
        for shear in ((0, 0), (45, 0), (0, 45))
    ]
    angle = torch.tensor([p[0] for p in grid])
    translate = torch.tensor([p[1] for p in grid], dtype=torch.float32)
    scale = torch.tensor([p[2] for p in grid])
    shear = torch.tensor([p[3] for p in grid], dtype=torch.float32)
    images = torch.rand(len(grid), 1, 28, 28, generator=torch.Generator().manual_seed(0))
    ours = affine(images, angle, translate, scale, shear, "nearest")
    assert torch.equal(ours, torchvision_affine(images, angle, translate, scale, shear, "nearest"))


def test_sampled_affine_parameters_stay_in_and_cover_their_ranges():
    cfg = AugmentConfig.from_dict(FULL)
    p = sample_affine_params(20_000, cfg, (28, 28), torch.Generator().manual_seed(0), "cpu")
    angle, translate, scale, shear = p["angle"], p["translate"], p["scale"], p["shear"]
    assert angle.shape == scale.shape == (20_000,) and translate.shape == shear.shape == (20_000, 2)
    assert -20 <= angle.min() < -19.9 and 19.9 < angle.max() <= 20
    assert 0.9 <= scale.min() < 0.901 and 1.099 < scale.max() <= 1.1
    assert -5 <= shear[:, 0].min() < -4.99 and 4.99 < shear[:, 0].max() <= 5
    assert torch.all(shear[:, 1] == 0)  # a single shear number only shears along x
    assert torch.equal(translate, translate.round())
    max_shift = round(0.1 * 28)
    for axis in range(2):
        assert set(translate[:, axis].tolist()) == set(range(-max_shift, max_shift + 1))


def test_translation_rounds_half_to_even_like_python_round():
    # max_dx = 0.5 * 5 = 2.5 pixels: U(-2.5, 2.5) never reaches +-3, and +-2.5 itself rounds to +-2
    cfg = AugmentConfig.from_dict({"translate": (0.5, 0.5)})
    p = sample_affine_params(5_000, cfg, (5, 5), torch.Generator().manual_seed(0), "cpu")
    assert set(p["translate"].flatten().tolist()) == {-2.0, -1.0, 0.0, 1.0, 2.0}


def test_disabled_parts_sample_neutral_parameters():
    p = sample_affine_params(5, AugmentConfig(), (28, 28), torch.Generator().manual_seed(0), "cpu")
    assert torch.all(p["angle"] == 0) and torch.all(p["translate"] == 0)
    assert torch.all(p["scale"] == 1) and torch.all(p["shear"] == 0)


def test_sampled_color_factors_stay_in_and_cover_their_ranges():
    cfg = AugmentConfig.from_dict({"brightness": 0.2, "contrast": (0.5, 1.5)})
    c = sample_color_params(20_000, cfg, torch.Generator().manual_seed(0), "cpu")
    assert 0.8 <= c["brightness"].min() < 0.801 and 1.199 < c["brightness"].max() <= 1.2
    assert 0.5 <= c["contrast"].min() < 0.501 and 1.499 < c["contrast"].max() <= 1.5
    assert 0.45 < c["brightness_first"].float().mean() < 0.55  # ColorJitter's random order, per sample
    assert sample_color_params(3, AugmentConfig(), torch.Generator(), "cpu")["brightness"] is None


@pytest.mark.parametrize("brightness_first", [True, False])
def test_brightness_contrast_equal_torchvision(brightness_first):
    images = digits(5)
    b = torch.tensor([0.8, 1.2, 1.0, 0.95, 1.6])  # 1.6 pushes strokes past 1: the clamp must bite
    c = torch.tensor([1.2, 0.8, 1.5, 1.0, 0.0])  # 0 turns an image into its mean
    ours = adjust_brightness_contrast(images, b, c, torch.full((5,), brightness_first))
    expected = []
    for i in range(5):
        img = images[i : i + 1]
        if brightness_first:
            img = TF.adjust_contrast(TF.adjust_brightness(img, float(b[i])), float(c[i]))
        else:
            img = TF.adjust_brightness(TF.adjust_contrast(img, float(c[i])), float(b[i]))
        expected.append(img)
    assert torch.equal(ours, torch.cat(expected))
    assert ours.min() >= 0 and ours.max() <= 1 and (ours == 1).any()


def test_brightness_contrast_order_is_per_sample():
    images = digits(2).repeat(2, 1, 1, 1)
    b, c = torch.full((4,), 1.5), torch.full((4,), 0.5)
    ours = adjust_brightness_contrast(images, b, c, torch.tensor([True, True, False, False]))
    both_first = adjust_brightness_contrast(images, b, c, torch.ones(4, dtype=torch.bool))
    both_second = adjust_brightness_contrast(images, b, c, torch.zeros(4, dtype=torch.bool))
    assert torch.equal(ours[:2], both_first[:2]) and torch.equal(ours[2:], both_second[2:])
    assert not torch.equal(both_first, both_second)  # the order matters, so the test above can fail


def test_single_color_op_leaves_the_other_out():
    images = digits(3)
    only_b = adjust_brightness_contrast(images, torch.full((3,), 0.5), None, torch.ones(3, dtype=torch.bool))
    assert torch.equal(only_b, TF.adjust_brightness(images, 0.5))


def test_augmenter_is_deterministic_per_seed_and_stays_in_range():
    augment = Augmenter(AugmentConfig.from_dict(FULL))
    images = digits(64)
    first = augment(images, torch.Generator().manual_seed(7))
    again = augment(images, torch.Generator().manual_seed(7))
    other = augment(images, torch.Generator().manual_seed(8))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert first.shape == images.shape and first.dtype == images.dtype
    assert first.min() >= 0 and first.max() <= 1


def test_augmenter_composes_affine_then_color_from_one_generator():
    cfg = AugmentConfig.from_dict({**FULL, "interpolation": "bilinear"})
    images = digits(16)
    out = Augmenter(cfg)(images, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    p = sample_affine_params(16, cfg, (28, 28), g, "cpu")
    c = sample_color_params(16, cfg, g, "cpu")
    moved = affine(images, p["angle"], p["translate"], p["scale"], p["shear"], "bilinear")
    assert torch.equal(out, adjust_brightness_contrast(moved, c["brightness"], c["contrast"], c["brightness_first"]))
    assert len({tuple(a.tolist()) for a in p["translate"]}) > 1  # samples really got their own parameters


@pytest.mark.parametrize("recipe", [None, {}, {"degrees": 0}, {"brightness": 0, "contrast": (1, 1)}])
def test_disabled_augmenter_is_the_identity(recipe):
    cfg = AugmentConfig.from_dict(recipe)
    assert not cfg.enabled
    images = digits(4)
    assert torch.equal(Augmenter(cfg)(images, torch.Generator().manual_seed(0)), images)


@pytest.mark.parametrize(
    "recipe, field, expected",
    [
        ({"degrees": 20}, "degrees", (-20.0, 20.0)),
        ({"degrees": 0}, "degrees", (0.0, 0.0)),
        ({"degrees": [-5, 10]}, "degrees", (-5.0, 10.0)),
        ({"translate": [0.1, 0.2]}, "translate", (0.1, 0.2)),
        ({"scale": (0.9, 1.1)}, "scale", (0.9, 1.1)),
        ({"shear": 5}, "shear", (-5.0, 5.0, 0.0, 0.0)),
        ({"shear": (-2, 3)}, "shear", (-2.0, 3.0, 0.0, 0.0)),
        ({"shear": [-2, 3, -4, 5]}, "shear", (-2.0, 3.0, -4.0, 5.0)),
        ({"brightness": 0.2}, "brightness", (0.8, 1.2)),
        ({"brightness": 1.5}, "brightness", (0.0, 2.5)),  # ColorJitter clips the low end at 0
        ({"contrast": (0.5, 1.5)}, "contrast", (0.5, 1.5)),
        ({"contrast": 0}, "contrast", None),
        ({"interpolation": "bilinear"}, "interpolation", "bilinear"),
        ({"fill": 1}, "fill", 1.0),
        ({"scale": None}, "scale", None),
    ],
)
def test_from_dict_normalises_every_value_form(recipe, field, expected):
    value = getattr(AugmentConfig.from_dict(recipe), field)
    assert value == (pytest.approx(expected) if isinstance(expected, tuple) else expected)


def test_from_dict_defaults_and_round_trip():
    cfg = AugmentConfig.from_dict(FULL)
    assert cfg.interpolation == "nearest" and cfg.fill == 0.0 and cfg.enabled
    record = cfg.to_dict()
    assert record["shear"] == [-5.0, 5.0, 0.0, 0.0] and record["translate"] == [0.1, 0.1]
    assert AugmentConfig.from_dict(record) == cfg
    assert AugmentConfig.from_dict({}) == AugmentConfig() and not AugmentConfig().enabled


@pytest.mark.parametrize(
    "recipe, words",
    [
        ({"rotation": 10}, ["rotation", "allowed keys"]),
        ({"degrees": -1}, ["'degrees'", "-1"]),
        ({"degrees": (10, -10)}, ["'degrees'", "min <= max"]),
        ({"degrees": "20"}, ["'degrees'", "'20'"]),
        ({"degrees": True}, ["'degrees'"]),
        ({"translate": (2, 0.1)}, ["AUGMENT['translate'] must be two fractions in [0, 1], got (2, 0.1)"]),
        ({"translate": 0.1}, ["'translate'", "two fractions"]),
        ({"translate": (0.1, 0.1, 0.1)}, ["'translate'"]),
        ({"scale": (0, 1.1)}, ["'scale'", "positive"]),
        ({"scale": (1.1, 0.9)}, ["'scale'", "min <= max"]),
        ({"scale": 1.1}, ["'scale'", "pair"]),
        ({"shear": -5}, ["'shear'"]),
        ({"shear": (1, 2, 3)}, ["'shear'", "4-tuple"]),
        ({"shear": 90}, ["'shear'", "90"]),
        ({"brightness": -0.1}, ["'brightness'", ">= 0"]),
        ({"contrast": (-0.5, 1.0)}, ["'contrast'"]),
        ({"contrast": (1.5, 0.5)}, ["'contrast'"]),
        ({"contrast": float("nan")}, ["'contrast'"]),
        ({"interpolation": "bicubic"}, ["'interpolation'", "'nearest'", "'bilinear'"]),
        ({"fill": 255}, ["'fill'", "[0, 1]"]),
        ([("degrees", 10)], ["AUGMENT must be a dict"]),
    ],
)
def test_from_dict_rejects_bad_input_naming_the_key(recipe, words):
    with pytest.raises(SubmissionError) as err:
        AugmentConfig.from_dict(recipe)
    for word in words:
        assert word in str(err.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_augmenter_on_cuda_never_syncs_with_the_host():
    augment = Augmenter(AugmentConfig.from_dict({**FULL, "interpolation": "bilinear"}))
    images = digits(256).cuda()
    generator = torch.Generator(device="cuda").manual_seed(0)
    augment(images, generator)  # warm-up: lazy CUDA initialisation may sync once
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = augment(images, generator)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert out.device == images.device and out.shape == images.shape


HUGE_INT = 10**400  # too large for a float: float(HUGE_INT) raises OverflowError


@pytest.mark.parametrize(
    "recipe, allowed",
    [
        ({"degrees": 1e308}, "a number in [0, 360]"),
        ({"degrees": -1e308}, "a number in [0, 360]"),
        ({"degrees": (-1e308, 1e308)}, "a pair (min, max) of degrees in [-360, 360]"),
        ({"degrees": 3.5e38}, "a number in [0, 360]"),  # just past float32's range
        ({"degrees": HUGE_INT}, "a number in [0, 360]"),
        ({"degrees": float("inf")}, "a number in [0, 360]"),
        ({"degrees": float("-inf")}, "a number in [0, 360]"),
        ({"degrees": float("nan")}, "a number in [0, 360]"),
        ({"translate": (1e308, 0.1)}, "two fractions in [0, 1]"),
        ({"translate": (float("inf"), 0.1)}, "two fractions in [0, 1]"),
        ({"scale": (1e-308, 1e308)}, "positive factors in [0.01, 100]"),
        ({"scale": (5e-324, 1.0)}, "positive factors in [0.01, 100]"),  # rounds to 0 in float32: a division by 0
        ({"scale": (1.0, HUGE_INT)}, "positive factors in [0.01, 100]"),
        ({"scale": (float("nan"), 1.0)}, "positive factors in [0.01, 100]"),
        ({"shear": 1e308}, "degrees in (-90, 90)"),
        ({"shear": (-1e308, 1e308)}, "degrees in (-90, 90)"),
        ({"shear": (0, 0, -1e308, 0)}, "degrees in (-90, 90)"),
        ({"brightness": 1e308}, "a number x >= 0, at most 99"),
        ({"brightness": (0, 1e308)}, "0 <= min <= max <= 100"),
        ({"contrast": 1e308}, "a number x >= 0, at most 99"),
        ({"contrast": float("inf")}, "a number x >= 0, at most 99"),
        ({"fill": 1e308}, "a number in [0, 1]"),
        ({"fill": float("nan")}, "a number in [0, 1]"),
    ],
)
def test_values_at_the_edge_of_float_range_are_refused_with_the_range(recipe, allowed):
    """Past these bounds the float32 parameter draws overflow (uniform_ refuses them) or divide by ~0 in the
    worker; the submission hears which key and which range instead."""
    with pytest.raises(SubmissionError) as err:
        AugmentConfig.from_dict(recipe)
    message = str(err.value)
    key = next(iter(recipe))
    assert message.startswith(f"AUGMENT[{key!r}] must be ") and allowed in message, message
    assert len(message) < 400  # a 401-digit integer is shortened, not echoed


@pytest.mark.parametrize(
    "recipe",
    [
        {"degrees": 360},
        {"degrees": (-360, 360)},
        {"translate": (1.0, 1.0)},
        {"scale": (0.01, 100)},
        {"shear": 89.999999},
        {"shear": (-89.999999, 89.999999, -89.999999, 89.999999)},
        {"brightness": 99, "contrast": (0, 100)},
    ],
)
def test_values_at_the_bounds_are_accepted_and_stay_finite(recipe):
    cfg = AugmentConfig.from_dict(recipe)
    out = Augmenter(cfg)(digits(16), torch.Generator().manual_seed(0))
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
