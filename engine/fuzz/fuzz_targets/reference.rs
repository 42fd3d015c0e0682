//! Fuzzes image-reference parsing: never panics, and whatever parses round-trips through its
//! normalised form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vouch::oci::Reference;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(reference) = Reference::parse(input) else {
        return;
    };
    let shown = reference.to_string();
    let again = Reference::parse(&shown).expect("a normalised reference parses");
    assert_eq!(again, reference, "round trip of {input:?} via {shown:?}");
    assert_eq!(again.to_string(), shown);
    assert!(shown.len() <= input.len() + "docker.io/library/:latest".len());
    let _ = reference.is_loopback();
    let _ = reference.tag_or_digest();
});
