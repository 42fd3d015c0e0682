// The `{{name}}` verifier (JavaScript, built with componentize-js against `wit/verifier.wit`).
//
// A minimal working verifier to start from: it judges referrers of the artifact type below,
// whose first layer is a JSON object like `{"status": "approved"}`, and passes when `status` is
// the one its configuration expects. Everything it cannot read is a failed verdict with its own
// `errorReason` (fail closed), never a pass.
//
// Configuration (JSON, from the engine's config file): `{"expectedStatus": "approved"}`.

import { getManifest, getBlob } from "vouch:verifier/store@0.1.0";
import { log } from "vouch:verifier/log@0.1.0";

const NAME = "{{name}}";
const VERSION = "0.1.0";
const ARTIFACT_TYPE = "application/vnd.example.{{name}}.v1+json";

/** A failed verdict: a machine-readable reason and a message naming what was wrong. */
class Failure extends Error {
  constructor(reason, message) {
    super(message);
    this.reason = reason;
  }
}

/** The expected status, from the configuration (throws `Failure`). */
function parseConfig(text) {
  let config;
  try {
    config = text.trim() === "" ? {} : JSON.parse(text);
  } catch (e) {
    throw new Failure("CONFIG_INVALID", `config is not JSON: ${e.message}`);
  }
  if (config === null || typeof config !== "object" || Array.isArray(config) ||
      Object.keys(config).some((k) => k !== "expectedStatus")) {
    throw new Failure("CONFIG_INVALID", "config must be an object with at most `expectedStatus`");
  }
  const expected = config.expectedStatus ?? "approved";
  if (typeof expected !== "string" || expected === "") {
    throw new Failure("CONFIG_INVALID", "expectedStatus must be a non-empty string");
  }
  return expected;
}

/** `read()` (a store call) parsed as JSON; store errors and bad JSON are failures. */
function readJson(what, read) {
  let bytes;
  try {
    bytes = read();
  } catch (e) {
    const err = e && e.payload;
    const kind = err && typeof err.tag === "string" ? err.tag : "error";
    throw new Failure("STORE_" + kind.toUpperCase().replace("-", "_"), `cannot read the ${what}: ${kind}: ${err ? err.val : e}`);
  }
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new Failure("PAYLOAD_INVALID", `the ${what} is not JSON: ${e.message}`);
  }
}

function judge(req) {
  const expected = parseConfig(req.config);
  const manifest = readJson("referrer manifest", () => getManifest(req.artifact));
  const layer = manifest && Array.isArray(manifest.layers) ? manifest.layers[0] : undefined;
  if (!layer || typeof layer.digest !== "string") {
    throw new Failure("LAYER_MISSING", "the referrer has no layer to judge");
  }
  const payload = readJson("payload", () => getBlob(layer.digest));
  const status = payload && typeof payload === "object" ? payload.status : undefined;
  log("debug", `status ${JSON.stringify(status)}, expected ${JSON.stringify(expected)}`);
  if (status !== expected) {
    throw new Failure("STATUS_MISMATCH", `status is ${JSON.stringify(status)}, expected ${JSON.stringify(expected)}`);
  }
  return {
    isSuccess: true,
    message: `status is ${JSON.stringify(expected)}`,
    errorReason: undefined,
    extensions: [["status", { tag: "text", val: status }]],
  };
}

/** Who the verifier is and what it verifies. */
export function metadata() {
  return { name: NAME, version: VERSION, artifactTypes: [ARTIFACT_TYPE], configSchema: undefined };
}

/** Refuse a configuration at load time. */
export function checkConfig(config) {
  try {
    parseConfig(config);
  } catch (e) {
    throw e instanceof Failure ? e.message : `config rejected: ${e}`;
  }
}

/** Judge one referrer. */
export function verify(req) {
  try {
    return judge(req);
  } catch (e) {
    if (e instanceof Failure) {
      return { isSuccess: false, message: e.message, errorReason: e.reason, extensions: [] };
    }
    // Fail closed on anything unforeseen, naming it.
    return { isSuccess: false, message: `internal error: ${e}`, errorReason: "VERIFIER_ERROR", extensions: [] };
  }
}
