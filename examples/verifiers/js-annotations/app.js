// An annotation allow-list as a Vouch verifier, in JavaScript (componentize-js, StarlingMonkey).
//
// It judges the annotations of the image under verification (its manifest's `annotations`) and,
// optionally, of the referrer it is asked about: every rule names an annotation key that must be
// present and the values it may have (exact, or a prefix ending in `*`). Anything it cannot read
// is a failed verdict with its own `errorReason`, never a pass.
//
// Configuration (JSON, from the engine's config file):
//
//   {
//     "subject":  { "org.opencontainers.image.vendor": ["ACME Corp"],
//                   "org.opencontainers.image.source": ["https://git.acme.example/*"] },
//     "artifact": { "com.acme.reviewed-by": ["*"] }
//   }

import { getSubject, getManifest } from "vouch:verifier/store@0.1.0";
import { log } from "vouch:verifier/log@0.1.0";

const NAME = "js-annotations";
const VERSION = "0.1.0";
const CONFIG_KEYS = ["subject", "artifact"];
// Reports carry at most this many findings in full.
const MAX_FINDINGS = 50;

const CONFIG_SCHEMA = JSON.stringify({
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  additionalProperties: false,
  properties: Object.fromEntries(
    CONFIG_KEYS.map((k) => [
      k,
      {
        type: "object",
        additionalProperties: { type: "array", minItems: 1, items: { type: "string", minLength: 1 } },
      },
    ]),
  ),
});

/** A failed verdict: a machine-readable reason and a message naming what was wrong. */
class Failure extends Error {
  constructor(reason, message) {
    super(message);
    this.reason = reason;
  }
}

/** The parsed configuration: `{subject: Map<key, patterns>, artifact: Map<key, patterns>}`. */
function parsePolicy(text) {
  let raw;
  try {
    raw = text.trim() === "" ? {} : JSON.parse(text);
  } catch (e) {
    throw new Failure("CONFIG_INVALID", `config is not JSON: ${e.message}`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new Failure("CONFIG_INVALID", "config must be a JSON object");
  }
  const unknown = Object.keys(raw).filter((k) => !CONFIG_KEYS.includes(k));
  if (unknown.length > 0) {
    throw new Failure("CONFIG_INVALID", `unknown config key(s): ${unknown.sort().join(", ")}`);
  }
  const policy = {};
  for (const scope of CONFIG_KEYS) {
    const rules = raw[scope] ?? {};
    if (rules === null || typeof rules !== "object" || Array.isArray(rules)) {
      throw new Failure("CONFIG_INVALID", `${scope} must be an object of annotation rules`);
    }
    policy[scope] = new Map();
    for (const [key, values] of Object.entries(rules)) {
      const ok = Array.isArray(values) && values.length > 0 &&
        values.every((v) => typeof v === "string" && v.length > 0);
      if (!ok) {
        throw new Failure("CONFIG_INVALID", `${scope}.${key} must be a non-empty list of non-empty strings`);
      }
      policy[scope].set(key, values);
    }
  }
  if (policy.subject.size === 0 && policy.artifact.size === 0) {
    throw new Failure("CONFIG_INVALID", "no rules: configure `subject` and/or `artifact` annotations");
  }
  return policy;
}

/** Whether `value` is allowed by `pattern` (exact, or a prefix when it ends in `*`). */
function allowed(pattern, value) {
  return pattern.endsWith("*") ? value.startsWith(pattern.slice(0, -1)) : value === pattern;
}

/** A store error (thrown by an import) as a failed verdict naming its kind. */
function storeFailure(what, e) {
  const err = e && e.payload;
  if (!err || typeof err.tag !== "string") {
    return new Failure("STORE_ERROR", `cannot read the ${what}: ${e}`);
  }
  const reason = "STORE_" + err.tag.toUpperCase().replace("-", "_");
  return new Failure(reason, `cannot read the ${what}: ${err.tag}: ${err.val}`);
}

/** The `annotations` object of the manifest `desc` names. */
function manifestAnnotations(desc, what) {
  let bytes;
  try {
    bytes = getManifest(desc);
  } catch (e) {
    throw storeFailure(what, e);
  }
  let manifest;
  try {
    manifest = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new Failure("MANIFEST_INVALID", `the ${what} is not JSON: ${e.message}`);
  }
  if (manifest === null || typeof manifest !== "object") {
    throw new Failure("MANIFEST_INVALID", `the ${what} is not a JSON object`);
  }
  const annotations = manifest.annotations ?? {};
  if (typeof annotations !== "object" || Array.isArray(annotations) ||
      Object.values(annotations).some((v) => typeof v !== "string")) {
    throw new Failure("MANIFEST_INVALID", `the ${what}'s annotations are not a map of strings`);
  }
  return annotations;
}

/** Findings `[reason, message]` of `rules` on `annotations` of the `scope`. */
function check(scope, rules, annotations) {
  const findings = [];
  for (const [key, patterns] of rules) {
    if (!Object.hasOwn(annotations, key)) {
      findings.push(["ANNOTATION_MISSING", `${scope} annotation ${key} is missing`]);
    } else if (!patterns.some((p) => allowed(p, annotations[key]))) {
      findings.push([
        "ANNOTATION_NOT_ALLOWED",
        `${scope} annotation ${key}=${JSON.stringify(annotations[key])} is not in the allow-list`,
      ]);
    }
  }
  return findings;
}

function judge(req) {
  const policy = parsePolicy(req.config);
  const findings = [];
  let checked = 0;
  if (policy.subject.size > 0) {
    const subject = getSubject();
    findings.push(...check("subject", policy.subject, manifestAnnotations(subject.descriptor, "subject manifest")));
    checked += policy.subject.size;
  }
  if (policy.artifact.size > 0) {
    findings.push(...check("artifact", policy.artifact, manifestAnnotations(req.artifact, "referrer manifest")));
    checked += policy.artifact.size;
  }
  log("debug", `${checked} annotation rules, ${findings.length} findings`);
  const extensions = [["rules", { tag: "json", val: String(checked) }]];
  if (findings.length > 0) {
    extensions.push(["findings", { tag: "json", val: JSON.stringify(findings.slice(0, MAX_FINDINGS).map((f) => f[1])) }]);
    const reasons = [...new Set(findings.map((f) => f[0]))].sort().join(",");
    const more = findings.length > 1 ? ` (and ${findings.length - 1} more)` : "";
    return {
      isSuccess: false,
      message: `annotation policy violated: ${findings[0][1]}${more}`,
      errorReason: reasons,
      extensions,
    };
  }
  return {
    isSuccess: true,
    message: `all ${checked} annotation rules satisfied`,
    errorReason: undefined,
    extensions,
  };
}

/** Who the verifier is and what it verifies (any referrer: the rules are about annotations). */
export function metadata() {
  return { name: NAME, version: VERSION, artifactTypes: ["*"], configSchema: CONFIG_SCHEMA };
}

/** Refuse a configuration at load time. */
export function checkConfig(config) {
  try {
    parsePolicy(config);
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
