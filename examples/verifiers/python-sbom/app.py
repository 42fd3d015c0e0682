"""An in-house SBOM policy as a Vouch verifier, in Python (componentize-py).

It judges SPDX 2.x JSON and CycloneDX JSON SBOMs attached to an image as referrers: every package
named in the SBOM is checked against a deny-list of package names (optionally pinned to a version)
and every license (SPDX expression) against a deny-list of license identifiers. Anything it cannot
read is a failed verdict with its own `errorReason`, never a pass.

Configuration (JSON, from the engine's config file):

    {
      "deniedPackages": ["left-pad", "openssl@1.1.1k"],
      "deniedLicenses": ["AGPL-3.0-only", "SSPL-1.0"],
      "requireLicense": false
    }
"""

import json
import re

import wit_world
from componentize_py_types import Err
from wit_world.imports import log, store, types

NAME = "python-sbom"
VERSION = "0.1.0"
SPDX_JSON = "application/spdx+json"
CYCLONEDX_JSON = "application/vnd.cyclonedx+json"
CONFIG_KEYS = {"deniedPackages", "deniedLicenses", "requireLicense"}
# SPDX license expression operators and grouping: everything else in an expression is an id.
LICENSE_TOKEN = re.compile(r"[A-Za-z0-9.+\-:]+")
OPERATORS = {"AND", "OR", "WITH"}
NO_LICENSE = {"", "NOASSERTION", "NONE"}
# Reports carry at most this many findings in full.
MAX_FINDINGS = 50

CONFIG_SCHEMA = json.dumps(
    {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "deniedPackages": {"type": "array", "items": {"type": "string", "minLength": 1}},
            "deniedLicenses": {"type": "array", "items": {"type": "string", "minLength": 1}},
            "requireLicense": {"type": "boolean"},
        },
    }
)


class Failure(Exception):
    """A failed verdict: a machine-readable reason and a message naming what was wrong."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason
        self.message = message


class Policy:
    """The parsed configuration."""

    def __init__(self, text):
        try:
            raw = json.loads(text) if text.strip() else {}
        except ValueError as e:
            raise Failure("CONFIG_INVALID", f"config is not JSON: {e}")
        if not isinstance(raw, dict):
            raise Failure("CONFIG_INVALID", "config must be a JSON object")
        unknown = sorted(set(raw) - CONFIG_KEYS)
        if unknown:
            raise Failure("CONFIG_INVALID", f"unknown config key(s): {', '.join(unknown)}")
        self.packages = set()
        self.pinned = set()
        for entry in self._strings(raw, "deniedPackages"):
            name, sep, version = entry.partition("@")
            if not name or (sep and not version):
                raise Failure("CONFIG_INVALID", f"deniedPackages: bad entry {entry!r} (NAME or NAME@VERSION)")
            if sep:
                self.pinned.add((name.lower(), version))
            else:
                self.packages.add(name.lower())
        self.licenses = {l.upper() for l in self._strings(raw, "deniedLicenses")}
        require = raw.get("requireLicense", False)
        if not isinstance(require, bool):
            raise Failure("CONFIG_INVALID", "requireLicense must be a boolean")
        self.require_license = require

    @staticmethod
    def _strings(raw, key):
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise Failure("CONFIG_INVALID", f"{key} must be a list of non-empty strings")
        return value

    def judge(self, package):
        """The findings for one `(name, version, [license expressions])` package."""
        name, version, licenses = package
        found = []
        if name.lower() in self.packages or (name.lower(), version) in self.pinned:
            found.append(("PACKAGE_DENIED", f"package {name}@{version or '?'} is denied"))
        ids = set()
        for expr in licenses:
            ids.update(t.upper() for t in LICENSE_TOKEN.findall(expr) if t.upper() not in OPERATORS)
        for lic in sorted(ids & self.licenses):
            found.append(("LICENSE_DENIED", f"package {name}@{version or '?'} is under the denied license {lic}"))
        if self.require_license and not any(e.strip().upper() not in NO_LICENSE for e in licenses):
            found.append(("LICENSE_MISSING", f"package {name}@{version or '?'} declares no license"))
        return found


def spdx_packages(doc):
    """`(name, version, licenses)` of every package of an SPDX 2.x JSON document."""
    packages = doc.get("packages", [])
    if not isinstance(packages, list):
        raise Failure("SBOM_INVALID", "SPDX `packages` is not a list")
    out = []
    for p in packages:
        if not isinstance(p, dict) or not isinstance(p.get("name"), str):
            raise Failure("SBOM_INVALID", "an SPDX package has no `name`")
        licenses = [
            p[k] for k in ("licenseConcluded", "licenseDeclared") if isinstance(p.get(k), str)
        ]
        out.append((p["name"], str(p.get("versionInfo", "")), licenses))
    return out


def cyclonedx_components(doc):
    """`(name, version, licenses)` of every component, nested ones included, of a CycloneDX BOM."""
    out = []
    stack = [doc.get("components", [])]
    while stack:
        components = stack.pop()
        if not isinstance(components, list):
            raise Failure("SBOM_INVALID", "CycloneDX `components` is not a list")
        for c in components:
            if not isinstance(c, dict) or not isinstance(c.get("name"), str):
                raise Failure("SBOM_INVALID", "a CycloneDX component has no `name`")
            licenses = []
            for entry in c.get("licenses", []) or []:
                if not isinstance(entry, dict):
                    raise Failure("SBOM_INVALID", f"component {c['name']}: bad `licenses` entry")
                if isinstance(entry.get("expression"), str):
                    licenses.append(entry["expression"])
                lic = entry.get("license")
                if isinstance(lic, dict):
                    licenses.append(str(lic.get("id") or lic.get("name") or ""))
            out.append((c["name"], str(c.get("version", "")), licenses))
            if "components" in c:
                stack.append(c["components"])
    return out


def store_failure(what, err):
    """A store error as a failed verdict naming the kind of error."""
    kind = type(err.value).__name__.removeprefix("StoreError_")
    reason = {
        "NotFound": "STORE_NOT_FOUND",
        "TooLarge": "STORE_TOO_LARGE",
        "Denied": "STORE_DENIED",
        "Invalid": "STORE_INVALID",
        "Unavailable": "STORE_UNAVAILABLE",
    }.get(kind, "STORE_ERROR")
    return Failure(reason, f"cannot read the {what}: {kind}: {err.value.value}")


def read_sbom(artifact):
    """The SBOM layer of the referrer: its media type and parsed JSON."""
    try:
        manifest = json.loads(store.get_manifest(artifact))
    except Err as e:
        raise store_failure("referrer manifest", e)
    except ValueError as e:
        raise Failure("MANIFEST_INVALID", f"the referrer manifest is not JSON: {e}")
    layers = manifest.get("layers") if isinstance(manifest, dict) else None
    if not isinstance(layers, list):
        raise Failure("MANIFEST_INVALID", "the referrer manifest has no `layers` list")
    sboms = [l for l in layers if isinstance(l, dict) and l.get("mediaType") in (SPDX_JSON, CYCLONEDX_JSON)]
    if len(sboms) != 1:
        raise Failure(
            "SBOM_MISSING" if not sboms else "SBOM_AMBIGUOUS",
            f"expected one SPDX or CycloneDX JSON layer, found {len(sboms)}",
        )
    layer = sboms[0]
    if not isinstance(layer.get("digest"), str):
        raise Failure("MANIFEST_INVALID", "the SBOM layer has no digest")
    try:
        blob = store.get_blob(layer["digest"])
    except Err as e:
        raise store_failure("SBOM layer", e)
    try:
        doc = json.loads(blob)
    except ValueError as e:
        raise Failure("SBOM_INVALID", f"the SBOM is not JSON: {e}")
    if not isinstance(doc, dict):
        raise Failure("SBOM_INVALID", "the SBOM is not a JSON object")
    return layer["mediaType"], doc


def judge(req):
    """The verdict on one SBOM referrer (raises `Failure`)."""
    policy = Policy(req.config)
    media_type, doc = read_sbom(req.artifact)
    if media_type == SPDX_JSON:
        if not str(doc.get("spdxVersion", "")).startswith("SPDX-2."):
            raise Failure("SBOM_INVALID", f"unsupported spdxVersion {doc.get('spdxVersion')!r}")
        packages = spdx_packages(doc)
    else:
        if doc.get("bomFormat") != "CycloneDX":
            raise Failure("SBOM_INVALID", f"bomFormat is {doc.get('bomFormat')!r}, not CycloneDX")
        packages = cyclonedx_components(doc)
    findings = [f for p in packages for f in policy.judge(p)]
    log.log(log.Level.DEBUG, f"{len(packages)} packages, {len(findings)} findings")
    extensions = [
        ("format", types.ExtensionValue_Text("spdx" if media_type == SPDX_JSON else "cyclonedx")),
        ("packages", types.ExtensionValue_Json(str(len(packages)))),
    ]
    if findings:
        extensions.append(
            ("findings", types.ExtensionValue_Json(json.dumps([m for _, m in findings[:MAX_FINDINGS]])))
        )
        reasons = sorted({r for r, _ in findings})
        first = findings[0][1]
        more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
        return types.Report(False, f"SBOM policy violated: {first}{more}", ",".join(reasons), extensions)
    return types.Report(True, f"SBOM policy satisfied by {len(packages)} packages", None, extensions)


class WitWorld(wit_world.WitWorld):
    """The exports of the `verifier` world."""

    def metadata(self) -> types.Metadata:
        return types.Metadata(NAME, VERSION, [SPDX_JSON, CYCLONEDX_JSON], CONFIG_SCHEMA)

    def check_config(self, config: str) -> None:
        try:
            Policy(config)
        except Failure as f:
            raise Err(f.message)

    def verify(self, req: types.Request) -> types.Report:
        try:
            return judge(req)
        except Failure as f:
            return types.Report(False, f.message, f.reason, [])
        except Exception as e:  # fail closed on anything unforeseen, naming it
            return types.Report(False, f"internal error: {type(e).__name__}: {e}", "VERIFIER_ERROR", [])
