"""The `{{name}}` verifier (Python, built with componentize-py against `wit/verifier.wit`).

A minimal working verifier to start from: it judges referrers of the artifact type below, whose
first layer is a JSON object like `{"status": "approved"}`, and passes when `status` is the one
its configuration expects. Everything it cannot read is a failed verdict with its own
`errorReason` (fail closed), never a pass.

Configuration (JSON, from the engine's config file): `{"expectedStatus": "approved"}`.
"""

import json

import wit_world
from componentize_py_types import Err
from wit_world.imports import log, store, types

NAME = "{{name}}"
VERSION = "0.1.0"
ARTIFACT_TYPE = "application/vnd.example.{{name}}.v1+json"


class Failure(Exception):
    """A failed verdict: a machine-readable reason and a message naming what was wrong."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason
        self.message = message


def parse_config(text):
    """The expected status, from the configuration (raises `Failure`)."""
    try:
        config = json.loads(text) if text.strip() else {}
    except ValueError as e:
        raise Failure("CONFIG_INVALID", f"config is not JSON: {e}")
    if not isinstance(config, dict) or set(config) - {"expectedStatus"}:
        raise Failure("CONFIG_INVALID", "config must be an object with at most `expectedStatus`")
    expected = config.get("expectedStatus", "approved")
    if not isinstance(expected, str) or not expected:
        raise Failure("CONFIG_INVALID", "expectedStatus must be a non-empty string")
    return expected


def read_json(what, read):
    """`read()` (a store call) parsed as JSON; store errors and bad JSON are failures."""
    try:
        data = read()
    except Err as e:
        kind = type(e.value).__name__.removeprefix("StoreError_")
        raise Failure("STORE_" + kind.upper(), f"cannot read the {what}: {kind}: {e.value.value}")
    try:
        return json.loads(data)
    except ValueError as e:
        raise Failure("PAYLOAD_INVALID", f"the {what} is not JSON: {e}")


def judge(req):
    expected = parse_config(req.config)
    manifest = read_json("referrer manifest", lambda: store.get_manifest(req.artifact))
    layers = manifest.get("layers") if isinstance(manifest, dict) else None
    if not layers or not isinstance(layers[0], dict) or not isinstance(layers[0].get("digest"), str):
        raise Failure("LAYER_MISSING", "the referrer has no layer to judge")
    payload = read_json("payload", lambda: store.get_blob(layers[0]["digest"]))
    status = payload.get("status") if isinstance(payload, dict) else None
    log.log(log.Level.DEBUG, f"status {status!r}, expected {expected!r}")
    if status != expected:
        raise Failure("STATUS_MISMATCH", f"status is {status!r}, expected {expected!r}")
    return types.Report(True, f"status is {expected!r}", None, [("status", types.ExtensionValue_Text(status))])


class WitWorld(wit_world.WitWorld):
    """The exports of the `verifier` world."""

    def metadata(self) -> types.Metadata:
        return types.Metadata(NAME, VERSION, [ARTIFACT_TYPE], None)

    def check_config(self, config: str) -> None:
        try:
            parse_config(config)
        except Failure as f:
            raise Err(f.message)

    def verify(self, req: types.Request) -> types.Report:
        try:
            return judge(req)
        except Failure as f:
            return types.Report(False, f.message, f.reason, [])
        except Exception as e:  # fail closed on anything unforeseen, naming it
            return types.Report(False, f"internal error: {type(e).__name__}: {e}", "VERIFIER_ERROR", [])
