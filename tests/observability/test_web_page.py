"""The gateway's web page in a real headless Chromium (Debian's, via Selenium and
/usr/bin/chromedriver): the live tree, the agent types, and a streamed chat reply."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from coagent import Address
from coagent.agents import StreamChatAgent
from coagent.core import AgentSpec, new
from coagent.gateway import Gateway
from coagent.runtimes import LocalRuntime
from coagent.testing import Reply, ScriptedModel
from tests.observability.test_spans import Boom, Fine, Fragile

CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage", "--window-size=1400,900")
POEM = ["Each actor ", "reads its mail ", "alone; ", "when one falls down, ", "a fresh one's grown."]


def chromium() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='coagent-chromium-')}")
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


async def until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll ``check`` (run off the loop: Selenium blocks) until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"the page never showed {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def page() -> AsyncIterator[tuple[LocalRuntime, webdriver.Chrome]]:
    async with LocalRuntime(name="web-node") as runtime:
        await runtime.register(AgentSpec("fragile", new(Fragile), description="Crashes on Boom."))
        model = ScriptedModel(default=lambda request: Reply("".join(POEM), chunks=POEM, chunk_delay=0.4))
        await runtime.register(AgentSpec("poet", new(StreamChatAgent, client=model),
                                         description="Writes two lines about actors."))
        gateway = Gateway(runtime)
        url = await gateway.start("127.0.0.1", 0)
        driver = await asyncio.to_thread(chromium)
        try:
            await asyncio.to_thread(driver.get, f"{url}/?interval=200")
            yield runtime, driver
        finally:
            await asyncio.to_thread(driver.quit)
            await gateway.stop()


def text_of(driver: webdriver.Chrome, css: str) -> str:
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0].text if found else ""


async def test_the_tree_shows_a_session_the_test_creates_and_its_restart_without_a_reload(
    page: tuple[LocalRuntime, webdriver.Chrome],
) -> None:
    runtime, driver = page
    await until(lambda: "web-node" in text_of(driver, "#tree"), "the node")
    # A marker a reload would wipe out.
    await asyncio.to_thread(driver.execute_script, "window.__sameDocument = 42")
    agents = await until(lambda: text_of(driver, "#agents li[data-agent='poet']"), "the agent types")
    assert "Writes two lines about actors." in agents
    assert "Crashes on Boom." in text_of(driver, "#agents li[data-agent='fragile']")

    await runtime.ask(Address("fragile", "alice"), Fine())
    row = "#tree li.actor[data-address='fragile:alice']"
    await until(lambda: text_of(driver, row), "the new session")
    assert "Fragile" in text_of(driver, row) and "idle" in text_of(driver, row)

    with pytest.raises(Exception, match="kaput"):
        await runtime.ask(Address("fragile", "alice"), Boom())
    await runtime.ask(Address("fragile", "alice"), Fine())
    await until(lambda: driver.find_elements(By.CSS_SELECTOR, row + "[data-restarts='1']"), "the restart")
    assert "last error: RuntimeError: kaput" in text_of(driver, row)

    assert await runtime.passivate(Address("fragile", "alice"))
    await until(lambda: not driver.find_elements(By.CSS_SELECTOR, row), "the passivation")
    assert await asyncio.to_thread(driver.execute_script, "return window.__sameDocument") == 42


async def test_a_chat_message_to_a_scripted_agent_shows_its_reply_as_it_streams(
    page: tuple[LocalRuntime, webdriver.Chrome],
) -> None:
    _, driver = page
    await until(lambda: driver.find_elements(By.CSS_SELECTOR, "#chat-agent option[value='poet']"),
                "the agent choice")

    def write() -> None:
        Select(driver.find_element(By.ID, "chat-agent")).select_by_value("poet")
        session = driver.find_element(By.ID, "chat-session")
        session.clear()
        session.send_keys("web-chat")
        driver.find_element(By.ID, "chat-input").send_keys("a poem, please")
        driver.find_element(By.ID, "chat-send").click()

    await asyncio.to_thread(write)
    assert await until(lambda: text_of(driver, "#chat-log .msg.user"), "the user's message") == "a poem, please"
    # Part of the answer shows while the rest is still streaming.
    partial = await until(lambda: (text_of(driver, "#chat-log .msg.assistant.streaming")
                                   if driver.find_elements(By.CSS_SELECTOR, ".msg.assistant.streaming") else ""),
                          "a partial answer")
    assert "".join(POEM).startswith(partial) and partial != "".join(POEM).strip()
    await until(lambda: driver.find_elements(By.CSS_SELECTOR, "#chat-log .msg.assistant[data-done]"),
                "the end of the answer")
    assert text_of(driver, "#chat-log .msg.assistant") == "".join(POEM).strip()
    assert not driver.find_elements(By.CSS_SELECTOR, "#chat-log .msg.error")
