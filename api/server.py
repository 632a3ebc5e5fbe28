"""How `traject serve` serves: uvicorn's HTTP/1.1 protocol (h11), with the edges it lacks.

- A request head must arrive within the head timeout, counted from when the connection starts
  waiting for one (a new connection, or the end of the previous answer); the body must arrive
  within the body timeout, counted from the end of its head. uvicorn's keep-alive timer restarts
  on every byte, so a client sending one byte at a time would hold a connection (and a task)
  forever. A client that sent part of a request gets a 408; an idle one is simply closed.
  (One timer per request, here, costs less than a timeout around every ASGI receive.)
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

from api import API_VERSION
from infra.settings import Settings

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
    """uvicorn's h11 protocol with head and body timeouts and a clean close (see the module)."""

    head_timeout = 10.0
    body_timeout = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock: asyncio.TimerHandle | None = None
        self._awaiting: object = None  # the h11 state the clock runs for: IDLE (a head) or SEND_BODY

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Lingering(transport, self.loop))  # type: ignore[arg-type]
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_clock()
        super().connection_lost(exc)
        self._lingering().end()

    def data_received(self, data: bytes) -> None:
        if self._lingering().lingering:
            return  # read only so that closing resets nothing
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def _lingering(self) -> _Lingering:
        transport: Any = self.transport
        assert isinstance(transport, _Lingering)
        return transport

    def _watch(self) -> None:
        """The clock runs while a head or a body is awaited, from the moment the wait began."""
        state = self.conn.their_state
        if self.transport.is_closing() or state not in (h11.IDLE, h11.SEND_BODY):
            self._stop_clock()
        elif self._awaiting is not state:
            self._stop_clock()
            self._awaiting = state
            timeout = self.head_timeout if state is h11.IDLE else self.body_timeout
            self._clock = self.loop.call_later(timeout, self._late)

    def _stop_clock(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
        self._clock = self._awaiting = None

    def _late(self) -> None:
        awaiting, self._clock, self._awaiting = self._awaiting, None, None
        if self.transport.is_closing():
            return
        if awaiting is h11.IDLE and self.conn.trailing_data[0]:
            self.transport.write(_timeout_answer("head", self.head_timeout))
        elif awaiting is h11.SEND_BODY and self.cycle is not None and not self.cycle.response_started:
            # The application reads a disconnect and anything it still sends is dropped.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
            self.transport.write(_timeout_answer("body", self.body_timeout))
        self.transport.close()


def _timeout_answer(part: str, seconds: float) -> bytes:
    body = json.dumps(
        {
            "type": "about:blank",
            "status": 408,
            "title": "Request timeout",
            "detail": f"the request {part} did not arrive within {seconds:g} seconds",
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


def config(app: Any, host: str, port: int, settings: Settings) -> uvicorn.Config:
    """The server `traject serve` runs (and the tests run, on a socket of their own)."""
    timeouts = {
        "head_timeout": settings.header_timeout_seconds,
        "body_timeout": settings.body_timeout_seconds,
    }
    protocol = type("Protocol", (EdgeProtocol,), timeouts)
    # uvicorn's per-request access log costs more than a request's own work; off unless asked.
    return uvicorn.Config(
        app, host=host, port=port, http=protocol, log_level="info", access_log=settings.access_log
    )
