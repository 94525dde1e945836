"""gateway/runtime/daemon.py's scheduled jobs and the stop: a job running when the daemon stops is
waited for, and none starts after. (The daemon itself is tested end to end in tests/e2e.)"""

from __future__ import annotations

import asyncio

from gateway.config import Config
from gateway.runtime.daemon import Daemon


def test_the_stop_waits_for_a_running_job_and_starts_none(config: Config) -> None:
    daemon = Daemon(config)
    calls: list[str] = []

    async def check() -> None:
        calls.append("started")
        await asyncio.sleep(0.2)
        calls.append("finished")

    async def scenario() -> None:
        job = daemon._job(check)
        running = asyncio.create_task(job())
        await asyncio.sleep(0.05)
        daemon._stop.set()
        await asyncio.gather(*daemon._background)  # what the stop does before the parts stop
        calls.append("parts stopped")
        await job()  # fired by the scheduler after the stop began
        await running

    asyncio.run(scenario())
    daemon.store.close()

    assert calls == ["started", "finished", "parts stopped"]
