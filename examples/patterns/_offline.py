"""Offline mode of the pattern examples (a helper module, not an example).

With a ``MODEL_*`` variable set (``MODEL_NAME``, ``MODEL_API_BASE``, ``MODEL_API_VERSION``,
``MODEL_API_KEY``) the examples ask that provider and this module does nothing. With none
set, :func:`serve_offline` starts a local OpenAI-compatible server
(``coagent.testing.FakeOpenAIServer``) and points ``MODEL_*`` at it, so the examples run
over the same litellm HTTP path without network or key.

The fake model answers the way a good model would for each agent of the examples,
recognised by its system prompt, and deterministically: the chaining steps really
extract, convert, sort and format; the triage, handoff and group-chat agents choose
their tool calls from the words of the conversation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any


def serve_offline() -> Any:
    """Start the fake model server unless a provider is configured (then ``None``)."""
    from coagent.testing import serve_offline as serve

    return serve(respond)


def respond(request: Any) -> Any:
    """The fake model: the answer of the agent whose system prompt starts the request."""
    system = request.system or ""
    for prefix, answer in _AGENTS:
        if system.startswith(prefix):
            return answer(request)
    return "(offline model) I have no scripted answer for this agent."


def _user_text(request: Any) -> str:
    for message in reversed(request.messages):
        if message.get("role") == "user":
            return message.get("content") or ""
    return ""


def _reply(content: str = "", tool: str = "", **arguments: Any) -> Any:
    from coagent.testing import Reply, tool_call

    if tool:
        return Reply(content, tool_calls=[tool_call(tool, **arguments)])
    return Reply(content)


# ----------------------------------------------------------------- chaining

_VERB = re.compile(r"\b(rose|grew|is|are|was|were|decreased|increased|improved|fell|dropped|reached)\b")
_VALUE = re.compile(r"(?<![\w$])(\$?\d+(?:\.\d+)?%?)(\s+points?)?")


def _extract(request: Any) -> str:
    lines = []
    for sentence in re.split(r"(?<=[.!?])\s+|\n", _user_text(request)):
        verb = _VERB.search(sentence)
        value = _VALUE.search(sentence, verb.end()) if verb else None
        if verb is None or value is None:
            continue
        metric = sentence[: verb.start()].strip().lower()
        metric = re.sub(r"^(our|the|new)\s+", "", metric)
        metric = re.sub(r"\s+score$", "", metric)
        if verb.group(1) == "grew":
            metric += " growth"
        lines.append(f"{value.group(1)}{' points' if value.group(2) else ''}: {metric}")
    return "\n".join(lines) or "No numerical values found."


def _split_lines(request: Any) -> list[tuple[str, str]]:
    pairs = []
    for line in _user_text(request).splitlines():
        if ":" in line:
            value, metric = line.split(":", 1)
            pairs.append((value.strip(), metric.strip()))
    return pairs


def _convert(request: Any) -> str:
    out = []
    for value, metric in _split_lines(request):
        number = value.replace("$", "").replace("points", "").replace("point", "").strip()
        if value.endswith("%"):
            converted = value
        elif "point" in value:
            converted = f"{number}%"
        else:
            converted = f"{float(number):.2f}"
        out.append(f"{converted}: {metric}")
    return "\n".join(out)


def _number(value: str) -> float:
    match = re.search(r"\d+(?:\.\d+)?", value)
    return float(match.group()) if match else 0.0


def _sort(request: Any) -> str:
    pairs = sorted(_split_lines(request), key=lambda p: _number(p[0]), reverse=True)
    return "\n".join(f"{value}: {metric}" for value, metric in pairs)


def _format(request: Any) -> str:
    rows = [f"| {metric.title()} | {value} |" for value, metric in _split_lines(request)]
    return "\n".join(["| Metric | Value |", "|:--|--:|", *rows])


# ---------------------------------------------------------- parallelization

_STAKEHOLDERS: dict[str, tuple[list[tuple[str, str, str]], str]] = {
    "Customers": ([
        ("Price sensitive", "high", "a rival's 20% price cut will pull budget buyers away"),
        ("Want better tech", "medium", "AI features raise what customers expect from every release"),
        ("Environmental concerns", "medium", "stricter carbon rules make our footprint part of the purchase"),
    ], "Launch a lower-priced tier and publish the product's carbon footprint."),
    "Employees": ([
        ("Job security worries", "high", "automation news will be read as a threat to jobs"),
        ("Need new skills", "high", "AI tooling changes daily work in support and operations"),
        ("Want clear direction", "medium", "three simultaneous changes need one clear story"),
    ], "Announce a funded reskilling plan and a roadmap town hall this quarter."),
    "Investors": ([
        ("Expect growth", "high", "matching the price cut squeezes revenue growth this year"),
        ("Want cost control", "high", "automation can cut operating costs 10-15% within two years"),
        ("Risk concerns", "medium", "carbon regulation adds compliance and capital risk"),
    ], "Present a two-year margin plan that funds automation from the savings it creates."),
    "Suppliers": ([
        ("Capacity constraints", "medium", "a price war raises volume forecasts suppliers must meet"),
        ("Price pressures", "high", "we will ask for lower unit costs to protect margins"),
        ("Tech transitions", "medium", "low-carbon materials and automated ordering change how they work"),
    ], "Sign longer contracts with volume commitments in exchange for price and carbon targets."),
}


def _stakeholder(request: Any) -> str:
    group = (request.system or "").split(":", 1)[0].strip()
    points, action = _STAKEHOLDERS.get(group, ([], "Monitor the situation and revisit next quarter."))
    lines = [f"Impact on {group.lower()}:"]
    lines += [f"- {concern} (priority: {priority}): {impact}." for concern, priority, impact in points]
    lines.append(f"Recommended action: {action}")
    return "\n".join(lines)


# ------------------------------------------------------------------ triaging

_BILLING_WORDS = ("charge", "bill", "invoice", "refund", "payment", "subscription", "card", "price")
_ACCOUNT_WORDS = ("password", "log in", "login", "sign in", "2fa", "two-factor", "hacked", "locked",
                  "account", "email address")


def _count(text: str, words: tuple[str, ...]) -> int:
    return sum(word in text for word in words)


def _triage(request: Any) -> Any:
    text = _user_text(request).lower()
    scores = {"billing": _count(text, _BILLING_WORDS), "account": _count(text, _ACCOUNT_WORDS)}
    team, score = max(scores.items(), key=lambda item: item[1])
    for name in request.tool_names:
        if score and name.endswith(f"_{team}"):
            return _reply(tool=name)
    return ("I can help with billing and account questions. "
            "Could you tell me more about what you need help with?")


def _billing(request: Any) -> str:
    text = _user_text(request).lower()
    if "twice" in text or "double" in text or "duplicate" in text:
        body = [
            "I'm sorry to see you were charged twice this month; I understand how frustrating an "
            "unexpected charge is.",
            "A duplicate charge happens when a payment is retried after a timeout: only one of the "
            "two charges is valid, and we will reverse the other.",
            "Next steps:",
            "1. Today: we flag the duplicate charge for reversal.",
            "2. Within 3-5 business days: the refund reaches your card.",
            "3. You get an email confirmation as soon as it is issued.",
        ]
    else:
        body = [
            "Thank you for reaching out about your bill; I have reviewed your recent charges.",
            "Every charge matches your current plan; the breakdown is on your latest invoice.",
            "Next steps:",
            "1. Within 1 business day: we email you an itemised statement.",
            "2. Reply to it within 30 days if any line still looks wrong, and we will correct it.",
        ]
    return "\n".join([
        "Billing Support Response:",
        *body,
        "Payment options: keep your card on file, or switch to PayPal or bank transfer under "
        "Settings > Billing.",
    ])


def _account(request: Any) -> str:
    return "\n".join([
        "Account Support Response:",
        "Your account's security is our priority. If you can't sign in and think your password "
        "was changed, please act now:",
        "1. Reset your password from the sign-in page with your verified email address.",
        "2. Confirm your identity with the code we text to your phone on file.",
        "3. Review recent sign-ins under Security > Activity and sign out unknown devices.",
        "4. Turn on two-factor authentication.",
        "Warning: we will never ask for your password by email or phone.",
        "Expected resolution: within 24 hours once your identity is verified.",
    ])


# ------------------------------------------------------------------ handoffs

_REFUND_WORDS = ("refund", "money back", "return", "broken", "damaged")
_BUY_WORDS = ("buy", "sell", "price", "purchase", "in stock", "case", "charger")
_PRODUCTS = ("carrying case", "wireless headphones", "usb-c charger")


def _transfer(request: Any, agent: str, reason: str) -> Any:
    name = f"transfer_to_{agent}"
    return _reply(tool=name, reason=reason) if name in request.tool_names else None


def _front_desk(request: Any) -> Any:
    text = _user_text(request).lower()
    if _count(text, _REFUND_WORDS):
        return _transfer(request, "refunds", "the customer wants a refund") or "Let me find a colleague."
    if _count(text, _BUY_WORDS):
        return _transfer(request, "sales", "the customer wants to buy") or "Let me find a colleague."
    return ("Welcome to Acme! Are you looking to buy something, or do you need help with an order "
            "or a refund?")


def _refunds(request: Any) -> Any:
    if request.tool_results:
        return f"All done: {request.tool_results[-1]['content']} Is there anything else I can do for you?"
    text = _user_text(request).lower()
    if _count(text, _BUY_WORDS) and not _count(text, _REFUND_WORDS):
        handoff = _transfer(request, "sales", "the customer wants to buy")
        if handoff is not None:
            return handoff
    order = re.search(r"#?(\d{3,})", text)
    if order and "process_refund" in request.tool_names:
        reason = "arrived broken" if "broken" in text else "customer request"
        return _reply(tool="process_refund", order_id=order.group(1), reason=reason)
    return "I'm sorry about that! What is your order number, so I can process the refund?"


def _sales(request: Any) -> Any:
    if request.tool_results:
        return f"Good news! {request.tool_results[-1]['content']} Shall I add one to your cart?"
    text = _user_text(request).lower()
    product = next((p for p in _PRODUCTS if p in text), None)
    if product and "check_stock" in request.tool_names:
        return _reply(tool="check_stock", product=product)
    if _count(text, _REFUND_WORDS):
        handoff = _transfer(request, "refunds", "the customer wants a refund")
        if handoff is not None:
            return handoff
    return "Happy to help! We carry headphones, carrying cases and chargers. What are you looking for?"


# ---------------------------------------------------------------- group chat

_DRAFTS = (
    "Aurora headphones combine premium noise cancelling with a battery that keeps your music "
    "playing for up to forty hours on a single charge.",
    "Aurora: forty hours of silence, wherever you go.",
    "Aurora: silence that lasts.",
)


def _writer(request: Any) -> str:
    drafts = sum(1 for m in request.messages if m.get("role") == "assistant")
    return _DRAFTS[min(drafts, len(_DRAFTS) - 1)]


def _editor(request: Any) -> str:
    draft = _user_text(request)
    words = len(draft.split())
    if words <= 8:
        return "APPROVED"
    return (f"Too long ({words} words): cut it to 8 words or fewer and lead with the "
            "forty-hour battery.")


_AGENTS: list[tuple[str, Callable[[Any], Any]]] = [
    ("Extract only the numerical values", _extract),
    ("Convert all numerical values to percentages", _convert),
    ("Sort all lines in descending order", _sort),
    ("Format the sorted data as a markdown table", _format),
    ("Customers:", _stakeholder),
    ("Employees:", _stakeholder),
    ("Investors:", _stakeholder),
    ("Suppliers:", _stakeholder),
    ("You are a triage agent", _triage),
    ("You are a billing support specialist", _billing),
    ("You are an account security specialist", _account),
    ("You are the front desk of Acme", _front_desk),
    ("You handle refunds and returns", _refunds),
    ("You are a sales assistant", _sales),
    ("You are a copywriter", _writer),
    ("You are a demanding marketing editor", _editor),
]
