"""Free TCP ports on 127.0.0.1 for the servers the tests and benchmarks start."""

from __future__ import annotations

import socket


def free_ports(count: int) -> list[int]:
    """Ports free just now, all different: the probes are held together, since the kernel may
    give a port just let go to the next probe (a server with two listeners then cannot bind)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def free_port() -> int:
    (port,) = free_ports(1)
    return port
