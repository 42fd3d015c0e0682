//! X.509 certificate parsing: RFC 4514 names, serial numbers, [`CertInfo`].

use x509_parser::asn1_rs::oid;

use super::*;

/// Decodes one input entry into DER certificates: DER as is, or every CERTIFICATE block of PEM.
pub(super) fn decode_cert_entry<'a>(
    input: &'a [u8],
    what: &str,
    out: &mut Vec<(String, Cow<'a, [u8]>)>,
) -> Result<(), CryptoError> {
    let fail = |reason: String| CryptoError::UnparsableCertificate {
        what: what.to_owned(),
        reason,
    };
    if looks_like_der(input) {
        out.push((what.to_owned(), Cow::Borrowed(input)));
        return Ok(());
    }
    let start = out.len();
    for (i, block) in Pem::iter_from_buffer(input).enumerate() {
        let pem = block.map_err(|e| fail(format!("malformed PEM block {}: {e}", i + 1)))?;
        if pem.label != "CERTIFICATE" && pem.label != "X509 CERTIFICATE" {
            return Err(fail(format!(
                "PEM block {} is labelled {:?}, expected CERTIFICATE",
                i + 1,
                pem.label
            )));
        }
        let name = if i == 0 {
            what.to_owned()
        } else {
            format!("{what} (PEM block {})", i + 1)
        };
        out.push((name, Cow::Owned(pem.contents)));
    }
    if out.len() == start {
        return Err(fail(
            "neither DER (it does not start with an ASN.1 SEQUENCE) nor PEM with a CERTIFICATE block"
                .to_owned(),
        ));
    }
    Ok(())
}

/// Parses a DER certificate with x509-parser, rejecting trailing bytes.
pub(super) fn parse_x509<'a>(
    der: &'a [u8],
    what: &str,
) -> Result<X509Certificate<'a>, CryptoError> {
    let fail = |reason: String| CryptoError::UnparsableCertificate {
        what: what.to_owned(),
        reason,
    };
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok((rest, _)) => Err(fail(format!(
            "{} trailing bytes after the certificate",
            rest.len()
        ))),
        Err(e) => Err(fail(format!("not a valid X.509 certificate: {e}"))),
    }
}

/// Builds the [`CertInfo`] of a parsed certificate.
pub(super) fn cert_info(der: &[u8], cert: &X509Certificate<'_>) -> CertInfo {
    CertInfo {
        subject: format_name(cert.subject()),
        issuer: format_name(cert.issuer()),
        serial: serial_hex(cert.raw_serial()),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        sha256_fingerprint: hex::encode(digest(DigestAlgorithm::Sha256, der)),
    }
}

/// Lower-case hex of a serial number's magnitude, leading zero bytes removed.
pub(super) fn serial_hex(raw: &[u8]) -> String {
    let start = raw.iter().position(|&b| b != 0).unwrap_or(raw.len());
    if start == raw.len() {
        "00".to_owned()
    } else {
        hex::encode(&raw[start..])
    }
}

/// Formats a distinguished name (module docs give the form); x509-parser's form if malformed.
pub(super) fn format_name(name: &x509_parser::x509::X509Name<'_>) -> String {
    format_name_der(name.as_raw()).unwrap_or_else(|| name.to_string())
}

/// Formats DER `Name` bytes in RFC 4514 order.
pub(super) fn format_name_der(der: &[u8]) -> Option<String> {
    let rdns = read_whole(der, TAG_SEQUENCE)?;
    let mut parts = Vec::new();
    for rdn in TlvIter::new(rdns) {
        let rdn = rdn?;
        if rdn.tag != TAG_SET {
            return None;
        }
        let mut attrs = Vec::new();
        for atv in TlvIter::new(rdn.value) {
            let atv = atv?;
            if atv.tag != TAG_SEQUENCE {
                return None;
            }
            let oid = read_tlv(atv.value)?;
            if oid.tag != TAG_OID {
                return None;
            }
            let value_der = &atv.value[oid.len..];
            let value = read_tlv(value_der)?;
            if value.len != value_der.len() {
                return None;
            }
            attrs.push(format_attribute(
                oid.value,
                value.tag,
                value.value,
                value_der,
            ));
        }
        parts.push(attrs.join("+"));
    }
    parts.reverse();
    Some(parts.join(", "))
}

/// Formats one `type=value` pair.
pub(super) fn format_attribute(oid: &[u8], tag: u8, value: &[u8], value_der: &[u8]) -> String {
    const CN: &[u8] = &oid!(raw 2.5.4.3);
    const SERIALNUMBER: &[u8] = &oid!(raw 2.5.4.5);
    const C: &[u8] = &oid!(raw 2.5.4.6);
    const L: &[u8] = &oid!(raw 2.5.4.7);
    const ST: &[u8] = &oid!(raw 2.5.4.8);
    const STREET: &[u8] = &oid!(raw 2.5.4.9);
    const O: &[u8] = &oid!(raw 2.5.4.10);
    const OU: &[u8] = &oid!(raw 2.5.4.11);
    const POSTALCODE: &[u8] = &oid!(raw 2.5.4.17);
    const DC: &[u8] = &oid!(raw 0.9.2342.19200300.100.1.25);
    const UID: &[u8] = &oid!(raw 0.9.2342.19200300.100.1.1);
    let name = match oid {
        CN => Some("CN"),
        SERIALNUMBER => Some("SERIALNUMBER"),
        C => Some("C"),
        L => Some("L"),
        ST => Some("ST"),
        STREET => Some("STREET"),
        O => Some("O"),
        OU => Some("OU"),
        POSTALCODE => Some("POSTALCODE"),
        DC => Some("DC"),
        UID => Some("UID"),
        _ => None,
    };
    let text = match tag {
        // UTF8String, NumericString, PrintableString, IA5String, VisibleString
        12 | 18 | 19 | 22 | 26 => std::str::from_utf8(value).ok().map(str::to_owned),
        // TeletexString: treated as Latin-1, as most producers mean it.
        20 => Some(value.iter().map(|&b| char::from(b)).collect()),
        // BMPString: UTF-16BE.
        30 if value.len().is_multiple_of(2) => char::decode_utf16(
            value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]])),
        )
        .collect::<Result<String, _>>()
        .ok(),
        // UniversalString: UTF-32BE.
        28 if value.len().is_multiple_of(4) => value
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect::<Option<String>>(),
        _ => None,
    };
    match (name, text) {
        (Some(name), Some(text)) => format!("{name}={}", escape_dn_value(&text)),
        (name, _) => format!(
            "{}=#{}",
            name.map_or_else(|| decode_oid(oid), str::to_owned),
            hex::encode(value_der)
        ),
    }
}

/// Escapes an attribute value as RFC 4514 §2.4 says.
pub(super) fn escape_dn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
    out
}

/// Parse a certificate (PEM or DER; the first PEM block) without validating it.
pub fn parse_certificate(cert: &[u8]) -> Result<CertInfo, CryptoError> {
    let der: Cow<'_, [u8]> = if looks_like_der(cert) {
        Cow::Borrowed(cert)
    } else {
        let fail = |reason| CryptoError::UnparsableCertificate {
            what: "the certificate".to_owned(),
            reason,
        };
        let pem = first_pem(cert).map_err(fail)?;
        if pem.label != "CERTIFICATE" && pem.label != "X509 CERTIFICATE" {
            return Err(fail(format!(
                "the PEM block is labelled {:?}, expected CERTIFICATE",
                pem.label
            )));
        }
        Cow::Owned(pem.contents)
    };
    let parsed = parse_x509(&der, "the certificate")?;
    Ok(cert_info(&der, &parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `type=value` of a one-attribute `Name` whose attribute type is `dotted`.
    fn formatted(dotted: &str) -> String {
        let oid = encode_oid(dotted).unwrap();
        let value = b"v";
        let mut atv = vec![TAG_OID, oid.len() as u8];
        atv.extend_from_slice(&oid);
        atv.extend_from_slice(&[12, value.len() as u8]);
        atv.extend_from_slice(value);
        let mut name = vec![
            TAG_SEQUENCE,
            (atv.len() + 4) as u8,
            TAG_SET,
            (atv.len() + 2) as u8,
        ];
        name.extend_from_slice(&[TAG_SEQUENCE, atv.len() as u8]);
        name.extend_from_slice(&atv);
        format_name_der(&name).unwrap()
    }

    /// RFC 4514 §3: "If the AttributeType is defined to have a short name (descriptor) and that
    /// short name is known to be registered [...] as identifying the AttributeType, that short
    /// name [...] is used. Otherwise the AttributeType is encoded as the dotted-decimal encoding
    /// of the AttributeType's OBJECT IDENTIFIER."
    #[test]
    fn attribute_types_have_their_short_names() {
        for (dotted, short) in [
            ("2.5.4.3", "CN"),
            ("2.5.4.5", "SERIALNUMBER"),
            ("2.5.4.6", "C"),
            ("2.5.4.7", "L"),
            ("2.5.4.8", "ST"),
            ("2.5.4.9", "STREET"),
            ("2.5.4.10", "O"),
            ("2.5.4.11", "OU"),
            ("2.5.4.17", "POSTALCODE"),
            ("0.9.2342.19200300.100.1.25", "DC"),
            ("0.9.2342.19200300.100.1.1", "UID"),
        ] {
            assert_eq!(formatted(dotted), format!("{short}=v"), "{dotted}");
        }
        assert_eq!(formatted("2.5.4.12"), "2.5.4.12=#0c0176");
    }
}
