//! Encryption at rest: the cost of sealing and opening one record (fresh DEK, two AES-256-GCM
//! operations each way) against the floor of a bare AES-256-GCM encryption of the same bytes.
//!
//! Run: `cargo bench -p keyward-store --bench seal`.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use divan::{Bencher, black_box};
use keyward_store::seal::{Binding, Record};
use keyward_store::{Kek, Keyring};

fn main() {
    divan::main();
}

const SIZES: &[usize] = &[256, 2048, 16384];

fn binding() -> Binding<'static> {
    Binding {
        record: Record {
            table: "crypto_key_entries",
            field: "content",
            row: "0197a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        },
        project: "0197a1b2-c3d4-7e5f-8a9b-000000000001",
        environment: "0197a1b2-c3d4-7e5f-8a9b-000000000002",
        object: "0197a1b2-c3d4-7e5f-8a9b-000000000003",
    }
}

fn ring() -> Keyring {
    Keyring::new(Kek::from_bytes(&[7; 32]), Vec::new())
}

#[divan::bench(args = SIZES)]
fn seal(bencher: Bencher, size: usize) {
    let ring = ring();
    let plain = vec![0x5a; size];
    bencher.bench(|| ring.seal(black_box(&binding()), black_box(&plain)));
}

#[divan::bench(args = SIZES)]
fn open(bencher: Bencher, size: usize) {
    let ring = ring();
    let sealed = ring.seal(&binding(), &vec![0x5a; size]);
    bencher.bench(|| {
        ring.open(black_box(&binding()), black_box(&sealed))
            .unwrap()
    });
}

/// Floor: one AES-256-GCM encryption of the plaintext under a ready key, fixed nonce.
#[divan::bench(args = SIZES)]
fn floor_aes_gcm(bencher: Bencher, size: usize) {
    let cipher = Aes256Gcm::new_from_slice(&[7; 32]).unwrap();
    let nonce = Nonce::try_from(&[1u8; 12][..]).unwrap();
    let plain = vec![0x5a; size];
    bencher.bench(|| {
        cipher
            .encrypt(black_box(&nonce), black_box(&plain[..]))
            .unwrap()
    });
}
