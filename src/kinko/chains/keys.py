"""Where a signing key lives, by name: in an HSM (PKCS#11) or, for development, in an
encrypted keystore file.

A key is named after what it signs for: a key wallet's name, a multisig wallet's name for
its operations key, and the relayer's name (``relayer_key``) for the key that sends
multisig transactions and pays their gas. The ``keys`` setting says where each name's key
is (``eth-hot=hsm:LABEL``, ``relayer=file:PATH``); a name it does not mention is in the HSM
under its own label when ``hsm_module`` is set, else in ``hot_keystore_dir/NAME.json``. The
HSM's PIN and the keystore's password come from the environment, never from a file::

    ring = KeyRing(Path("keys"), {}, hsm_module="/usr/lib/softhsm/libsofthsm2.so",
                   hsm_token="kinko", env=os.environ)
    ring.where("eth-hot")        # ("hsm", "eth-hot")
    key = ring.key("eth-hot")    # an HsmSigner: the key never leaves the token
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kinko.chains.evm import EvmKey
from kinko.chains.hsm import PIN_ENV, HsmToken
from kinko.chains.keystore import PASSWORD_ENV, KeystoreSigner
from kinko.domain.messages import msg
from kinko.errors import ConfigError

if TYPE_CHECKING:
    from kinko.chains.nem import NemKey  # the NEM SDK: loaded on first use

__all__ = ["KeyRing"]


@dataclass
class KeyRing:
    """The keys this process may sign with; see the module docstring."""

    keystore_dir: Path
    locations: Mapping[str, tuple[str, str]]  # name -> ("hsm", label) or ("file", path)
    hsm_module: str = ""
    hsm_token: str = ""
    relayer_name: str = "relayer"
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    _open: dict[str, EvmKey] = field(default_factory=dict, repr=False)
    _token: HsmToken | None = field(default=None, repr=False)
    _nem: dict[str, NemKey] = field(default_factory=dict, repr=False)

    def where(self, name: str) -> tuple[str, str]:
        """("hsm", key label) or ("file", keystore path) of the key called ``name``."""
        store, ref = self.locations.get(name, ("", ""))
        if not store:
            store = "hsm" if self.hsm_module else "file"
        if store == "hsm":
            return "hsm", ref or name
        return "file", ref or str(self.keystore_dir / f"{name}.json")

    def token(self) -> HsmToken:
        """The HSM token the keys of ``where() == "hsm"`` are in (logged in on first use)."""
        if self._token is None:
            self._token = HsmToken.open(self.hsm_module, self.hsm_token, self.env.get(PIN_ENV))
        return self._token

    def key(self, name: str) -> EvmKey:
        if name not in self._open:
            store, ref = self.where(name)
            if store == "hsm":
                self._open[name] = self.token().signer(ref)
            else:
                self._open[name] = KeystoreSigner.open(Path(ref), self.env.get(PASSWORD_ENV))
        return self._open[name]

    def nem_where(self, name: str) -> tuple[str, str]:
        """Where the NEM key called ``name`` is: always a file (``NAME=file:PATH`` in
        ``keys``, else ``hot_keystore_dir/NAME.nem``): NEM signs with Ed25519 over
        Keccak-512, which no PKCS#11 token offers."""
        store, ref = self.locations.get(name, ("", ""))
        if store == "hsm":
            raise ConfigError(f"the key {name} signs on NEM, whose Ed25519 with Keccak-512 no "
                              "PKCS#11 token offers: name its key file (keys = "
                              f"{name}=file:PATH)", setting="keys",
                              says=msg("error.keys.nem_in_hsm", name=name[:80]))
        return "file", ref or str(self.keystore_dir / f"{name}.nem")

    def nem_key(self, name: str, chain: str) -> NemKey:
        """The NEM key called ``name`` for ``chain``, from its key file (the first line: the
        private key, 64 hex digits, as NEM wallets export it; for development: ``kinko
        check`` reports an online wallet signing from a file)."""
        slot = f"nem:{chain}:{name}"
        if slot not in self._nem:
            from kinko.chains.nem import NemKey

            self._nem[slot] = NemKey.from_file(Path(self.nem_where(name)[1]), chain)
        return self._nem[slot]

    def relayer(self) -> EvmKey:
        return self.key(self.relayer_name)

    def close(self) -> None:
        self._open.clear()
        self._nem.clear()
        if self._token is not None:
            self._token.close()
            self._token = None
