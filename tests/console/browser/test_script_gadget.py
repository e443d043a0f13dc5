"""No script gadget on the console's origin (issue 14): a tenant's webhook reply is served from
the console's own address, so a reply that reads as JavaScript or CSS must never be loadable as
a script or stylesheet by a console page, even by markup injected into one. The console's policy
allows scripts and stylesheets by nonce only; the reply's own `Content-Security-Policy: sandbox`
keeps it inert when opened as a document.

Each check has its control: the same injection under the policy the console used to send
(`script-src 'self'`), or without the reply's sandbox, does run, so the test can fail.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, Route, expect

from tests.console.browser.conftest import Tab
from tests.e2e.conftest import Service
from tests.e2e.helpers import SeedSetup, seed_setup, upload

STEAL = "window.__pwned = document.querySelector('meta[name=\"csrf-token\"]').content;"
RESTYLE = "body { background-color: rgb(1, 2, 3) !important; }"
XHTML = ('<html xmlns="http://www.w3.org/1999/xhtml"><body><p id="doc">an XML reply</p>'
         '<script>window.__pwned = 1;</script></body></html>')

# What a hostile tenant would answer: a script, a stylesheet and an XHTML page, each with the
# most permissive type the contract still allows.
GADGET_SCRIPT = f"""from urllib.parse import urlsplit

STEAL = {STEAL!r}
RESTYLE = {RESTYLE!r}
XHTML = {XHTML!r}


def VoipParseWebhookRequest(request):
    path = urlsplit(request.url).path
    if path.endswith(".js"):
        return {{"response": HttpResponse().content(STEAL)}}
    if path.endswith("/gadget.css"):
        return {{"response": HttpResponse().header("Content-Type", "text/plain").content(RESTYLE)}}
    if path.endswith(".xml"):
        return {{"response": HttpResponse().header("Content-Type", "application/xml")
                 .content(XHTML)}}
    return None
"""

# Chrome reports a policy violation as a DOM event before the console message.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
    window.__violations.push({directive: event.effectiveDirective, blocked: event.blockedURI});
});
"""

# The injection: what one markup injection anywhere in the console could add to a page.
INJECT = """async ([tag, url]) => {
    const node = document.createElement(tag);
    if (tag === "script") node.src = url;
    else { node.rel = "stylesheet"; node.href = url; }
    const outcome = new Promise((resolve) => {
        node.addEventListener("load", () => resolve("load"));
        node.addEventListener("error", () => resolve("error"));
    });
    document.head.append(node);
    return await Promise.race([outcome, new Promise((r) => setTimeout(() => r("none"), 5000))]);
}"""

NOTHING_RAN = "typeof window.__pwned === 'undefined'"
BACKGROUND = "getComputedStyle(document.body).backgroundColor"
OLD_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'"


async def gadget_setup(service: Service) -> SeedSetup:
    seed = await seed_setup(service)
    await upload(seed.api, seed.module["id"], GADGET_SCRIPT)
    return seed


async def executions(seed: SeedSetup) -> int:
    body = await seed.api.ok("GET", f"/api/v1/executions?module_id={seed.module['id']}")
    return len(body["executions"])


async def violations(page: Page) -> list[dict[str, str]]:
    found: list[dict[str, str]] = await page.evaluate("window.__violations")
    return found


async def test_a_tenant_reply_cannot_be_loaded_as_script_or_style(
    tab: Tab, console: tuple[Service, str]
) -> None:
    service, base = console
    page = tab.page
    seed = await gadget_setup(service)
    hook = base + seed.hook_path
    # The gadgets are there: fetched directly, they answer their text.
    direct = await service.client.get(seed.hook_path + "/gadget.js")
    assert direct.status == 200 and await direct.text() == STEAL
    before = await executions(seed)

    await page.add_init_script(RECORD_VIOLATIONS)
    await tab.sign_in(seed.api.secret or "")
    await tab.goto(f"/console/modules/{seed.module['id']}/editor")
    await expect(page.locator("#editor")).to_have_attribute("data-ready", "true")
    background = await page.evaluate(BACKGROUND)

    assert await page.evaluate(INJECT, ["script", hook + "/gadget.js"]) == "error"
    assert await page.evaluate(INJECT, ["link", hook + "/gadget.css"]) == "error"

    assert await page.evaluate(NOTHING_RAN)
    assert await page.evaluate(BACKGROUND) == background
    assert {(v["directive"], v["blocked"]) for v in await violations(page)} == {
        ("script-src-elem", hook + "/gadget.js"),
        ("style-src-elem", hook + "/gadget.css"),
    }
    # Blocked before it was sent: the tenant's script never ran for either.
    assert await executions(seed) == before
    # The console's own scripts and styles still load (CodeMirror is running, styled).
    assert await page.locator(".cm-editor .cm-content").count() == 1
    # The browser's console says so, and says nothing else.
    assert len(tab.errors) == 2, tab.errors
    for error, name in zip(tab.errors, ["gadget.js", "gadget.css"], strict=True):
        assert name in error and "Content Security Policy" in error, error


async def test_control_the_old_policy_let_a_reply_run_as_script(
    tab: Tab, console: tuple[Service, str]
) -> None:
    """Under the policy the console used to send (scripts from 'self'), the tenant's reply as
    the contract now allows it is still refused for its type (text/plain with nosniff), and a
    JavaScript reply, as the contract used to allow, runs: what issue 14 found. That reply is
    stood in for by a route, since no script can answer with a JavaScript type any more."""
    service, base = console
    page = tab.page
    seed = await gadget_setup(service)
    await tab.sign_in(seed.api.secret or "")

    async def old_policy(route: Route) -> None:
        response = await route.fetch()
        headers = {**response.headers, "content-security-policy": OLD_POLICY}
        await route.fulfill(response=response, headers=headers)

    async def javascript_reply(route: Route) -> None:
        await route.fulfill(status=200, body=STEAL,
                            headers={"Content-Type": "text/javascript"})

    await page.route(f"{base}/console/modules/*/editor", old_policy)
    await page.route(f"{base}{seed.hook_path}/gadget.js", javascript_reply)
    await tab.goto(f"/console/modules/{seed.module['id']}/editor")
    hook = base + seed.hook_path

    # The reply's type alone holds: a browser will not run text/plain as a script.
    assert await page.evaluate(INJECT, ["script", hook + "/plain.js"]) == "error"
    assert await page.evaluate(NOTHING_RAN)
    assert any("plain.js" in error and "MIME type ('text/plain')" in error
               for error in tab.errors), tab.errors

    csrf = await page.evaluate("document.querySelector('meta[name=\"csrf-token\"]').content")
    assert await page.evaluate(INJECT, ["script", hook + "/gadget.js"]) == "load"
    assert await page.evaluate("window.__pwned") == csrf


async def test_an_xml_reply_opened_as_a_page_runs_nothing(
    tab: Tab, console: tuple[Service, str]
) -> None:
    service, base = console
    page = tab.page
    seed = await gadget_setup(service)
    response: Any = await tab.goto(seed.hook_path + "/page.xml")
    assert response.status == 200
    assert response.headers["content-security-policy"] == "sandbox"
    assert response.headers["x-content-type-options"] == "nosniff"
    await expect(page.locator("#doc")).to_have_text("an XML reply")
    assert await page.evaluate(NOTHING_RAN)

    # Control: without the reply's sandbox, the same XML runs its XHTML script.
    async def unsandboxed(route: Route) -> None:
        reply = await route.fetch()
        headers = {k: v for k, v in reply.headers.items()
                   if k.lower() != "content-security-policy"}
        await route.fulfill(response=reply, headers=headers)

    await page.route(f"{base}{seed.hook_path}/other.xml", unsandboxed)
    await tab.goto(seed.hook_path + "/other.xml")
    await expect(page.locator("#doc")).to_have_text("an XML reply")
    assert await page.evaluate("window.__pwned") == 1
