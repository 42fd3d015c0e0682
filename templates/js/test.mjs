// End-to-end test of {{name}}.wasm: an OCI layout with one image and a referrer (approved,
// rejected, no layer), verified by `vouch verify --oci-layout` (`$VOUCH`, else `vouch` on PATH).
// Run `npm run build` first.

import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const ARTIFACT_TYPE = "application/vnd.example.{{name}}.v1+json";
const MANIFEST = "application/vnd.oci.image.manifest.v1+json";

function blob(root, mediaType, data) {
  const bytes = Buffer.from(data);
  const digest = createHash("sha256").update(bytes).digest("hex");
  writeFileSync(join(root, "blobs", "sha256", digest), bytes);
  return { mediaType, digest: `sha256:${digest}`, size: bytes.length };
}

/** A layout whose image `v1` has one referrer carrying `payload` (null: no layer). */
function layout(root, payload) {
  mkdirSync(join(root, "blobs", "sha256"), { recursive: true });
  writeFileSync(join(root, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  const empty = blob(root, "application/vnd.oci.empty.v1+json", "{}");
  const image = { schemaVersion: 2, mediaType: MANIFEST, config: empty,
    layers: [blob(root, "application/vnd.oci.image.layer.v1.tar", "layer")] };
  const subject = blob(root, MANIFEST, JSON.stringify(image));
  const layers = payload === null ? [] : [blob(root, "application/json", JSON.stringify(payload))];
  const referrer = { schemaVersion: 2, mediaType: MANIFEST, artifactType: ARTIFACT_TYPE,
    config: empty, layers, subject };
  const ref = { ...blob(root, MANIFEST, JSON.stringify(referrer)), artifactType: ARTIFACT_TYPE };
  writeFileSync(join(root, "index.json"), JSON.stringify({
    schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{ ...subject, annotations: { "org.opencontainers.image.ref.name": "v1" } }, ref],
  }));
}

function verify(tmp, n, payload) {
  const root = join(tmp, `layout-${n}`);
  layout(root, payload);
  const config = join(tmp, "vouch.json");
  writeFileSync(config, JSON.stringify({ verifiers: [{ name: "{{name}}",
    path: join(HERE, "{{name}}.wasm"), config: { expectedStatus: "approved" } }] }));
  const out = spawnSync(process.env.VOUCH ?? "vouch",
    ["verify", "--oci-layout", "-c", config, "-o", "json", `${root}:v1`], { encoding: "utf8" });
  if (!out.stdout || !out.stdout.trim()) {
    throw new Error(`vouch verify printed nothing (exit ${out.status}): ${out.stderr ?? out.error}`);
  }
  const report = JSON.parse(out.stdout);
  return [report.isSuccess, report.verifierReports.map((r) => r.errorReason ?? null)];
}

const tmp = mkdtempSync(join(tmpdir(), "{{name}}-"));
try {
  const cases = [
    [{ status: "approved" }, true, [null]],
    [{ status: "rejected" }, false, ["STATUS_MISMATCH"]],
    [null, false, ["LAYER_MISSING"]],
  ];
  cases.forEach(([payload, ok, reasons], n) => {
    const got = verify(tmp, n, payload);
    if (JSON.stringify(got) !== JSON.stringify([ok, reasons])) {
      console.error(`FAIL: payload ${JSON.stringify(payload)}: got ${JSON.stringify(got)}, want ${JSON.stringify([ok, reasons])}`);
      process.exit(1);
    }
    console.log(`ok: payload ${JSON.stringify(payload)} -> ${JSON.stringify(got)}`);
  });
  console.log("all {{name}} tests passed");
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
