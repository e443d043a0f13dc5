"""What the console costs a browser: each page's transferred bytes (HTML, CSS, JS, as sent
gzipped) and the time to a usable editor, against a real service on loopback.

    .venv/bin/python bench/console.py [--runs 5]

Budgets (from the console's issue): the editor page under 250 KB of gzipped JavaScript, every
other page under 30 KB. The editor timing needs Debian's Chromium (/usr/bin/chromium) and the
dev extras; without them only the byte counts are printed. Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiohttp import ClientSession, CookieJar  # noqa: E402
from aiohttp.test_utils import TestServer  # noqa: E402

from runtime.app import create_app  # noqa: E402
from runtime.config import Config, SandboxConfig  # noqa: E402

SEED = (ROOT / "scripts" / "seed-json" / "script.py").read_text(encoding="utf-8")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
KB = 1024
EDITOR_JS_BUDGET = 250 * KB
PAGE_BUDGET = 30 * KB

ASSETS = re.compile(r'<(?:script[^>]+src|link[^>]+href)="([^"]+)"')
IMPORTS = re.compile(r'(?:\bfrom\s*|\bimport\s*)"(\.{1,2}/[^"]+)"')


async def setup(client: ClientSession, base: str, operator: str) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {operator}"}

    async def call(method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else auth
        async with client.request(method, base + path, json=body, headers=headers) as r:
            assert r.status < 300, f"{method} {path}: {r.status} {await r.text()}"
            return await r.json() if r.status != 204 else None

    tenant = await call("POST", "/api/v1/tenants", {"name": "bench"})
    key = (await call("POST", f"/api/v1/tenants/{tenant['id']}/keys"))["key"]
    module = await call("POST", "/api/v1/modules", {
        "name": "seed-json", "settings": {"apiKey": "k", "members": "101:Operator",
                                          "recordBaseUrl": "https://records.example.com/rec"},
        "secrets": ["apiKey"]}, key)
    await call("POST", f"/api/v1/modules/{module['id']}/versions",
               {"source": SEED, "activate": True}, key)
    await call("POST", f"/api/v1/modules/{module['id']}/versions",
               {"source": SEED.replace("Seed module", "Seed module v2"), "activate": True}, key)
    user = await call("POST", "/api/v1/users", {"name": "operator"}, key)
    token = (await call("POST", f"/api/v1/users/{user['id']}/tokens", None, key))["token"]
    await call("PUT", f"/api/v1/modules/{module['id']}/bindings",
               {"bindings": {"101": user["id"]}}, key)
    hook = urlsplit(module["webhook_url"]).path
    for kind in ("start", "answer", "end"):
        body = {"type": kind, "callId": "c-1", "srcPhone": "+79161234567", "dstPhone": "101",
                "disposition": "answered"}
        async with client.post(base + hook, data=json.dumps(body)) as r:
            assert r.status == 200
    async with client.post(base + hook, data=json.dumps({
            "type": "record", "callId": "c-1", "direction": "in", "disposition": "answered",
            "srcPhone": "+79161234567", "dstPhone": "101", "duration": 12,
            "recordId": "r-1"})) as r:
        assert r.status == 200
    contact = await call("POST", "/api/v1/contacts",
                         {"name": "Ivan Petrov", "phones": ["+79161234567"]}, key)
    versions = (await call("GET", f"/api/v1/modules/{module['id']}/versions", None, key))
    executions = await call("GET", "/api/v1/executions", None, key)
    return {"key": key, "token": token, "module": module["id"], "contact": contact["id"],
            "versions": [v["id"] for v in versions["versions"]],
            "execution": executions["executions"][0]["id"]}


async def sign_in(session: ClientSession, base: str, credential: str) -> None:
    async with session.get(base + "/console/sign-in") as r:
        html = await r.text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    async with session.post(base + "/console/sign-in", allow_redirects=False,
                            data={"credential": credential, "csrf_token": token}) as r:
        assert r.status == 303, await r.text()


async def wire(session: ClientSession, url: str) -> tuple[int, bytes, str]:
    """(bytes on the wire, decoded body, content type) of one gzip-accepting GET."""
    async with session.get(url, headers={"Accept-Encoding": "gzip"},
                           auto_decompress=False) as r:
        raw = await r.read()
        body = raw
        if r.headers.get("Content-Encoding") == "gzip":
            import gzip

            body = gzip.decompress(raw)
        return len(raw), body, r.headers.get("Content-Type", "")


async def page_weight(session: ClientSession, base: str, path: str) -> dict[str, int]:
    html_bytes, body, _ = await wire(session, base + path)
    sizes = {"html": html_bytes, "css": 0, "js": 0}
    pending = [urljoin(base + path, src.replace("&amp;", "&"))
               for src in ASSETS.findall(body.decode())]
    seen: set[str] = set()
    while pending:
        url = pending.pop()
        key = url.split("?")[0]
        if key in seen or not key.startswith(base) or key.endswith("data:,"):
            continue
        seen.add(key)
        size, content, kind = await wire(session, url)
        if "javascript" in kind:
            sizes["js"] += size
            pending += [urljoin(url, spec) for spec in IMPORTS.findall(content.decode())]
        elif "css" in kind:
            sizes["css"] += size
    return sizes


async def editor_timing(base: str, key: str, module: str, runs: int) -> list[float] | None:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        return None
    if not Path(CHROMIUM).exists():
        return None
    times: list[float] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for _ in range(runs):
            context = await browser.new_context()  # a cold cache every run
            page = await context.new_page()
            await page.goto(base + "/console/sign-in")
            await page.get_by_label("API key or user token").fill(key)
            await page.get_by_role("button", name="Sign in").click()
            await page.wait_for_load_state()
            await page.goto(base + f"/console/modules/{module}/editor")
            await page.wait_for_selector('#editor[data-ready="true"] .cm-content')
            # From navigation start to an editor that has taken a keystroke.
            await page.locator(".cm-content").click()
            await page.keyboard.type("#")
            await page.wait_for_function("window.consoleEditor.state.doc.toString()"
                                         ".includes('#')")
            times.append(await page.evaluate("performance.now()"))
            await context.close()
        await browser.close()
    return times


async def main(runs: int) -> None:
    operator = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory() as data:
        config = Config(data_dir=Path(data), log_format="text", log_level="WARNING",
                        sandbox=SandboxConfig(workers=2), commit_window_ms=1.0)
        server = TestServer(create_app(config, operator), host="127.0.0.1")
        await server.start_server()
        base = str(server.make_url("")).rstrip("/")
        try:
            async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as client:
                ids = await setup(client, base, operator)
            module = ids["module"]
            builder_pages = {
                "sign-in": "/console/sign-in",
                "modules": "/console/modules",
                "module": f"/console/modules/{module}",
                "editor": f"/console/modules/{module}/editor",
                "versions": f"/console/modules/{module}/versions",
                "diff": f"/console/modules/{module}/diff?a={ids['versions'][1]}"
                        f"&b={ids['versions'][0]}",
                "executions": f"/console/modules/{module}/executions",
                "execution": f"/console/executions/{ids['execution']}",
                "calls (builder)": "/console/calls",
            }
            operator_pages = {
                "live": "/console/live",
                "calls (operator)": "/console/calls",
                "contact": f"/console/contacts/{ids['contact']}",
            }
            rows = []
            for credential, pages in ((ids["key"], builder_pages),
                                      (ids["token"], operator_pages)):
                async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
                    await sign_in(session, base, credential)
                    for name, path in pages.items():
                        rows.append((name, await page_weight(session, base, path)))
            print("Transferred bytes per page (gzipped as sent; cold cache)")
            print(f"{'page':<18}{'HTML':>9}{'CSS':>9}{'JS':>10}{'total':>10}  budget")
            for name, sizes in rows:
                total = sum(sizes.values())
                if name == "editor":
                    verdict = ("ok" if sizes["js"] < EDITOR_JS_BUDGET else "OVER") + \
                        f" (JS < {EDITOR_JS_BUDGET // KB} KB)"
                else:
                    verdict = ("ok" if total < PAGE_BUDGET else "OVER") + \
                        f" (< {PAGE_BUDGET // KB} KB)"
                print(f"{name:<18}{sizes['html']:>9}{sizes['css']:>9}{sizes['js']:>10}"
                      f"{total:>10}  {verdict}")
            started = time.perf_counter()
            times = await editor_timing(base, ids["key"], module, runs)
            if times is None:
                print("\nTime to a usable editor: skipped (needs /usr/bin/chromium and "
                      "playwright)")
            else:
                print(f"\nTime to a usable editor (navigation start → CodeMirror mounted and "
                      f"took a keystroke), {runs} cold loads on loopback:")
                print(f"  median {statistics.median(times):.0f} ms, min {min(times):.0f} ms, "
                      f"max {max(times):.0f} ms  (bench ran {time.perf_counter() - started:.1f} s)")
        finally:
            await server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args().runs))
