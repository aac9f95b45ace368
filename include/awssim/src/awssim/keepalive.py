"""HTTP/1.1 keep-alive for awssim's server, as AWS endpoints keep connections open.

werkzeug's development server answers every request with ``Connection: close``: Python's
``http.server`` cannot tell where an unread request body ends, so the next request line
could be read from the middle of it. AWS keeps connections alive, and clients are built
around that: botocore's and aiobotocore's connection pools reuse one connection for many
requests. Against a server that closes each one, a poll of 2,000 account/Regions opened
2,000 TCP connections (and the threaded server started 2,000 threads), which cost more
CPU on both sides than the requests themselves and put the simulator, not the product, in
every throughput figure.

``KeepAliveHandler`` keeps a connection open when it is safe: the request said how long
its body is (``Content-Length``, not chunked), the answer says how long it is, and the
handler discards whatever part of the body the application left unread before it reads
the next request line. Anything else (a chunked request or answer, a client asking to
close, an error mid-answer) closes the connection as werkzeug always did.
"""

from __future__ import annotations

import io
from typing import Any

from moto.moto_server.werkzeug_app import MotoRequestHandler

DRAIN_CHUNK = 64 * 1024
IDLE_SECONDS = 120
"""An idle kept-alive connection is closed after this long (its thread then ends)."""


class _CountedInput:
    """A request body stream that knows how much of ``length`` bytes is still unread."""

    def __init__(self, stream: Any, length: int) -> None:
        self._stream = stream
        self.remaining = length

    def read(self, size: int = -1) -> bytes:
        """Read at most ``size`` bytes (all that remain when negative), never past the body."""
        if self.remaining <= 0:
            return b""
        wanted = self.remaining if size is None or size < 0 else min(size, self.remaining)
        data = self._stream.read(wanted)
        self.remaining -= len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        """One line of the body, never past its end."""
        if self.remaining <= 0:
            return b""
        limit = self.remaining if size is None or size < 0 else min(size, self.remaining)
        data = self._stream.readline(limit)
        self.remaining -= len(data)
        return data

    def readlines(self, hint: int = -1) -> list[bytes]:
        """Every remaining line of the body."""
        lines = []
        while line := self.readline():
            lines.append(line)
        return lines

    def __iter__(self) -> Any:
        return iter(self.readlines())

    def drain(self) -> None:
        """Read and discard what the application left of the body."""
        while self.remaining > 0 and self.read(DRAIN_CHUNK):
            pass


class KeepAliveHandler(MotoRequestHandler):
    """moto's request handler that keeps HTTP/1.1 connections alive (see the module)."""

    timeout = IDLE_SECONDS
    # werkzeug writes an answer's head and body in separate sends: on a kept-alive
    # connection Nagle's algorithm holds the body until the client's delayed ACK of the
    # head (about 40 ms a request on Linux). A closed connection flushed it; this does.
    disable_nagle_algorithm = True
    _body: _CountedInput | None = None
    _stream: Any = None
    _sized_answer = False

    def make_environ(self) -> dict[str, Any]:
        """The environ, with a bounded body wrapped so its unread rest can be drained.

        werkzeug's ``run_wsgi`` ends by reading the socket until it goes quiet (safe only
        when the connection closes next): that read would swallow, or wait for, the next
        request. So while werkzeug serves this request its ``rfile`` is an empty stream;
        the application reads the body through ``wsgi.input``, and ``run_wsgi`` below puts
        the socket's stream back and discards exactly the unread rest of the body.
        """
        environ: dict[str, Any] = super().make_environ()
        self._body, self._sized_answer = None, False
        length = (self.headers.get("Content-Length") or "0").strip()
        if length.isdigit() and not self._chunked_request():
            self._body = _CountedInput(self.rfile, int(length))
            environ["wsgi.input"] = self._body
            self._stream, self.rfile = self.rfile, io.BytesIO()
        return environ

    def send_header(self, keyword: str, value: str) -> None:
        """Send a header, leaving out werkzeug's blanket ``Connection: close`` when the
        connection can safely serve another request."""
        name = keyword.lower()
        if name == "content-length":
            self._sized_answer = True
        closing = name == "connection" and value.lower() == "close"
        if closing and not self.close_connection and self._reusable():
            return
        super().send_header(keyword, value)

    def run_wsgi(self) -> None:
        """Serve one request, then discard any of its body the application did not read."""
        self._stream = None
        try:
            super().run_wsgi()
        finally:
            if self._stream is not None:
                self.rfile = self._stream
        if self._body is not None:
            self._body.drain()
        if not self._reusable():
            self.close_connection = True

    def _chunked_request(self) -> bool:
        return "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()

    def _reusable(self) -> bool:
        """Whether the next request could be read after this one: HTTP/1.1, the request's
        body bounded (or absent) and the answer's length known. A client asking to close
        has already set ``close_connection`` (parse_request)."""
        return self.request_version >= "HTTP/1.1" and self._body is not None and self._sized_answer
