"""The sha256 of a file's bytes: how a submission is identified everywhere (records, resume keys, caches)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path) -> str:
    """Hex sha256 of the file's content; raises OSError when it cannot be read."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
