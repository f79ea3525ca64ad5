// provenance.js: checks the signed provenance that dari attaches to a reply: the SHA-256 of the
// text, the signer's key against the server's published key, and the Ed25519 signature over the
// canonical JSON (every field but "signature", keys sorted, no whitespace), with WebCrypto.

/** Lowercase hex SHA-256 of the UTF-8 bytes of text. */
export async function sha256Hex(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The bytes the server signed: the JSON of every field but "signature", keys sorted. */
export function signedBytes(provenance) {
  const fields = Object.keys(provenance)
    .filter((k) => k !== "signature")
    .sort()
    .map((k) => [k, provenance[k]]);
  return new TextEncoder().encode(JSON.stringify(Object.fromEntries(fields)));
}

/** Decodes standard or URL-safe base64 (padding optional); throws on anything else. */
export function base64ToBytes(text) {
  const clean = String(text).trim().replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
  if (!/^[A-Za-z0-9+/]*$/.test(clean)) throw new Error("not base64");
  const padded = clean + "=".repeat((4 - (clean.length % 4)) % 4);
  const binary = atob(padded);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function result(ok, state, code, reason) {
  return { ok, state, code, reason };
}

function cryptoAvailable() {
  return typeof crypto !== "undefined" && crypto.subtle && window.isSecureContext !== false;
}

function checkShape(provenance) {
  const needed = ["output_sha256", "public_key", "signature"];
  return needed.every((k) => typeof provenance[k] === "string" && provenance[k] !== "");
}

async function importKey(publicKey) {
  const raw = base64ToBytes(publicKey);
  if (raw.length !== 32) throw new Error("the public key is not 32 bytes");
  return crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
}

/**
 * Verifies a reply's provenance against its text and the server's key info (GET
 * /v1/provenance). Returns {ok, reason} plus state ("pass" | "fail" | "unavailable") and a
 * short code the page can translate: no_provenance, no_crypto, no_server_key, malformed,
 * hash_mismatch, key_mismatch, unsupported, bad_signature, valid.
 */
export async function verifyProvenance(provenance, text, serverKeyInfo) {
  if (!provenance || typeof provenance !== "object") {
    return result(false, "unavailable", "no_provenance", "this reply has no provenance");
  }
  if (!cryptoAvailable()) {
    return result(false, "unavailable", "no_crypto",
      "this browser cannot verify here (crypto.subtle needs HTTPS or localhost)");
  }
  if (!checkShape(provenance)) {
    return result(false, "fail", "malformed", "the provenance record is incomplete");
  }
  const hash = await sha256Hex(String(text ?? ""));
  if (hash !== provenance.output_sha256.toLowerCase()) {
    return result(false, "fail", "hash_mismatch", "the text does not match the signed hash");
  }
  if (!serverKeyInfo || typeof serverKeyInfo.public_key !== "string") {
    return result(false, "unavailable", "no_server_key",
      "the server's public key is not available");
  }
  if (provenance.public_key !== serverKeyInfo.public_key) {
    return result(false, "fail", "key_mismatch",
      "signed by a different key than this server's");
  }
  let key;
  try {
    key = await importKey(serverKeyInfo.public_key);
  } catch (err) {
    if (err && err.name === "NotSupportedError") {
      return result(false, "unavailable", "unsupported",
        "this browser does not support Ed25519 signatures");
    }
    return result(false, "fail", "malformed", "the public key is not a valid Ed25519 key");
  }
  let signature;
  try {
    signature = base64ToBytes(provenance.signature);
  } catch {
    return result(false, "fail", "bad_signature", "bad signature");
  }
  let valid = false;
  try {
    valid = await crypto.subtle.verify("Ed25519", key, signature, signedBytes(provenance));
  } catch {
    valid = false;
  }
  if (!valid) return result(false, "fail", "bad_signature", "bad signature");
  return result(true, "pass", "valid", "signature valid");
}
