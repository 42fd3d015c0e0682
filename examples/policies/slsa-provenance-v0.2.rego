# SLSA provenance v0.2 (https://slsa.dev/provenance/v0.2): the image must carry a verified
# provenance attestation from an allowed builder (`predicate.builder.id`), whose build config came
# from an allowed source repository (`predicate.invocation.configSource.uri`, e.g.
# `git+https://github.com/example-org/app@refs/heads/main`).
#
# Input: see slsa-provenance-v1.rego and docs/attestations.md. Edit the two allow-lists below.
package vouch

import rego.v1

allowed_builders := {"https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v1.9.0"}

# Source repositories accepted, as URLs without `git+` and without `@ref`.
allowed_repositories := {"https://github.com/example-org/app"}

predicate_type := "https://slsa.dev/provenance/v0.2"

provenances contains s if {
	some r in input.verifierReports
	r.isSuccess
	s := r.extensions.statement
	s.predicateType == predicate_type
}

builder_id(s) := s.predicate.builder.id

source_repository(s) := split(trim_prefix(uri, "git+"), "@")[0] if {
	uri := s.predicate.invocation.configSource.uri
	is_string(uri)
}

accepted contains s if {
	some s in provenances
	builder_id(s) in allowed_builders
	source_repository(s) in allowed_repositories
}

default allow := false

allow if count(accepted) > 0

reasons contains sprintf("SLSA v0.2 provenance accepted: builder %s, source %s", [builder_id(s), source_repository(s)]) if {
	some s in accepted
}

reasons contains sprintf("no verified attestation of predicate type %s", [predicate_type]) if {
	count(provenances) == 0
}

reasons contains sprintf("provenance builder %s is not in allowed_builders", [builder_id(s)]) if {
	count(accepted) == 0
	some s in provenances
	not builder_id(s) in allowed_builders
}

reasons contains sprintf("provenance source %s is not in allowed_repositories", [source_repository(s)]) if {
	count(accepted) == 0
	some s in provenances
	not source_repository(s) in allowed_repositories
}

reasons contains "provenance names no builder or no configSource" if {
	count(accepted) == 0
	some s in provenances
	not builder_id(s)
}

reasons contains "provenance names no builder or no configSource" if {
	count(accepted) == 0
	some s in provenances
	not source_repository(s)
}
