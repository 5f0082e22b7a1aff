"""``kinko cosign``: the policy co-signer, a process of its own (``docs/cosign.md``).

``serve`` runs it (its own settings file, ``cosign.toml``; its own key, database and
socket); ``keygen`` makes its key (in the HSM; a key file for development); ``address``
prints the address to make an owner of each hot Safe; ``verify`` checks its hash-chained
log; ``log`` lists its decisions; ``grants`` prints the PostgreSQL rights its role needs on
kinko's database.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import typer

from kinko.cli.app import app
from kinko.cli.listening import host_port, listen_tcp
from kinko.cli.logs import log_to_stderr
from kinko.cli.runtime import SEQ_MAX, emit, format_option, speech
from kinko.domain.cosign import CosignPolicy, parse_cosign_policy
from kinko.domain.messages import msg
from kinko.domain.screening import refusal_said
from kinko.errors import BadInput, ConfigError
from kinko.ports import DigestSigner, SystemClock
from kinko.settings import CosignSettings, load_cosign_settings

cosign_app = typer.Typer(help="The policy co-signer: a second key that signs a Safe "
                              "transaction only when it matches what kinko approved.",
                         no_args_is_help=True)
app.add_typer(cosign_app, name="cosign")

TOKEN_ENV = "KINKO_COSIGN_TOKEN"
PIN_ENV = "KINKO_COSIGN_HSM_PIN"
PASSWORD_ENV = "KINKO_COSIGN_KEY_PASSWORD"
SECRET_ENV = "KINKO_COSIGN_WEBHOOK_SECRET"
CRASH_ENV = "KINKO_COSIGN_CRASH_AT"  # crash tests only: "signed" or "recorded"

log = logging.getLogger("kinko.cosign")


def _config_option() -> Any:
    return typer.Option("cosign.toml", "--config", metavar="PATH",
                        help="The co-signer's settings file (or KINKO_COSIGN_CONFIG).")


def _settings(config: str, **flags: Any) -> CosignSettings:
    settings = load_cosign_settings(config, flags=flags)
    log_to_stderr(settings.log_level)
    return settings


def cosign_policy(settings: CosignSettings) -> CosignPolicy:
    """The co-signer's policy from its settings (its ``[[safes]]`` and ``[cold]``)."""
    try:
        return parse_cosign_policy(settings.tables, settings.registry, settings.path,
                                   chain=settings.chain, nonce_window=settings.nonce_window,
                                   policy_anchor=settings.policy_anchor,
                                   time_lock=timedelta(hours=settings.policy_time_lock_hours))
    except ValueError as exc:
        # the policy's own words (a ValueRefused's catalog message when it gives one)
        raise ConfigError(str(exc), file=settings.path, says=refusal_said(exc)) from None


def _signer(settings: CosignSettings, *, create: bool = False) -> tuple[DigestSigner, str]:
    """The co-signer's key and where it lives (``hsm`` or ``file``)."""
    if settings.signer == "hsm":
        from kinko.chains.hsm import HsmToken

        pin = os.environ.get(PIN_ENV)
        if not pin:
            raise ConfigError(f"the PIN of the co-signer's HSM token is not set: export "
                              f"{PIN_ENV}", says=msg("error.cosign.pin_unset", env=PIN_ENV))
        token = HsmToken.open(settings.hsm_module, settings.hsm_token, pin)
        if create:
            return token.generate_key(settings.hsm_key), "hsm"
        return token.signer(settings.hsm_key), "hsm"
    from kinko.chains.keystore import KeystoreSigner, create_keystore

    password = os.environ.get(PASSWORD_ENV)
    if not password:
        raise ConfigError(f"the password of the co-signer's key file is not set: export "
                          f"{PASSWORD_ENV}",
                          says=msg("error.cosign.password_unset", env=PASSWORD_ENV))
    path = Path(settings.keystore)
    if create:
        create_keystore(path, password, env=PASSWORD_ENV)
    return KeystoreSigner.open(path, password), "file"


def _nem_key(settings: CosignSettings, *, create: bool = False) -> Any:
    """The co-signer's NEM key (chain nem or nem-testnet), from ``nem_key_file``; with
    ``create``, a new one written there first (readable by this user only)."""
    from kinko.chains.nem import NemKey

    if not settings.nem_key_file:
        raise ConfigError("a co-signer of NEM multisig accounts signs with its NEM key: set "
                          "nem_key_file", setting="nem_key_file",
                          says=msg("error.cosign.nem_key_unset"))
    path = Path(settings.nem_key_file)
    if create:
        if path.exists():
            raise ConfigError(f"{path} exists: the co-signer's NEM key is never overwritten",
                              file=str(path),
                              says=msg("error.cosign.nem_key_exists", file=str(path)[:200]))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(os.urandom(32).hex().upper() + "\n")
    return NemKey.from_file(path, settings.chain)


def _is_nem(settings: CosignSettings) -> bool:
    return settings.chain in ("nem", "nem-testnet")


@cosign_app.command("keygen")
def keygen(config: str = _config_option()) -> None:
    """Make the co-signer's key: generated inside the HSM token (never extractable), or —
    for development only — an encrypted key file; on NEM (chain nem), a NEM key file.
    Prints its address."""
    settings = _settings(config)
    if _is_nem(settings):
        key = _nem_key(settings, create=True)
        print(speech()("cli.cosign.nem_key", address=key.address, path=settings.nem_key_file))
        return
    signer, where = _signer(settings, create=True)
    if where == "hsm":
        print(speech()("cli.cosign.key_hsm", address=signer.address, token=settings.hsm_token))
    else:
        print(speech()("cli.cosign.key_file", address=signer.address, path=settings.keystore))


@cosign_app.command("address")
def address(config: str = _config_option()) -> None:
    """The co-signer's address: one of the owners of each Safe it signs for (on NEM, one of
    the cosignatories of each account)."""
    settings = _settings(config)
    if _is_nem(settings):
        print(_nem_key(settings).address)
        return
    signer, _where = _signer(settings)
    print(signer.address)


def _crash_hook() -> Any:
    point = os.environ.get(CRASH_ENV, "")
    if not point:
        return None
    if point not in ("signed", "recorded"):
        raise ConfigError(f"{CRASH_ENV} must be signed or recorded (crash tests only)",
                          says=msg("error.cosign.crash_at", env=CRASH_ENV))

    def crash(at: str) -> None:
        if at == point:
            os.kill(os.getpid(), signal.SIGKILL)

    return crash


def _listening(listen: str) -> tuple[socket.socket, str]:
    if listen.startswith("unix:"):
        path = Path(listen[5:])
        if path.exists():
            if not path.is_socket():
                raise ConfigError(f"{path} exists and is not a socket; refusing to replace it",
                                  says=msg("error.cosign.not_a_socket", file=str(path)[:200]))
            path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket: its own user only (mode 0600)
        try:
            sock.bind(str(path))
        finally:
            os.umask(old)
        sock.listen(128)
        return sock, f"unix:{path}"
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    sock = listen_tcp(host, int(port), setting="listen")  # Nagle's algorithm off
    sock.listen(128)
    return sock, f"http://{host_port(host, sock.getsockname()[1])}"


@cosign_app.command("serve")
def serve(config: str = _config_option(),
          listen: str = typer.Option(None, "--listen", metavar="ADDRESS",
                                     help="HOST:PORT or unix:/PATH (overrides listen).")
          ) -> None:
    """Run the co-signer: answer co-sign requests on its socket, read kinko's database
    read-only, the chain through its own node, record every decision in its own database,
    and alert every refusal."""
    import uvicorn

    from kinko.chains.evm import EvmChain
    from kinko.chains.safe_reader import ChainSafes
    from kinko.cosign.server import create_cosign_app
    from kinko.errors import KinkoError
    from kinko.ports import AlertSink
    from kinko.services.cosign import AlertDelivery, CosignService, WebhookSink
    from kinko.store.cosign_sql import open_cosign_log
    from kinko.store.cosign_view import KinkoAlertSink, SqlKinkoView

    settings = _settings(config, listen=listen)
    token = os.environ.get(TOKEN_ENV, "")
    if len(token) < 32:
        raise ConfigError(f"export {TOKEN_ENV}: the token callers present, at least 32 "
                          "characters (e.g. from `openssl rand -hex 32`)",
                          says=msg("error.cosign.token_unset", env=TOKEN_ENV, least=32))
    nem = _is_nem(settings)
    if nem and not (settings.nis1_url and settings.nem_key_file):
        raise ConfigError("a co-signer of NEM multisig accounts reads them from a NIS1 node and "
                          "signs with its NEM key: set nis1_url and nem_key_file",
                          setting="nis1_url" if not settings.nis1_url else "nem_key_file",
                          says=msg("error.cosign.nem_needs_node"))
    if not nem and not settings.evm_rpc_url:
        raise ConfigError("the co-signer reads Safes from a node: set evm_rpc_url",
                          setting="evm_rpc_url", says=msg("error.cosign.no_node"))
    policy = cosign_policy(settings)
    if not policy.safes:
        log.warning("no [[safes]] in %s: every request will be refused", settings.path)
    if not policy.policy_anchor:
        log.warning("no policy_anchor: the co-signer takes kinko's stored policy versions as "
                    "they are (see `kinko cosign policies`)")
    timeout = settings.request_timeout_ms / 1000
    signer: DigestSigner | None = None
    nem_key: Any = None
    nem_accounts: Any = None
    if nem:
        from kinko.chains.nis1 import connect as connect_nis1

        nem_key = _nem_key(settings)
        nem_accounts = connect_nis1(settings.chain, settings.nis1_url, settings.rpc_attempts)
        where = "file"
        log.warning("the co-signer's NEM key is a key file (%s): keep it on this machine only",
                    settings.nem_key_file)
    else:
        signer, where = _signer(settings)
        if where == "file":
            log.warning("the co-signer's key is a key file (%s): for development only; an "
                        "exchange keeps it in an HSM (signer = \"hsm\")", settings.keystore)
    clock = SystemClock()
    own = open_cosign_log(settings.database_url)
    seq, head = own.stored_head()  # refuses a log whose end was cut or rewritten
    sinks: dict[str, AlertSink] = {}
    if settings.alerts_to_kinko:
        sinks["kinko"] = KinkoAlertSink(settings.kinko_database_url,
                                        timeout_s=max(1, int(timeout)))
    if settings.webhook_url:
        sinks["webhook"] = WebhookSink(settings.webhook_url, os.environ.get(SECRET_ENV, ""),
                                       clock, timeout=timeout)
    chain = None if nem else ChainSafes(
        EvmChain.connect(settings.evm_rpc_url, timeout=timeout),
        expected_chain_id=settings.chain_id, attempts=settings.rpc_attempts)
    service = CosignService(policy=policy, kinko=SqlKinkoView(settings.kinko_database_url,
                                                              timeout_s=max(1, int(timeout))),
                            chain=chain, log=own, signer=signer, clock=clock,
                            sinks=tuple(sinks), fault=_crash_hook(), nem_key=nem_key,
                            nem_chain=nem_accounts)
    try:
        chain_id: int | str = chain.chain_id() if chain is not None else \
            nem_accounts.caip2()
    except KinkoError as exc:
        if isinstance(exc, ConfigError):
            raise
        log.warning("the node does not answer yet (%s): requests are refused until it does",
                    exc.message)
        chain_id = "unknown yet"
    delivery = AlertDelivery(own, sinks, clock, wake=service.alerted)
    delivery.start()
    sock, where_to = _listening(settings.listen)
    print(speech()("cli.cosign.listening", where=where_to, address=service.address,
                   key=where, chain=f"{policy.chain} {chain_id}", safes=str(len(policy.safes)),
                   head=f"{seq}:{head}"), flush=True)
    asgi = create_cosign_app(service, token, max_body=settings.max_body_bytes,
                             timeout=timeout, key_storage=where)
    server = uvicorn.Server(server_config(asgi, timeout))

    def stopped(signum: int, _frame: object) -> None:
        raise SystemExit(0)  # uvicorn hands the signal back once it has shut down

    signal.signal(signal.SIGTERM, stopped)
    try:
        server.run(sockets=[sock])
    finally:
        delivery.stop.set()
        delivery.wake.set()
        if settings.listen.startswith("unix:"):
            Path(settings.listen[5:]).unlink(missing_ok=True)


def server_config(asgi: Any, timeout: float) -> Any:
    """The co-signer's HTTP server: request heads of at most 8 KiB, at most 64 connections
    at once, idle ones closed after 5 s, and a request arrived whole within ``timeout``
    seconds or its connection closed (64 idle or trickling connections would otherwise
    hold every place it has)."""
    from kinko.cli.timely import ServerConfig

    return ServerConfig(asgi, read_seconds=timeout, log_level="warning", access_log=False,
                        lifespan="off", timeout_keep_alive=5, limit_concurrency=64,
                        h11_max_incomplete_event_size=8192, timeout_graceful_shutdown=3)


def _anchor(text: str | None) -> tuple[int, str] | None:
    if not text:
        return None
    seq, colon, digest = text.partition(":")
    if not colon or not seq.isdigit() or len(digest) != 64 or \
            any(c not in "0123456789abcdef" for c in digest.lower()):
        raise BadInput(f"--anchor {text!r}: give RECORD:HASH as `kinko cosign verify` printed "
                       "it (the hash is 64 hex digits)",
                       says=msg("error.cosign.anchor", text=repr(text[:80])))
    return int(seq), digest.lower()


@cosign_app.command("verify")
def verify(config: str = _config_option(),
           anchor: str = typer.Option(None, "--anchor", metavar="RECORD:HASH",
                                      help="A head printed earlier and kept elsewhere (an "
                                           "alert carries one): the log must still hold it."),
           signer: list[str] = typer.Option([], "--signer", metavar="KEY",
                                            help="The co-signer's address (a NEM co-signer: "
                                                 "its public key), as known from outside "
                                                 "the log (the Safe's owners on chain, "
                                                 "`kinko cosign address`): a signing by any "
                                                 "other key is named (repeatable)."),
           fmt: str = format_option()) -> None:
    """Recompute the hash chain of the co-signer's decisions, check every signature it gave
    and its exactly-once table; name the first record altered, deleted or reordered."""
    from kinko.services.cosign import verify_log
    from kinko.store.cosign_sql import open_cosign_log

    settings = _settings(config)
    wanted = _anchor(anchor)
    report = verify_log(open_cosign_log(settings.database_url, create=False), wanted,
                        signer or None)
    seq, head = report.head
    if fmt == "json":
        print(json.dumps({"ok": report.ok, "records": report.records, "signed": report.signed,
                          "signers": report.signers, "head_seq": seq, "head_hash": head,
                          "findings": [asdict(f) for f in report.findings]}, indent=2))
    elif report.ok:
        say = speech()
        print(say("cli.cosign.log_ok", records=str(report.records), signed=str(report.signed),
                  head=f"{seq}:{head}"))
        if report.signers:
            print(say("cli.cosign.signed_by", keys=", ".join(report.signers)))
        if wanted is not None:
            print(say("cli.cosign.anchored", seq=str(wanted[0])))
        print(say("cli.cosign.keep_head"))
    else:
        first = report.findings[0]
        say = speech()
        print(say("cli.cosign.tampered_at", seq=str(first.seq), problem=first.message)
              if first.seq is not None else say("cli.cosign.tampered", problem=first.message))
        emit(["code", "record", "finding"],
             [[f.code, f.seq if f.seq is not None else "", f.message]
              for f in report.findings], "table" if fmt == "table" else fmt)
    if not report.ok:
        raise typer.Exit(1)


@cosign_app.command("log")
def decisions(config: str = _config_option(),
              refused: bool = typer.Option(False, "--refused", help="Refusals only."),
              after: int = typer.Option(0, "--after", min=0, max=SEQ_MAX,
                                        help="Records after this number."),
              limit: int = typer.Option(100, "--limit", min=1, max=100_000,
                                        help="At most this many records "
                                        "(with --refused, this many refusals)."),
              fmt: str = format_option()) -> None:
    """The co-signer's decisions, oldest first."""
    from kinko.store.cosign_sql import open_cosign_log

    settings = _settings(config)
    with open_cosign_log(settings.database_url, create=False).transaction(
            write=False) as tables:
        rows = [r for r in tables.records(after, None if refused else limit)
                if not refused or r.outcome == "refused"][:limit]
    emit(["record", "at", "outcome", "reason", "request", "safe", "nonce", "caller",
          "detail"],
         [[r.seq, r.at.isoformat(timespec="seconds"), r.outcome, r.reason, r.request,
           r.safe, r.nonce if r.safe else "", r.caller, r.detail] for r in rows], fmt)


@cosign_app.command("grants")
def grants(role: str = typer.Option("kinko_cosign", "--role",
                                    help="The co-signer's PostgreSQL role."),
           alerts: bool = typer.Option(True, "--alerts/--no-alerts",
                                       help="INSERT on alerts (alerts_to_kinko).")) -> None:
    """The PostgreSQL rights the co-signer's role needs on kinko's database, and no more."""
    from kinko.store.cosign_view import KINKO_GRANTS

    if not role.replace("_", "").isalnum():
        raise BadInput(f"--role {role!r}: letters, digits and _ only",
                       says=msg("error.cosign.role", role=repr(role[:80])))
    print(f"GRANT SELECT ON {', '.join(KINKO_GRANTS['SELECT'])} TO {role};")
    if alerts:
        print(f"GRANT INSERT ON {', '.join(KINKO_GRANTS['INSERT'])} TO {role};")


@cosign_app.command("policies")
def policies(config: str = _config_option(), fmt: str = format_option()) -> None:
    """kinko's stored policy versions as the co-signer reads them: digest, how each was
    activated, whether it descends from the co-signer's policy_anchor (compare a digest
    with your own copy of that policy before you anchor it), and how it stands now by the
    co-signer's own reckoning (in force, waiting for its time lock until when, vetoed...)."""
    from kinko.domain.cosign import policy_lineage
    from kinko.domain.policy_lock import standings
    from kinko.store.cosign_view import SqlKinkoView

    settings = _settings(config)
    policy = cosign_policy(settings)
    anchor = policy.policy_anchor
    view = SqlKinkoView(settings.kinko_database_url)
    records = view.policies()
    versions, registry = view.versions()
    found = {s.facts.version: s for s in standings(versions, SystemClock().now(), registry,
                                                   min_lock=policy.time_lock)}
    rows = []
    for version, record in sorted(records.items()):
        status = policy_lineage(records, version, anchor) if anchor else "-"
        s = found.get(version)
        state = "-" if s is None else s.state + (
            f" until {s.effective_at.isoformat()}" if s.state == "pending" and s.effective_at
            else "")
        rows.append([version, record.activated_by,
                     record.policy.digest if record.policy else "(unreadable)", status, state])
    emit(["version", "activated by", "digest", "descends from the anchor", "state"], rows,
         fmt)
