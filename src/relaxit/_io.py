"""Output-directory checks shared by the trainers and benchmarks (run before any work)."""

from __future__ import annotations

import tempfile
from pathlib import Path


def check_out_dir(path: Path, option: str = "--out") -> None:
    """``ValueError`` unless ``path`` is (or can be created as) a writable directory.

    Nothing is left behind: the nearest existing ancestor must be a directory in which a
    temporary file can be made (and is removed at once), and no component of ``path`` may be a
    file.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path}: is a file, not a directory")
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise ValueError(f"{option} {path}: {existing} is a file, not a directory")
    try:  # os.access says yes to root everywhere (/proc too): try a file, removed at once
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise ValueError(f"{option} {path}: {existing} is not writable ({err.strerror})") from None
