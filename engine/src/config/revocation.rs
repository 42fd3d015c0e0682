//! The `revocation` section: how the host answers the guests' `revocation` imports (CRL and OCSP
//! fetching for certificate revocation checks; see `store::revocation`).
//!
//! ```yaml
//! revocation:
//!   offline: false                 # true: never fetch; CRLs only from crlFiles
//!   crlFiles:                      # CRL URL → file (DER or PEM), relative to this file
//!     "http://crl.example.com/ca.crl": crl/ca.crl
//!   allowedHosts: [crl.example.com, "ocsp.example.com:8080"]  # default: any host a cert names
//!   maxCrlBytes: 33554432
//!   maxOcspBytes: 20480
//!   crlTimeoutMs: 2000
//!   ocspTimeoutMs: 2000
//!   maxTtlMs: 86400000             # a CRL is cached until its nextUpdate, at most this long
//!   ocspTtlMs: 60000               # an OCSP response until its nextUpdate, at most this long
//!   cacheEntries: 1024
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::revocation::Settings;

/// The `revocation` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RevocationConfig {
    /// Fetch nothing over the network: CRLs come from `crlFiles` only, OCSP is never asked.
    pub offline: bool,
    /// CRL URL (as the certificates name it) → file holding that CRL, relative to the file.
    pub crl_files: BTreeMap<String, PathBuf>,
    /// Hosts (`host` or `host:port`) that may be asked; empty: any host a certificate names.
    pub allowed_hosts: Vec<String>,
    /// Largest CRL accepted, bytes.
    pub max_crl_bytes: u64,
    /// Largest OCSP response accepted, bytes.
    pub max_ocsp_bytes: u64,
    /// Timeout of one CRL download, milliseconds.
    pub crl_timeout_ms: u64,
    /// Timeout of one OCSP request, milliseconds.
    pub ocsp_timeout_ms: u64,
    /// Longest a CRL stays cached, milliseconds (its `nextUpdate` bounds it too).
    pub max_ttl_ms: u64,
    /// Longest an OCSP response stays cached (never past its `nextUpdate`), milliseconds.
    pub ocsp_ttl_ms: u64,
    /// Cached CRLs and OCSP responses at most.
    pub cache_entries: u64,
}

impl Default for RevocationConfig {
    fn default() -> Self {
        let s = Settings::default();
        RevocationConfig {
            offline: s.offline,
            crl_files: BTreeMap::new(),
            allowed_hosts: s.allowed_hosts,
            max_crl_bytes: s.max_crl_bytes,
            max_ocsp_bytes: s.max_ocsp_bytes,
            crl_timeout_ms: s.crl_timeout.as_millis() as u64,
            ocsp_timeout_ms: s.ocsp_timeout.as_millis() as u64,
            max_ttl_ms: s.max_ttl.as_millis() as u64,
            ocsp_ttl_ms: s.ocsp_ttl.as_millis() as u64,
            cache_entries: s.cache_entries,
        }
    }
}

impl RevocationConfig {
    /// Checks the values; errors are `(field, message)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        for (field, value) in [
            ("maxCrlBytes", self.max_crl_bytes),
            ("maxOcspBytes", self.max_ocsp_bytes),
            ("crlTimeoutMs", self.crl_timeout_ms),
            ("ocspTimeoutMs", self.ocsp_timeout_ms),
            ("cacheEntries", self.cache_entries),
        ] {
            if value == 0 {
                return Err((format!("revocation.{field}"), "must be at least 1".into()));
            }
        }
        for url in self.crl_files.keys() {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err((
                    format!("revocation.crlFiles[{url:?}]"),
                    "the key must be an http:// or https:// CRL URL".into(),
                ));
            }
        }
        if let Some(h) = self.allowed_hosts.iter().find(|h| h.trim().is_empty()) {
            return Err((
                "revocation.allowedHosts".into(),
                format!("{h:?}: a host must not be empty"),
            ));
        }
        Ok(())
    }

    /// The fetcher settings, with CRL file paths joined to `base_dir`.
    pub fn settings(&self, base_dir: &Path) -> Settings {
        Settings {
            offline: self.offline,
            crl_files: self
                .crl_files
                .iter()
                .map(|(url, path)| (url.clone(), base_dir.join(path)))
                .collect(),
            allowed_hosts: self.allowed_hosts.clone(),
            max_crl_bytes: self.max_crl_bytes,
            max_ocsp_bytes: self.max_ocsp_bytes,
            crl_timeout: Duration::from_millis(self.crl_timeout_ms),
            ocsp_timeout: Duration::from_millis(self.ocsp_timeout_ms),
            max_ttl: Duration::from_millis(self.max_ttl_ms),
            ocsp_ttl: Duration::from_millis(self.ocsp_ttl_ms),
            cache_entries: self.cache_entries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_fetcher_and_paths_are_relative_to_the_file() {
        let c: RevocationConfig = serde_yaml_ng::from_str(
            "offline: true\ncrlFiles: { \"http://crl.test/a.crl\": crl/a.crl }\n",
        )
        .unwrap();
        c.validate().unwrap();
        let s = c.settings(Path::new("/etc/vouch"));
        assert!(s.offline);
        assert_eq!(
            s.crl_files,
            [(
                "http://crl.test/a.crl".to_owned(),
                PathBuf::from("/etc/vouch/crl/a.crl")
            )]
        );
        assert_eq!(s.max_crl_bytes, Settings::default().max_crl_bytes);
        assert_eq!(s.ocsp_ttl, Settings::default().ocsp_ttl);
    }

    #[test]
    fn bad_values_are_named() {
        let c = RevocationConfig {
            crl_files: [("ldap://x".to_owned(), PathBuf::from("a"))].into(),
            ..RevocationConfig::default()
        };
        assert_eq!(
            c.validate().unwrap_err().0,
            "revocation.crlFiles[\"ldap://x\"]"
        );
        let c = RevocationConfig {
            crl_timeout_ms: 0,
            ..RevocationConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().0, "revocation.crlTimeoutMs");
        assert!(serde_yaml_ng::from_str::<RevocationConfig>("bogus: 1").is_err());
    }
}
