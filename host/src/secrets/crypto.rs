//! Sealing secret values: ChaCha20-Poly1305 with a random nonce per value,
//! and the workflow id and secret name as associated data, so a sealed value
//! moved to another workflow or name no longer opens.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use crate::storage::{create_private_file, random_bytes, random_hex};

/// The file in the data dir that holds the generated key, as hex.
const KEY_FILE: &str = "secret-key";
const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;

/// A sealed value: its nonce, then the ciphertext with its tag.
pub type Sealed = Vec<u8>;

/// The key that seals every secret of a host (and of every host sharing its
/// database).
#[derive(Clone)]
pub struct SecretKey {
    cipher: ChaCha20Poly1305,
}

impl SecretKey {
    /// A key given as 64 hex digits (`--secret-key`).
    pub fn from_hex(hex: &str) -> Result<SecretKey, String> {
        let hex = hex.trim();
        let bytes = decode_hex(hex)
            .filter(|b| b.len() == KEY_BYTES)
            .ok_or_else(|| "a secret key is 64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`".to_owned())?;
        Ok(SecretKey { cipher: ChaCha20Poly1305::new(Key::from_slice(&bytes)) })
    }

    /// The key in `DATA_DIR/secret-key`, generated (readable by the owner
    /// only) if there is none.
    pub fn in_data_dir(data_dir: &Path) -> anyhow::Result<SecretKey> {
        use anyhow::Context;
        let path = key_path(data_dir);
        if !path.exists() {
            let hex = random_hex(KEY_BYTES)?;
            create_private_file(&path, &format!("{hex}\n"))
                .with_context(|| format!("could not write the secret key {}", path.display()))?;
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("could not read {}", path.display()))?;
        SecretKey::from_hex(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    pub fn seal(&self, workflow: &str, name: &str, value: &str) -> Sealed {
        let mut nonce = [0u8; NONCE_BYTES];
        random_bytes(&mut nonce).expect("the OS gives randomness");
        let aad = associated(workflow, name);
        let payload = Payload { msg: value.as_bytes(), aad: &aad };
        let ciphertext = self.cipher.encrypt(Nonce::from_slice(&nonce), payload).expect("sealing never fails");
        [&nonce[..], &ciphertext].concat()
    }

    /// The value, or `None` if this key did not seal it for this workflow and name.
    pub fn open(&self, workflow: &str, name: &str, sealed: &[u8]) -> Option<String> {
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_BYTES)?;
        let aad = associated(workflow, name);
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: &aad }).ok()?;
        String::from_utf8(plain).ok()
    }
}

pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(KEY_FILE)
}

/// `workflow NUL name`: names and ids never hold NUL.
fn associated(workflow: &str, name: &str) -> Vec<u8> {
    [workflow.as_bytes(), &[0], name.as_bytes()].concat()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn a_sealed_value_opens_only_for_its_key_workflow_and_name() {
        let key = SecretKey::from_hex(HEX).unwrap();
        let sealed = key.seal("shop", "TOKEN", "s3cret");
        assert!(!sealed.windows(6).any(|w| w == b"s3cret"), "the value is not stored in the clear");
        assert_eq!(key.open("shop", "TOKEN", &sealed).as_deref(), Some("s3cret"));
        assert_eq!(key.open("other", "TOKEN", &sealed), None, "another workflow");
        assert_eq!(key.open("shop", "OTHER", &sealed), None, "another name");
        let other = SecretKey::from_hex(&HEX.replace("00", "ff")).unwrap();
        assert_eq!(other.open("shop", "TOKEN", &sealed), None, "another key");
        assert_ne!(key.seal("shop", "TOKEN", "s3cret"), sealed, "a fresh nonce each time");
    }

    #[test]
    fn keys_are_64_hex_digits_and_one_is_generated_once_into_the_data_dir() {
        assert!(SecretKey::from_hex("abc").err().unwrap().contains("64 hex digits"));
        assert!(SecretKey::from_hex(&"zz".repeat(32)).is_err());
        let dir = tempfile::TempDir::new().unwrap();
        let first = SecretKey::in_data_dir(dir.path()).unwrap();
        let sealed = first.seal("w", "N", "v");
        let again = SecretKey::in_data_dir(dir.path()).unwrap();
        assert_eq!(again.open("w", "N", &sealed).as_deref(), Some("v"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(key_path(dir.path())).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
