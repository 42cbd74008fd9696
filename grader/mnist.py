"""MNIST: find the files, verify them, decode IDX (gz or raw) without a per-sample Dataset, and hand a split over.

The file handling needs no torch (the parent writes the training split into the worker's directory and the test
split into the evaluator's, so neither child reads the package's data folder); the tensor helpers import it.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grader.errors import DataError
from grader.paths import bundled_data_dir

# Normalisation every submission is written against (the contract in DESIGN.md).
MEAN = 0.1307
STD = 0.3081

# sha256 of the *decompressed* IDX files, so a gz copy and a raw copy verify the same way.
CHECKSUMS = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

ENV_VAR = "COURSE_DATA_DIR"
# The validation split: the last 5,000 of the 60,000 training images (file order, so it is the same everywhere).
# `course grade --validate` trains on the others and measures on these: designs are chosen here, and the test set
# confirms the chosen one once. 5,000 keeps the fit set at 55,000 and a standard error near 0.1 point at 99 %.
VALIDATION_SIZE = 5_000
PARTS = ("all", "fit", "validation")  # of the training split: all of it, all but the validation split, the split
FILES = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

if TYPE_CHECKING:
    import torch


@dataclass
class Split:
    """One split: images (N, 28, 28) uint8 and labels (N,) int64, on whatever device they were moved to."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device) -> Split:
        return Split(self.images.to(device), self.labels.to(device))

    def subset(self, n: int) -> Split:
        return Split(self.images[:n], self.labels[:n])


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The raw/ folder to read: --data-dir, then $COURSE_DATA_DIR, then the bundled copy.

    A given folder may be the raw/ folder itself, or a root holding MNIST/raw/ (torchvision's layout).
    """
    for candidate, source in ((data_dir, "--data-dir"), (os.environ.get(ENV_VAR), ENV_VAR)):
        if candidate:
            root = Path(candidate).expanduser()
            if not root.is_dir():
                raise DataError(f"{source} points to {root}, which is not a folder")
            nested = root / "MNIST" / "raw"
            return nested if nested.is_dir() else root
    return bundled_data_dir()


def _find(raw_dir: Path, name: str) -> Path:
    for path in (raw_dir / name, raw_dir / f"{name}.gz"):
        if path.is_file():
            return path
    raise DataError(
        f"MNIST file {name} (or {name}.gz) is missing from {raw_dir}; "
        f"expected sha256 of its content: {CHECKSUMS[name]}"
    )


_VERIFIED: dict[tuple[str, str], bytes] = {}  # (file, name) -> content: a batch job verifies each file once


def read_verified(raw_dir: Path, name: str, verify: bool = True) -> bytes:
    """The decompressed content of one IDX file, checked against CHECKSUMS."""
    path = _find(raw_dir, name)
    key = (str(path.resolve()), name)
    if verify and key in _VERIFIED:
        return _VERIFIED[key]
    try:
        blob = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path} cannot be read ({exc}); expected sha256 of its content: {CHECKSUMS[name]}") from exc
    if verify:
        digest = hashlib.sha256(blob).hexdigest()
        if digest != CHECKSUMS[name]:
            raise DataError(
                f"{path} is corrupt: sha256 of its content is {digest}, expected {CHECKSUMS[name]}"
            )
        _VERIFIED[key] = blob
    return blob


def idx_shape(blob: bytes) -> list[int]:
    """The dimensions an IDX header declares."""
    ndim = blob[3]
    return [int.from_bytes(blob[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]


def idx_head(blob: bytes, n: int) -> bytes:
    """The first n items of an IDX file, as an IDX file."""
    return idx_slice(blob, 0, n)


def idx_slice(blob: bytes, start: int, stop: int) -> bytes:
    """Items start..stop-1 of an IDX file (clipped to what it holds), as an IDX file."""
    dims = idx_shape(blob)
    start, stop = min(max(start, 0), dims[0]), min(max(stop, 0), dims[0])
    n = max(stop - start, 0)
    item = 1
    for d in dims[1:]:
        item *= d
    header = blob[:4] + n.to_bytes(4, "big") + blob[8 : 4 + 4 * len(dims)]
    body = 4 + 4 * len(dims)
    return header + blob[body + start * item : body + (start + n) * item]


def part_range(total: int, part: str) -> tuple[int, int]:
    """The items [start, stop) of a training split of `total` items that `part` names (PARTS)."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; known: {', '.join(PARTS)}")
    held = min(VALIDATION_SIZE, total // 2)  # a small --data-dir copy (tests) still keeps images on both sides
    if part == "fit":
        return 0, total - held
    if part == "validation":
        return total - held, total
    return 0, total


def write_split(directory: Path, train: bool, data_dir=None, limit: int | None = None,
                part: str = "all") -> tuple[Path, Path]:
    """Write one split (the first `limit` items of its `part`) as raw IDX files into `directory`: how a child gets
    its data. `part` cuts the training split: "fit" leaves the validation split out, "validation" is only it."""
    if not train and part != "all":
        raise ValueError("only the training split has a validation part")
    raw = resolve_data_dir(data_dir)
    paths = []
    for name in FILES[train]:
        blob = read_verified(raw, name)
        start, stop = part_range(idx_shape(blob)[0], part)
        if limit is not None:
            stop = min(stop, start + limit)
        target = Path(directory) / name
        target.write_bytes(blob if (start, stop) == (0, idx_shape(blob)[0]) else idx_slice(blob, start, stop))
        paths.append(target)
    return paths[0], paths[1]


def read_idx(raw_dir: Path, name: str, verify: bool = True) -> torch.Tensor:
    """Decode one IDX file (gz or raw) into a uint8 tensor, checking its content against CHECKSUMS."""
    return _tensor(read_verified(raw_dir, name, verify))


def read_idx_file(path: Path) -> torch.Tensor:
    """A raw IDX file a parent wrote (no checksum: it may be a subset) as a uint8 tensor."""
    try:
        blob = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"{path} cannot be read ({exc.strerror})") from exc
    return _tensor(blob)


def _tensor(blob: bytes) -> torch.Tensor:
    import torch

    dims = idx_shape(blob)
    if len(blob) < 4 + 4 * len(dims) or blob[2] != 0x08:
        raise DataError("not an IDX file of unsigned bytes")
    # bytearray: torch.frombuffer wants a writable buffer to avoid a warning; one copy is cheap.
    return torch.frombuffer(bytearray(blob[4 + 4 * len(dims) :]), dtype=torch.uint8).reshape(dims)


def load_split(train: bool, data_dir=None) -> Split:
    """The train (60k) or test (10k) split as uint8 images and int64 labels on the CPU."""
    raw = resolve_data_dir(data_dir)
    images, labels = FILES[train]
    return Split(read_idx(raw, images), read_idx(raw, labels).long())


def split_from_files(images: Path, labels: Path) -> Split:
    """A split a parent handed over with write_split."""
    split = Split(read_idx_file(images), read_idx_file(labels).long())
    if split.images.ndim != 3 or len(split.images) != len(split.labels):
        raise DataError(f"{images} and {labels} do not hold one split")
    return split


def normalize(images_uint8_or_unit: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) uint8 or (N, 1, 28, 28) float in [0, 1] -> normalised float (N, 1, 28, 28)."""
    import torch

    x = images_uint8_or_unit
    if x.dtype == torch.uint8:
        x = to_unit(x)
    return (x - MEAN) / STD


def to_unit(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28) in [0, 1], as ToTensor does."""
    return images_uint8.unsqueeze(1).float().div_(255.0)
