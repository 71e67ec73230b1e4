"""Supervision: a crashing child is restarted per the strategy, and the tree shows it.

    python examples/supervision.py
"""

import asyncio
import json

from coagent import Actor, Address, Context, Message, handler
from coagent.core import AgentSpec, ChildSpec, Supervisor, new, set_stderr_logger
from coagent.errors import AgentCrashed, AgentStopped
from coagent.runtimes import LocalRuntime


class Work(Message):
    item: str = ""


class Done(Message):
    handled: int = 0


class Explode(Message):
    pass


class Worker(Actor):
    def __init__(self) -> None:
        self.handled = 0

    @handler
    async def work(self, msg: Work, ctx: Context) -> Done:
        self.handled += 1
        return Done(handled=self.handled)

    @handler
    async def explode(self, msg: Explode, ctx: Context) -> None:
        raise RuntimeError("the worker hit a bad record")


pipeline = AgentSpec(
    "pipeline",
    new(
        Supervisor,
        children=[
            ChildSpec("reader", new(Worker)),
            ChildSpec("parser", new(Worker)),
            ChildSpec("writer", new(Worker)),
        ],
        strategy="rest_for_one",  # a parser crash restarts the parser and the writer after it
        max_restarts=2,
        period=10.0,
    ),
    restart="temporary",  # when the supervisor gives up, the session is dropped
)
# Per session, the children are addressable as Address("pipeline.parser", session).


async def main() -> None:
    async with LocalRuntime() as runtime:
        await runtime.register(pipeline)
        for stage in ("reader", "parser", "writer"):
            await runtime.ask(Address(f"pipeline.{stage}", "job1"), Work(item="x"))

        try:
            await runtime.ask(Address("pipeline.parser", "job1"), Explode())
        except AgentCrashed as exc:
            print("caller saw:", exc)

        for stage in ("reader", "parser", "writer"):
            done = await runtime.ask(Address(f"pipeline.{stage}", "job1"), Work(item="y"))
            print(f"{stage}: handled {done.handled} since its last (re)start")

        tree = (await runtime.tree()).to_dict()
        [session] = tree["agents"][0]["sessions"]
        print(json.dumps([(c["name"], c["restarts"]) for c in session["children"]]))

        # Past max_restarts in period, the supervisor gives up and escalates.
        for _ in range(3):
            try:
                await runtime.ask(Address("pipeline.parser", "job1"), Explode())
            except (AgentCrashed, AgentStopped) as exc:
                # AgentStopped: the message was queued for a child the giving-up supervisor stopped.
                print("caller saw:", type(exc).__name__)
        await asyncio.sleep(0.05)
        print("sessions left:", len((await runtime.tree()).agents[0].sessions))


if __name__ == "__main__":
    set_stderr_logger("ERROR")
    asyncio.run(main())
