"""A recording link from VoipGetCallLink, checked with the URL parser that will use it.

The contract's check (`runtime/contract.py`) reads the link with `urllib.parse`; the redirect
that plays it is built by aiohttp, which reads it with yarl. The two disagree on some links:
`https://evil.example\\@127.0.0.1/` passes `urlsplit` and makes yarl raise, which answered 500
on both recording routes. So the link is read once more here, by yarl, before it is used, and
refused unless yarl takes it as an absolute http(s) URL with a host.
"""

from __future__ import annotations

import logging

from yarl import URL

from runtime.contract import CallLink
from runtime.errors import ApiError
from runtime.runner import RunReport

log = logging.getLogger("runtime.recordings")


def unusable(report: RunReport, why: str) -> ApiError:
    log.warning("VoipGetCallLink (execution %s) returned a link that cannot be used: %s",
                report.execution_id, why)
    return ApiError(
        502, "script_failed",
        f"the module's VoipGetCallLink returned a link that cannot be used: {why}",
        details={"execution_id": report.execution_id},
    )


def recording_url(report: RunReport) -> str:
    """The link VoipGetCallLink returned, once yarl (and so the redirect) accepts it."""
    link = report.validated
    assert isinstance(link, CallLink)
    try:
        parsed = URL(link.url)
    except (ValueError, TypeError) as error:
        raise unusable(report, str(error)) from None
    if parsed.scheme not in ("http", "https") or not parsed.is_absolute() or not parsed.host:
        raise unusable(report, "it is not an absolute http or https URL with a host")
    return link.url
