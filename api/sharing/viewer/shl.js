// SMART Health Links and Cards in the browser (HL7 SMART Health Cards and Links IG v1.0.0):
// the shlink:/ payload, the files' compact JWE (alg "dir", enc "A256GCM", optional zip "DEF"),
// and the ES256 signature of a health card. Everything here runs on WebCrypto and
// DecompressionStream; the link's key never leaves this page.

export class ViewerError extends Error {
  /** `code` names a message of strings.js ("error.*" or "card.reason.*"). */
  constructor(code, values = {}) {
    super(code);
    this.code = code;
    this.values = values;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function b64urlDecode(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    throw new ViewerError("error.invalid");
  }
  let base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  while (base64.length % 4) {
    base64 += "=";
  }
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) {
    bytes[i] = binary.charCodeAt(i);
  }
  return bytes;
}

export function b64urlEncode(bytes) {
  let binary = "";
  for (const byte of bytes) {
    binary += String.fromCharCode(byte);
  }
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * The payload of a link: `shlink:/…` alone, after a viewer URL's `#`, or a whole pasted URL.
 * Answers {url, key, exp, flag, label}; unknown members are ignored, as the spec asks.
 */
export function parseLink(text) {
  const source = String(text || "").trim();
  const at = source.indexOf("shlink:/");
  if (at < 0) {
    throw new ViewerError("error.invalid");
  }
  const encoded = source.slice(at + "shlink:/".length).split(/[\s?#&]/)[0];
  let payload;
  try {
    payload = JSON.parse(decoder.decode(b64urlDecode(encoded)));
  } catch {
    throw new ViewerError("error.invalid");
  }
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
    throw new ViewerError("error.invalid");
  }
  const { url, key, exp, flag, label } = payload;
  if (typeof url !== "string" || !/^https?:\/\//.test(url)) {
    throw new ViewerError("error.invalid");
  }
  if (typeof key !== "string" || key.length !== 43 || b64urlDecode(key).length !== 32) {
    throw new ViewerError("error.invalid");
  }
  if (exp !== undefined && (typeof exp !== "number" || !Number.isFinite(exp))) {
    throw new ViewerError("error.invalid");
  }
  if (flag !== undefined && (typeof flag !== "string" || !/^[A-Z]*$/.test(flag))) {
    throw new ViewerError("error.invalid");
  }
  return {
    url,
    key,
    exp: exp === undefined ? null : exp,
    flag: flag || "",
    label: typeof label === "string" ? label : null,
  };
}

/** Whether the link is past its `exp` (seconds since the epoch) at `now` (milliseconds). */
export function isExpired(link, now = Date.now()) {
  return link.exp !== null && link.exp * 1000 <= now;
}

export async function inflateRaw(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function concat(a, b) {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a, 0);
  joined.set(b, a.length);
  return joined;
}

function jsonOf(bytes) {
  return JSON.parse(decoder.decode(bytes));
}

/** Decrypt a compact JWE with the link's key: {header, bytes}. */
export async function decryptJwe(jwe, keyText) {
  const parts = String(jwe).trim().split(".");
  if (parts.length !== 5) {
    throw new ViewerError("error.decrypt");
  }
  const [protectedHeader, encryptedKey, ivText, cipherText, tagText] = parts;
  let header;
  let iv;
  let ciphertext;
  let tag;
  try {
    header = jsonOf(b64urlDecode(protectedHeader));
    iv = b64urlDecode(ivText);
    ciphertext = b64urlDecode(cipherText);
    tag = b64urlDecode(tagText);
  } catch {
    throw new ViewerError("error.decrypt");
  }
  if (
    header.alg !== "dir" ||
    header.enc !== "A256GCM" ||
    encryptedKey !== "" ||
    iv.length !== 12 ||
    tag.length !== 16
  ) {
    throw new ViewerError("error.decrypt");
  }
  const key = await crypto.subtle.importKey("raw", b64urlDecode(keyText), "AES-GCM", false, [
    "decrypt",
  ]);
  let plain;
  try {
    plain = new Uint8Array(
      await crypto.subtle.decrypt(
        { name: "AES-GCM", iv, additionalData: encoder.encode(protectedHeader), tagLength: 128 },
        key,
        concat(ciphertext, tag),
      ),
    );
  } catch {
    throw new ViewerError("error.decrypt");
  }
  if (header.zip === "DEF") {
    try {
      plain = await inflateRaw(plain);
    } catch {
      throw new ViewerError("error.decrypt");
    }
  }
  return { header, bytes: plain };
}

/** The JSON of decrypted bytes (a file that is not JSON: ViewerError "error.file"). */
export function parseJson(bytes, contentType) {
  try {
    return jsonOf(bytes);
  } catch {
    throw new ViewerError("error.file", { type: contentType });
  }
}

// --- SMART Health Cards ---------------------------------------------------------------------

/** RFC 7638 thumbprint of a P-256 public JWK (the `kid` a card's issuer must use). */
export async function thumbprint(jwk) {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return b64urlEncode(new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(canonical))));
}

/** The header and payload of a card's JWS, without checking its signature. */
export async function readCard(jws) {
  const parts = String(jws).trim().split(".");
  if (parts.length !== 3) {
    throw new ViewerError("card.reason.format");
  }
  let header;
  let body;
  let signature;
  try {
    header = jsonOf(b64urlDecode(parts[0]));
    body = b64urlDecode(parts[1]);
    signature = b64urlDecode(parts[2]);
  } catch {
    throw new ViewerError("card.reason.format");
  }
  if (header.alg !== "ES256" || signature.length !== 64) {
    throw new ViewerError("card.reason.format");
  }
  if (header.zip !== "DEF") {
    throw new ViewerError("card.reason.not_compressed");
  }
  let payload;
  try {
    payload = jsonOf(await inflateRaw(body));
  } catch {
    throw new ViewerError("card.reason.not_compressed");
  }
  if (typeof payload.iss !== "string" || typeof payload.vc !== "object" || payload.vc === null) {
    throw new ViewerError("card.reason.format");
  }
  return { header, payload, signed: encoder.encode(`${parts[0]}.${parts[1]}`), signature };
}

/**
 * Verify a card read by readCard() against this service's keys (`issuer` is this service's
 * base URL, `fetchJwks` answers its /.well-known/jwks.json). Answers {verified, reason}.
 */
export async function verifyCard(card, issuer, fetchJwks, now = Date.now()) {
  if (card.payload.iss !== issuer) {
    return { verified: false, reason: "card.reason.issuer" };
  }
  let jwks;
  try {
    jwks = await fetchJwks();
  } catch {
    return { verified: false, reason: "card.reason.jwks" };
  }
  const jwk = (jwks.keys || []).find(
    (candidate) =>
      candidate.kid === card.header.kid && candidate.kty === "EC" && candidate.crv === "P-256",
  );
  if (!jwk) {
    return { verified: false, reason: "card.reason.key" };
  }
  if ((await thumbprint(jwk)) !== card.header.kid) {
    return { verified: false, reason: "card.reason.kid" };
  }
  let valid = false;
  try {
    const key = await crypto.subtle.importKey(
      "jwk",
      { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y },
      { name: "ECDSA", namedCurve: "P-256" },
      false,
      ["verify"],
    );
    // WebCrypto takes the JWS form of the signature: r and s, 32 bytes each
    valid = await crypto.subtle.verify(
      { name: "ECDSA", hash: "SHA-256" },
      key,
      card.signature,
      card.signed,
    );
  } catch {
    valid = false;
  }
  if (!valid) {
    return { verified: false, reason: "card.reason.signature" };
  }
  // nbf in seconds, possibly fractional; a minute's leeway for clocks
  if (typeof card.payload.nbf === "number" && card.payload.nbf * 1000 > now + 60_000) {
    return { verified: false, reason: "card.reason.future" };
  }
  return { verified: true, reason: null };
}
