"""`voip-runtime serve`: load the configuration, start the app, say how to begin."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from aiohttp import web

from runtime.app import create_app
from runtime.config import ConfigError, ensure_operator_token, load_config
from runtime.logs import setup_logging

GETTING_STARTED = """\
voip-runtime is listening on {base}

Operator token{generated}: {token}
(kept in {token_file}; set VOIP_RUNTIME_OPERATOR_TOKEN or operator_token to choose your own)

Get started:
  curl -s -X POST {base}/api/v1/tenants -H 'Authorization: Bearer {token}' \\
       -H 'Content-Type: application/json' -d '{{"name": "acme"}}'
  curl -s -X POST {base}/api/v1/tenants/<tenant id>/keys -H 'Authorization: Bearer {token}'
  then, with the tenant's key: POST {base}/api/v1/modules, upload a script version, and point
  your provider at the module's webhook_url.
"""


def serve(config_path: Path | None) -> int:
    try:
        config = load_config(config_path)
    except ConfigError as error:
        print(f"voip-runtime: {error}", file=sys.stderr)
        return 2
    setup_logging(config.log_format, config.log_level)
    token, generated = ensure_operator_token(config)
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    app = create_app(config, token)

    async def announce(app: web.Application) -> None:
        print(GETTING_STARTED.format(
            base=config.base_url, token=token,
            generated=" (generated now)" if generated else "",
            token_file=(config.data_dir / "operator-token").resolve(),
        ), file=sys.stderr, flush=True)

    app.on_startup.append(announce)
    web.run_app(app, host=config.listen.host, port=config.listen.port, print=None,
                access_log=None)
    return 0
