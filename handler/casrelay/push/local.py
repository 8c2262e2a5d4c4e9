"""``file:///path.jsonl`` and ``stdout:`` sinks: the embedded default, with no downstream service.

They let the local demo and tests see exactly what a real downstream would get: each push writes the
message as one line of compact JSON, byte for byte the body a callback or queue receives. The
message id is checked but not added: casrelay's documents carry it as ``Id``, and a line that differs
from the other sinks' bodies would make the local run prove less.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .base import Sink, check_message_id, encode_message
from .exceptions import unavailable


class _OpenFile:
    """One append descriptor per file, shared by every sink in the process that writes to it, kept open
    between pushes: opening and closing the file was a tenth of a warm order's cost. The path is checked
    on each push (one ``stat``), so a file that was moved or removed (log rotation, a test cleaning up)
    is opened again instead of being written to where nobody reads it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fd: int | None = None
        self.identity: tuple[int, int] | None = None

    def descriptor(self, path: Path) -> int:
        """The open descriptor for ``path``; call with ``lock`` held."""
        try:
            st = os.stat(path)
            current: tuple[int, int] | None = (st.st_dev, st.st_ino)
        except FileNotFoundError:
            current = None
        if self.fd is None or current is None or current != self.identity:
            self.close()
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_APPEND with one write per line: lines from other processes never interleave mid-line.
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            st = os.fstat(fd)
            self.fd, self.identity = fd, (st.st_dev, st.st_ino)
        return self.fd

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = self.identity = None


_FILES: dict[str, _OpenFile] = {}
_FILES_GUARD = threading.Lock()
_STDOUT_LOCK = threading.Lock()


def _line(sink: str, message: Mapping[str, Any], message_id: str) -> str:
    check_message_id(sink, message_id)
    return encode_message(sink, message) + "\n"


class FileSink(Sink):
    """Appends one line per push; parent directories are created on the first push."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_absolute():
            raise ValueError("needs an absolute path: file:///dir/orders.jsonl")
        self.name = self.path.as_uri()
        with _FILES_GUARD:
            self._file = _FILES.setdefault(str(self.path), _OpenFile())

    @classmethod
    def from_url(cls, url: str) -> FileSink:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise ValueError("must be file:///absolute/path (no host)")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        path = unquote(parts.path)
        if not path or path.endswith("/"):
            raise ValueError("must name a file, e.g. file:///tmp/orders.jsonl")
        return cls(path)

    def push(self, message: Mapping[str, Any], message_id: str) -> None:
        data = _line(self.name, message, message_id).encode("utf-8")
        with self._file.lock:
            try:
                fd = self._file.descriptor(self.path)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            except OSError as exc:
                self._file.close()  # a descriptor that failed is not trusted again: the next push reopens
                raise unavailable(self.name, f"cannot append ({exc.strerror or type(exc).__name__})") from None


class StdoutSink(Sink):
    """Prints one line per push to whatever ``sys.stdout`` is at the time (FC ships it to the log)."""

    name = "stdout:"

    def push(self, message: Mapping[str, Any], message_id: str) -> None:
        line = _line(self.name, message, message_id)
        with _STDOUT_LOCK:
            try:
                sys.stdout.write(line)
                sys.stdout.flush()
            except (OSError, ValueError) as exc:
                raise unavailable(self.name, f"cannot write ({type(exc).__name__})") from None
