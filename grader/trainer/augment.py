"""Batched, on-device data augmentation with torchvision's RandomAffine + ColorJitter semantics.

Each image of a batch gets its own random parameters, as the per-sample PIL pipeline it replaces did, but
all of it runs as a handful of tensor ops on the data's device with no host synchronisation, so the
training loop can call it every step. Images are float in [0, 1], before normalisation, so fill 0 is the
true background. The arithmetic mirrors torchvision's tensor kernels operation by operation: for fixed
parameters the nearest-neighbour output equals torchvision.transforms.v2.functional.affine bit for bit.
"""

import math
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F

from grader.errors import SubmissionError
from grader.mnist import normalize, to_unit

INTERPOLATIONS = ("nearest", "bilinear")
KEYS = ("degrees", "translate", "scale", "shear", "brightness", "contrast", "interpolation", "fill")
_DEG_TO_RAD = math.pi / 180.0  # the constant CPython's math.radians multiplies by
# Bounds on AUGMENT values: every parameter is drawn in float32, so values past these would overflow it or
# divide by (almost) zero, and nothing useful for MNIST lies beyond them.
MAX_DEGREES = 360.0  # a rotation range wider than a full turn means nothing more
SCALE_RANGE = (0.01, 100.0)  # zoom factors; 0 would divide by zero in the inverse affine matrix
MAX_FACTOR = 100.0  # brightness/contrast factors (ColorJitter's x gives 1 + x, so x <= 99)


@dataclass(frozen=True)
class AugmentConfig:
    """A normalised augmentation recipe; build it with from_dict to get the submission contract's checks."""

    degrees: tuple[float, float] = (0.0, 0.0)  # 0 = no rotation (RandomAffine always has a degrees range)
    translate: tuple[float, float] | None = None  # None = no shift
    scale: tuple[float, float] | None = None  # None = keep the size
    shear: tuple[float, float, float, float] | None = None  # None = no shear; else (x range, y range)
    brightness: tuple[float, float] | None = None  # None = no brightness jitter (factor range otherwise)
    contrast: tuple[float, float] | None = None  # None = no contrast jitter (factor range otherwise)
    interpolation: str = "nearest"  # RandomAffine's default; keeps MNIST strokes crisp
    fill: float = 0.0  # MNIST background before normalisation

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "AugmentConfig":
        """Normalise the submission's AUGMENT dict (torchvision value forms); SubmissionError names a bad key."""
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise SubmissionError(f"AUGMENT must be a dict (or None), got {type(d).__name__}")
        unknown = [k for k in d if k not in KEYS]
        if unknown:
            raise SubmissionError(f"AUGMENT has unknown key(s) {unknown}; allowed keys are {list(KEYS)}")
        kwargs: dict[str, Any] = {}
        for key, parse in _PARSERS.items():
            if key in d and d[key] is not None:
                kwargs[key] = parse(key, d[key])
        return cls(**kwargs)

    @property
    def geometric(self) -> bool:
        """Whether the recipe moves pixels at all (else the affine resampling is skipped)."""
        return (
            self.degrees != (0.0, 0.0)
            or self.translate is not None
            or self.scale is not None
            or self.shear is not None
        )

    @property
    def enabled(self) -> bool:
        """Whether the recipe changes images at all."""
        return self.geometric or self.brightness is not None or self.contrast is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly record of the recipe actually used; from_dict accepts it back."""
        return {
            "degrees": _as_list(self.degrees),
            "translate": _as_list(self.translate),
            "scale": _as_list(self.scale),
            "shear": _as_list(self.shear),
            "brightness": _as_list(self.brightness),
            "contrast": _as_list(self.contrast),
            "interpolation": self.interpolation,
            "fill": self.fill,
        }


def _as_list(value: tuple | None) -> list | None:
    return None if value is None else list(value)  # JSON has no tuples


def _bad(key: str, allowed: str, value) -> SubmissionError:
    shown = repr(value)
    if len(shown) > 80:  # 10**400 has 401 digits: the message names the key and the range, not the number
        shown = shown[:60] + f"... ({len(shown)} characters)"
    return SubmissionError(f"AUGMENT[{key!r}] must be {allowed}, got {shown}")


def _is_number(v) -> bool:
    # bool is an int subclass, and NaN/inf would silently poison every image
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int too large for a float (10**400)
        return False


def _numbers(key: str, value, lengths: tuple[int, ...], allowed: str) -> tuple[float, ...]:
    if not isinstance(value, (tuple, list)) or len(value) not in lengths or not all(map(_is_number, value)):
        raise _bad(key, allowed, value)
    return tuple(float(v) for v in value)


def _pair(key: str, value, allowed: str) -> tuple[float, float]:
    """Two numbers, as _numbers checks them."""
    return cast(tuple[float, float], _numbers(key, value, (2,), allowed))


def _ordered(key: str, pairs: tuple[float, ...], allowed: str, value) -> None:
    # torch's uniform_(lo, hi) refuses lo > hi, so catch it here with the key's name
    if any(pairs[i] > pairs[i + 1] for i in range(0, len(pairs), 2)):
        raise _bad(key, allowed, value)


def _parse_degrees(key: str, value) -> tuple[float, float]:
    allowed = (f"a number in [0, {MAX_DEGREES:g}] (meaning -d..d) or a pair (min, max) of degrees in "
               f"[-{MAX_DEGREES:g}, {MAX_DEGREES:g}] with min <= max")
    if _is_number(value):
        if not 0 <= value <= MAX_DEGREES:
            raise _bad(key, allowed, value)
        return (-float(value), float(value))
    pair = _pair(key, value, allowed)
    if not all(-MAX_DEGREES <= v <= MAX_DEGREES for v in pair):
        raise _bad(key, allowed, value)
    _ordered(key, pair, allowed, value)
    return pair


def _parse_translate(key: str, value) -> tuple[float, float]:
    allowed = "two fractions in [0, 1]"
    pair = _pair(key, value, allowed)
    if not all(0.0 <= v <= 1.0 for v in pair):
        raise _bad(key, allowed, value)
    return pair


def _parse_scale(key: str, value) -> tuple[float, float]:
    low, high = SCALE_RANGE
    allowed = f"a pair (min, max) of positive factors in [{low:g}, {high:g}] with min <= max"
    pair = _pair(key, value, allowed)
    if not all(low <= v <= high for v in pair):
        raise _bad(key, allowed, value)
    _ordered(key, pair, allowed, value)
    return pair


def _parse_shear(key: str, value) -> tuple[float, float, float, float]:
    # |shear| >= 90 degrees divides by cos(90) = 0 in the affine matrix
    allowed = (
        "a number in [0, 90) (meaning x shear -s..s), a pair (min, max) or a 4-tuple (xmin, xmax, ymin, ymax)"
        " of degrees in (-90, 90) with min <= max"
    )
    if _is_number(value):
        if not 0 <= value < 90:
            raise _bad(key, allowed, value)
        return (-float(value), float(value), 0.0, 0.0)
    shear = _numbers(key, value, (2, 4), allowed)
    if not all(-90 < v < 90 for v in shear):
        raise _bad(key, allowed, value)
    _ordered(key, shear, allowed, value)
    return cast(tuple[float, float, float, float], shear + (0.0, 0.0) if len(shear) == 2 else shear)


def _parse_factor(key: str, value) -> tuple[float, float] | None:
    allowed = (f"a number x >= 0, at most {MAX_FACTOR - 1:g} (meaning factors max(0, 1-x)..1+x), or a pair "
               f"(min, max) with 0 <= min <= max <= {MAX_FACTOR:g}")
    if _is_number(value):
        if not 0 <= value <= MAX_FACTOR - 1:
            raise _bad(key, allowed, value)
        pair = (max(0.0, 1.0 - float(value)), 1.0 + float(value))
    else:
        pair = _pair(key, value, allowed)
        if pair[0] < 0 or pair[1] > MAX_FACTOR:
            raise _bad(key, allowed, value)
        _ordered(key, pair, allowed, value)
    # ColorJitter treats the factor range (1, 1) as "off"
    return None if pair == (1.0, 1.0) else pair


def _parse_interpolation(key: str, value) -> str:
    if value not in INTERPOLATIONS:
        raise _bad(key, " or ".join(repr(i) for i in INTERPOLATIONS), value)
    return value


def _parse_fill(key: str, value) -> float:
    if not _is_number(value) or not 0 <= value <= 1:
        raise _bad(key, "a number in [0, 1] (images are in [0, 1] before normalisation)", value)
    return float(value)


_PARSERS = {
    "degrees": _parse_degrees,
    "translate": _parse_translate,
    "scale": _parse_scale,
    "shear": _parse_shear,
    "brightness": _parse_factor,
    "contrast": _parse_factor,
    "interpolation": _parse_interpolation,
    "fill": _parse_fill,
}


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator, device) -> torch.Tensor:
    # float32 uniform_ is exactly what RandomAffine/ColorJitter draw their parameters with
    return torch.empty(n, dtype=torch.float32, device=device).uniform_(lo, hi, generator=generator)


def sample_affine_params(
    n: int, cfg: AugmentConfig, size: tuple[int, int], generator: torch.Generator, device
) -> dict[str, torch.Tensor]:
    """Draw n per-sample RandomAffine parameters (angle, translate, scale, shear) for images of size (H, W).

    Same distributions as torchvision's RandomAffine.get_params; translations are whole pixels.
    """
    height, width = size
    angle = _uniform(n, cfg.degrees[0], cfg.degrees[1], generator, device)
    if cfg.translate is not None:
        max_dx = float(cfg.translate[0] * width)
        max_dy = float(cfg.translate[1] * height)
        # torch.round is half-to-even, like the Python round() torchvision uses
        tx = torch.round(_uniform(n, -max_dx, max_dx, generator, device))
        ty = torch.round(_uniform(n, -max_dy, max_dy, generator, device))
        translate = torch.stack([tx, ty], dim=1)
    else:
        translate = torch.zeros(n, 2, dtype=torch.float32, device=device)
    if cfg.scale is not None:
        scale = _uniform(n, cfg.scale[0], cfg.scale[1], generator, device)
    else:
        scale = torch.ones(n, dtype=torch.float32, device=device)
    if cfg.shear is not None:
        shear_x = _uniform(n, cfg.shear[0], cfg.shear[1], generator, device)
        shear_y = _uniform(n, cfg.shear[2], cfg.shear[3], generator, device)
        shear = torch.stack([shear_x, shear_y], dim=1)
    else:
        shear = torch.zeros(n, 2, dtype=torch.float32, device=device)
    return {"angle": angle, "translate": translate, "scale": scale, "shear": shear}


def sample_color_params(n: int, cfg: AugmentConfig, generator: torch.Generator, device) -> dict[str, Any]:
    """Draw n per-sample ColorJitter factors (None where the op is off) and each sample's op order."""
    brightness = None if cfg.brightness is None else _uniform(n, *cfg.brightness, generator, device)
    contrast = None if cfg.contrast is None else _uniform(n, *cfg.contrast, generator, device)
    # ColorJitter shuffles its ops per call, so brightness comes first for half of the samples
    brightness_first = _uniform(n, 0.0, 1.0, generator, device) < 0.5
    return {"brightness": brightness, "contrast": contrast, "brightness_first": brightness_first}


def _inverse_affine_theta(angle, translate, scale, shear, dtype) -> torch.Tensor:
    """(B, 2, 3) inverse affine matrices, torchvision's _get_inverse_affine_matrix with center (0, 0)."""
    # torchvision does this in Python float64 and only then casts to the image dtype; same ops, same order,
    # so the cast values agree. MPS has no float64, there float32 is the best available.
    f64 = torch.float32 if angle.device.type == "mps" else torch.float64
    rot = angle.to(f64) * _DEG_TO_RAD
    sx = shear[:, 0].to(f64) * _DEG_TO_RAD
    sy = shear[:, 1].to(f64) * _DEG_TO_RAD
    tx, ty = translate[:, 0].to(f64), translate[:, 1].to(f64)
    scale = scale.to(f64)

    cos_sy = torch.cos(sy)
    tan_sx = torch.tan(sx)
    rot_minus_sy = rot - sy
    a = torch.cos(rot_minus_sy) / cos_sy
    b = -(a * tan_sx + torch.sin(rot))
    c = torch.sin(rot_minus_sy) / cos_sy
    d = torch.cos(rot) - c * tan_sx

    m0, m1, m3, m4 = d / scale, -b / scale, -c / scale, a / scale
    # "0.0 + (0.0 - ...)" is torchvision's "matrix[2] += cx - ..." with cx = 0: kept for the signed zeros
    m2 = 0.0 + (0.0 - m0 * tx - m1 * ty)
    m5 = 0.0 + (0.0 - m3 * tx - m4 * ty)
    return torch.stack([m0, m1, m2, m3, m4, m5], dim=1).to(dtype).view(-1, 2, 3)


def _affine_grid(theta: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(B, H, W, 2) sampling grid, torchvision's _affine_grid for a batch of thetas."""
    dtype, device = theta.dtype, theta.device
    base_grid = torch.empty(1, h, w, 3, dtype=dtype, device=device)
    # linspace without dtype, then copied, exactly as torchvision builds it
    base_grid[..., 0].copy_(torch.linspace((1.0 - w) * 0.5, (w - 1.0) * 0.5, steps=w, device=device))
    base_grid[..., 1].copy_(torch.linspace((1.0 - h) * 0.5, (h - 1.0) * 0.5, steps=h, device=device).unsqueeze_(-1))
    base_grid[..., 2].fill_(1)
    # fill_ takes the value as a kernel argument; torch.tensor([...], device=...) and item assignment
    # (half_size[0] = ...) copy from the host and sync (the CUDA sync test caught the latter)
    half_size = torch.full((2,), 0.5 * w, dtype=dtype, device=device)
    half_size[1:].fill_(0.5 * h)
    rescaled_theta = theta.transpose(1, 2) / half_size
    base_grid = base_grid.view(1, h * w, 3).expand(theta.shape[0], -1, -1)
    return base_grid.bmm(rescaled_theta).view(-1, h, w, 2)


def affine(
    images: torch.Tensor,
    angle: torch.Tensor,
    translate: torch.Tensor,
    scale: torch.Tensor,
    shear: torch.Tensor,
    interpolation: str = "nearest",
    fill: float = 0.0,
) -> torch.Tensor:
    """Per-sample affine of (B, C, H, W) float images about their centre, as torchvision's tensor affine.

    angle, scale: (B,); translate, shear: (B, 2); in degrees and pixels. One grid_sample for the batch.
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    b, c, h, w = images.shape
    theta = _inverse_affine_theta(angle, translate, scale, shear, images.dtype)
    grid = _affine_grid(theta, h, w)
    # torchvision samples a ones channel alongside the image to know where the fill shows through
    mask = torch.ones(b, 1, h, w, dtype=images.dtype, device=images.device)
    out = F.grid_sample(
        torch.cat([images, mask], dim=1), grid, mode=interpolation, padding_mode="zeros", align_corners=False
    )
    out, mask = out[:, :c], out[:, c:].expand(-1, c, -1, -1)
    if interpolation == "nearest":
        return torch.where(mask < 0.5, torch.full_like(out, fill), out)
    # bilinear blends the fill in at the borders in torchvision's operation order
    return out.sub_(fill).mul_(mask).add_(fill)


def adjust_brightness_contrast(
    images: torch.Tensor,
    brightness_factors: torch.Tensor | None,
    contrast_factors: torch.Tensor | None,
    brightness_first: torch.Tensor,
) -> torch.Tensor:
    """Per-sample brightness then contrast (or the reverse where brightness_first is False), clamped to [0, 1].

    torchvision's tensor adjust_brightness / adjust_contrast for (B, 1, H, W) images; None factors skip an op.
    """
    if images.shape[1] != 1:
        raise ValueError(f"adjust_brightness_contrast takes 1-channel images, got {images.shape[1]} channels")

    def brightness(x):
        return x if brightness_factors is None else (x * brightness_factors.view(-1, 1, 1, 1)).clamp_(0, 1)

    def contrast(x):
        if contrast_factors is None:
            return x
        f = contrast_factors.view(-1, 1, 1, 1)
        mean = x.mean(dim=(-3, -2, -1), keepdim=True)
        # addcmul fuses multiply and add like torchvision's x.mul(f).add_(mean, alpha=1 - f) does on CPU, so
        # the results agree bit for bit there; a plain x * f + mean * (1 - f) rounds twice and drifts by an ulp
        return torch.addcmul(x * f, mean, 1 - f).clamp_(0, 1)

    if brightness_factors is None or contrast_factors is None:
        return contrast(brightness(images))
    # both orders for the whole batch, then pick per sample: cheaper than any per-sample branching
    first = brightness_first.view(-1, 1, 1, 1)
    return torch.where(first, contrast(brightness(images)), brightness(contrast(images)))


class Augmenter:
    """Applies an AugmentConfig to training batches: RandomAffine, then ColorJitter, per sample."""

    def __init__(self, cfg: AugmentConfig):
        self.cfg = cfg

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(B,1,H,W) float in [0,1] -> augmented float in [0,1], same device; identity when not cfg.enabled.

        generator must live on images' device; it alone decides the random parameters.
        """
        cfg = self.cfg
        if not cfg.enabled:
            return images
        n, device = images.shape[0], images.device
        if cfg.geometric:
            p = sample_affine_params(n, cfg, (images.shape[-2], images.shape[-1]), generator, device)
            images = affine(images, p["angle"], p["translate"], p["scale"], p["shear"], cfg.interpolation, cfg.fill)
        if cfg.brightness is not None or cfg.contrast is not None:
            c = sample_color_params(n, cfg, generator, device)
            images = adjust_brightness_contrast(images, c["brightness"], c["contrast"], c["brightness_first"])
        return images

    def inputs(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """uint8 (B, 28, 28) -> what the network trains on: (B, 1, 28, 28) floats, augmented in [0, 1], normalised."""
        return normalize(self(to_unit(images), generator))
