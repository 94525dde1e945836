"""The worker's fork server: a clean process that has imported the worker's code, from which
every worker is forked.

Why: a worker spawned as a fresh interpreter spends most of a CPU second importing SQLAlchemy,
the parsers, Jinja2 and the rest, while the daemon's first intake wants the same cores; on a
full mailbox processing began that much later (figures in docs/PERFORMANCE.md). `gatewayd
run` starts the fork server first thing (gatewayd.py), so that its imports run on the other core
while the daemon imports its own, and a worker, the first or one started again after a crash, is
up at once. Forking the daemon itself is not safe: it has threads (intake's executor, the IMAP
readers) whose locks a child could inherit held.

This module stays free of the heavy imports it is there to run early.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import signal

CONTEXT = multiprocessing.get_context("forkserver")
CONTEXT.set_forkserver_preload(["gateway.runtime.worker"])


# Ignored by the server (an ignored signal stays ignored across its exec): it ends when the
# daemon does, even after kill -9, because multiprocessing watches a pipe to it. A SIGTERM to
# the process group (systemd's stop) must not end it first: the daemon learns its worker's exit
# through it, and would take a worker still finishing its batch for one already gone. SIGHUP
# asks the daemon to reload; SIGINT multiprocessing ignores there already.
_IGNORED = (signal.SIGTERM, signal.SIGHUP)


def start() -> None:
    """Start the fork server now rather than with the first worker. From the main thread only
    (signals); should the server die, multiprocessing starts another for the next worker,
    without these signals ignored."""
    previous = {number: signal.signal(number, signal.SIG_IGN) for number in _IGNORED}
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
