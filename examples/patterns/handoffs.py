"""Handoffs (Swarm-style): agents pass the conversation to each other.

A store's support desk: the front desk hands a customer to ``refunds`` or ``sales``
through ``transfer_to_<agent>`` tool calls; the agent holding the conversation answers,
uses its own tools, and keeps the customer until it hands them on. The three agents are
inline specs: children of the ``support`` pattern, one set per session.

    python examples/patterns/handoffs.py

With ``MODEL_NAME`` (and ``MODEL_API_BASE``, ``MODEL_API_VERSION``, ``MODEL_API_KEY``
as your provider needs) set, it asks that model; with none set it runs offline
against a local fake model server (see ``_offline.py``).
"""

import asyncio

from _offline import serve_offline

from coagent.agents import ChatMessage, HandoffAgent, Handoffs, ModelClient
from coagent.core import AgentSpec, new, set_stderr_logger
from coagent.runtimes import LocalRuntime

offline_server = serve_offline()  # None when MODEL_* names a provider

client = ModelClient()  # MODEL_NAME, MODEL_API_BASE, MODEL_API_VERSION, MODEL_API_KEY

ORDERS = {"1234": ("Aurora wireless headphones", 59.99)}
STOCK = {"carrying case": (19.99, 12), "wireless headphones": (59.99, 3), "usb-c charger": (14.99, 40)}


def process_refund(order_id: str, reason: str) -> str:
    """Refund an order in full.

    Args:
        order_id: the order number, digits only, e.g. "1234".
        reason: why the customer wants the refund.
    """
    print(f"  (tool) process_refund(order_id={order_id!r}, reason={reason!r})")
    if order_id not in ORDERS:
        return f"There is no order {order_id}."
    product, amount = ORDERS[order_id]
    return f"Refunded ${amount:.2f} for order {order_id} ({product}, {reason}); expect it in 3-5 business days."


def check_stock(product: str) -> str:
    """Price and stock of a product.

    Args:
        product: the product name, e.g. "carrying case".
    """
    print(f"  (tool) check_stock(product={product!r})")
    if product.lower() not in STOCK:
        return f"We don't sell {product}."
    price, count = STOCK[product.lower()]
    return f"The {product} is in stock ({count} left) at ${price:.2f}."


support = AgentSpec(
    "support",
    new(
        Handoffs,
        AgentSpec(
            "front_desk",
            new(
                HandoffAgent,
                system="""\
You are the front desk of Acme's online store. Find out what the customer needs and hand the \
conversation over: to refunds for refunds and returns, to sales for buying products. \
Do not answer those questions yourself.\
""",
                client=client,
            ),
            description="First contact: finds out what the customer needs.",
        ),
        AgentSpec(
            "refunds",
            new(
                HandoffAgent,
                system="""\
You handle refunds and returns for Acme's online store. Ask for the order number if it is \
missing, and refund with process_refund. If the customer wants to buy something, hand over to sales.\
""",
                client=client,
                tools=[process_refund],
            ),
            description="Refunds and returns of orders.",
        ),
        AgentSpec(
            "sales",
            new(
                HandoffAgent,
                system="""\
You are a sales assistant of Acme's online store. Help customers choose and buy products; check \
prices and stock with check_stock. Be brief and friendly. Hand refunds over to refunds.\
""",
                client=client,
                tools=[check_stock],
            ),
            description="Buying products: recommendations, prices, stock.",
        ),
        max_handoffs=3,
    ),
)

CONVERSATION = [
    "Hi, my order #1234 arrived broken. I'd like my money back.",
    "Thanks! Do you also sell carrying cases for these headphones?",
]


async def main():
    async with LocalRuntime() as runtime:
        await runtime.register(support)

        for text in CONVERSATION:
            print(f"customer: {text}")
            result = await support.run(
                ChatMessage(role="user", content=text).encode(), session_id="customer-42"
            )
            reply = ChatMessage.decode(result)
            print(f"{reply.sender}: {reply.content}")


if __name__ == "__main__":
    set_stderr_logger()
    try:
        asyncio.run(main())
    finally:
        if offline_server is not None:
            offline_server.close()
