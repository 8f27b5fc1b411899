// Reading a kiosk's credentials from what staff paste into the set-up form.
//
// Accepted: the client id in its own field or written in the pasted text with a label
// ("client_id: …", "client id: …", "client-id = …", or a JSON member "client_id"), and the
// private key as a JWK (a JSON object with "kty", "crv", "x", "d", in any order), before or after
// the client id, among other lines — so the whole output of `healthbook clients create --kind
// kiosk`, the kiosk lines `healthbook demo` prints, or the JWK alone all work.

export class SetupError extends Error {
  constructor(key) {
    super(key);
    this.key = key;
  }
}

const CLIENT_ID = /^[A-Za-z0-9._-]{1,64}$/;
const LABELLED_ID = /\bclient[ \t_-]?id\b["']?[ \t]*[:=][ \t]*["']?([A-Za-z0-9._-]{1,64})/i;

/** Every top-level {...} of `text` (braces inside JSON strings do not count). */
function jsonObjects(text) {
  const found = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  let escaped = false;
  for (let index = 0; index < text.length; index += 1) {
    const char = text[index];
    if (inString) {
      if (escaped) {
        escaped = false;
      } else if (char === "\\") {
        escaped = true;
      } else if (char === '"') {
        inString = false;
      }
      continue;
    }
    if (char === '"' && depth > 0) {
      inString = true;
    } else if (char === "{") {
      if (depth === 0) {
        start = index;
      }
      depth += 1;
    } else if (char === "}" && depth > 0) {
      depth -= 1;
      if (depth === 0) {
        found.push({ start, end: index + 1 });
      }
    }
  }
  return found;
}

function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The signing algorithm for a private JWK, as WebCrypto and the JWS header name it. */
export function signingAlgorithm(jwk) {
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") {
    return { jws: "EdDSA", key: { name: "Ed25519" }, sign: { name: "Ed25519" } };
  }
  if (jwk.kty === "EC" && jwk.crv === "P-256") {
    return {
      jws: "ES256",
      key: { name: "ECDSA", namedCurve: "P-256" },
      sign: { name: "ECDSA", hash: "SHA-256" },
    };
  }
  throw new SetupError("setup.error.unsupported_key");
}

/** The keys, client ids and labelled client id in one pasted text. */
function readPaste(text) {
  const spans = jsonObjects(text);
  const keys = [];
  let idFromJson = null;
  for (const { start, end } of spans) {
    let value;
    try {
      value = JSON.parse(text.slice(start, end));
    } catch {
      continue;
    }
    if (!isObject(value)) {
      continue;
    }
    // a stored credentials entry: {"client_id": …, "private_jwk": {…}}
    const jwk = isObject(value.private_jwk) ? value.private_jwk : value;
    if (typeof jwk.kty === "string") {
      keys.push(jwk);
    }
    const id = value.client_id ?? value.clientId;
    if (typeof id === "string" && CLIENT_ID.test(id)) {
      idFromJson = idFromJson || id;
    }
  }
  // the text around the JSON objects, where a labelled client id may stand
  let rest = text;
  for (const { start, end } of [...spans].reverse()) {
    rest = `${rest.slice(0, start)}\n${rest.slice(end)}`;
  }
  return { spans, keys, clientId: rest.match(LABELLED_ID)?.[1] || idFromJson };
}

/** {clientId, jwk} from the two fields of the set-up form; throws SetupError(key). Staff may
 * paste everything into either box. */
export function parseCredentials(clientIdText, keyText) {
  const field = (clientIdText || "").trim();
  const fromField = readPaste(field);
  const fromKey = readPaste(keyText || "");
  // The id pasted with the key belongs to it: it wins over the field (which may still hold an
  // earlier kiosk's id); then the field, bare or labelled.
  const clientId = fromKey.clientId || (CLIENT_ID.test(field) ? field : fromField.clientId);
  if (!clientId) {
    throw new SetupError("setup.error.no_client");
  }
  const keys = [...fromKey.keys, ...fromField.keys];
  if (keys.length === 0) {
    const empty = !(keyText || "").trim() && fromField.spans.length === 0;
    throw new SetupError(empty ? "setup.error.no_key" : "setup.error.bad_key");
  }
  const jwk = keys.find((candidate) => typeof candidate.d === "string" && candidate.d);
  if (!jwk) {
    throw new SetupError("setup.error.public_key");
  }
  signingAlgorithm(jwk); // throws for keys we cannot use
  return { clientId, jwk };
}
