"""A recording link from VoipGetCallLink, checked with the URL parser that will use it.

The redirect that plays a link is built by aiohttp, which reads it with yarl, and yarl and
`urllib.parse` disagree on some links (`https://evil.example\\@127.0.0.1/` passes `urlsplit`
and makes yarl raise: it answered 500 on both recording routes). The contract's check
(`runtime/contract.check_call_link`) reads the link with both, so such a link is an invalid
result in the execution log; this second look, by yarl at the moment of use, keeps a 500 away
should the two checks ever drift apart.
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
