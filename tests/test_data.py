import gzip
import hashlib
import shutil

import pytest
import torch

from grader import mnist as data
from grader.errors import DataError
from grader.paths import bundled_data_dir

SHARED_RAW = data.Path(__file__).resolve().parents[2] / "shared" / "data" / "MNIST" / "raw"


def test_bundled_split_shapes_and_dtypes(train_split, test_split):
    assert train_split.images.shape == (60000, 28, 28) and train_split.images.dtype == torch.uint8
    assert test_split.images.shape == (10000, 28, 28)
    assert train_split.labels.dtype == torch.int64
    assert torch.bincount(test_split.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_sha256sums_file_agrees_with_the_loader():
    listed = dict(reversed(line.split()) for line in (bundled_data_dir() / "SHA256SUMS").read_text().splitlines())
    assert listed == data.CHECKSUMS


def test_gz_is_reproducible_gzip_n():
    # gzip -n stores no name or mtime: bytes 4..8 (mtime) are zero, so the bundle is byte-reproducible.
    blob = (bundled_data_dir() / "t10k-labels-idx1-ubyte.gz").read_bytes()
    assert blob[4:8] == b"\0\0\0\0"


def test_raw_and_gz_decode_the_same(tmp_path, test_split):
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(gzip.decompress((bundled_data_dir() / f"{name}.gz").read_bytes()))
    split = data.load_split(train=False, data_dir=raw)
    assert torch.equal(split.images, test_split.images) and torch.equal(split.labels, test_split.labels)


def test_lookup_order(tmp_path, monkeypatch):
    env_dir, flag_dir = tmp_path / "env", tmp_path / "flag"
    (env_dir / "MNIST" / "raw").mkdir(parents=True)
    flag_dir.mkdir()
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    assert data.resolve_data_dir() == bundled_data_dir()
    monkeypatch.setenv(data.ENV_VAR, str(env_dir))
    assert data.resolve_data_dir() == env_dir / "MNIST" / "raw"  # torchvision's layout is found
    assert data.resolve_data_dir(flag_dir) == flag_dir  # --data-dir beats the variable


def test_missing_file_names_it_and_its_checksum(tmp_path):
    with pytest.raises(DataError) as err:
        data.load_split(train=False, data_dir=tmp_path)
    assert "t10k-images-idx3-ubyte" in str(err.value)
    assert data.CHECKSUMS["t10k-images-idx3-ubyte"] in str(err.value)


def test_corrupt_file_names_it_and_its_checksum(tmp_path):
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        shutil.copy(bundled_data_dir() / f"{name}.gz", tmp_path)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    content = bytearray(gzip.decompress(labels.read_bytes()))
    content[100] ^= 1  # one flipped label bit
    labels.write_bytes(gzip.compress(bytes(content)))
    with pytest.raises(DataError) as err:
        data.load_split(train=False, data_dir=tmp_path)
    message = str(err.value)
    assert "t10k-labels-idx1-ubyte.gz is corrupt" in message
    assert hashlib.sha256(bytes(content)).hexdigest() in message and data.CHECKSUMS["t10k-labels-idx1-ubyte"] in message


def test_truncated_gzip_is_a_data_error(tmp_path):
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        shutil.copy(bundled_data_dir() / f"{name}.gz", tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError, match="cannot be read"):
        data.load_split(train=False, data_dir=tmp_path)


def test_data_dir_that_is_not_a_folder(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        data.resolve_data_dir(tmp_path / "nope")


@pytest.mark.skipif(not SHARED_RAW.is_dir(), reason="the shared raw copy is only beside a checkout")
def test_bundle_matches_the_shared_raw_files(test_split):
    split = data.load_split(train=False, data_dir=SHARED_RAW)
    assert torch.equal(split.images, test_split.images)


def test_normalize_matches_totensor_then_normalize(test_split):
    x = data.normalize(test_split.images[:4])
    expected = (test_split.images[:4].float().unsqueeze(1) / 255 - 0.1307) / 0.3081
    assert x.shape == (4, 1, 28, 28) and torch.allclose(x, expected)


def test_validation_split_is_the_last_training_images_and_the_fit_split_the_rest(tmp_path, train_split):
    from grader.mnist import VALIDATION_SIZE, split_from_files, write_split

    n = len(train_split)
    (tmp_path / "fit").mkdir()
    (tmp_path / "val").mkdir()
    fit = split_from_files(*write_split(tmp_path / "fit", True, part="fit"))
    val = split_from_files(*write_split(tmp_path / "val", True, part="validation"))
    assert len(fit) == n - VALIDATION_SIZE and len(val) == VALIDATION_SIZE
    assert torch.equal(fit.images, train_split.images[: n - VALIDATION_SIZE])
    assert torch.equal(val.images, train_split.images[n - VALIDATION_SIZE :])
    assert torch.equal(val.labels, train_split.labels[n - VALIDATION_SIZE :])
    head = split_from_files(*write_split(tmp_path / "val", True, limit=7, part="validation"))
    assert torch.equal(head.images, train_split.images[n - VALIDATION_SIZE : n - VALIDATION_SIZE + 7])
    with pytest.raises(ValueError, match="only the training split"):
        write_split(tmp_path, False, part="validation")
