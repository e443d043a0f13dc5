"""The tenant console: server-rendered pages under /console/ for module builders (tenant API
key) and operators (user token), served by the service itself.

`setup_console(app)` mounts everything: the Jinja2 environment (autoescaping on), the routes,
the static files and the security headers. Pages use the same building blocks as /api/v1 (the
same checks, dry runs, versions and acting code), with the console's session standing in for
the credential it was opened with.
"""

from __future__ import annotations

import aiohttp_jinja2
import jinja2
from aiohttp import web

from runtime.console import (
    auth_views,
    call_page,
    completion,
    contacts_list,
    contacts_views,
    dialing,
    editor_views,
    executions_views,
    live_views,
    module_admin_views,
    modules_views,
    operator_views,
    session,
    usage_views,
    users_views,
    versions_views,
)
from runtime.console.errors import console_errors
from runtime.console.filters import FILTERS
from runtime.console.static_files import serve_static
from runtime.console.web import JINJA, PREFIX, security_headers
from runtime.console.words import WORD_FILTERS
from runtime.edge import scope_middleware

ROUTERS = [
    auth_views.routes,
    modules_views.routes,
    editor_views.routes,
    completion.routes,
    versions_views.routes,
    executions_views.routes,
    operator_views.routes,
    usage_views.routes,
    users_views.routes,
    module_admin_views.routes,
    dialing.routes,
    call_page.routes,
    live_views.routes,
    contacts_views.routes,
    contacts_list.routes,
]


def setup_console(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app,
        app_key=JINJA,
        loader=jinja2.PackageLoader("runtime.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        default_helpers=False,
    )
    env.filters.update(FILTERS)
    env.filters.update(WORD_FILTERS)
    session.install(app)
    # Inside json_errors, for the console's paths only: it sees a console handler's
    # unexpected errors before json_errors does.
    scope_middleware(app, PREFIX, console_errors)
    for router in ROUTERS:
        app.add_routes(router)
    app.router.add_get(PREFIX + "/static/{path:.+}", serve_static)
    app.on_response_prepare.append(security_headers)


__all__ = ["setup_console"]
