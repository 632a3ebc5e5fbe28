"""The worker's counters, scraped over HTTP in the Prometheus text format."""

from __future__ import annotations

import urllib.request

from infra.metrics import Counters, serve_metrics


def test_the_counts_are_served_at_metrics() -> None:
    counters = Counters(("inbound_stored_total", "relay_position"))
    counters.add("inbound_stored_total", 3)
    counters.set("relay_position", 17)
    server = serve_metrics(counters, "127.0.0.1", 0)
    try:
        host, port = server.server_address[:2]
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert "traject_inbound_stored_total 3\n" in text
    assert "traject_relay_position 17\n" in text
