"""awssim's server keeps HTTP/1.1 connections alive, as AWS does, and never misreads the
next request after a body the application left unread."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator
from http.client import HTTPConnection
from typing import Any

import pytest
from werkzeug.serving import make_server

from awssim.keepalive import KeepAliveHandler


def app(environ: dict[str, Any], start_response: Any) -> list[bytes] | Iterator[bytes]:
    """``/echo`` answers the body, ``/ignore`` reads none of it, ``/stream`` has no length."""
    path = environ["PATH_INFO"]
    if path == "/nodelay":
        nodelay = environ["werkzeug.socket"].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        answer = str(int(bool(nodelay))).encode()
        start_response("200 OK", [("Content-Length", str(len(answer)))])
        return [answer]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter([b"part-1;", b"part-2"])
    body = b""
    if path == "/echo":
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    answer = b"echo:" + body if path == "/echo" else b"ignored"
    start_response("200 OK", [("Content-Length", str(len(answer)))])
    return [answer]


@pytest.fixture
def connection(server: int) -> Iterator[http.client.HTTPConnection]:
    opened = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    yield opened
    opened.close()


@pytest.fixture
def server() -> Iterator[int]:
    served = make_server("127.0.0.1", 0, app, threaded=True, request_handler=KeepAliveHandler)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served.server_address[1]
    served.shutdown()
    served.server_close()


def ask(connection: http.client.HTTPConnection, path: str, body: bytes = b"") -> tuple[str, bytes]:
    connection.request("POST", path, body=body)
    response = connection.getresponse()
    return response.getheader("Connection", ""), response.read()


def test_one_connection_serves_many_requests(connection: HTTPConnection) -> None:
    answers = [ask(connection, "/echo", f"request {n}".encode()) for n in range(5)]
    assert answers == [("", f"echo:request {n}".encode()) for n in range(5)]
    # http.client reconnects silently when a server closes: the socket must be the same one.
    assert connection.sock is not None
    first = connection.sock
    ask(connection, "/echo", b"again")
    assert connection.sock is first


def test_an_unread_body_is_drained_before_the_next_request(
    connection: http.client.HTTPConnection,
) -> None:
    large = b"GET /echo HTTP/1.1\r\n\r\n" * 10_000  # would be read as requests if left
    assert ask(connection, "/ignore", large) == ("", b"ignored")
    assert ask(connection, "/echo", b"next") == ("", b"echo:next")


def test_an_answer_without_a_length_closes_the_connection(
    connection: http.client.HTTPConnection,
) -> None:
    header, body = ask(connection, "/stream")
    assert (header, body) == ("close", b"part-1;part-2")


def test_a_client_asking_to_close_is_closed(connection: HTTPConnection) -> None:
    connection.request("POST", "/echo", body=b"x", headers={"Connection": "close"})
    response = connection.getresponse()
    assert response.read() == b"echo:x"
    assert response.will_close


def test_answers_are_not_held_back_by_nagle(connection: HTTPConnection) -> None:
    # A kept-alive connection with Nagle's algorithm on waits for the client's delayed ACK
    # between an answer's head and body (about 40 ms a request).
    assert ask(connection, "/nodelay") == ("", b"1")
