"""Settings, declared once.

Every setting is one field of :class:`Settings`, declared with :func:`setting` (its type,
default, help, parser); :data:`REGISTRY` (a :class:`Setting` per field) is read from those
fields. From that one declaration come the ``kinko.toml`` keys, the ``KINKO_<NAME>``
environment variables, the ``--<name>`` flags of ``kinko``, the ``kinko --help`` text and
the table in the README (a test keeps the README in step). Precedence, lowest first: default,
``kinko.toml`` (or the file named by ``--config`` / ``KINKO_CONFIG``), environment, flags::

    >>> load_settings(env={"KINKO_IMPORT_BATCH_SIZE": "100"}, config_path=None).import_batch_size
    100

The defaults need no server: a SQLite file ``kinko.db`` in the working folder.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from kinko.domain.addresses import canonical_address, canonical_token, chain_formats
from kinko.domain.fsa import Submitter
from kinko.domain.messages import LANGS, Message, credentials_masked, msg, value_shown
from kinko.domain.money import Asset, AssetRegistry
from kinko.domain.nem import mosaic_id
from kinko.domain.screening import refusal_said
from kinko.errors import BadInput, ConfigError, KinkoError, ValueRefused
from kinko.safeload import loads_toml, read_text, whole_number

__all__ = [
    "COSIGN_REGISTRY",
    "REGISTRY",
    "CosignSetting",
    "CosignSettings",
    "Setting",
    "Settings",
    "language",
    "load_cosign_settings",
    "load_settings",
    "registry_of",
    "setting",
    "settings_markdown",
    "shown_default",
]

DEFAULT_CONFIG = "kinko.toml"


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    parser: Callable[[Any], Any]
    metavar: str = "TEXT"

    @property
    def env(self) -> str:
        return "KINKO_" + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _integer(value: Any, says: Message) -> int:
    """``value`` (an int, or text of one) as an int; refused with ``says`` when it is none
    (in Python's own English words, as the error said before it said anything else)."""
    if isinstance(value, int):
        return value
    text = str(value).strip()
    # ASCII digits only, as every number kinko reads (int() also takes "１２" and "1_000")
    if not text.removeprefix("-").isascii() or not text.removeprefix("-").isdigit():
        raise ValueRefused(f"invalid literal for int() with base 10: {text[:40]!r}",
                           says=says)
    return int(text)


def _percent(value: Any) -> int:
    number = _positive_int(value)
    if number > 100:
        raise ValueRefused("expected a whole percentage from 1 to 100",
                           says=msg("error.settings.percent"))
    return number


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueRefused("expected non-empty text", says=msg("error.settings.empty_text"))
    return value.strip()


def _optional_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueRefused("expected text", says=msg("error.settings.text"))
    return value.strip()


def _networks(value: Any) -> str:
    """Addresses and networks (``10.0.0.5``, ``10.0.0.0/24``, ``::1``), or ``*``, separated
    by commas: written back joined by commas."""
    if not isinstance(value, str):
        raise ValueRefused("expected addresses or networks separated by commas",
                           says=msg("error.settings.networks"))
    parts = [p.strip() for p in value.replace(" ", ",").split(",") if p.strip()]
    for part in parts:
        if part != "*":
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueRefused(f"{part!r} is not an IP address or network",
                                   says=msg("error.settings.not_network",
                                            part=value_shown(part))) from None
    return ",".join(parts)


def _positive_int(value: Any) -> int:
    says = msg("error.settings.positive_int")
    if isinstance(value, bool):
        raise ValueRefused("expected a positive whole number", says=says)
    number = _integer(value, says)
    if number <= 0:
        raise ValueRefused("expected a positive whole number", says=says)
    return number


# the longest time a setting may name, in its unit: ten years (a time past what a date or a
# timer holds overflowed where kinko computed with it, long after the setting was read)
TEN_YEARS_HOURS = 10 * 8760
TEN_YEARS_S = TEN_YEARS_HOURS * 3600
TEN_YEARS_MS = TEN_YEARS_S * 1000
# PostgreSQL's statement_timeout, in milliseconds, is a 32-bit integer
STATEMENT_TIMEOUT_MS_MAX = 2**31 - 1


def _positive_at_most(most: int) -> Callable[[Any], int]:
    """A positive whole number no larger than ``most``."""
    def parse(value: Any) -> int:
        number = _positive_int(value)
        if number > most:
            raise ValueRefused(f"expected a positive whole number, at most {most:,}",
                               says=msg("error.settings.at_most", most=f"{most:,}"))
        return number
    return parse


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).strip().upper()
        if text not in choices:
            raise ValueRefused(f"expected one of {', '.join(choices)}",
                               says=msg("error.settings.one_of", choices=", ".join(choices)))
        return text

    return parse


def _lower_choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise ValueRefused(f"expected one of {', '.join(choices)}",
                               says=msg("error.settings.one_of", choices=", ".join(choices)))
        return text

    return parse


def _lang(value: Any) -> str:
    """``en`` or ``ja``; empty: the terminal's locale decides (:func:`language`)."""
    text = str(value).strip().lower()
    if text not in ("", *LANGS):
        raise ValueRefused(f"expected {' or '.join(LANGS)} (empty: the terminal's locale)",
                           says=msg("error.settings.lang"))
    return text


def language(lang: str, env: Mapping[str, str] | None = None) -> str:
    """The language the command line speaks: ``lang`` when set, else the locale's (the first
    of ``LC_ALL``, ``LC_MESSAGES`` and ``LANG`` that is set, as gettext reads them): ``ja``
    for a Japanese locale (``ja_JP.UTF-8``), ``en`` for any other."""
    if lang in LANGS:
        return lang
    env = os.environ if env is None else env
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if env.get(name):
            return "ja" if env[name].lower().startswith("ja") else "en"
    return "en"


def _assets(value: Any) -> tuple[Asset, ...]:
    """``[assets.USDT] chain = "ethereum", decimals = 6, token = "0x…"`` or
    ``USDT:ethereum:6[:0xCONTRACT],...``."""
    out = []
    if isinstance(value, Mapping):
        for symbol, spec in value.items():
            if not isinstance(spec, Mapping) or set(spec) - {"chain", "decimals", "token"}:
                raise ValueRefused(f"[assets.{symbol}] takes 'chain', 'decimals' and optionally "
                                   "'token' (the contract address)",
                                   says=msg("error.settings.asset_table",
                                            symbol=str(symbol)[:80]))
            try:
                token = str(spec["token"]) if spec.get("token") else None
                out.append(Asset(str(symbol), str(spec["chain"]), _decimals(spec["decimals"]),
                                 _token(token, str(spec["chain"]))))
            except KeyError as missing:
                raise ValueRefused(f"[assets.{symbol}] is missing {missing}",
                                   says=msg("error.settings.asset_missing",
                                            symbol=str(symbol)[:80],
                                            key=str(missing)[:80])) from None
        return _checked_assets(out)
    for item in str(value).split(","):
        if not item.strip():
            continue
        parts = item.strip().split(":", 3)  # a NEM mosaic token is namespace:name
        if len(parts) not in (3, 4):
            raise ValueRefused(f"{item.strip()!r} should be SYMBOL:CHAIN:DECIMALS[:TOKEN]",
                               says=msg("error.settings.asset_spec",
                                        item=value_shown(item.strip())))
        token = _token(parts[3], parts[1]) if len(parts) == 4 else None
        out.append(Asset(parts[0], parts[1], _decimals(parts[2]), token))
    return _checked_assets(out)


def _checked_assets(assets: list[Asset]) -> tuple[Asset, ...]:
    """Each asset on a chain kinko knows (a misspelt one would be recorded in the ledger
    for good), each symbol once (the last would silently win)."""
    seen: set[str] = set()
    for asset in assets:
        try:
            chain_formats(asset.chain)
        except BadInput as exc:
            raise ValueRefused(f"{asset.symbol}: {exc.message}", says=msg(
                "error.settings.asset_chain", symbol=asset.symbol[:80],
                problem=exc.said())) from None
        if asset.symbol in seen:
            raise ValueRefused(f"asset {asset.symbol} is named twice",
                               says=msg("error.settings.asset_twice",
                                        symbol=asset.symbol[:80]))
        seen.add(asset.symbol)
    return tuple(assets)


def _token(value: str | None, chain: str) -> str | None:
    if value is None:
        return None
    try:
        return canonical_token(value, chain)
    except BadInput as exc:
        raise ValueRefused(f"token: {exc.message}",
                           says=msg("error.settings.token", problem=exc.said())) from None


def _chains(value: Any) -> tuple[tuple[str, str, str, tuple[str, ...]], ...]:
    """``[chains.NAME] adapter = "nis1", url = "http://…", accounts = ["…"]`` tables, or
    ``NAME=ADAPTER:URL[#ACCOUNT+ACCOUNT...],...``: (name, adapter kind, URL, accounts) per
    chain; ``accounts`` are hot accounts to watch beyond the registered wallets' (canonical)."""
    items: list[tuple[str, Any, Any, Any]] = []
    if isinstance(value, Mapping):
        for name, spec in value.items():
            if not isinstance(spec, Mapping) or set(spec) - {"adapter", "url", "accounts"} \
                    or "adapter" not in spec or "url" not in spec:
                raise ValueRefused(f"[chains.{name}] takes 'adapter' (e.g. \"evm\" or "
                                   "\"nis1\"), 'url' and optionally 'accounts'",
                                   says=msg("error.settings.chain_table", name=str(name)[:80]))
            accounts = spec.get("accounts", [])
            if not isinstance(accounts, list):
                raise ValueRefused(f"[chains.{name}] accounts is a list of addresses",
                                   says=msg("error.settings.chain_accounts",
                                            name=str(name)[:80]))
            items.append((str(name), spec["adapter"], spec["url"], accounts))
    else:
        for item in str(value).split(","):
            if not item.strip():
                continue
            name, eq, rest = item.strip().partition("=")
            adapter, colon, url = rest.partition(":")
            if not eq or not colon:
                raise ValueRefused(f"{item.strip()!r} should be NAME=ADAPTER:URL",
                                   says=msg("error.settings.chain_spec",
                                            item=value_shown(item.strip())))
            url, _, listed = url.partition("#")  # a node's URL needs no fragment
            items.append((name, adapter, url, [a for a in listed.split("+") if a.strip()]))
    out = []
    for name, adapter, url, accounts in items:
        if not str(name).strip() or not str(adapter).strip() or not str(url).strip():
            raise ValueRefused(f"chain {name!r}: a name, an adapter kind and a URL are needed",
                               says=msg("error.settings.chain_parts", name=value_shown(name)))
        found = []
        for account in accounts:
            try:
                found.append(canonical_address(str(account).strip(), str(name).strip()))
            except BadInput as exc:
                raise ValueRefused(f"chain {name}: account {str(account)[:80]!r}: "
                                   f"{exc.message}",
                                   says=msg("error.settings.chain_account", name=str(name)[:80],
                                            account=value_shown(str(account)[:80]),
                                            problem=exc.said())) from None
        out.append((str(name).strip(), str(adapter).strip().lower(), str(url).strip(),
                    tuple(dict.fromkeys(found))))
    if len({n for n, _, _, _ in out}) != len(out):
        raise ValueRefused("a chain is named twice", says=msg("error.settings.chain_twice"))
    return tuple(out)


def _keys(value: Any) -> tuple[tuple[str, str, str], ...]:
    """``NAME=hsm[:LABEL]`` or ``NAME=file[:PATH]``, comma-separated (or a table of such
    texts): where the key called NAME lives."""
    pairs = (list(value.items()) if isinstance(value, Mapping)
             else [item.strip().partition("=")[::2] for item in str(value).split(",")
                   if item.strip()])
    out = []
    for name, where in pairs:
        store, _, ref = str(where).strip().partition(":")
        if not str(name).strip() or store not in ("hsm", "file"):
            raise ValueRefused(f"{name}={where}: give NAME=hsm[:KEY LABEL] or NAME=file[:PATH]",
                               says=msg("error.settings.key_spec",
                                        spec=f"{str(name)[:80]}={str(where)[:120]}"))
        out.append((str(name).strip(), store, ref.strip()))
    return tuple(out)
def _mosaics(value: Any) -> tuple[str, ...]:
    """``ns:name,...`` (or a TOML list): NEM mosaic ids, canonical."""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    try:
        return tuple(dict.fromkeys(mosaic_id(str(i)) for i in items if str(i).strip()))
    except BadInput as exc:
        raise ValueRefused(exc.message, says=exc.said()) from None


_EXCHANGE_FIELDS = ("name", "registration", "representative", "address", "addressee")


def _exchange(value: Any) -> Submitter:
    """``[exchange]`` name = "…", registration = "…", … or ``name=…;registration=…``."""
    if isinstance(value, Submitter):
        return value
    if isinstance(value, Mapping):
        fields = dict(value)
    else:
        fields = {}
        for item in str(value).split(";"):
            if not item.strip():
                continue
            key, sep, text = item.partition("=")
            if not sep:
                raise ValueRefused(f"{item.strip()!r} should be key=value",
                                   says=msg("error.settings.exchange_pair",
                                            item=value_shown(item.strip())))
            fields[key.strip()] = text
    unknown = sorted(set(fields) - set(_EXCHANGE_FIELDS))
    if unknown:
        raise ValueRefused(f"[exchange] has no {', '.join(unknown)} (it takes "
                           f"{', '.join(_EXCHANGE_FIELDS)})",
                           says=msg("error.settings.exchange_unknown",
                                    unknown=", ".join(str(k)[:80] for k in unknown)[:200],
                                    fields=", ".join(_EXCHANGE_FIELDS)))
    out = {}
    for key, text in fields.items():
        if not isinstance(text, str):
            raise ValueRefused(f"[exchange] {key} must be text",
                               says=msg("error.settings.exchange_text", key=str(key)[:80]))
        if len(text) > 200:
            raise ValueRefused(f"[exchange] {key} is longer than 200 characters",
                               says=msg("error.field_too_long", field=f"[exchange] {key}",
                                        limit=200))
        out[key] = text.strip()
    if not out.get("addressee"):
        out.pop("addressee", None)
    return Submitter(**out)


def _decimals(value: Any) -> int:
    number = None if isinstance(value, bool) else whole_number(str(value), digits=3)
    if number is None:
        raise ValueRefused(f"decimals must be a whole number, not {value!r}",
                           says=msg("error.settings.decimals", value=value_shown(value)))
    return number


def setting(default: Any, help: str, parser: Callable[[Any], Any],
            metavar: str = "TEXT") -> Any:
    """Declare a setting as a field of :class:`Settings` (or :class:`CosignSettings`): its
    type is the field's, its default, help, parser and metavar go into the registry
    (:func:`registry_of`), so a setting is written once."""
    return field(default=default, metadata={"setting": {"help": help, "parser": parser,
                                                        "metavar": metavar}})


def registry_of(settings: type[Any], kind: type[Setting] = Setting) -> tuple[Setting, ...]:
    """The :class:`Setting` of every field of ``settings`` declared with :func:`setting`,
    in the order of the fields."""
    return tuple(kind(f.name, f.default, **f.metadata["setting"])
                 for f in fields(settings) if "setting" in f.metadata)


@dataclass(frozen=True)
class Settings:
    """The effective settings; ``sources`` tells where each value came from. Every field
    but ``sources`` is a setting, declared here once (:func:`setting`): :data:`REGISTRY`
    is read from these fields."""

    database_url: str = setting(
        "sqlite:///kinko.db",
        "Where the ledger lives: sqlite:///PATH (default, no server) or "
        "postgresql://USER:PASSWORD@HOST/DB.",
        _text,
        "URL")
    sqlite_synchronous: str = setting(
        "FULL",
        "SQLite durability: FULL syncs every commit to disk (survives power loss); NORMAL "
        "is faster and survives a crash of kinko but not of the machine.",
        _choice("FULL", "NORMAL"),
        "FULL|NORMAL")
    database_pool: int = setting(
        16,
        "Database connections a kinko process keeps open (a few more are opened, and closed "
        "again, when a burst needs them): about the requests a server handles at once. On "
        "PostgreSQL, this (plus one per `kinko serve` worker, its event loop's) times the "
        "processes (serve --workers, watch, co-signer) must stay below the server's "
        "max_connections.",
        _positive_int,
        "N")
    import_batch_size: int = setting(
        5000,
        "Rows per journal entry (and per transaction) in `kinko customers import`; a crashed "
        "import resumes from the last committed batch when rerun with the same size.",
        _positive_int,
        "ROWS")
    assets: tuple[Asset, ...] = setting(
        (),
        "Assets besides BTC, ETH, JPY and XEM: SYMBOL:CHAIN:DECIMALS[:TOKEN],... (or "
        "[assets.SYMBOL] tables with chain, decimals and, for an ERC-20, token in "
        "kinko.toml).",
        _assets,
        "LIST")
    log_level: str = setting(
        "WARNING",
        "Log level: DEBUG, INFO, WARNING or ERROR.",
        _choice("DEBUG", "INFO", "WARNING", "ERROR"),
        "LEVEL")
    evm_rpc_url: str = setting(
        "",
        "Ethereum JSON-RPC endpoint (http://...). Empty: no node; only `kinko demo` runs "
        "its own in-process chain.",
        _optional_text,
        "URL")
    chains: tuple[tuple[str, str, str, tuple[str, ...]], ...] = setting(
        (),
        "The chains kinko reaches, each with its adapter kind and node: "
        "NAME=ADAPTER:URL,... (or [chains.NAME] tables with adapter and url); adapters: "
        "evm, nis1 (a NEM node). A NIS1 node lists unconfirmed transactions per account: "
        "the registered wallets' are watched, and more hot accounts may follow the URL "
        "(nem=nis1:http://node:7890#ACCOUNT+ACCOUNT, or accounts = [...] in the table). "
        "The first chain is the one withdrawals, sweeps and the watch run on. "
        "evm_rpc_url is the same as ethereum=evm:URL.",
        _chains,
        "LIST")
    rpc_attempts: int = setting(
        5,
        "Attempts per node request before giving up (exponential backoff between them).",
        _positive_int,
        "N")
    confirmations: int = setting(
        12,
        "Blocks on top of a transaction before kinko treats it as final (deposits, sweeps).",
        _positive_int,
        "BLOCKS")
    hot_keystore_dir: str = setting(
        "keys",
        "Folder of the hot wallets' encrypted keystores, one WALLET.json each; the password "
        "comes from KINKO_HOT_KEY_PASSWORD, never from a file.",
        _text,
        "PATH")
    keys: tuple[tuple[str, str, str], ...] = setting(
        (),
        "Where each signing key lives, by name (a key wallet's name, a multisig wallet's "
        "name for its operations key, the relayer's name): NAME=hsm[:KEY LABEL] or "
        "NAME=file[:PATH],... A key not named is in the HSM (label NAME) when hsm_module "
        "is set, else in hot_keystore_dir/NAME.json.",
        _keys,
        "LIST")
    relayer_key: str = setting(
        "relayer",
        "The name of the key that sends multisig (Safe) transactions and pays their gas; "
        "it owns nothing. Register its address as a hot wallet of the chain's coin to "
        "have its fees booked.",
        _text,
        "NAME")
    hsm_module: str = setting(
        "",
        "The PKCS#11 library of the HSM that holds the signing keys (SoftHSM2: "
        "/usr/lib/softhsm/libsofthsm2.so). Empty: no HSM. The user PIN comes from "
        "KINKO_HSM_PIN, never from a file.",
        _optional_text,
        "PATH")
    hsm_token: str = setting(
        "",
        "The label of the HSM token that holds the keys (one key per wallet, labelled "
        "with the wallet's name).",
        _optional_text,
        "LABEL")
    policy_file: str = setting(
        "policy.toml",
        "The custody policy file (limits, approvers, quorum) that `kinko policy load` reads "
        "by default.",
        _text,
        "PATH")
    policy_time_lock_hours: int = setting(
        48,
        "How long a custody policy version that loosens anything (a higher limit, a new "
        "destination or approver, a lower quorum...) waits after its quorum before it "
        "takes effect; any one approver can veto it meanwhile. A version that only "
        "tightens takes effect at once.",
        _positive_at_most(TEN_YEARS_HOURS),
        "HOURS")
    prices: str = setting(
        "",
        "Reference prices in JPY per whole unit: ASSET=JPY,... (e.g. ETH=500000,XEM=88.549).",
        _optional_text,
        "LIST")
    prices_file: str = setting(
        "",
        "CSV file with asset,jpy columns; used instead of `prices` when set.",
        _optional_text,
        "PATH")
    watch_interval_ms: int = setting(
        1000,
        "How long `kinko watch` waits between rounds once it has caught up with the head.",
        _positive_at_most(TEN_YEARS_MS),
        "MS")
    watch_silence_seconds: int = setting(
        60,
        "How long the watch may go without finishing a round before the dashboard and "
        "`kinko check` raise the alarm (a silent watch sees no theft).",
        _positive_at_most(TEN_YEARS_S),
        "SECONDS")
    race_max_gwei: int = setting(
        500,
        "The most gas price, in gwei, an emergency sweep racing a thief may bid (a "
        "replacement outbids his pending transaction): one above it is not sent, and the "
        "incident's timeline says so.",
        _positive_int,
        "GWEI")
    race_max_fee_percent: int = setting(
        10,
        "The most an emergency sweep of the chain's coin may pay in fees, as a percentage "
        "of the value it sweeps: a race dearer than that is not sent, and the incident's "
        "timeline says so.",
        _percent,
        "PERCENT")
    watch_webhook_url: str = setting(
        "",
        "Where `kinko watch` POSTs every alert (JSON, HMAC-SHA256 signed with the secret "
        "in KINKO_WATCH_WEBHOOK_SECRET, never from a file). Empty: no webhook.",
        _optional_text,
        "URL")
    nem_tag_mosaics: tuple[str, ...] = setting(
        (),
        "NEM mosaics that mark tainted accounts (namespace:name,...; such as the mosaic "
        "the NEM Foundation sent in 2018 to every account that received the stolen "
        "XEM): a NEM deposit from an account that holds any of them is frozen and "
        "alarms, like one from a listed address.",
        _mosaics,
        "LIST")
    list_invalid_addresses: str = setting(
        "refuse",
        "What loading a deny list or tags does with an entry that is no valid address of "
        "its currency (or of any format kinko knows, for a list without currencies): "
        "refuse (the whole list is refused, every such entry named by file:line) or keep "
        "(each is kept exactly as written, matches only that exact text, and is "
        "reported).",
        _lower_choice("refuse", "keep"),
        "refuse|keep")
    data_dir: str = setting(
        "kinko-data",
        "Folder where kinko writes what the dashboard starts (traces, reports) and where "
        "it finds what it indexes.",
        _text,
        "PATH")
    exchange: Submitter = setting(
        Submitter(),
        "Who submits the FSA report, for its cover: an [exchange] table with name, "
        "registration (登録番号), representative, address and addressee (fsa: 金融庁長官, "
        "kanto: 関東財務局長, or the title as written); as an environment variable or "
        "flag, key=value pairs separated by ';'. A field left out is a blank line on the "
        "cover, to fill in by hand.",
        _exchange,
        "TABLE")
    max_request_bytes: int = setting(
        1048576,
        "Largest request body `kinko serve` reads (API and dashboard forms); a larger "
        "one is answered 413 before anything parses it.",
        _positive_int,
        "BYTES")
    request_read_seconds: int = setting(
        30,
        "Seconds a client of `kinko serve` has to send a whole request, head and body, "
        "from its connection's opening or the last answer on it; a later one is "
        "disconnected, so idle or trickling connections cannot hold the server's sockets.",
        _positive_at_most(TEN_YEARS_S),
        "SECONDS")
    trusted_proxies: str = setting(
        "127.0.0.1,::1",
        "Addresses or networks (comma-separated; * for any) of the reverse proxies whose "
        "X-Forwarded-For and X-Forwarded-Proto `kinko serve` believes: a request from one "
        "of them is counted (wrong keys), audited and logged under the client address the "
        "proxy names. Behind a proxy on another host, name it here, or every client "
        "shares the proxy's address (and its lockout after wrong keys). Empty: none.",
        _networks,
        "ADDRESSES")
    cosigner_url: str = setting(
        "",
        "The policy co-signer kinko asks for a Safe's second signature: http://HOST:PORT "
        "or unix:/PATH (`kinko cosign serve`; its token from KINKO_COSIGN_TOKEN, never "
        "from a file). Empty: none.",
        _optional_text,
        "URL")
    lang: str = setting(
        "",
        "The language the command line speaks (its messages, errors and table headings; "
        "--format json and csv keep their English keys): ja or en. Empty: the terminal's "
        "locale decides (LC_ALL, LC_MESSAGES or LANG; ja_JP... is ja, anything else en), as "
        "command-line tools choose their language, so an operator's Japanese terminal reads "
        "Japanese and scripts and CI under the C locale read stable English; set it in "
        "kinko.toml to have every terminal of the exchange speak the same. Also the "
        "default of `kinko watch --lang` and, when set, of the --lang of the documents kinko "
        "writes (`kinko report fsa` and `report custody`, `kinko incidents show`, the flow "
        "graph of `kinko trace run`), which are otherwise in Japanese.",
        _lang,
        "ja|en")
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def registry(self) -> AssetRegistry:
        return AssetRegistry.default(self.assets)


REGISTRY: tuple[Setting, ...] = registry_of(Settings)
BY_NAME = {s.name: s for s in REGISTRY}


def _parse(setting: Setting, value: Any, where: str) -> Any:
    try:
        return setting.parser(value)
    except (ValueError, TypeError, KinkoError) as exc:
        reason = exc.message if isinstance(exc, KinkoError) else str(exc)
        raise ConfigError(f"{where}: {setting.name} = {credentials_masked(repr(value))}: "
                          f"{credentials_masked(reason)}",
                          says=msg("error.settings.value", where=where[:200],
                                   setting=setting.name, value=value_shown(value),
                                   problem=refusal_said(exc)),
                          setting=setting.name) from None


def _read_file(path: Path) -> dict[str, Any]:
    data = loads_toml(read_text(path, error=ConfigError), str(path), error=ConfigError)
    unknown = sorted(set(data) - set(BY_NAME))
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(BY_NAME)})",
            says=msg("error.settings.unknown_in_file", file=str(path)[:200],
                     unknown=", ".join(u[:80] for u in unknown)[:200],
                     known=", ".join(BY_NAME)),
            file=str(path),
        )
    return data


def load_settings(
    *,
    config_path: str | Path | None = DEFAULT_CONFIG,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """Resolve every setting: default < config file < ``KINKO_*`` environment < flags.

    ``config_path`` defaults to ``kinko.toml`` in the working folder, read only if it exists;
    ``KINKO_CONFIG`` names another file, which then must exist.
    """
    env = os.environ if env is None else env
    flags = flags or {}
    values: dict[str, Any] = {s.name: s.default for s in REGISTRY}
    sources = {s.name: "default" for s in REGISTRY}
    explicit = env.get("KINKO_CONFIG")
    path = Path(explicit) if explicit else (Path(config_path) if config_path else None)
    if path is not None and (explicit or path.exists() or str(config_path) != DEFAULT_CONFIG):
        for name, raw in _read_file(path).items():
            values[name] = _parse(BY_NAME[name], raw, str(path))
            sources[name] = str(path)
    for setting in REGISTRY:
        if setting.env in env:
            values[setting.name] = _parse(setting, env[setting.env], setting.env)
            sources[setting.name] = setting.env
    for name, raw in flags.items():
        if raw is None:
            continue
        if name not in BY_NAME:
            raise ConfigError(f"unknown setting {name!r}",
                              says=msg("error.settings.unknown", name=value_shown(name)))
        values[name] = _parse(BY_NAME[name], raw, BY_NAME[name].flag)
        sources[name] = BY_NAME[name].flag
    settings = Settings(**values, sources=sources)
    AssetRegistry.default(settings.assets)  # validates symbols and decimals once more
    return settings


def shown_default(s: Setting, none: str) -> str:
    """A setting's default as the README's table and ``kinko --help`` show it: ``none`` for
    a setting whose default holds nothing (an empty text or list, an ``[exchange]`` table
    with no field set), else the value as it is written."""
    if s.default in ((), "") or isinstance(s.default, Submitter):
        return none
    return str(s.default)


def settings_markdown(registry: tuple[Setting, ...] | None = None,
                      file: str = "kinko.toml") -> str:
    """The settings table of the README (or, for :data:`COSIGN_REGISTRY`, of
    ``docs/cosign.md``: the co-signer takes its settings from its file and environment
    only), generated from the registry."""
    flags = registry is None
    lines = [f"| setting ({file}) | environment |" + (" flag |" if flags else "")
             + " default | meaning |", "|---|---|" + ("---|" if flags else "") + "---|---|"]
    for s in registry if registry is not None else REGISTRY:
        default = shown_default(s, "(none)")
        flag = f" `{s.flag}` |" if flags else ""
        lines.append(f"| `{s.name}` | `{s.env}` |{flag} `{default}` | {s.help} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------- the co-signer's own


@dataclass(frozen=True)
class CosignSetting(Setting):
    """A setting of ``kinko cosign``: its own file (``cosign.toml``) and ``KINKO_COSIGN_*``
    environment, never kinko's."""

    @property
    def env(self) -> str:
        return "KINKO_COSIGN_" + self.name.upper()


def _whole(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueRefused("expected a whole number", says=msg("error.settings.whole"))
    number = _integer(value, msg("error.settings.whole"))
    if number < 0:
        raise ValueRefused("expected a whole number, 0 or more",
                           says=msg("error.settings.not_negative"))
    return number


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueRefused("expected true or false", says=msg("error.settings.flag"))


def _listen(value: Any) -> str:
    text = _text(value)
    if text.startswith("unix:"):
        if not text[5:].startswith("/"):
            raise ValueRefused("a Unix socket is unix:/ABSOLUTE/PATH",
                               says=msg("error.settings.unix_socket"))
        return text
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueRefused("expected HOST:PORT (port 0: any free one) or unix:/PATH",
                           says=msg("error.settings.listen"))
    return text


COSIGN_TABLES = ("safes", "cold")  # structured: the Safes with their limits, cold addresses


@dataclass(frozen=True)
class CosignSettings:
    """The co-signer's effective settings; ``tables`` holds its ``[[safes]]`` and
    ``[cold]`` as read (checked by :func:`kinko.domain.cosign.parse_cosign_policy`)."""

    listen: str = setting(
        "127.0.0.1:8765",
        "Where `kinko cosign serve` listens: HOST:PORT (keep it on loopback; from "
        "another host, through a TLS tunnel) or unix:/PATH (a socket only its own "
        "user may open).",
        _listen,
        "ADDRESS")
    database_url: str = setting(
        "sqlite:///cosign.db",
        "The co-signer's own database: its decisions, what it signed, its alert "
        "outbox. Never kinko's.",
        _text,
        "URL")
    kinko_database_url: str = setting(
        "sqlite:///kinko.db",
        "kinko's database, read to check requests (read-only; on PostgreSQL a role "
        "with the grants in this page, and INSERT on alerts).",
        _text,
        "URL")
    alerts_to_kinko: bool = setting(
        True,
        "Insert every refusal into kinko's alerts table (kind cosign_refused), where "
        "the dashboard and `kinko alerts` show it.",
        _flag,
        "true|false")
    webhook_url: str = setting(
        "",
        "Where the co-signer itself POSTs every refusal (JSON, HMAC-SHA256 signed "
        "like the watch's, with the secret in KINKO_COSIGN_WEBHOOK_SECRET). Empty: "
        "none.",
        _optional_text,
        "URL")
    evm_rpc_url: str = setting(
        "",
        "The Ethereum node the co-signer reads Safes from (its own, ideally not "
        "kinko's).",
        _text,
        "URL")
    chain: str = setting(
        "ethereum",
        "The chain, as kinko's assets name it, whose Safes it signs for; nem or "
        "nem-testnet: the NEM multisig accounts it cosigns for ([[safes]] lists "
        "them), read through nis1_url, with its NEM key in nem_key_file.",
        _text,
        "NAME")
    nis1_url: str = setting(
        "",
        "The NIS1 node the co-signer reads NEM multisig accounts from (its own, "
        "ideally not kinko's), when chain is nem or nem-testnet.",
        _optional_text,
        "URL")
    nem_key_file: str = setting(
        "",
        "Its NEM key file when chain is nem or nem-testnet: the private key, 64 hex "
        "digits, as NEM wallets export it. NEM signs with Ed25519 over Keccak-512, "
        "which no PKCS#11 token offers: keep the file on the co-signer's own "
        "machine, readable by its user only.",
        _optional_text,
        "PATH")
    chain_id: int = setting(
        0,
        "The chain id it signs for; 0: the node's, read when it starts.",
        _whole,
        "ID")
    signer: str = setting(
        "hsm",
        "Where its key lives: hsm (a PKCS#11 token: hsm_module, hsm_token, hsm_key; "
        "PIN from KINKO_COSIGN_HSM_PIN) or keystore (a key file, for development "
        "only; password from KINKO_COSIGN_KEY_PASSWORD).",
        _lower_choice("hsm", "keystore"),
        "hsm|keystore")
    hsm_module: str = setting(
        "",
        "The PKCS#11 library of the co-signer's HSM (SoftHSM2: "
        "/usr/lib/softhsm/libsofthsm2.so).",
        _optional_text,
        "PATH")
    hsm_token: str = setting(
        "",
        "The label of the token holding its key.",
        _optional_text,
        "LABEL")
    hsm_key: str = setting(
        "kinko-cosigner",
        "The label of its key in the token.",
        _text,
        "LABEL")
    keystore: str = setting(
        "cosign-key.json",
        "Its key file when signer = keystore (development only).",
        _text,
        "PATH")
    policy_anchor: str = setting(
        "",
        "The digest of a custody policy version the co-signer trusts (the first, "
        "say; `kinko cosign policies` lists them): every quorum it counts must come "
        "from a version descended from it through quorum-approved policy changes. "
        "Empty: kinko's stored policy versions are taken as they are.",
        _optional_text,
        "DIGEST")
    policy_time_lock_hours: int = setting(
        48,
        "The shortest time lock it grants a custody policy version that loosens "
        "anything: it counts a version in force only this long after its quorum "
        "(or longer, if kinko recorded a longer lock), whatever kinko's database "
        "says.",
        _positive_at_most(TEN_YEARS_HOURS),
        "HOURS")
    nonce_window: int = setting(
        16,
        "How far ahead of a Safe's nonce it co-signs (several withdrawals queued "
        "before the first is mined).",
        _positive_int,
        "N")
    max_body_bytes: int = setting(
        16_384,
        "The largest request it reads.",
        _positive_int,
        "BYTES")
    request_timeout_ms: int = setting(
        5000,
        "How long a caller has to send a whole request, head and body (from its "
        "connection's opening or the last answer on it; later: disconnected); also the "
        "bound on each read of kinko's database and of the chain.",
        _positive_at_most(STATEMENT_TIMEOUT_MS_MAX),
        "MS")
    rpc_attempts: int = setting(
        2,
        "Attempts per node request before refusing.",
        _positive_int,
        "N")
    assets: tuple[Asset, ...] = setting(
        (),
        "Assets besides BTC, ETH, JPY and XEM, for the limits: as kinko's assets "
        "setting.",
        _assets,
        "LIST")
    log_level: str = setting(
        "INFO",
        "Log level: DEBUG, INFO, WARNING or ERROR.",
        _choice("DEBUG", "INFO", "WARNING", "ERROR"),
        "LEVEL")
    tables: Mapping[str, Any] = field(default_factory=dict, compare=False)
    path: str = ""
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def registry(self) -> AssetRegistry:
        return AssetRegistry.default(self.assets)


COSIGN_REGISTRY: tuple[Setting, ...] = registry_of(CosignSettings, CosignSetting)
COSIGN_BY_NAME = {s.name: s for s in COSIGN_REGISTRY}


def load_cosign_settings(config_path: str | Path | None = "cosign.toml", *,
                         env: Mapping[str, str] | None = None,
                         flags: Mapping[str, Any] | None = None) -> CosignSettings:
    """The co-signer's settings: default < its file (``cosign.toml``, or
    ``KINKO_COSIGN_CONFIG``; it must exist: a co-signer without its list of Safes signs
    nothing) < ``KINKO_COSIGN_*`` environment < flags."""
    env = os.environ if env is None else env
    explicit = env.get("KINKO_COSIGN_CONFIG")
    path = Path(explicit) if explicit else Path(config_path or "cosign.toml")
    if not path.is_file():
        raise ConfigError(f"the co-signer's settings file {path} does not exist: it lists "
                          "the Safes the co-signer signs for (see docs/cosign.md)",
                          says=msg("error.settings.cosign_file", file=str(path)[:200]),
                          file=str(path))
    data = loads_toml(read_text(path, error=ConfigError), str(path), error=ConfigError)
    unknown = sorted(set(data) - set(COSIGN_BY_NAME) - set(COSIGN_TABLES))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)} (known: "
                          f"{', '.join([*COSIGN_BY_NAME, *COSIGN_TABLES])})",
                          says=msg("error.settings.unknown_in_file", file=str(path)[:200],
                                   unknown=", ".join(u[:80] for u in unknown)[:200],
                                   known=", ".join([*COSIGN_BY_NAME, *COSIGN_TABLES])),
                          file=str(path))
    values: dict[str, Any] = {s.name: s.default for s in COSIGN_REGISTRY}
    sources = {s.name: "default" for s in COSIGN_REGISTRY}
    for name, raw in data.items():
        if name in COSIGN_BY_NAME:
            values[name] = _parse(COSIGN_BY_NAME[name], raw, str(path))
            sources[name] = str(path)
    for setting in COSIGN_REGISTRY:
        if setting.env in env:
            values[setting.name] = _parse(setting, env[setting.env], setting.env)
            sources[setting.name] = setting.env
    for name, raw in (flags or {}).items():
        if raw is None:
            continue
        if name not in COSIGN_BY_NAME:
            raise ConfigError(f"unknown co-signer setting {name!r}",
                              says=msg("error.settings.unknown_cosign", name=value_shown(name)))
        values[name] = _parse(COSIGN_BY_NAME[name], raw, COSIGN_BY_NAME[name].flag)
        sources[name] = COSIGN_BY_NAME[name].flag
    tables = {name: data[name] for name in COSIGN_TABLES if name in data}
    settings = CosignSettings(**values, tables=tables, path=str(path), sources=sources)
    AssetRegistry.default(settings.assets)
    return settings
