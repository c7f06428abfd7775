"""Export files are published whole or not at all (invoicing.exports.files)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import uuid
import zipfile
from pathlib import Path

import pytest
from invoicing.exports import files


def test_a_staged_file_appears_only_when_complete(tmp_path: Path) -> None:
    final = tmp_path / "invoices-1.csv"
    with files.staged(final) as tmp:
        assert tmp == tmp_path / ".invoices-1.csv.tmp"
        tmp.write_text("a;b\n")
        assert not final.exists()
    assert final.read_text() == "a;b\n"
    assert not tmp.exists()


def test_a_failed_export_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    final = tmp_path / "datev-1.zip"
    final.write_text("old")
    with pytest.raises(RuntimeError), files.staged(final) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert final.read_text() == "old"
    assert list(tmp_path.iterdir()) == [final]


def test_scratch_clears_leftovers_and_is_removed(tmp_path: Path) -> None:
    work = tmp_path / ".datev-1.parts"
    work.mkdir()
    (work / "leftover.csv").write_text("x")
    with files.scratch(work) as path:
        assert path == work and list(work.iterdir()) == []
        (work / "EXTF_1.csv").write_text("y")
    assert not work.exists()


def test_zip_sha256_and_folder(tmp_path: Path) -> None:
    org = uuid.uuid4()
    folder = files.organization_folder(tmp_path, org)
    assert folder == tmp_path / str(org) and folder.is_dir()
    assert files.organization_folder(tmp_path, org) == folder  # exists already: fine
    part = folder / "EXTF_Buchungsstapel.csv"
    part.write_bytes(b"EXTF;700")
    target = folder / "datev.zip"
    when = dt.datetime(2025, 3, 1, 9, 30, 12, tzinfo=dt.UTC)
    files.zip_files([part], target, when)
    with zipfile.ZipFile(target) as zf:
        assert zf.namelist() == ["EXTF_Buchungsstapel.csv"]
        assert zf.read("EXTF_Buchungsstapel.csv") == b"EXTF;700"
        assert zf.getinfo("EXTF_Buchungsstapel.csv").date_time == (2025, 3, 1, 9, 30, 12)
    assert files.sha256(part) == "sha256:" + hashlib.sha256(b"EXTF;700").hexdigest()


def test_a_zip_follows_from_its_files_and_time_alone(tmp_path: Path) -> None:
    """The entries carry the export's time, not the scratch files' mtimes on this host: the
    same files zipped again later (or on another backend's run) give the same bytes."""
    part = tmp_path / "EXTF_Buchungsstapel.csv"
    part.write_bytes(b"EXTF;700;21")
    when = dt.datetime(2025, 3, 1, 9, 30, 12, tzinfo=dt.UTC)
    files.zip_files([part], tmp_path / "a.zip", when)
    os.utime(part, (1_000_000_000, 1_000_000_000))  # touched in between: another mtime
    files.zip_files([part], tmp_path / "b.zip", when)
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
