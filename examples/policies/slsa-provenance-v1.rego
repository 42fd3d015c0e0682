# SLSA provenance v1 (https://slsa.dev/provenance/v1): the image must carry a verified provenance
# attestation from an allowed builder, built from an allowed source repository.
#
# Input: each verifier report of an attestation that verified carries the in-toto statement in
# `extensions.statement` ({"_type", "subject", "predicateType", "predicate"}), handed on by the
# cosign verifier (`.att` tags, OCI 1.1 DSSE referrers, Sigstore bundles with a DSSE envelope).
# See docs/attestations.md. Edit the two allow-lists below.
package vouch

import rego.v1

# `runDetails.builder.id` values accepted (exact match).
allowed_builders := {
	"https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.1.0",
	"https://github.com/actions/runner/github-hosted",
}

# Source repositories accepted, as URLs without `git+` and without `@ref`.
allowed_repositories := {"https://github.com/example-org/app"}

predicate_type := "https://slsa.dev/provenance/v1"

# Verified SLSA v1 provenance statements about the image.
provenances contains s if {
	some r in input.verifierReports
	r.isSuccess
	s := r.extensions.statement
	s.predicateType == predicate_type
}

builder_id(s) := s.predicate.runDetails.builder.id

# The source repository: GitHub's workflow build type names it in `externalParameters.workflow`;
# otherwise the `git+` URI of a resolved dependency.
source_repositories(s) := {repo |
	repo := s.predicate.buildDefinition.externalParameters.workflow.repository
} | {repo |
	deps := s.predicate.buildDefinition.resolvedDependencies
	is_array(deps)
	some d in deps
	is_string(d.uri)
	startswith(d.uri, "git+")
	repo := split(trim_prefix(d.uri, "git+"), "@")[0]
}

builder_ok(s) if builder_id(s) in allowed_builders

source_ok(s) if {
	some repo in source_repositories(s)
	repo in allowed_repositories
}

accepted contains s if {
	some s in provenances
	builder_ok(s)
	source_ok(s)
}

default allow := false

allow if count(accepted) > 0

reasons contains sprintf("SLSA v1 provenance accepted: builder %s, source %s", [builder_id(s), concat(", ", source_repositories(s))]) if {
	some s in accepted
}

reasons contains sprintf("no verified attestation of predicate type %s", [predicate_type]) if {
	count(provenances) == 0
}

reasons contains sprintf("provenance builder %s is not in allowed_builders", [builder_id(s)]) if {
	count(accepted) == 0
	some s in provenances
	not builder_ok(s)
}

reasons contains "provenance names no builder (runDetails.builder.id)" if {
	count(accepted) == 0
	some s in provenances
	not builder_id(s)
}

reasons contains sprintf("provenance source %s is not in allowed_repositories", [concat(", ", source_repositories(s))]) if {
	count(accepted) == 0
	some s in provenances
	count(source_repositories(s)) > 0
	not source_ok(s)
}

reasons contains "provenance names no source repository" if {
	count(accepted) == 0
	some s in provenances
	count(source_repositories(s)) == 0
}
