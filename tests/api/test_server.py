"""The server as `traject serve` runs it, over a real socket: slow clients are cut off, and every
closed connection is closed cleanly (the client reads the whole answer, then the end, never a reset).

The timeouts are short here; each test bounds itself with a socket timeout and asserts only what
the server did, never how long it took.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import uvicorn

from api.app import create_app
from api.auth import TokenCodec
from api.server import config
from infra.container import build
from infra.settings import Settings
from tests.conftest import days_ago, new_id

GUARD = 20.0  # seconds a test waits at most for the server; a hang fails, it does not stall the run
TIMEOUT = 0.5  # the server's head and body timeouts in these tests


@dataclass
class Served:
    port: int
    token: str


@pytest.fixture
def served(make_settings: Callable[..., Settings]) -> Iterator[Served]:
    settings = make_settings(header_timeout_seconds=TIMEOUT, body_timeout_seconds=TIMEOUT)
    container = build(settings)
    listener = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(config(create_app(container), "127.0.0.1", 0, settings))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.01)
    token = TokenCodec(container.jwt_key, "HS256", "traject").issue("cw", "caseworker", ["noord"], 30)
    yield Served(listener.getsockname()[1], token)
    server.should_exit = True
    thread.join(GUARD)
    listener.close()
    container.close()


@dataclass
class Exchange:
    answer: bytes
    reset: bool  # the connection was reset rather than closed

    @property
    def status(self) -> int:
        return int(self.answer.split(b" ", 2)[1]) if self.answer.startswith(b"HTTP/1.1 ") else 0

    def header(self, name: str) -> str | None:
        head = self.answer.split(b"\r\n\r\n", 1)[0].decode().lower()
        found = [
            line.split(":", 1)[1].strip() for line in head.split("\r\n")[1:] if line.startswith(f"{name}:")
        ]
        return found[0] if found else None


def connect(served: Served) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", served.port), timeout=GUARD)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def post_head(served: Served, path: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {served.token}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def trickle(conn: socket.socket, first: bytes, then: bytes) -> None:
    """Send `first`, then one byte of `then` every 50 ms until the server answers or closes."""
    conn.sendall(first)
    for i in range(int(GUARD / 0.05)):
        if select.select([conn], [], [], 0.05)[0]:
            return
        try:
            conn.sendall(then[i % len(then) : i % len(then) + 1])
        except OSError:
            return


def read_to_end(conn: socket.socket) -> Exchange:
    answer = b""
    try:
        while chunk := conn.recv(65536):
            answer += chunk
    except ConnectionResetError:
        return Exchange(answer, reset=True)
    finally:
        conn.close()
    return Exchange(answer, reset=False)


def test_a_head_sent_byte_by_byte_is_cut_off_with_a_408(served: Served) -> None:
    conn = connect(served)
    trickle(conn, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ", b"abcdefgh")
    got = read_to_end(conn)
    assert (got.status, got.reset) == (408, False), got
    assert got.header("content-type") == "application/problem+json"
    assert got.header("connection") == "close"


def test_a_connection_that_sends_nothing_is_closed(served: Served) -> None:
    got = read_to_end(connect(served))
    assert got == Exchange(b"", reset=False)


def test_a_body_sent_byte_by_byte_is_cut_off_with_a_408(served: Served) -> None:
    conn = connect(served)
    trickle(conn, post_head(served, "/v1/events", 500), b'{"events": []}')
    got = read_to_end(conn)
    assert (got.status, got.reset) == (408, False), got
    assert got.header("connection") == "close"


def test_an_answer_before_the_body_is_read_is_followed_by_a_clean_close(served: Served) -> None:
    conn = connect(served)
    conn.sendall(post_head(served, "/v1/events", 50_000_000))
    reset = False
    try:
        for _ in range(8):  # 8 MB more than the server will read before it answers 413
            conn.sendall(b" " * 1_000_000)
    except OSError:
        reset = True
    got = read_to_end(conn)
    assert (got.status, reset or got.reset) == (413, False), got
    assert got.header("connection") == "close"


def test_a_good_request_keeps_its_connection(served: Served) -> None:
    conn = connect(served)
    start = {
        "event_id": new_id(),
        "client_reference": "GEM-9",
        "team": "noord",
        "initial_rung": 2,
        "effective_date": days_ago(3).isoformat(),
    }
    body = json.dumps(start).encode()
    conn.sendall(
        post_head(served, "/v1/journeys", len(body))
        + body
        + b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    got = read_to_end(conn)
    assert got.answer.count(b"HTTP/1.1 ") == 2, got
    assert (got.status, got.reset) == (201, False)
