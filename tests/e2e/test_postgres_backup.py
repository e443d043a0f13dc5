"""PostgreSQL backup and restore as the README says: `pg_dump` of the service's schema while
webhooks flow, `pg_restore` into a new database, the schema renamed there (nothing in it names
its schema: the modules trigger reads it at run time), and a service started on
`?schema=<new name>` serves everything acknowledged before the dump began."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest

from runtime.store.postgres_migrate import quote_ident
from tests.e2e.service_process import ServiceProcess, call_json, flowing_webhooks, seed_tenant
from tests.pg import drop_schema, new_schema_name, postgres_url


def with_database(url: str, database: str, schema: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database, query=f"schema={schema}"))


async def run(*command: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await process.communicate()
    assert process.returncode == 0, f"{command[0]}: {output.decode()}"


async def test_pg_dump_restored_into_a_new_schema_serves_what_was_acknowledged(
        tmp_path: Path) -> None:
    url = await postgres_url()
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump/pg_restore are not on PATH (postgresql-client)")
    schema = new_schema_name()
    database = f"voip_restore_{uuid.uuid4().hex[:12]}"
    restored_schema = schema + "_restored"
    dump = tmp_path / "voip.dump"
    original = ServiceProcess(tmp_path, storage_url=with_database(
        url, urlsplit(url).path.lstrip("/") or "postgres", schema))
    restored = ServiceProcess(tmp_path, data_dir=tmp_path / "restored",
                              storage_url=with_database(url, database, restored_schema))
    admin = await asyncpg.connect(url)
    try:
        original.start()
        await original.wait_ready()
        async with aiohttp.ClientSession() as session:
            tenant = await seed_tenant(session, original.base)
            async with flowing_webhooks(tenant, session, 3, 60):
                before = set(tenant.acknowledged)
                # As the README says: the schema alone, custom format, no owners.
                await run("pg_dump", "--format=custom", f"--schema={schema}", "--no-owner",
                          f"--file={dump}", urlunsplit(urlsplit(url)._replace(query="")))
                during = len(tenant.acknowledged) - len(before)
            assert during > 0, "webhooks were not flowing while pg_dump ran"
        original.stop()

        await admin.execute(f"CREATE DATABASE {quote_ident(database)}")
        await run("pg_restore", "--no-owner", "--exit-on-error",
                  f"--dbname={urlunsplit(urlsplit(url)._replace(path='/' + database))}",
                  str(dump))
        target = await asyncpg.connect(urlunsplit(urlsplit(url)._replace(path="/" + database)))
        try:
            await target.execute(f"ALTER SCHEMA {quote_ident(schema)} "
                                 f"RENAME TO {quote_ident(restored_schema)}")
        finally:
            await target.close()

        restored.start()
        await restored.wait_ready()
        async with aiohttp.ClientSession() as session:
            tenant.base = restored.base
            missing = before - await tenant.stored_calls(session)
            assert not missing, f"{len(missing)} calls acknowledged before the dump lost"
            contacts = await call_json(session, "GET", tenant.api + "/contacts", tenant.key)
            assert tenant.contact["id"] in {c["id"] for c in contacts["contacts"]}
            [module] = (await call_json(session, "GET", tenant.api + "/modules",
                                        tenant.key))["modules"]
            assert module["id"] == tenant.module["id"] and module["active_version"]
            tenant.module = module
            status, _, text = await tenant.send(session, "after-restore")
            assert status == 200, text
    finally:
        original.stop()
        restored.stop()
        await admin.execute(f"DROP DATABASE IF EXISTS {quote_ident(database)} WITH (FORCE)")
        await admin.close()
        await drop_schema(url, schema)
