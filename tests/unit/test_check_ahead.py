"""The importer's validation ahead of posting, in a child process (entrypoints/check_ahead.py):
the same results, in the same order, as checking in the importing process, also when the child
dies part-way."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import msgspec
import pytest

from posledger.app.batch_import import CheckedChunk, checked_chunks
from posledger.entrypoints import check_ahead as module
from posledger.entrypoints.check_ahead import checked_ahead


def _sale(n: int, **change: object) -> str:
    event = {"event_id": f"S1-R1-{n:07d}", "type": "sale.completed", "store_id": "S1", "register_id": "S1-R1",
             "seq": n, "occurred_at": "2026-11-22T10:00:00-05:00",
             "payload": {"receipt_no": f"R-{n}", "currency": "USD",
                         "lines": [{"line_no": 1, "sku": "A", "qty": 1, "unit_price": 1299, "discount": 0,
                                    "tax_code": "STD", "tax": 115}],
                         "tenders": [{"tender": "card", "amount": 1414}]}}
    event.update(change)
    return json.dumps(event)


def _day(path: Path, lines: int) -> Path:
    """A file past the size the child is started for, with a line that is not JSON, blank
    lines, an invalid event and one holding a card number among the good ones."""
    with path.open("w") as out:
        for n in range(1, lines + 1):
            if n % 97 == 0:
                out.write("{not json\n")
            elif n % 89 == 0:
                out.write("\n")
            elif n % 83 == 0:
                out.write(_sale(n, seq=0) + "\n")
            elif n % 79 == 0:
                out.write(_sale(n, payload={"receipt_no": "4111111111111111"}) + "\n")
            else:
                out.write(_sale(n) + "\n")
    assert path.stat().st_size > module.SMALL_FILE_BYTES
    return path


def _comparable(chunks: list[CheckedChunk]) -> list[object]:
    """What the importer takes from a chunk, with the events as their canonical bodies."""
    return [(c.last_line_no, c.consumed_bytes, [msgspec.structs.asdict(p) for p in c.not_json], c.line_nos,
             [r and msgspec.structs.asdict(r) for r in c.checked.results],
             [(i, body, digest) for i, _, body, digest in c.checked.valid],
             [(r.event_id, r.problem_type, r.field) for r in c.checked.rejections]) for c in chunks]


def test_the_child_checks_as_this_process_does(tmp_path: Path) -> None:
    path = _day(tmp_path / "day.jsonl", 1_500)
    with path.open("rb") as handle:
        here = list(checked_chunks(handle, 200, "import"))
    ahead = list(checked_ahead(path, 200))
    assert _comparable(ahead) == _comparable(here)
    assert sum(len(c.not_json) for c in ahead) == 15 and ahead[-1].last_line_no == 1_500
    assert not multiprocessing.active_children()  # the child is gone once the input is


def test_when_the_child_dies_the_rest_is_checked_here(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _day(tmp_path / "day.jsonl", 3_000)
    with path.open("rb") as handle:
        here = list(checked_chunks(handle, 100, "import"))
    chunks = checked_ahead(path, 100)
    ahead = [next(chunks)]
    for child in multiprocessing.active_children():
        child.kill()
        child.join()
    ahead.extend(chunks)
    assert _comparable(ahead) == _comparable(here)
    assert "checking the rest of" in caplog.text  # it did take over, part-way


def test_a_small_file_is_checked_here(tmp_path: Path) -> None:
    path = tmp_path / "small.jsonl"
    path.write_text(_sale(1) + "\n" + _sale(2) + "\n")
    chunks = checked_ahead(path, 1_000)
    first = next(chunks)
    assert not multiprocessing.active_children() and first.line_nos == [1, 2]
    assert list(chunks) == []


def test_lines_are_read_as_bytes_a_line_of_bad_utf8_is_reported_and_the_rest_kept() -> None:
    """The importer reads the file as bytes (here and in the child): a line that is not UTF-8
    is that line's problem, not the import's end; CRLF line ends and blank lines are fine."""
    lines = [b'{"event_id": "\xff\xfe"}\n', _sale(2).encode() + b"\r\n", b"\r\n", b"  \n", _sale(5).encode() + b"\n"]
    (chunk,) = list(checked_chunks(lines, 10, "import"))
    assert [(p.line_no, p.type) for p in chunk.not_json] == [(1, "invalid_json")]
    assert "UTF-8" in chunk.not_json[0].detail
    assert chunk.line_nos == [2, 5] and [len(chunk.checked.valid), chunk.checked.results] == [2, [None, None]]
    assert (chunk.last_line_no, chunk.consumed_bytes) == (5, sum(len(line) for line in lines))
