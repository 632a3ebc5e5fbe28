"""How `traject serve` serves: uvicorn's HTTP/1.1 protocol (h11), with two edges it lacks.

- A request head must arrive within the head timeout, counted from when the connection starts
  waiting for one (a new connection, or the end of the previous answer). uvicorn's keep-alive
  timer restarts on every byte, so a client sending one byte at a time would hold a connection
  forever. A client that sent part of a head gets a 408; an idle one is simply closed.
  (The body has its own timeout, kept by the ASGI edge: api/edge.py.)
- A connection is closed cleanly. Closing a socket while the client is still sending makes the
  kernel answer with a reset, and the client may lose the answer it has not read yet (a 413 for a
  body too large, say). So the server first half-closes (its answer is complete, then FIN), then
  reads and discards what still arrives until the client closes, for at most LINGER seconds.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.edge import API_VERSION

LINGER = 2.0  # seconds a closing connection still reads what the client sends


class _Lingering:
    """A transport whose close() half-closes first and closes for good when the client has, or
    after LINGER seconds. Everything else is the transport's own."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self.lingering = False
        self._timer: asyncio.TimerHandle | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        transport = self._transport
        if self.lingering or transport.is_closing() or not transport.can_write_eof():
            self.end()
            return
        self.lingering = True
        transport.write_eof()  # sent once what is buffered has been written
        transport.resume_reading()  # flow control may have paused it: the rest must be read
        self._timer = self._loop.call_later(LINGER, self.end)

    def end(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport.close()


class EdgeProtocol(H11Protocol):
    """uvicorn's h11 protocol with a head timeout and a clean close (see the module's docstring)."""

    head_timeout = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Lingering(transport, self.loop))  # type: ignore[arg-type]
        self._watch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)
        self._lingering().end()

    def data_received(self, data: bytes) -> None:
        if self._lingering().lingering:
            return  # read only so that closing resets nothing
        super().data_received(data)
        self._watch_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch_head()

    def _lingering(self) -> _Lingering:
        transport: Any = self.transport
        assert isinstance(transport, _Lingering)
        return transport

    def _watch_head(self) -> None:
        """The clock runs while a head is awaited, from the moment the wait began."""
        waiting = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
        if waiting and self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_late)
        elif not waiting:
            self._stop_head_timer()

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        partial, _ = self.conn.trailing_data
        if partial:
            self.transport.write(_timeout_answer(self.head_timeout))
        self.transport.close()


def _timeout_answer(seconds: float) -> bytes:
    body = json.dumps(
        {
            "type": "about:blank",
            "status": 408,
            "title": "Request timeout",
            "detail": f"the request head did not arrive within {seconds:g} seconds",
        }
    ).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\n"
        f"api-version: {API_VERSION}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


def config(app: Any, host: str, port: int, head_timeout: float, access_log: bool) -> uvicorn.Config:
    """The server `traject serve` runs (and the tests run, on a socket of their own)."""
    protocol = type("Protocol", (EdgeProtocol,), {"head_timeout": head_timeout})
    # uvicorn's per-request access log costs more than a request's own work; off unless asked.
    return uvicorn.Config(app, host=host, port=port, http=protocol, log_level="info", access_log=access_log)
