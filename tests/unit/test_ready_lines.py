"""``invoicing process`` reads its input in groups of the lines already there (src/cli.py)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from invoicing.cli import ready_lines


def test_a_file_gives_full_groups_numbered_as_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "commands.jsonl"
    lines = [f'{{"n": {i}}}' for i in range(25)]
    lines[3] = "   "  # blank lines are skipped, and keep their number
    path.write_text("\n".join(lines))  # the last line has no newline
    fd = os.open(path, os.O_RDONLY)
    try:
        groups = list(ready_lines(fd, 10))
    finally:
        os.close(fd)
    assert [len(g) for g in groups] == [10, 10, 4]
    flat = [item for g in groups for item in g]
    assert [n for n, _ in flat] == [n for n in range(1, 26) if n != 4]
    assert flat[-1] == (25, b'{"n": 24}')


def test_a_pipe_gives_what_has_arrived_without_waiting_for_more() -> None:
    read, write = os.pipe()
    groups = ready_lines(read, 100)
    try:
        os.write(write, b'{"a": 1}\n{"a": 2}\r\n{"a": 3')  # the third line is not complete yet
        assert next(groups) == [(1, b'{"a": 1}'), (2, b'{"a": 2}\r')]

        def later() -> None:
            time.sleep(0.2)
            os.write(write, b'}\n\n{"a": 4}\n')
            os.close(write)

        threading.Thread(target=later).start()
        assert next(groups) == [(3, b'{"a": 3}'), (5, b'{"a": 4}')]
        assert list(groups) == []
    finally:
        os.close(read)


def test_a_long_line_arrives_whole_across_reads() -> None:
    read, write = os.pipe()
    body = b'{"x": "' + b"y" * 200_000 + b'"}'

    def send() -> None:
        os.write(write, body + b"\n")
        os.close(write)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        assert list(ready_lines(read, 10)) == [[(1, body)]]
    finally:
        sender.join()
        os.close(read)
