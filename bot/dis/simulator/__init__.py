"""A local DIS + IAM endpoint that answers like the real service, for tests, benchmarks and the demo.

Only tests, the benchmarks, `dis-bot simulator` and `dis-bot demo` import this package; the bot reaches
it through configuration (`DIS_ENDPOINT`, `IAM_ENDPOINT`) like any other DIS endpoint.

    from bot.dis.simulator import DisSimulator, SimTask

    async with DisSimulator(token="sim-token") as sim:
        sim.add_stream("stream-a", [SimTask("task-1", state="ERROR")], partitions=2)
        ...  # point the client at sim.url
"""

from __future__ import annotations

from typing import Any

from bot.dis.simulator.server import DisSimulator
from bot.dis.simulator.world import SimPartition, SimTask

__all__ = ["DisSimulator", "SimPartition", "SimTask", "sample_dataset", "serve"]


def __getattr__(name: str) -> Any:
    # `serve`/`sample_dataset` live in bot.dis.sample_data, which imports this package: load them lazily.
    if name in ("serve", "sample_dataset"):
        from bot.dis import sample_data

        return getattr(sample_data, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
