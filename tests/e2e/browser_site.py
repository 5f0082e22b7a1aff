"""The fixtures of the dashboard's tests in a real browser (``conftest.py`` registers them): Debian's Chromium driven headless by Playwright, against
``kinko serve`` run as a subprocess on a database the test prepares.

* ``browser`` (session): one Chromium for the worker; each test opens its own contexts
  (cookie jars), so two operators can be signed in side by side.
* ``exchange`` / ``make_exchange``: a small exchange prepared through the ``kinko`` command
  line (in-process, fast): a hot wallet whose encrypted keystore is on disk and whose address
  is funded on the session's anvil, a cold wallet, customers' balances, two approvers with
  Ed25519 key files, a 2-of-2 policy that holds withdrawals above 10 ETH for review, and API
  keys for every role. SQLite by default, the session's PostgreSQL server on request.
* ``serve``: ``kinko serve --port P`` in a subprocess with ``KINKO_EVM_RPC_URL`` pointing at
  anvil and ``KINKO_DATA_DIR`` in the test's folder; ready once ``/login`` answers; stopped
  with SIGTERM.
* ``template`` (session): the exchange is prepared once per worker (encrypting the hot
  keystore is slow) and copied for each test (SQLite) or written afresh into a new database
  on the session's PostgreSQL server; ``shared_exchange`` / ``shared_server`` (module) serve
  a module whose tests each use their own withdrawals.
* ``start_watch``: ``kinko watch`` as a subprocess, returned once it has finished a round.
* ``browse``: ``browse.as_("alice")`` opens a new context signed in through the sign-in form;
  ``browse.shot(page, "overview")`` writes a full-page screenshot to
  ``test-artifacts/screenshots/<test>-<page>.png``; every dialog a page opens is recorded
  in ``browse.dialogs`` (and dismissed).

Playwright's own browser download does not work here: ``make sysdeps`` installs Debian's
``chromium`` when ``/usr/bin/chromium`` is missing. A missing browser fails the tests; they
never skip.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anvilnode
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from eth_account import Account
from fastloop import refuse_in_fast_loop
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from kinko.chains.evm import EvmChain
from kinko.chains.keystore import KeystoreSigner

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
E = 10**18
HOT_PASSWORD = "hot wallet password"
APPROVER_PASSWORD = "approver key password"
ROLES = {"ops": "operator", "alice": "approver", "bob": "approver", "audit": "auditor",
         "root": "admin"}
# the books: customers are owed 12,345.678 ETH; 500 ETH hot (about 4%), the rest cold, and the
# exchange's own 500 ETH cold as the performance guarantee for the hot part
HOT = "500"
COLD = "11845.678"
OWN = "500"
CUSTOMERS = {"C1": "10000", "C2": "2300.678", "C3": "45"}


# ---------------------------------------------------------------------------- browser

@pytest.fixture(scope="module")  # not longer: while Playwright runs, its event loop is the
def browser() -> Iterator[Browser]:  # thread's, and a later test's asyncio.run() would fail
    refuse_in_fast_loop("Chromium")
    assert Path(CHROMIUM).exists(), (
        f"{CHROMIUM} is missing: `make sysdeps` installs Debian's chromium package")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


# ---------------------------------------------------------------------------- exchange

@dataclass
class Exchange:
    """A small exchange on disk (its database, keystore, key files and policy)."""

    root: Path
    database_url: str
    anvil_url: str
    tokens: dict[str, str] = field(default_factory=dict)
    approver_keys: dict[str, Ed25519PrivateKey] = field(default_factory=dict)
    hot_address: str = ""

    @property
    def env(self) -> dict[str, str]:
        return {"KINKO_DATABASE_URL": self.database_url,
                "KINKO_EVM_RPC_URL": self.anvil_url,
                "KINKO_CONFIRMATIONS": "1",
                "KINKO_DATA_DIR": str(self.root / "data"),
                "KINKO_HOT_KEY_PASSWORD": HOT_PASSWORD,
                "KINKO_APPROVER_KEY_PASSWORD": APPROVER_PASSWORD,
                "KINKO_PRICES": "ETH=500000",
                "PYTHONUNBUFFERED": "1"}

    def cli(self, *args: str, ok: bool = True) -> tuple[int, str, str]:
        """``kinko ARGS`` in-process (as an operator types it in the exchange's folder)."""
        from kinko.cli import main

        out, err = io.StringIO(), io.StringIO()
        with pytest.MonkeyPatch.context() as mp:
            for name, value in self.env.items():
                mp.setenv(name, value)
            mp.chdir(self.root)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(list(args))
        if ok:
            assert code == 0, f"kinko {' '.join(args)}: {code}\n{out.getvalue()}{err.getvalue()}"
        return code, out.getvalue(), err.getvalue()

    def subprocess(self, *args: str) -> subprocess.Popen[str]:
        """``kinko ARGS`` as a separate process (a service: serve, watch)."""
        return subprocess.Popen(
            [sys.executable, "-c", "import sys; from kinko.cli import main; sys.exit(main())",
             *args], cwd=self.root, env={**os.environ, **self.env},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def chain(self) -> EvmChain:
        return EvmChain.connect(self.anvil_url)

    def sign(self, approver: str, canonical: str) -> str:
        """What an approver's tool does: Ed25519 over the proposal's canonical text
        (:func:`kinko.domain.approvals.signing_bytes`)."""
        return self.approver_keys[approver].sign(
            b"kinko-proposal-v1\n" + canonical.encode()).hex()

    def steal(self, eth: int = 7, to: str | None = None) -> tuple[str, str]:
        """Someone with a copy of the hot keystore sends coins outside kinko; returns the
        transaction hash and where the coins went."""
        chain = self.chain()
        thief = KeystoreSigner.open(self.root / "keys" / "eth-hot.json", HOT_PASSWORD)
        to = to or str(Account.create().address)
        chain_id, gas_price = chain.fee_params()
        raw = thief.sign_transfer(to=to, value=eth * E, nonce=chain.nonce(thief.address),
                                  gas_price=gas_price, chain_id=chain_id)
        return chain.send_raw(raw), to


def _keys(ex: Exchange) -> None:
    """What lives in files: the hot wallet's keystore, the approvers' key files, the policy."""
    out = ex.cli("wallets", "keygen", "eth-hot", "--asset", "ETH")[1]
    ex.hot_address = re.search(r"0x[0-9a-fA-F]{40}", out).group(0)  # type: ignore[union-attr]
    publics = {name: ex.cli("approvers", "keygen", "--out", f"{name}.key")[1].strip()
               for name in ("alice", "bob")}
    approvers = "".join(f'[[approvers]]\nname = "{n}"\npublic_key = "{k}"\n'
                        for n, k in publics.items())
    (ex.root / "policy.toml").write_text(
        f"version = 1\nquorum = 2\n{approvers}\n[assets.ETH]\nmax_hot_ratio = \"0.05\"\n"
        '[[screening.rules]]\nkind = "max_amount"\nasset = "ETH"\namount = "10"\n'
        'action = "review"\nreason = "large withdrawal"\n')


def _books(ex: Exchange, *, hot_registered: bool) -> None:
    """What lives in the database: wallets, balances, the policy, the API keys."""
    run = ex.cli
    if not hot_registered:
        run("wallets", "add", "eth-hot", "--asset", "ETH", "--tier", "hot", "--address",
            ex.hot_address)
    run("wallets", "add", "eth-cold", "--asset", "ETH", "--tier", "cold", "--address",
        str(Account.create().address))
    run("ledger", "post", "--key", "opening", "--source", "opening balances",
        "--debit", f"wallet:eth-hot {HOT} ETH", "--debit", f"wallet:eth-cold {COLD} ETH",
        *[x for c, v in CUSTOMERS.items() for x in ("--credit", f"customer:{c} {v} ETH")])
    run("ledger", "post", "--key", "guarantee", "--source", "own funds",
        "--debit", f"wallet:eth-cold {OWN} ETH", "--credit", f"own:ETH {OWN} ETH")
    run("policy", "load", "--by", "ops")
    for name, role in ROLES.items():
        ex.tokens[name] = run("apikeys", "create", "--name", name, "--role",
                              role)[1].strip().splitlines()[-1]


def _load_approver_keys(ex: Exchange) -> None:
    for name in ("alice", "bob"):
        ex.approver_keys[name] = load_pem_private_key(  # type: ignore[assignment]
            (ex.root / f"{name}.key").read_bytes(), APPROVER_PASSWORD.encode())


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory, anvil: anvilnode.AnvilNode) -> Exchange:
    """One exchange prepared per worker (keystore encryption is slow); tests get copies."""
    root = tmp_path_factory.mktemp("template")
    ex = Exchange(root, f"sqlite:///{root / 'kinko.db'}", anvil.url)
    ex.cli("init")
    _keys(ex)
    _books(ex, hot_registered=True)
    _load_approver_keys(ex)
    return ex


def copy_exchange(template: Exchange, root: Path, pg: Any = None) -> Exchange:
    """A copy of the template exchange in ``root``: its SQLite file, or its books written
    afresh into a new database on the PostgreSQL server ``pg``. The hot wallet (the same
    address in every copy) is topped up on chain to what the books say it holds, so each
    test has coins to lose and the chain agrees with the ledger (an earlier test's sweep
    took them, or a theft)."""
    shutil.copytree(template.root, root)
    if pg is None:
        ex = Exchange(root, f"sqlite:///{root / 'kinko.db'}", template.anvil_url,
                      dict(template.tokens), hot_address=template.hot_address)
    else:
        for stale in root.glob("kinko.db*"):
            stale.unlink()
        ex = Exchange(root, pg.url(pg.create_database(template=pg.template)),
                      template.anvil_url, hot_address=template.hot_address)
        ex.cli("init")
        _books(ex, hot_registered=False)
    _load_approver_keys(ex)
    chain = ex.chain()
    missing = int(HOT) * E - chain.balances([ex.hot_address])[ex.hot_address]
    if missing > 0:
        chain.fund(ex.hot_address, missing)
    return ex


@pytest.fixture
def make_exchange(tmp_path: Path, template: Exchange,
                  request: pytest.FixtureRequest) -> Callable[..., Exchange]:
    def make(backend: str = "sqlite") -> Exchange:
        pg = request.getfixturevalue("pg") if backend == "postgres" else None
        return copy_exchange(template, tmp_path / f"exchange-{backend}", pg)

    return make


@pytest.fixture
def exchange(make_exchange: Callable[..., Exchange]) -> Exchange:
    return make_exchange("sqlite")


# ---------------------------------------------------------------------------- server

@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]
    exchange: Exchange

    def api(self, method: str, path: str, who: str, body: Any = None,
            headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """The REST API with ``who``'s key (Authorization: Bearer)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method,
            headers={"Authorization": f"Bearer {self.exchange.tokens[who]}",
                     "Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def stop(self) -> None:
        _, err = stop(self.process)
        # a server that crashed or logged a traceback is a finding of the test
        assert "Traceback" not in err, err

    def withdraw(self, wid: str, customer: str, eth: str, to: str | None = None) -> Any:
        status, body = self.api("POST", "/v1/withdrawals", "ops",
                                {"customer": customer, "asset": "ETH", "amount": eth,
                                 "destination": to or str(Account.create().address)},
                                headers={"Idempotency-Key": wid})
        assert status == 201, body
        return body


def start_server(ex: Exchange) -> Server:
    port = anvilnode.free_port()
    proc = ex.subprocess("serve", "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/login", timeout=2) as answer:
                if answer.status == 200:
                    return Server(url, proc, ex)
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise RuntimeError(f"kinko serve did not answer on {url}: "
                               f"{proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.1)


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


@pytest.fixture
def serve() -> Iterator[Callable[[Exchange], Server]]:
    """``serve(exchange)`` starts ``kinko serve`` on it; every server is stopped at the end."""
    servers: list[Server] = []

    def start(ex: Exchange) -> Server:
        server = start_server(ex)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def server(exchange: Exchange, serve: Callable[[Exchange], Server]) -> Server:
    return serve(exchange)


@pytest.fixture(scope="module")
def shared_exchange(template: Exchange, tmp_path_factory: pytest.TempPathFactory) -> Exchange:
    """One exchange for a module's tests that each use their own withdrawals."""
    return copy_exchange(template, tmp_path_factory.mktemp("shared") / "exchange")


@pytest.fixture(scope="module")
def shared_server(shared_exchange: Exchange) -> Iterator[Server]:
    server = start_server(shared_exchange)
    yield server
    server.stop()


def start_watch(ex: Exchange) -> subprocess.Popen[str]:
    """``kinko watch`` following anvil from the next block, once it has finished a round
    (its Prometheus metrics count the polls)."""
    port = anvilnode.free_port()
    head = ex.chain().head()
    watch = ex.subprocess("--watch-interval-ms", "100", "watch", "--from-block",
                          str(head + 1), "--metrics-port", str(port))
    deadline = time.monotonic() + 30
    while True:
        if watch.poll() is not None:
            raise RuntimeError(f"kinko watch stopped: {stop(watch)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                        timeout=2) as answer:
                body = answer.read().decode()
            polls = re.search(r"^kinko_watch_polls(?:_total)?\S* (\d+)", body, re.M)
            if polls and int(polls.group(1)) >= 1:
                return watch
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop(watch)
            raise RuntimeError("kinko watch did not finish a round in 30 s")
        time.sleep(0.05)


# ---------------------------------------------------------------------------- browsing

@dataclass
class Browse:
    browser: Browser
    test: str
    server: Server | None = None
    contexts: list[BrowserContext] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the pages' console errors and throws
    shots: list[Path] = field(default_factory=list)

    def context(self, **options: Any) -> BrowserContext:
        ctx = self.browser.new_context(viewport={"width": 1366, "height": 900},
                                       locale="en-GB", timezone_id="Asia/Tokyo", **options)
        ctx.set_default_timeout(15_000)
        self.contexts.append(ctx)
        return ctx

    def page(self, ctx: BrowserContext | None = None) -> Page:
        page = (ctx or self.context()).new_page()

        def on_dialog(dialog: Dialog) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("console", lambda m: self.errors.append(f"{page.url}: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: {e}"))
        return page

    def as_(self, who: str, next: str = "/") -> Page:
        """A new browser (context) signed in as ``who`` through the sign-in form."""
        assert self.server is not None
        page = self.page()
        page.goto(f"{self.server.url}/login?next={next}")
        page.fill('input[name="api_key"]', self.server.exchange.tokens[who])
        with page.expect_navigation():
            page.click('form[action="/login"] button[type="submit"]')
        assert "/login" not in page.url, page.inner_text("main")
        return page

    def shot(self, page: Page, name: str) -> Path:
        """The page as it stands, for people to look at (no test reads it). Chromium, busy
        on a loaded machine, now and then answers "Unable to capture screenshot": once more
        after the page has settled."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{self.test}-{name}.png"
        try:
            page.screenshot(path=str(path), full_page=True)
        except PlaywrightError as exc:
            if "Unable to capture screenshot" not in str(exc):
                raise
            page.wait_for_load_state()
            page.wait_for_timeout(250)
            page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        return path


@pytest.fixture
def browse(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Browse]:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).removeprefix("test_")
    b = Browse(browser, name)
    if "server" in request.fixturenames:
        b.server = request.getfixturevalue("server")
    yield b
    failed = any(getattr(request.node, f"rep_{when}", None) is not None
                 and getattr(request.node, f"rep_{when}").failed for when in ("setup", "call"))
    for n, ctx in enumerate(b.contexts):
        if failed:  # what the browser showed when the test failed, for whoever looks into it
            for m, page in enumerate(ctx.pages):
                with contextlib.suppress(Exception):
                    b.shot(page, f"failed-{n}-{m}")
        ctx.close()
