"""The one free-port helper: a preferred port while it is free, any free port once it is taken."""

from __future__ import annotations

import socket

from prefetch_ui.dev.ports import free_port, port_is_free


def test_a_free_preferred_port_is_kept_and_a_taken_one_is_replaced() -> None:
    preferred = free_port()
    assert port_is_free(preferred)
    assert free_port(preferred) == preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", preferred))
        server.listen()
        assert not port_is_free(preferred)
        other = free_port(preferred)
        assert other != preferred
        assert port_is_free(other)
