# A fresh verification summary (SLSA VSA) from the platform, or else the full verification.
#
# With the `vsa` verifier (trusting the platform's key and policy digests) and the full set of
# verifiers configured, an image is admitted when one VSA passed the `vsa` verifier, or when its
# cosign signature verified. See docs/verdicts.md. Rename `cosign` below to the verifiers (and
# conditions) of your full verification.
package vouch

import rego.v1

default allow := false

vsa_passed if {
	some r in input.verifierReports
	r.verifierName == "vsa"
	r.isSuccess
}

fully_verified if {
	some r in input.verifierReports
	r.verifierName == "cosign"
	r.isSuccess
}

allow if vsa_passed

allow if fully_verified

reasons contains "admitted on a verification summary" if vsa_passed

reasons contains "admitted on the full verification" if {
	not vsa_passed
	fully_verified
}

reasons contains "neither a trusted, fresh verification summary nor a verified cosign signature" if not allow
