"""Browser tests: Debian's Chromium driven by Playwright's Python package (never a downloaded
browser). Run them on their own:

    apt-get install -y chromium          # Debian's package: /usr/bin/chromium
    .venv/bin/python -m pytest tests/console/browser

Where Chromium is missing they skip, saying so. Screenshots of each page are kept under
test-artifacts/console/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import Browser
from tests.e2e.conftest import Service
from tests.e2e.helpers import SeedSetup, seed_setup

CHROMIUM = os.environ.get("CONSOLE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--autoplay-policy=no-user-gesture-required"]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "console"
EXPECTED_STATUSES = (409, 422)
HOW_TO_RUN = ("browser tests need Debian's Chromium at /usr/bin/chromium (or CONSOLE_CHROMIUM) "
              "and the dev extras: `apt-get install -y chromium && .venv/bin/pip install -e "
              "'.[dev]' && .venv/bin/python -m pytest tests/console/browser`")

try:
    from playwright.async_api import Browser as PwBrowser
    from playwright.async_api import ConsoleMessage, Page, async_playwright, expect
except ImportError:  # pragma: no cover - dev extras missing
    async_playwright = None  # type: ignore[assignment]


# Without the dev extras the test modules cannot even be imported: leave them out, and say why.
collect_ignore_glob = ["test_*.py"] if async_playwright is None else []

# How long an `expect` waits for what the page should come to show. Playwright's 5 s default
# is a guess about the machine: a step that waits on the service (a sandbox run, a webhook
# reaching the live page, a sign-in) takes what a loaded machine gives it. A met condition
# returns at once, so only a failing check waits this long; a test asserting that something
# happens within a bound gives its own timeout.
EXPECT_TIMEOUT_MS = 15_000
if async_playwright is not None:
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)


def pytest_report_header(config: pytest.Config) -> str | None:
    reason = chromium_missing()
    return f"console browser tests: {reason}" if reason else None


def chromium_missing() -> str | None:
    if async_playwright is None:
        return "playwright is not installed; " + HOW_TO_RUN
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"Chromium not found at {CHROMIUM}; " + HOW_TO_RUN
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = chromium_missing()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        return  # .ci/run installs Chromium: there a missing browser fails (see `chromium`)
    marker = pytest.mark.skip(reason=reason)
    for item in items:
        if "console/browser" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(marker)


@pytest.fixture
async def chromium() -> AsyncIterator[PwBrowser]:
    reason = chromium_missing()
    if reason is not None:
        pytest.fail(reason)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS,
                                                   headless=True)
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Tab:
    """A page with what the tests check on every page: no script errors, no CSP violations."""

    page: Page
    base: str
    errors: list[str] = field(default_factory=list)

    async def goto(self, path: str) -> Any:
        return await self.page.goto(self.base + path)

    async def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path

    async def report_csp_violations(self) -> None:
        """From the next page on, every CSP violation is also a console error (in `errors`)."""
        await self.page.context.add_init_script(REPORT_CSP_VIOLATIONS)

    async def sign_in(self, credential: str) -> None:
        await self.goto("/console/sign-in")
        await self.page.get_by_label("API key or user token").fill(credential)
        await self.page.get_by_role("button", name="Sign in").click()
        await self.page.wait_for_load_state()


# With `Tab.report_csp_violations`, every Content-Security-Policy violation becomes a console
# error, which `tab.errors` collects (Chromium logs most violations itself; this catches all).
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
    console.error(`CSP violation: ${event.violatedDirective} blocked `
        + `${event.blockedURI || "inline"} at ${event.sourceFile || "?"}:${event.lineNumber}: `
        + (event.sample || ""));
});
"""


@pytest.fixture
async def tab(chromium: PwBrowser, console: tuple[Any, str]) -> AsyncIterator[Tab]:
    _, base = console
    context = await chromium.new_context(viewport={"width": 1400, "height": 900})
    page = await context.new_page()
    result = Tab(page, base)

    def on_console(message: ConsoleMessage) -> None:
        # A refused script (422) or a conflicting activation (409) is an answer the page shows.
        expected = any(f"status of {code} " in message.text for code in EXPECTED_STATUSES)
        if message.type == "error" and not expected:
            result.errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: result.errors.append(f"pageerror: {error}"))
    try:
        yield result
    finally:
        await context.close()


__all__ = ["ARTIFACTS", "Browser", "Tab"]


async def signed_in_builder(tab: Tab, service: Service, *webhooks: dict[str, Any]
                            ) -> SeedSetup:
    """A seeded tenant (tests/e2e/helpers.seed_setup) with these webhooks stored, its builder
    signed in on `tab`."""
    seed = await seed_setup(service)
    for webhook in webhooks:
        await seed.hook_ok(webhook)
    await tab.sign_in(seed.api.secret or "")
    return seed


async def open_editor(tab: Tab, seed: SeedSetup) -> None:
    """The seeded module's editor on `tab`, once its code editor is drawn."""
    await tab.goto(f"/console/modules/{seed.module['id']}/editor")
    await expect(tab.page.locator(".cm-editor")).to_be_visible()
