"""Webhook intake: `/hooks/{token}` and any path below it, any method (contract §1, §5)."""

from __future__ import annotations

from aiohttp import web

from runtime.bodies import read_body
from runtime.errors import ApiError, not_found
from runtime.intake import refuse_loops, request_data
from runtime.ratelimit import Refused
from runtime.runner import REPLY_SECURITY_HEADERS, ModuleGone, answered_now, changed_by_record
from runtime.store.errors import StorageUnavailable
from runtime.typedefs import CONFIG, LIMITER, METRICS, MODULES, RUNNER

routes = web.RouteTableDef()


# [\s\S], not ".": a path may carry a percent-encoded newline, and "." stops at it.
@routes.route("*", r"/hooks/{token}/{rest:[\s\S]*}")
# Nearest the function, so registered first: the router tries the plain webhook URL (nearly
# every request) before the one with a path below it. (The two match disjoint paths.)
@routes.route("*", "/hooks/{token}")
async def webhook(request: web.Request) -> web.Response:
    app = request.app
    config = app[CONFIG]
    refuse_loops(request)
    active = await app[MODULES].by_token(request.match_info["token"])
    if active is None:
        app[METRICS].webhooks.labels("unknown_module").inc()
        raise not_found("webhook")
    module, version = active.module, active.version
    try:
        app[LIMITER].admit_webhook(module.tenant_id)
    except Refused:
        app[METRICS].webhooks.labels("rate_limited").inc()
        raise  # the middleware answers 429 with Retry-After
    if version is None:
        app[METRICS].webhooks.labels("no_script").inc()
        raise ApiError(503, "no_active_script",
                       "this module has no active script version yet",
                       headers={"Retry-After": "60"})
    body = await read_body(request, config.max_webhook_body_kib * 1024)
    data = request_data(request, body, config.public_url.rstrip("/") if config.public_url
                        else None)
    runner = app[RUNNER]
    try:
        reply, report = await runner.webhook(module, version, data)
    except Refused:
        app[METRICS].webhooks.labels("rate_limited").inc()
        raise  # the middleware answers 429 with Retry-After
    except StorageUnavailable:
        # Not acknowledged: the middleware answers 503 + Retry-After, so the provider retries.
        app[METRICS].webhooks.labels("storage_unavailable").inc()
        raise
    except ModuleGone:
        # Deleted while its script ran: answered as its URL is from now on.
        app[METRICS].webhooks.labels("unknown_module").inc()
        raise not_found("webhook") from None
    if not report.ok and await app[MODULES].by_token(request.match_info["token"]) is None:
        # Its URL ended while it ran (its tenant deleted: the workers stopped and the
        # execution goes with the tenant; or a new webhook URL): a provider retrying this
        # failure would only meet the 404 the URL answers from now on.
        raise not_found("webhook")
    # 205 Reset Content must not carry content (RFC 9110 §15.3.6); aiohttp drops it itself
    # for 204 and 304 only.
    body = b"" if reply.status == 205 else reply.body
    response = web.Response(status=reply.status, body=body, headers=reply.headers)
    # The service's own, whatever built the reply: they replace any spelling of them (§5.1).
    response.headers.update(REPLY_SECURITY_HEADERS)
    # Acknowledge first (the effects are committed), then notify.
    try:
        await response.prepare(request)
        await response.write_eof()
    except ConnectionError:
        pass  # the caller left; what it caused is committed and its operators are still told
    finally:
        effects = report.effects
        # (Most webhooks notify nobody, nor change a call out of the table's sight.)
        if effects is not None and (effects.pushes or answered_now(effects) is not None
                                    or changed_by_record(effects) is not None):
            await runner.publish(effects, module.tenant_id)
    return response
