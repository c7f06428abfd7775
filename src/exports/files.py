"""Export files: written under a temporary name, fsync'd and renamed atomically when complete.

Readers (and a redelivered command) see either no file, the old one or the complete new one,
never a partial file; leftovers of a killed attempt are cleared before the next one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


def organization_folder(base: Path, organization_id: uuid.UUID) -> Path:
    """``<base>/<organization>``, created if missing."""
    folder = base / str(organization_id)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def publish(tmp: Path, final: Path) -> None:
    """fsync and rename atomically: readers see the old file or the complete new one."""
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    try:
        dir_fd = os.open(final.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextmanager
def staged(final: Path) -> Iterator[Path]:
    """A temporary path (``.<name>.tmp`` beside ``final``) to write; published as ``final``
    when the block completes, removed when it fails."""
    tmp = final.with_name(f".{final.name}.tmp")
    try:
        yield tmp
        publish(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def scratch(path: Path) -> Iterator[Path]:
    """An empty working directory (whatever a killed attempt left is removed first), removed
    again afterwards."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def zip_files(files: Sequence[Path], target: Path, modified: dt.datetime) -> None:
    """The files in one zip, each entry dated ``modified`` (the export's time on the service's
    clock) rather than its scratch file's mtime on this host: the archive's bytes, and so its
    checksum, follow from the export alone (before, two runs of one export a second apart, or
    one on each backend, differed in the entries' times)."""
    stamp = modified.timetuple()[:6]
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            entry = zipfile.ZipInfo(path.name, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16  # a regular file, rw-r--r--
            with path.open("rb") as source, zf.open(entry, "w") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
