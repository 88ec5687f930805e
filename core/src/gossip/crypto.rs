//! Gossip encryption: AES-256-GCM (or -128/-192 with a shorter key) on every datagram and
//! push-pull stream, with a keyring as Consul's `encrypt` / `keyring` manage it. A sealed
//! message is `[1][nonce 12][ciphertext + tag 16]`, as memberlist lays it out.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce};
use base64::Engine;
use rand::RngCore;

use crate::codec::WireError;

const SEALED_VERSION: u8 = 1;
const NONCE_BYTES: usize = 12;

#[derive(Clone)]
enum Cipher {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
}

/// A gossip key: what `tribune keygen` prints and `encrypt` holds.
#[derive(Clone)]
pub struct Key {
    pub base64: String,
    cipher: Cipher,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)") // never print key material
    }
}

impl Key {
    /// Parses a base64 key of 16 or 32 bytes; the error text is Consul's.
    pub fn parse(b64: &str) -> Result<Key, String> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| format!("Failed to decode key: {e}"))?;
        let cipher = match raw.len() {
            16 => Cipher::Aes128(Box::new(Aes128Gcm::new_from_slice(&raw).unwrap())),
            32 => Cipher::Aes256(Box::new(Aes256Gcm::new_from_slice(&raw).unwrap())),
            n => return Err(format!("key size must be 16 or 32 bytes (24-byte AES-192 keys are not supported yet); got {n}")),
        };
        Ok(Key {
            base64: b64.trim().to_string(),
            cipher,
        })
    }

    /// A fresh random 32-byte key in base64 (`keygen`).
    pub fn generate() -> String {
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        base64::engine::general_purpose::STANDARD.encode(raw)
    }

    fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::thread_rng().fill_bytes(&mut nonce);
        let nonce_ref = Nonce::from_slice(&nonce);
        let sealed = match &self.cipher {
            Cipher::Aes128(c) => c.encrypt(nonce_ref, plain),
            Cipher::Aes256(c) => c.encrypt(nonce_ref, plain),
        }
        .expect("AES-GCM encryption does not fail for in-memory buffers");
        let mut out = Vec::with_capacity(1 + NONCE_BYTES + sealed.len());
        out.push(SEALED_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    fn open(&self, msg: &[u8]) -> Option<Vec<u8>> {
        let nonce = Nonce::from_slice(&msg[1..1 + NONCE_BYTES]);
        let body = &msg[1 + NONCE_BYTES..];
        match &self.cipher {
            Cipher::Aes128(c) => c.decrypt(nonce, body).ok(),
            Cipher::Aes256(c) => c.decrypt(nonce, body).ok(),
        }
    }
}

/// The keys a member accepts; the first (primary) one encrypts.
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    pub keys: Vec<Key>,
}

impl Keyring {
    pub fn enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The keys in base64, primary first (what `local.keyring` holds).
    pub fn keys_base64(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.base64.clone()).collect()
    }

    /// Adds a key (memberlist's `AddKey`): installed keys decrypt; the primary is unchanged.
    /// Installing a present key is a no-op. Returns whether the ring changed.
    pub fn install(&mut self, key: Key) -> Result<bool, String> {
        if self.keys.iter().any(|k| k.base64 == key.base64) {
            return Ok(false);
        }
        if self.keys.len() >= crate::config::KEYRING_KEYS_MAX {
            return Err(format!(
                "Keyring is full ({} keys); remove one first",
                crate::config::KEYRING_KEYS_MAX
            ));
        }
        self.keys.push(key);
        Ok(true)
    }

    /// Makes an installed key the primary (memberlist's `UseKey`).
    pub fn use_key(&mut self, b64: &str) -> Result<bool, String> {
        let at = self
            .keys
            .iter()
            .position(|k| k.base64 == b64)
            .ok_or("Requested key is not in the keyring")?;
        let key = self.keys.remove(at);
        self.keys.insert(0, key);
        Ok(at != 0)
    }

    /// Removes a key that is not the primary (memberlist's `RemoveKey`); an absent key is a
    /// no-op.
    pub fn remove(&mut self, b64: &str) -> Result<bool, String> {
        if self.keys.first().is_some_and(|k| k.base64 == b64) {
            return Err("Removing the primary key is not allowed".into());
        }
        let before = self.keys.len();
        self.keys.retain(|k| k.base64 != b64);
        Ok(self.keys.len() != before)
    }

    /// Encrypts with the primary key; plaintext passes through when no key is set.
    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        match self.keys.first() {
            Some(k) => k.seal(plain),
            None => plain.to_vec(),
        }
    }

    /// Decrypts with any installed key. With a keyring, plaintext and unknown keys are refused.
    pub fn open(&self, msg: &[u8]) -> Result<Vec<u8>, WireError> {
        if !self.enabled() {
            return Ok(msg.to_vec());
        }
        if msg.len() < 1 + NONCE_BYTES + 16 || msg[0] != SEALED_VERSION {
            return Err(WireError("not encrypted, or truncated"));
        }
        self.keys
            .iter()
            .find_map(|k| k.open(msg))
            .ok_or(WireError("no installed key decrypts this message"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_messages_open_only_with_an_installed_key() {
        let a = Keyring {
            keys: vec![Key::parse(&Key::generate()).unwrap()],
        };
        let b = Keyring {
            keys: vec![Key::parse(&Key::generate()).unwrap()],
        };
        let sealed = a.seal(b"ping");
        assert_eq!(a.open(&sealed).unwrap(), b"ping");
        assert!(b.open(&sealed).is_err(), "a wrong key must not open it");
        assert!(a
            .open(b"TG\x01\x01plaintext-packet-xxxxxxxxxxxxxx")
            .is_err());
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(
            a.open(&flipped).is_err(),
            "a tampered message must not open"
        );
        for cut in 0..sealed.len() {
            assert!(a.open(&sealed[..cut]).is_err());
        }
        // A second installed key (rotation) opens what the old primary sealed.
        let both = Keyring {
            keys: vec![b.keys[0].clone(), a.keys[0].clone()],
        };
        assert_eq!(both.open(&sealed).unwrap(), b"ping");
    }

    #[test]
    fn install_use_remove_follow_memberlist() {
        let (a, b) = (Key::generate(), Key::generate());
        let mut ring = Keyring {
            keys: vec![Key::parse(&a).unwrap()],
        };
        assert_eq!(ring.install(Key::parse(&b).unwrap()), Ok(true));
        assert_eq!(ring.install(Key::parse(&b).unwrap()), Ok(false));
        assert_eq!(
            ring.keys_base64(),
            vec![a.clone(), b.clone()],
            "primary unchanged"
        );
        assert!(ring.use_key(&Key::generate()).is_err());
        assert_eq!(ring.use_key(&b), Ok(true));
        assert_eq!(ring.keys_base64(), vec![b.clone(), a.clone()]);
        assert_eq!(
            ring.remove(&b),
            Err("Removing the primary key is not allowed".into())
        );
        assert_eq!(ring.remove(&a), Ok(true));
        assert_eq!(ring.remove(&a), Ok(false));
        assert_eq!(ring.keys_base64(), vec![b]);
    }

    #[test]
    fn keys_must_be_16_or_32_bytes_of_base64() {
        assert!(Key::parse("BuIYviAYi+BbNkOJxZ4YW4xogpF1eFkeZzXgQCA0GFw=").is_ok());
        assert!(Key::parse("not base64!").is_err());
        assert!(Key::parse("AAAA").is_err());
    }
}
