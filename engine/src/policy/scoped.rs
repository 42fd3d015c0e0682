//! A policy limited to images by reference pattern (`policy.imageReferences`,
//! `policy.skipImageReferences`; see [`crate::config::scope`]). An image outside its scope is
//! decided by the [`DefaultPolicy`] — every verifier report (nested included) passed and at least
//! one referrer was verified — which is the strictest decision there is without a policy, so
//! scoping a policy never lets an image out of scope pass more easily.

use super::{DefaultPolicy, Policy, PolicyInput, Verdict};
use crate::scope::{ImageNames, ImageScope};
use std::sync::Arc;

/// `inner` for the images of `scope`, [`DefaultPolicy`] for the others.
pub struct ScopedPolicy {
    inner: Arc<dyn Policy>,
    scope: ImageScope,
    fingerprint: String,
}

impl ScopedPolicy {
    /// `inner` limited to `scope`.
    pub fn new(inner: Arc<dyn Policy>, scope: ImageScope) -> ScopedPolicy {
        let fingerprint = format!("scoped({}):{}", scope.describe(), inner.fingerprint());
        ScopedPolicy {
            inner,
            scope,
            fingerprint,
        }
    }
}

impl Policy for ScopedPolicy {
    fn decide(&self, input: &PolicyInput<'_>) -> Verdict {
        let names = ImageNames::of(input.subject, false);
        if self.scope.applies(&names) {
            return self.inner.decide(input);
        }
        let v = DefaultPolicy.decide(input);
        Verdict {
            allow: v.allow,
            message: format!(
                "outside the policy's {} (default policy): {}",
                self.scope.describe(),
                v.message
            ),
        }
    }

    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn is_ratify_rego(&self) -> bool {
        self.inner.is_ratify_rego()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::report;

    struct AllowAll;
    impl Policy for AllowAll {
        fn decide(&self, _: &PolicyInput<'_>) -> Verdict {
            Verdict::allow("allowed by the inner policy")
        }
        fn fingerprint(&self) -> &str {
            "allow-all"
        }
    }

    fn input<'a>(
        subject: &'a str,
        reports: &'a [crate::report::VerifierReport],
    ) -> PolicyInput<'a> {
        PolicyInput {
            subject,
            digest: Some("sha256:00"),
            verifier_reports: reports,
        }
    }

    /// In scope the policy decides; out of scope the default policy does (here: no referrer,
    /// so a deny, where the permissive inner policy would have allowed).
    #[test]
    fn the_policy_decides_in_scope_and_the_default_policy_outside() {
        let p = ScopedPolicy::new(
            Arc::new(AllowAll),
            ImageScope {
                include: Some(vec!["reg-a.example/**".into()]),
                skip: vec!["reg-a.example/sandbox/**".into()],
            },
        );
        let v = p.decide(&input("reg-a.example/app:v1", &[]));
        assert!(v.allow && v.message.contains("inner"), "{v:?}");
        for outside in ["reg-b.example/app:v1", "reg-a.example/sandbox/app:v1"] {
            let v = p.decide(&input(outside, &[]));
            assert!(!v.allow, "{outside}: {v:?}");
            assert!(
                v.message
                    .contains("outside the policy's imageReferences [reg-a.example/**]")
                    && v.message.contains("no referrers"),
                "{v:?}"
            );
        }
        let ok = [report("v", "a/sig", "sha256:aa", true, vec![])];
        assert!(p.decide(&input("reg-b.example/app:v1", &ok)).allow);
        assert_ne!(p.fingerprint(), "allow-all");
        assert!(p.fingerprint().contains("reg-a.example/sandbox/**"));
    }
}
