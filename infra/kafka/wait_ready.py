"""Wait until a Kafka broker really answers; used by kafka.sh start.

usage: wait_ready.py HOST:PORT TIMEOUT_S [PID]

Stage 1 (stdlib only): a raw ApiVersions v0 round trip over TCP. A KRaft
broker binds its listener early but only processes requests once it has
caught up with the metadata log and been unfenced, so an answer here means
the broker is serving.
Stage 2 (only if kafka-python is importable): KafkaAdminClient describe_cluster
+ list_topics, i.e. the same path the tests' clients take.

Exit codes: 0 ready, 1 timed out, 2 the broker process (PID) died.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import sys
import time


def _alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:  # a zombie (killed, never reaped) counts as dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def api_versions_ok(host: str, port: int, timeout: float = 2.0) -> bool:
    client_id = b"traject-wait-ready"
    # request header v1: api_key=18 (ApiVersions), api_version=0, correlation_id, client_id
    body = struct.pack(">hhih", 18, 0, 4242, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(struct.pack(">i", len(body)) + body)
            (size,) = struct.unpack(">i", _recv_exact(s, 4))
            resp = _recv_exact(s, size)
    except (OSError, ConnectionError, struct.error):
        return False
    corr, err = struct.unpack(">ih", resp[:6])
    return bool(corr == 4242 and err == 0)


def kafka_python_ok(bootstrap: str) -> bool:
    try:
        from kafka import KafkaAdminClient
    except ImportError:
        return True  # stage 2 is optional
    admin = None
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="traject-wait-ready",
            request_timeout_ms=5000,
        )
        cluster = admin.describe_cluster()
        admin.list_topics()
        return bool(cluster.get("brokers"))
    except Exception:  # noqa: BLE001 - any failure means "not yet"
        return False
    finally:
        if admin is not None:
            with contextlib.suppress(Exception):
                admin.close()


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 64
    bootstrap, timeout = argv[1], float(argv[2])
    pid = int(argv[3]) if len(argv) == 4 else None
    host, _, port = bootstrap.rpartition(":")
    deadline = time.monotonic() + timeout
    stage = 1
    while time.monotonic() < deadline:
        if not _alive(pid):
            return 2
        if stage == 1 and api_versions_ok(host, int(port)):
            stage = 2
        if stage == 2 and kafka_python_ok(bootstrap):
            return 0
        time.sleep(0.2)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
