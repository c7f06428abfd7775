"""The Alembic history is one line: one head, and every revision after the merge has one parent."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from invoicing.db import alembic_config


def test_one_head_and_a_linear_line_after_the_merge() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, f"several heads: {script.get_heads()}"
    line = list(script.walk_revisions("0007_merge", "head"))
    assert line[-1].revision == "0007_merge"
    for rev in line[:-1]:
        assert isinstance(rev.down_revision, str), f"{rev.revision} merges: {rev.down_revision}"
