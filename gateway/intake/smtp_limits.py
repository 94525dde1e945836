"""How many SMTP sessions the daemon holds at once, in all and from one client address: counted
here, decided by routing/rate_limits.py.

Each session holds a file descriptor until it ends or times out (smtp.timeout, 5 minutes by
default): about a thousand idle connections at the common limit of 1,024 descriptors blocked
intake for everyone, silently. Beyond `smtp.max_sessions` or `smtp.max_sessions_per_ip` a new
connection is answered `421 4.7.0` and closed at once (RFC 5321 §3.8: the client tries again
later); another client address is still served while one is capped.
"""

from __future__ import annotations

import logging
import resource
import time
from collections import Counter
from collections.abc import Callable

from gateway.logs import log_event
from routing.rate_limits import SessionCaps, SessionRefusal, session_refusal

log = logging.getLogger("gateway.intake")

TOO_MANY_IN_ALL = b"421 4.7.0 Too many connections, try again later\r\n"
TOO_MANY_FROM_YOU = b"421 4.7.0 Too many connections from your address, try again later\r\n"
REPLIES = {SessionRefusal.IN_ALL: TOO_MANY_IN_ALL, SessionRefusal.FROM_ADDRESS: TOO_MANY_FROM_YOU}
LOG_EVERY = 60.0  # seconds: a refused client is logged once a minute, with its count


class SessionLimits:
    """Counts the open sessions; `admit` says whether one more may start."""

    def __init__(
        self, total: int, per_ip: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.total, self.per_ip = total, per_ip
        self.open = 0
        self.by_ip: Counter[str] = Counter()
        self._clock = clock
        self._refused: Counter[str] = Counter()  # since the client was last logged
        self._logged_at: dict[str, float] = {}

    def admit(self, ip: str) -> bytes | None:
        """None when the session may start (it is then counted), else the 421 reply."""
        refusal = session_refusal(self.open, self.by_ip[ip], SessionCaps(self.total, self.per_ip))
        if refusal is not None:
            return self._refuse(ip, REPLIES[refusal])
        self.open += 1
        self.by_ip[ip] += 1
        return None

    def release(self, ip: str) -> None:
        self.open -= 1
        self.by_ip[ip] -= 1
        if self.by_ip[ip] <= 0:
            del self.by_ip[ip]

    def _refuse(self, ip: str, reply: bytes) -> bytes:
        self._refused[ip] += 1
        now = self._clock()
        if now - self._logged_at.get(ip, -LOG_EVERY) >= LOG_EVERY:
            self._logged_at[ip] = now
            log_event(
                log,
                "smtp.too_many_sessions",
                level=logging.WARNING,
                peer=ip,
                refused=self._refused.pop(ip),
                from_peer=self.by_ip[ip],
                open=self.open,
                max_sessions=self.total,
                max_sessions_per_ip=self.per_ip,
            )
        if len(self._logged_at) > 10_000:  # a flood from many addresses must not grow it forever
            self._logged_at = {k: v for k, v in self._logged_at.items() if now - v < LOG_EVERY}
        return reply


def raise_descriptor_limit() -> tuple[int, int]:
    """Raise the soft limit of open files to the hard one (systemd's default soft limit is
    1,024, its hard limit 524,288); the limits afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft, hard
    return resource.getrlimit(resource.RLIMIT_NOFILE)
