//! Native cost of the host `crypto` functions, to compare with the same calls made from a guest.
//!
//! Run: `cargo bench -p vouch --bench crypto_native`. Besides criterion's report, each case
//! prints one `ns/op` line from a plain timed loop so the figure is easy to grep.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use rcgen::{CertificateParams, DnType, KeyPair, PublicKeyData};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use vouch::crypto::{SignatureAlgorithm, SignatureEncoding, verify_signature};

const MSG: &[u8] = b"{\"critical\":{\"identity\":{\"docker-reference\":\"registry.example/app\"}}}";

/// Prints the mean ns/op of `f` over a fixed number of iterations.
fn print_ns_per_op<T>(name: &str, mut f: impl FnMut() -> T) {
    const ITERATIONS: u32 = 2_000;
    for _ in 0..100 {
        black_box(f());
    }
    let start = Instant::now();
    for _ in 0..ITERATIONS {
        black_box(f());
    }
    let ns = start.elapsed().as_nanos() / u128::from(ITERATIONS);
    println!("{name}: {ns} ns/op");
}

fn bench_verify(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("generate P-256 key");
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, key.serialized_der(), &rng)
            .expect("load P-256 key");
    let signature = pair.sign(&rng, MSG).expect("sign").as_ref().to_vec();
    let spki_der = key.subject_public_key_info();
    let spki_pem = key.public_key_pem();
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "bench signer");
    let cert_der = params.self_signed(&key).expect("self-sign").der().to_vec();
    let raw_point = key.public_key_raw().to_vec();

    let cases: [(&str, &[u8]); 3] = [
        ("verify_signature p256 der (spki der)", &spki_der),
        ("verify_signature p256 der (spki pem)", spki_pem.as_bytes()),
        ("verify_signature p256 der (cert der)", &cert_der),
    ];
    for (name, key_input) in cases {
        let call = || {
            verify_signature(
                SignatureAlgorithm::EcdsaP256Sha256,
                SignatureEncoding::Der,
                black_box(key_input),
                black_box(MSG),
                black_box(&signature),
            )
            .expect("valid signature")
        };
        print_ns_per_op(name, call);
        c.bench_function(name, |b| b.iter(call));

        // The host's own overhead: decode and check the key, then stop at the signature-shape
        // check (a 3-byte "fixed" signature) before ring runs.
        let overhead_name = name.replace("verify_signature", "key decoding overhead");
        let overhead = || {
            verify_signature(
                SignatureAlgorithm::EcdsaP256Sha256,
                SignatureEncoding::Fixed,
                black_box(key_input),
                black_box(MSG),
                black_box(&[1, 2, 3]),
            )
            .expect_err("a 3-byte signature is malformed")
        };
        print_ns_per_op(&overhead_name, overhead);
        c.bench_function(&overhead_name, |b| b.iter(overhead));
    }

    // The floor: ring alone on the raw point, no input decoding.
    let ring_only = || {
        ring::signature::UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, black_box(&raw_point))
            .verify(black_box(MSG), black_box(&signature))
            .expect("valid signature")
    };
    print_ns_per_op("ring p256 der (raw point, baseline)", ring_only);
    c.bench_function("ring p256 der (raw point, baseline)", |b| b.iter(ring_only));
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
