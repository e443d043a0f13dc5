"""Live notifications for operators: the WebSocket `/api/v1/live` (a user token in
`?token=`) and the list to catch up with. The socket itself is runtime/live_socket.py, shared
with the console's live page.
"""

from __future__ import annotations

from aiohttp import web

from runtime.api.common import page
from runtime.auth import require_user, require_user_auth, user_token_ended
from runtime.ids import NOTIFICATION
from runtime.live_socket import LiveAccess, serve_live
from runtime.openapi import documented
from runtime.openapi.models import NotificationList, NotificationQuery
from runtime.query_params import query_record_id, query_time
from runtime.store.models import to_json
from runtime.typedefs import STORE

routes = web.RouteTableDef()


@routes.get("/api/v1/notifications")
@documented("The user's notifications, to catch up (oldest first)", auth="user",
            query=NotificationQuery, response=NotificationList)
async def list_notifications(request: web.Request) -> web.Response:
    user = await require_user(request)
    limit, offset = page(request)
    items = await request.app[STORE].list_notifications(
        user.tenant_id, user.id, after_id=query_record_id(request, "after", NOTIFICATION),
        since=query_time(request, "since"), limit=limit, offset=offset,
    )
    return web.json_response({"notifications": to_json(items)})


@routes.get("/api/v1/live")
async def live(request: web.Request) -> web.WebSocketResponse:
    auth = await require_user_auth(request)
    store = request.app[STORE]
    return await serve_live(request, LiveAccess(
        user=auth.user, credentials=auth.credentials,
        check=lambda: user_token_ended(store, auth)))
