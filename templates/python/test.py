"""End-to-end test of {{name}}.wasm: an OCI layout with one image and three referrers (approved,
rejected, no layer), verified by `vouch verify --oci-layout` (`$VOUCH`, else `vouch` on PATH).
Run `./build.sh` first."""

import hashlib
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ARTIFACT_TYPE = "application/vnd.example.{{name}}.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def blob(root, media_type, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(root, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}


def layout(root, payload):
    """A layout whose image `v1` has one referrer carrying `payload` (None: no layer)."""
    os.makedirs(os.path.join(root, "blobs", "sha256"))
    with open(os.path.join(root, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    empty = blob(root, "application/vnd.oci.empty.v1+json", b"{}")
    image = {"schemaVersion": 2, "mediaType": MANIFEST, "config": empty,
             "layers": [blob(root, "application/vnd.oci.image.layer.v1.tar", b"layer")]}
    subject = blob(root, MANIFEST, json.dumps(image).encode())
    layers = [] if payload is None else [blob(root, "application/json", json.dumps(payload).encode())]
    referrer = {"schemaVersion": 2, "mediaType": MANIFEST, "artifactType": ARTIFACT_TYPE,
                "config": empty, "layers": layers, "subject": subject}
    ref = dict(blob(root, MANIFEST, json.dumps(referrer).encode()), artifactType=ARTIFACT_TYPE)
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [dict(subject, annotations={"org.opencontainers.image.ref.name": "v1"}), ref]}
    with open(os.path.join(root, "index.json"), "w") as f:
        json.dump(index, f)


def verify(tmp, payload):
    root = os.path.join(tmp, "layout-" + str(len(os.listdir(tmp))))
    layout(root, payload)
    config = os.path.join(tmp, "vouch.json")
    with open(config, "w") as f:
        json.dump({"verifiers": [{"name": "{{name}}", "path": os.path.join(HERE, "{{name}}.wasm"),
                                  "config": {"expectedStatus": "approved"}}]}, f)
    vouch = os.environ.get("VOUCH", "vouch")
    out = subprocess.run([vouch, "verify", "--oci-layout", "-c", config, "-o", "json", root + ":v1"],
                         capture_output=True, text=True)
    if not out.stdout.strip():
        sys.exit(f"vouch verify printed nothing (exit {out.returncode}): {out.stderr}")
    report = json.loads(out.stdout)
    reasons = [r.get("errorReason") for r in report["verifierReports"]]
    return report["isSuccess"], reasons


def main():
    with tempfile.TemporaryDirectory() as tmp:
        cases = [({"status": "approved"}, True, [None]),
                 ({"status": "rejected"}, False, ["STATUS_MISMATCH"]),
                 (None, False, ["LAYER_MISSING"])]
        for payload, ok, reasons in cases:
            got = verify(tmp, payload)
            if got != (ok, reasons):
                sys.exit(f"FAIL: payload {payload}: got {got}, want {(ok, reasons)}")
            print(f"ok: payload {payload} -> {got}")
    print("all {{name}} tests passed")


if __name__ == "__main__":
    main()
