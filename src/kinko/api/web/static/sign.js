// kinko: sign a proposal's approval in the browser with the approver's own key.
//
// The approver chooses their key file (PKCS#8 PEM, as `kinko approvers keygen` writes it:
// encrypted with PBES2 = PBKDF2-HMAC-SHA256 + AES-256-CBC, or unencrypted) and types its
// password; this script decrypts it, imports it into WebCrypto as an Ed25519 key, signs the
// proposal's signing bytes (base64 in the approve form's data-signing-bytes) and puts the
// hex signature into the form's signature field. The key and the password never leave the
// browser: their inputs belong to a form that cannot be submitted, and nothing here sends
// them anywhere. The server verifies the signature; no rule is decided here.
// WebCrypto exists only in a secure context (https, or http://127.0.0.1 / localhost).
"use strict";

(function () {
  const OID = {
    PBES2: "1.2.840.113549.1.5.13",
    PBKDF2: "1.2.840.113549.1.5.12",
    HMAC_SHA256: "1.2.840.113549.2.9",
    AES256_CBC: "2.16.840.1.101.3.4.1.42",
    ED25519: "1.3.101.112",
  };
  const MAX_ITERATIONS = 10000000;  // a bound, so a hostile file cannot hang the page

  class KeyFileError extends Error {}

  function base64ToBytes(text) {
    const raw = atob(text.replace(/\s+/g, ""));
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function pemToDer(text) {
    const found = /-----BEGIN ((?:ENCRYPTED )?PRIVATE KEY)-----([\s\S]*?)-----END \1-----/.exec(text);
    if (!found) throw new KeyFileError("not a PKCS#8 PEM private key file");
    return base64ToBytes(found[2]);
  }

  // a DER element at pos: {tag, start, end} (content bytes are [start, end))
  function element(der, pos, limit) {
    if (pos + 2 > limit) throw new KeyFileError("truncated key file");
    const tag = der[pos];
    let length = der[pos + 1];
    let start = pos + 2;
    if (length & 0x80) {
      const n = length & 0x7f;
      if (n < 1 || n > 3 || start + n > limit) throw new KeyFileError("bad length in key file");
      length = 0;
      for (let i = 0; i < n; i++) length = length * 256 + der[start + i];
      start += n;
    }
    if (start + length > limit) throw new KeyFileError("truncated key file");
    return { tag, start, end: start + length };
  }

  function children(der, parent) {
    const out = [];
    for (let pos = parent.start; pos < parent.end;) {
      const child = element(der, pos, parent.end);
      out.push(child);
      pos = child.end;
    }
    return out;
  }

  function expect(el, tag, what) {
    if (!el || el.tag !== tag) throw new KeyFileError(`unexpected structure in key file (${what})`);
    return el;
  }

  function oid(der, el) {
    expect(el, 0x06, "object identifier");
    const bytes = der.subarray(el.start, el.end);
    const parts = [Math.floor(bytes[0] / 40), bytes[0] % 40];
    let value = 0;
    for (let i = 1; i < bytes.length; i++) {
      value = value * 128 + (bytes[i] & 0x7f);
      if (!(bytes[i] & 0x80)) { parts.push(value); value = 0; }
    }
    return parts.join(".");
  }

  function integer(der, el) {
    expect(el, 0x02, "integer");
    if (el.end - el.start > 6) throw new KeyFileError("integer too large in key file");
    let value = 0;
    for (let i = el.start; i < el.end; i++) value = value * 256 + der[i];
    return value;
  }

  function octets(der, el) {
    expect(el, 0x04, "octet string");
    return der.slice(el.start, el.end);
  }

  // the unencrypted PKCS#8 (PrivateKeyInfo) bytes, decrypting an EncryptedPrivateKeyInfo
  async function privateKeyInfo(der, password, subtle) {
    const top = expect(element(der, 0, der.length), 0x30, "top");
    const [first, second] = children(der, top);
    if (first && first.tag === 0x02) return der.slice(0, top.end);  // unencrypted PKCS#8
    const [algorithm, params] = children(der, expect(first, 0x30, "algorithm"));
    if (oid(der, algorithm) !== OID.PBES2) throw new KeyFileError("the key file is not encrypted with PBES2");
    const [kdf, cipher] = children(der, expect(params, 0x30, "PBES2 parameters"));
    const [kdfOid, kdfParams] = children(der, expect(kdf, 0x30, "key derivation"));
    if (oid(der, kdfOid) !== OID.PBKDF2) throw new KeyFileError("the key file does not use PBKDF2");
    const p = children(der, expect(kdfParams, 0x30, "PBKDF2 parameters"));
    const salt = octets(der, p[0]);
    const iterations = integer(der, p[1]);
    let i = 2;
    if (p[i] && p[i].tag === 0x02) {
      if (integer(der, p[i]) !== 32) throw new KeyFileError("unexpected key length in key file");
      i++;
    }
    const prf = p[i] ? oid(der, children(der, expect(p[i], 0x30, "PRF"))[0]) : "sha1";
    if (prf !== OID.HMAC_SHA256) throw new KeyFileError("the key file's PBKDF2 does not use HMAC-SHA256");
    if (iterations < 1 || iterations > MAX_ITERATIONS) throw new KeyFileError("unreasonable PBKDF2 iteration count");
    const [cipherOid, ivEl] = children(der, expect(cipher, 0x30, "cipher"));
    if (oid(der, cipherOid) !== OID.AES256_CBC) throw new KeyFileError("the key file is not encrypted with AES-256-CBC");
    const iv = octets(der, ivEl);
    if (iv.length !== 16) throw new KeyFileError("bad AES IV in key file");
    const encrypted = octets(der, second);
    const base = await subtle.importKey("raw", new TextEncoder().encode(password), "PBKDF2",
                                        false, ["deriveKey"]);
    const aes = await subtle.deriveKey({ name: "PBKDF2", salt, iterations, hash: "SHA-256" },
                                       base, { name: "AES-CBC", length: 256 }, false, ["decrypt"]);
    try {
      return new Uint8Array(await subtle.decrypt({ name: "AES-CBC", iv }, aes, encrypted));
    } catch (e) {
      throw new KeyFileError("wrong password");
    }
  }

  function hex(bytes) {
    return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // the hex Ed25519 signature over message (Uint8Array) with the key in pemText
  async function sign(pemText, password, message, subtle) {
    const info = await privateKeyInfo(pemToDer(pemText), password, subtle);
    const top = expect(element(info, 0, info.length), 0x30, "private key info");
    const algorithm = children(info, expect(children(info, top)[1], 0x30, "key algorithm"))[0];
    let algo;
    try { algo = oid(info, algorithm); } catch (e) { throw new KeyFileError("wrong password"); }
    if (algo !== OID.ED25519) throw new KeyFileError("not an Ed25519 key");
    const key = await subtle.importKey("pkcs8", info, { name: "Ed25519" }, false, ["sign"]);
    return hex(await subtle.sign({ name: "Ed25519" }, key, message));
  }

  const api = { sign, privateKeyInfo, pemToDer, base64ToBytes, KeyFileError };
  if (typeof module !== "undefined" && module.exports) { module.exports = api; return; }

  function wire(form) {
    const status = form.querySelector("[data-sign-status]");
    const button = form.querySelector('[data-action="sign"]');
    const file = form.querySelector('input[name="key_file"]');
    const password = form.querySelector('input[name="key_password"]');
    const signature = form.querySelector('textarea[name="signature"]');
    const subtle = window.isSecureContext && window.crypto && window.crypto.subtle;
    if (!subtle) {
      const note = form.querySelector("[data-no-webcrypto]");
      if (note) note.hidden = false;
      for (const el of [button, file, password]) if (el) el.disabled = true;
      return;
    }
    const local = file && file.form;
    if (local) local.addEventListener("submit", (e) => e.preventDefault());
    if (password) {
      password.addEventListener("keydown", (e) => {
        if (e.key === "Enter") { e.preventDefault(); button.click(); }
      });
    }
    button.addEventListener("click", async () => {
      status.textContent = "";
      status.classList.remove("bad");
      try {
        if (!file.files || !file.files[0]) throw new KeyFileError("choose your key file");
        const pem = await file.files[0].text();
        const message = base64ToBytes(form.dataset.signingBytes);
        signature.value = await sign(pem, password.value, message, subtle);
        password.value = "";
        status.textContent = form.dataset.msgSigned;
      } catch (e) {
        status.classList.add("bad");
        status.textContent = `${form.dataset.msgFailed} (${e && e.message ? e.message : e})`;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const form of document.querySelectorAll('form[data-form="approve"][data-signing-bytes], form[data-form="veto"][data-signing-bytes]')) wire(form);
  });
})();
