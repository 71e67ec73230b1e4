"""Ping-pong: one actor type, one instance per session, state kept per session.

    python examples/ping_pong.py
"""

import asyncio

from coagent import Actor, Address, Context, Message, handler
from coagent.core import AgentSpec, new, set_stderr_logger
from coagent.runtimes import LocalRuntime


class Ping(Message):
    text: str = "ping"


class Pong(Message):
    text: str = "pong"
    count: int = 0


class Server(Actor):
    def __init__(self) -> None:
        self.count = 0

    @handler
    async def ping(self, msg: Ping, ctx: Context) -> Pong:
        self.count += 1
        return Pong(text=f"pong to {msg.text!r}", count=self.count)


# Every option of a spec, with its default (the README's "Agent specs").
server = AgentSpec(
    "server", new(Server), description="answers pings",
    restart="permanent",          # permanent | transient: restart after a crash; temporary: drop
    max_restarts=3, period=5.0,   # more crashes than that in the period stop the session
    backoff_min=0.01, backoff_max=1.0,   # exponential restart backoff, with jitter
    idle_timeout=600,             # passivate a session idle that long (stopped() runs)
    max_sessions=None,            # cap live sessions (evicts the least recently used idle one)
    mailbox_size=1000,            # senders wait for room, then get MailboxFull
)


async def main() -> None:
    async with LocalRuntime() as runtime:
        await runtime.register(server)

        # Typed calls: a reply comes back as a Pong.
        for session in ("alice", "alice", "bob"):
            pong = await runtime.ask(Address("server", session), Ping(text=f"hi from {session}"))
            print(f"{session}: {pong.text} (this session's pong #{pong.count})")

        # The seed's raw form: encoded messages in and out.
        raw = await server.run(Ping(text="raw").encode(), session_id="carol")
        print("carol:", Pong.decode(raw).text)


if __name__ == "__main__":
    set_stderr_logger("WARNING")
    asyncio.run(main())
