//! Gossip encryption keys and the packet envelope.
//!
//! Envelope (version 1), used for every UDP packet and push-pull frame:
//!
//! ```text
//! plaintext:  [0x01 version][0x00 kind=plain] payload
//! AES-GCM:    [0x01 version][0x01 kind=aes-gcm] nonce(12) ciphertext+tag(16)
//! ```
//!
//! The two header bytes are the AEAD's associated data, so they are
//! authenticated too. No key id travels: the receiver tries the primary
//! key, then the others (a keyring holds a handful of keys during a
//! rotation at most, so this costs little). Nothing reaches foca before
//! authentication succeeds.

use std::fs;
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes192;
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand10::Rng;

/// Version byte that starts every envelope.
pub const ENVELOPE_VERSION: u8 = 1;
const KIND_PLAIN: u8 = 0;
const KIND_AES_GCM: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Bytes the encrypted envelope adds to a payload.
pub const ENVELOPE_OVERHEAD: usize = 2 + NONCE_LEN + TAG_LEN;
/// At most this many keys may be installed at once.
pub const MAX_KEYS: usize = 16;

type Aes192Gcm = AesGcm<Aes192, U12>;

/// Keyring and key errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key is not valid base64. Nothing changed; retrying the same input fails again.
    #[error("encrypt key is not valid base64: {0}")]
    Base64(String),
    /// The key decodes to a length AES does not take. Nothing changed.
    #[error("encrypt key must be 16, 24 or 32 bytes after base64 decoding, got {0}")]
    Length(usize),
    /// `use`/`remove` of a key that is not installed. Nothing changed.
    #[error("key is not installed in the keyring")]
    NotInstalled,
    /// Removing the primary key is refused; `use` another key first. Nothing changed.
    #[error("removing the primary key is not allowed; make another key primary first")]
    RemovePrimary,
    /// Gossip encryption is not enabled on this agent. Nothing changed;
    /// restart with an encrypt key to enable it.
    #[error("gossip encryption is not enabled")]
    Disabled,
    /// The keyring is full. Nothing changed; remove a key first.
    #[error("keyring is full ({MAX_KEYS} keys)")]
    Full,
    /// The keyring file could not be read or written. On write, the
    /// in-memory keyring changed but the file kept its previous content;
    /// retrying may help if the cause (disk full, permissions) is fixed.
    #[error("keyring file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// One AES key (16, 24 or 32 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct Key(Vec<u8>);

impl std::fmt::Debug for Key {
    // Never print key material, not even in debug logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key(AES-{})", self.0.len() * 8)
    }
}

impl Key {
    /// Parses a base64 key (Consul's `encrypt` format).
    pub fn from_base64(s: &str) -> Result<Self, KeyError> {
        let raw = B64
            .decode(s.trim())
            .map_err(|e| KeyError::Base64(e.to_string()))?;
        Self::from_bytes(raw)
    }

    /// Wraps raw key bytes.
    pub fn from_bytes(raw: Vec<u8>) -> Result<Self, KeyError> {
        match raw.len() {
            16 | 24 | 32 => Ok(Self(raw)),
            n => Err(KeyError::Length(n)),
        }
    }

    /// The key in base64.
    pub fn to_base64(&self) -> String {
        B64.encode(&self.0)
    }

    fn seal(&self, aad: &[u8], nonce: &[u8; NONCE_LEN], msg: &[u8]) -> Option<Vec<u8>> {
        let nonce = Nonce::<U12>::from_slice(nonce);
        let payload = Payload { msg, aad };
        match self.0.len() {
            16 => Aes128Gcm::new_from_slice(&self.0)
                .ok()?
                .encrypt(nonce, payload),
            24 => Aes192Gcm::new_from_slice(&self.0)
                .ok()?
                .encrypt(nonce, payload),
            _ => Aes256Gcm::new_from_slice(&self.0)
                .ok()?
                .encrypt(nonce, payload),
        }
        .ok()
    }

    fn open(&self, aad: &[u8], nonce: &[u8], msg: &[u8]) -> Option<Vec<u8>> {
        let nonce = Nonce::<U12>::from_slice(nonce);
        let payload = Payload { msg, aad };
        match self.0.len() {
            16 => Aes128Gcm::new_from_slice(&self.0)
                .ok()?
                .decrypt(nonce, payload),
            24 => Aes192Gcm::new_from_slice(&self.0)
                .ok()?
                .decrypt(nonce, payload),
            _ => Aes256Gcm::new_from_slice(&self.0)
                .ok()?
                .decrypt(nonce, payload),
        }
        .ok()
    }
}

/// A new random 32-byte key, base64 (what `consul keygen` prints).
pub fn keygen() -> String {
    let mut raw = [0u8; 32];
    rand10::rng().fill_bytes(&mut raw);
    B64.encode(raw)
}

/// Installed keys and which one is primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringList {
    /// Every installed key, base64, primary first.
    pub keys: Vec<String>,
    /// The primary key, base64.
    pub primary: String,
}

/// The keyring: the primary key encrypts; every key may decrypt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyring {
    // Invariant: non-empty, primary first, no duplicates.
    keys: Vec<Key>,
}

impl Keyring {
    /// A keyring holding one (primary) key.
    pub fn new(primary: Key) -> Self {
        Self {
            keys: vec![primary],
        }
    }

    /// Builds a keyring from base64 keys, the first one primary.
    pub fn from_base64<S: AsRef<str>>(keys: &[S]) -> Result<Self, KeyError> {
        let mut parsed = Vec::new();
        for k in keys {
            let key = Key::from_base64(k.as_ref())?;
            if !parsed.contains(&key) {
                parsed.push(key);
            }
        }
        if parsed.is_empty() {
            return Err(KeyError::Length(0));
        }
        if parsed.len() > MAX_KEYS {
            return Err(KeyError::Full);
        }
        Ok(Self { keys: parsed })
    }

    /// The primary key.
    pub fn primary(&self) -> &Key {
        &self.keys[0]
    }

    /// Keys (base64) and which is primary.
    pub fn list(&self) -> KeyringList {
        KeyringList {
            keys: self.keys.iter().map(Key::to_base64).collect(),
            primary: self.primary().to_base64(),
        }
    }

    /// Installs a key for decryption. Installing a present key is a no-op.
    pub fn install(&mut self, key: Key) -> Result<(), KeyError> {
        if self.keys.contains(&key) {
            return Ok(());
        }
        if self.keys.len() >= MAX_KEYS {
            return Err(KeyError::Full);
        }
        self.keys.push(key);
        Ok(())
    }

    /// Makes an installed key primary.
    pub fn use_key(&mut self, key: &Key) -> Result<(), KeyError> {
        let pos = self
            .keys
            .iter()
            .position(|k| k == key)
            .ok_or(KeyError::NotInstalled)?;
        let k = self.keys.remove(pos);
        self.keys.insert(0, k);
        Ok(())
    }

    /// Removes a non-primary key.
    pub fn remove(&mut self, key: &Key) -> Result<(), KeyError> {
        if self.primary() == key {
            return Err(KeyError::RemovePrimary);
        }
        let pos = self
            .keys
            .iter()
            .position(|k| k == key)
            .ok_or(KeyError::NotInstalled)?;
        self.keys.remove(pos);
        Ok(())
    }

    /// Encrypts `payload` with the primary key and a random nonce.
    pub fn seal(&self, payload: &[u8]) -> Vec<u8> {
        // A fresh OS-seeded CSPRNG nonce for every packet, never the
        // (possibly seeded, deterministic) protocol RNG: a repeated nonce
        // under one key breaks GCM.
        let mut nonce = [0u8; NONCE_LEN];
        rand10::rng().fill_bytes(&mut nonce);
        let header = [ENVELOPE_VERSION, KIND_AES_GCM];
        let mut out = Vec::with_capacity(payload.len() + ENVELOPE_OVERHEAD);
        out.extend_from_slice(&header);
        out.extend_from_slice(&nonce);
        // Encryption with a valid key length cannot fail.
        out.extend(
            self.primary()
                .seal(&header, &nonce, payload)
                .unwrap_or_default(),
        );
        out
    }

    /// Serialises as a JSON list of base64 keys, primary first.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.list().keys).unwrap_or_else(|_| "[]".into())
    }

    /// Reads a keyring file written by [`Keyring::save`].
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let file_err = |reason: String| KeyError::File {
            path: path.display().to_string(),
            reason,
        };
        let text = fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
        let keys: Vec<String> =
            serde_json::from_str(&text).map_err(|e| file_err(format!("not a JSON list: {e}")))?;
        Self::from_base64(&keys)
    }

    /// Writes the keyring atomically: temp file, fsync, rename, fsync dir.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        write_atomic(path, self.to_json().as_bytes()).map_err(|e| KeyError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }
}

/// Writes `data` to `path` so that a crash leaves either the old or the
/// new content, never a torn file.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "keyring".into());
    let tmp = match dir {
        Some(d) => d.join(format!(".{name}.tmp")),
        None => Path::new(&format!(".{name}.tmp")).to_path_buf(),
    };
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(d) = dir {
        // Make the rename itself durable.
        fs::File::open(d)?.sync_all()?;
    }
    Ok(())
}

/// Why an envelope was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Too short or unknown version/kind.
    Malformed,
    /// Encrypted, but no installed key authenticates it (or no keyring).
    Auth,
    /// Plaintext while `verify_incoming` demands encryption.
    PlaintextRefused,
}

/// Wraps a payload for the wire: encrypted with the primary key when a
/// keyring is present and `encrypt` (verify_outgoing) is on, else plain.
pub fn seal(keyring: Option<&Keyring>, encrypt: bool, payload: &[u8]) -> Vec<u8> {
    match keyring {
        Some(k) if encrypt => k.seal(payload),
        _ => {
            let mut out = Vec::with_capacity(payload.len() + 2);
            out.extend_from_slice(&[ENVELOPE_VERSION, KIND_PLAIN]);
            out.extend_from_slice(payload);
            out
        }
    }
}

/// Unwraps an envelope. Plaintext is accepted only when there is no
/// keyring or `verify_incoming` is off.
pub fn open(
    keyring: Option<&Keyring>,
    verify_incoming: bool,
    data: &[u8],
) -> Result<Vec<u8>, OpenError> {
    if data.len() < 2 || data[0] != ENVELOPE_VERSION {
        return Err(OpenError::Malformed);
    }
    match data[1] {
        KIND_PLAIN => {
            if keyring.is_some() && verify_incoming {
                Err(OpenError::PlaintextRefused)
            } else {
                Ok(data[2..].to_vec())
            }
        }
        KIND_AES_GCM => {
            if data.len() < ENVELOPE_OVERHEAD {
                return Err(OpenError::Malformed);
            }
            let ring = keyring.ok_or(OpenError::Auth)?;
            let (aad, rest) = data.split_at(2);
            let (nonce, ct) = rest.split_at(NONCE_LEN);
            ring.keys
                .iter()
                .find_map(|k| k.open(aad, nonce, ct))
                .ok_or(OpenError::Auth)
        }
        _ => Err(OpenError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8, len: usize) -> Key {
        Key::from_bytes(vec![b; len]).unwrap()
    }

    #[test]
    fn length_error_names_the_problem() {
        let e = Key::from_base64(&B64.encode([0u8; 12])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "encrypt key must be 16, 24 or 32 bytes after base64 decoding, got 12"
        );
        assert!(matches!(Key::from_base64("%%%"), Err(KeyError::Base64(_))));
        assert!(Key::from_base64(&keygen()).is_ok());
    }

    #[test]
    fn all_key_sizes_roundtrip_and_other_keys_decrypt() {
        for len in [16, 24, 32] {
            let mut ring = Keyring::new(key(1, len));
            let sealed = ring.seal(b"hello");
            assert_eq!(sealed.len(), 5 + ENVELOPE_OVERHEAD);
            assert_eq!(open(Some(&ring), true, &sealed).unwrap(), b"hello");
            // A receiver whose primary differs but has the key installed.
            let mut other = Keyring::new(key(2, 32));
            assert_eq!(open(Some(&other), true, &sealed), Err(OpenError::Auth));
            other.install(key(1, len)).unwrap();
            assert_eq!(open(Some(&other), true, &sealed).unwrap(), b"hello");
            ring.install(key(3, 16)).unwrap();
        }
    }

    #[test]
    fn tampering_and_plaintext_are_rejected() {
        let ring = Keyring::new(key(1, 32));
        let mut sealed = ring.seal(b"payload");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(open(Some(&ring), true, &sealed), Err(OpenError::Auth));
        // The header bytes are authenticated: flipping the kind is caught
        // as malformed, and a forged version is refused outright.
        let plain = seal(None, true, b"x");
        assert_eq!(plain, vec![1, 0, b'x']);
        assert_eq!(
            open(Some(&ring), true, &plain),
            Err(OpenError::PlaintextRefused)
        );
        assert_eq!(open(Some(&ring), false, &plain).unwrap(), b"x");
        assert_eq!(open(None, true, &plain).unwrap(), b"x");
        assert_eq!(open(None, true, &ring.seal(b"x")), Err(OpenError::Auth));
        assert_eq!(open(None, true, &[2, 0, 1]), Err(OpenError::Malformed));
        assert_eq!(open(None, true, &[1]), Err(OpenError::Malformed));
        assert_eq!(
            open(Some(&ring), true, &[1, 1, 0, 0]),
            Err(OpenError::Malformed)
        );
    }

    /// Pins the envelope: version 1, kind 1, nonce, AES-GCM(ct||tag) with
    /// the two header bytes as associated data. Decrypting a fixed blob
    /// proves a later release still reads today's packets.
    #[test]
    fn envelope_fixture() {
        let ring = Keyring::new(key(7, 16));
        let nonce = [9u8; 12];
        let ct = ring.primary().seal(&[1, 1], &nonce, b"legate").unwrap();
        let mut blob = vec![1, 1];
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ct);
        let hex: String = blob.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "0101090909090909090909090909cecb0d302db057a57a59fcb5fa740581bd48d7ade5b8"
        );
        assert_eq!(open(Some(&ring), true, &blob).unwrap(), b"legate");
    }

    #[test]
    fn keyring_ops() {
        let (a, b) = (key(1, 32), key(2, 32));
        let mut ring = Keyring::new(a.clone());
        assert_eq!(ring.remove(&a), Err(KeyError::RemovePrimary));
        assert_eq!(ring.use_key(&b), Err(KeyError::NotInstalled));
        ring.install(b.clone()).unwrap();
        ring.install(b.clone()).unwrap();
        assert_eq!(ring.list().keys.len(), 2);
        ring.use_key(&b).unwrap();
        assert_eq!(ring.list().primary, b.to_base64());
        assert_eq!(ring.list().keys, vec![b.to_base64(), a.to_base64()]);
        ring.remove(&a).unwrap();
        assert_eq!(ring.list().keys, vec![b.to_base64()]);
        assert_eq!(format!("{b:?}"), "Key(AES-256)");
    }

    #[test]
    fn persistence_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        let mut ring = Keyring::new(key(1, 16));
        ring.install(key(2, 32)).unwrap();
        ring.save(&path).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!(
                "[\"{}\",\"{}\"]",
                key(1, 16).to_base64(),
                key(2, 32).to_base64()
            )
        );
        assert_eq!(Keyring::load(&path).unwrap(), ring);
        fs::write(&path, "{").unwrap();
        let e = Keyring::load(&path).unwrap_err().to_string();
        assert!(e.contains("not a JSON list"), "{e}");
    }
}
