"""``kinko serve`` (the REST API) and ``kinko apikeys``."""

from __future__ import annotations

import gc
import json
import os
from contextlib import suppress
from pathlib import Path
from typing import Any

import typer
from fastapi import FastAPI

from kinko.api import create_app
from kinko.cli.app import app
from kinko.cli.listening import host_port, listen_tcp
from kinko.cli.logs import log_to_stderr
from kinko.cli.runtime import Runtime, cli_actor, emit, format_option, runtime, word
from kinko.domain.messages import msg
from kinko.errors import ConfigError, KinkoError
from kinko.ports import SystemClock
from kinko.services.access import ROLES, Access
from kinko.services.custody import custody_positions
from kinko.settings import Settings, load_settings

# what each worker process of `kinko serve --workers N` builds its app from (JSON: the
# settings file and flags the command was given, and the serve options)
WORKER_ENV = "KINKO_SERVE_WORKER"

apikeys_app = typer.Typer(help="API keys (stored hashed) with roles: " + ", ".join(ROLES) + ".",
                          no_args_is_help=True)
app.add_typer(apikeys_app, name="apikeys")


def _access(ctx: typer.Context) -> Access:
    rt = runtime(ctx)
    rt.ledger()  # checks the schema
    return Access(rt.store(), SystemClock())


@apikeys_app.command("create")
def apikeys_create(ctx: typer.Context,
                   name: str = typer.Option(..., "--name", help="Whose key it is (a person "
                                            "or a system): what is done with the key is "
                                            "recorded under this name in the audit log."),
                   role: str = typer.Option(..., "--role", help=", ".join(ROLES)),
                   by: str = typer.Option(None, "--by", help="Who creates it (recorded in "
                                          "the audit log).")) -> None:
    """Create a key; it is shown once and only its hash is stored."""
    key, token = _access(ctx).create_key(
        name, role, actor=cli_actor(by))
    say = runtime(ctx).say
    print(say("cli.apikeys.created", id=key.id, name=key.name,
              role=word(say, "role", key.role)))
    print(token)


@apikeys_app.command("revoke")
def apikeys_revoke(ctx: typer.Context, key_id: str,
                   by: str = typer.Option(..., "--by", help="Who revokes it (recorded in "
                                          "the audit log).")) -> None:
    """Revoke a key at once."""
    _access(ctx).revoke(key_id, f"cli:{by}")
    print(runtime(ctx).say("cli.apikeys.revoked", id=key_id))


@apikeys_app.command("list")
def apikeys_list(ctx: typer.Context, fmt: str = format_option()) -> None:
    """Keys, without their secrets."""
    cells = runtime(ctx).cells(fmt)
    emit(["id", "name", "role", "revoked"],
         [[k["id"], k["name"], word(cells, "role", k["role"]),
           cells("tr.yes") if k["revoked_us"] else ""]
          for k in _access(ctx).api_keys()], fmt)


def _app(rt: Runtime, dashboard: bool, secure_cookies: bool) -> FastAPI:
    """The app one server process serves, warmed up."""
    rt.ledger()
    folder = Path(rt.settings.data_dir)
    api = create_app(rt.custody, lambda: Access(rt.store(), SystemClock()),
                     dashboard=folder if dashboard else None, secure_cookies=secure_cookies,
                     max_body=rt.settings.max_request_bytes,
                     watch_silence=rt.settings.watch_silence_seconds,
                     submitter=rt.settings.exchange,
                     stopped=lambda done: print(rt.say(
                         "cli.serve.group_commit", batches=done["batches"],
                         units=done["units"], largest=done["largest"],
                         on_loop=done["on_loop"]), flush=True))
    if dashboard:  # the overview's summed balances, once, before the first operator asks
        custody_positions(rt.ledger())
    # what the first requests would build otherwise: the API's schema (which a readiness
    # probe asks for), the active policy's parsed rules and the deny list
    api.openapi()
    withdrawals = api.state.api.withdrawals
    with suppress(KinkoError):  # no policy yet: the first request says so
        withdrawals.rules()
    withdrawals.deny_list()
    # what start-up made (modules, the app, those caches) lives as long as the server (or
    # until what it caches changes): kept out of the collector's full passes, which
    # otherwise cost ~80 ms every ~60 requests, and ~5 ms for the caches alone
    gc.collect()
    gc.freeze()
    return api


def worker_app() -> FastAPI:
    """One worker's app (`kinko serve --workers N`: uvicorn starts N processes that each
    call this), from the settings the command was given."""
    given: dict[str, Any] = json.loads(os.environ[WORKER_ENV])
    settings = load_settings(config_path=given["config"] or "kinko.toml",
                             flags=given["flags"])
    log_to_stderr(settings.log_level)
    rt = Runtime(settings)
    rt.store().shared_by_processes()  # with the other workers: see there
    return _app(rt, given["dashboard"], given["secure_cookies"])


def _served(settings: Settings) -> dict[str, Any]:
    """How each server process serves: the request deadline, and the proxies whose
    X-Forwarded-For names the client (none: the connection's address)."""
    return {"read_seconds": settings.request_read_seconds, "log_level": "warning",
            "timeout_graceful_shutdown": 3, "proxy_headers": bool(settings.trusted_proxies),
            "forwarded_allow_ips": settings.trusted_proxies or None}


@app.command("serve")
def serve(ctx: typer.Context,
          host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on: an "
                                   "IPv4 or IPv6 address, or a host name; 0.0.0.0 for every "
                                   "IPv4 interface."),
          port: int = typer.Option(8000, "--port", min=0, max=65535,
                                   help="Port to listen on (0: one the system picks, shown "
                                   "when the server starts)."),
          dashboard: bool = typer.Option(True, "--dashboard/--no-dashboard",
                                         help="Serve the operators' dashboard at /."),
          secure_cookies: bool = typer.Option(
              False, "--secure-cookies", help="Send the session cookie over HTTPS only (set "
              "this behind a TLS proxy)."),
          workers: int = typer.Option(
              1, "--workers", min=1, max=64,
              help="Server processes (PostgreSQL only: SQLite has one writer, so it is "
              "served by one process).")) -> None:
    """Serve the REST API under /v1 (OpenAPI at /openapi.json, docs at /docs) and the
    operators' dashboard at / (sign in with an API key)."""
    import uvicorn

    from kinko.cli.timely import ServerConfig
    from kinko.cli.workers import Workers, listen_group

    rt = runtime(ctx)
    served = _served(rt.settings)
    if workers > 1 and rt.store().dialect != "postgresql":
        raise ConfigError(
            f"--workers {workers}: SQLite has one writer, so kinko serves it from one "
            "process; run several workers on PostgreSQL (database_url = "
            "\"postgresql://...\"), or drop --workers",
            says=msg("error.serve.workers_sqlite", workers=workers))
    # refused here, before the banner; each worker has a socket of its own (workers.py)
    socks = [listen_tcp(host, port, setting="port")] if workers == 1 else listen_group(
        host, port, workers, setting="port")
    where = f"http://{host_port(host, socks[0].getsockname()[1])}/"
    say, database = rt.say, rt.settings.database_url.split("@")[-1]
    if workers > 1 and dashboard:
        banner = say("cli.serve.banner_workers", database=database, where=where,
                     workers=str(workers))
    elif workers > 1:
        banner = say("cli.serve.banner_api_workers", database=database, where=where,
                     workers=str(workers))
    elif dashboard:
        banner = say("cli.serve.banner", database=database, where=where)
    else:
        banner = say("cli.serve.banner_api", database=database, where=where)
    if workers == 1:
        api = _app(rt, dashboard, secure_cookies)
        print(banner, flush=True)
        server = uvicorn.Server(ServerConfig(api, **served))
        with suppress(KeyboardInterrupt):  # a clean stop: uvicorn has shut down
            server.run(sockets=socks)
        return
    rt.ledger()  # checks the schema once, before any worker starts
    os.environ[WORKER_ENV] = json.dumps({
        "config": rt.config, "flags": rt.flags, "dashboard": dashboard,
        "secure_cookies": secure_cookies})
    print(banner, flush=True)

    def configure(settings: Settings) -> ServerConfig:
        return ServerConfig("kinko.cli.serve:worker_app", factory=True, workers=workers,
                            **_served(settings))

    def reload() -> ServerConfig:  # SIGHUP: the settings as they are now
        return configure(load_settings(config_path=rt.config or "kinko.toml",
                                       flags=rt.flags))

    group = Workers(configure(rt.settings), socks, say, reload)
    with suppress(KeyboardInterrupt):
        group.run()
    if group.failed:
        raise typer.Exit(3)
