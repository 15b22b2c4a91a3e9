"""Loopback TCP ports for the servers that `make run` and the tests start.

The one place that probes for a free port. The ESA simulator does not use it: it binds port 0 itself
and says where it listens, which leaves no gap between a probe and the bind.
"""

from __future__ import annotations

import socket

__all__ = ["free_port", "port_is_free"]


def port_is_free(port: int) -> bool:
    """Whether a server could bind `port` on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers do, so that a port in TIME_WAIT still counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(preferred: int | None = None) -> int:
    """`preferred` if it is free, else a port on 127.0.0.1 that nothing listens on right now.

    A preferred port keeps `make run`'s addresses stable from run to run (Redis on 6379); without
    one, the kernel picks, as tests want. Another process may still take the port before the caller
    binds it: fine for a developer's machine and tests, which is all this serves.
    """
    if preferred is not None and port_is_free(preferred):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
