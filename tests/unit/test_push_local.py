"""The file and stdout sinks used by the embedded default."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from casrelay.push import FileSink, InvalidMessage, SinkUnavailable, StdoutSink, build_sinks

ORDER = {"Version": 1, "Id": "msg_0123", "Order": {"OrderId": 98987582437920968}, "Note": "证书\u2028line"}


def test_file_sink_appends_one_line_per_push_and_creates_directories(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "orders.jsonl"
    [sink] = build_sinks(path.as_uri(), {})
    assert isinstance(sink, FileSink) and sink.name == path.as_uri()
    sink.push(ORDER, "msg_0123")
    sink.push({**ORDER, "Id": "msg_0456"}, "msg_0456")

    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["Id"] for line in lines] == ["msg_0123", "msg_0456"]
    assert json.loads(lines[0]) == ORDER  # U+2028 is escaped, so splitlines() keeps one line per push
    assert lines[0] == json.dumps(ORDER, ensure_ascii=False, separators=(",", ":")).replace("\u2028", "\\u2028")


def test_file_sink_lines_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    sinks = [FileSink(path), FileSink(path)]  # two sinks, one file: they share the lock
    big = {"Blob": "x" * 20000}

    def worker(n: int) -> None:
        for i in range(25):
            sinks[n % 2].push({**big, "Id": f"msg_{n}_{i}"}, f"msg_{n}_{i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [json.loads(line)["Id"] for line in path.read_text().splitlines()]
    assert sorted(ids) == sorted(f"msg_{n}_{i}" for n in range(8) for i in range(25))


def test_file_url_forms(tmp_path: Path) -> None:
    spaced = tmp_path / "with space" / "o.jsonl"
    [sink] = build_sinks("file://" + str(spaced).replace(" ", "%20"), {})
    sink.push(ORDER, "msg_0123")
    assert spaced.exists()
    [local] = build_sinks(f"file://localhost{tmp_path}/x.jsonl", {})
    assert local.name == (tmp_path / "x.jsonl").as_uri()


def test_file_sink_write_errors_are_transient(tmp_path: Path) -> None:
    (tmp_path / "orders.jsonl").mkdir()  # a directory where the file should be
    with pytest.raises(SinkUnavailable) as info:
        FileSink(tmp_path / "orders.jsonl").push(ORDER, "msg_0123")
    assert info.value.transient


def test_stdout_sink_prints_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    [sink] = build_sinks("stdout:", {})
    assert isinstance(sink, StdoutSink) and sink.name == "stdout:"
    sink.push(ORDER, "msg_0123")
    out = capsys.readouterr().out
    assert out.endswith("\n") and len(out.splitlines()) == 1
    assert json.loads(out) == ORDER


def test_local_sinks_check_the_message(tmp_path: Path) -> None:
    with pytest.raises(InvalidMessage):
        StdoutSink().push({"x": object()}, "msg_1")
    with pytest.raises(InvalidMessage):
        FileSink(tmp_path / "o.jsonl").push(ORDER, "")
    assert not (tmp_path / "o.jsonl").exists()


def test_file_sink_keeps_one_descriptor_open_between_pushes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    opened: list[str] = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *a, **k: opened.append(str(path)) or real_open(path, *a, **k))
    sink = FileSink(tmp_path / "kept.jsonl")
    for i in range(5):
        sink.push(ORDER, f"msg_{i:04d}")
    assert opened == [str(tmp_path / "kept.jsonl")]
    assert len((tmp_path / "kept.jsonl").read_text().splitlines()) == 5


def test_file_sink_follows_a_file_that_was_rotated_or_removed(tmp_path: Path) -> None:
    path = tmp_path / "rotated.jsonl"
    sink = FileSink(path)
    sink.push(ORDER, "msg_0001")
    path.rename(tmp_path / "rotated.jsonl.1")  # logrotate's move
    sink.push(ORDER, "msg_0002")
    (tmp_path / "rotated.jsonl.1").unlink()
    path.unlink()  # removed outright
    sink.push(ORDER, "msg_0003")
    assert len(path.read_text().splitlines()) == 1  # the line went to the file that is there now


def test_file_sink_recovers_after_a_failed_push(tmp_path: Path) -> None:
    path = tmp_path / "flaky.jsonl"
    sink = FileSink(path)
    sink.push(ORDER, "msg_0001")
    path.unlink()
    path.mkdir()  # the path cannot be opened as a file now
    with pytest.raises(SinkUnavailable):
        sink.push(ORDER, "msg_0002")
    path.rmdir()
    sink.push(ORDER, "msg_0003")
    assert len(path.read_text().splitlines()) == 1


def test_two_file_sinks_on_one_path_share_the_descriptor_and_never_interleave(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "shared.jsonl"
    sinks = [FileSink(path), FileSink(path)]
    threads = [threading.Thread(target=lambda s=s: [s.push(ORDER, f"msg_{i:04d}") for i in range(200)])
               for s in sinks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = path.read_text().splitlines()
    assert len(lines) == 400 and all(line.startswith("{") and line.endswith("}") for line in lines)
