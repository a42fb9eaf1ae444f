//! The gossip encryption keyring as `/v1/operator/keyring` lists and changes it.
//!
//! A key is checked once, at the boundary (`GossipKey::parse`): base64 of 16, 24 or 32
//! bytes (AES-128/192/256), so a backend never sees a malformed one.

use base64::Engine;
use std::collections::BTreeMap;
use thiserror::Error;

/// A gossip encryption key: standard base64 of 16, 24 or 32 bytes, kept as its text
/// because keys are named by their text everywhere (keyring files, answers, the CLI).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GossipKey(String);

/// Why a key was refused. Nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("missing Key")]
    Missing,
    /// Go's `base64` wording, which Consul's operators know.
    #[error("illegal base64 data at input byte {0}")]
    NotBase64(usize),
    /// memberlist's wording.
    #[error("key size must be 16, 24 or 32 bytes")]
    WrongSize,
}

impl GossipKey {
    pub fn parse(text: &str) -> Result<GossipKey, KeyError> {
        if text.is_empty() {
            return Err(KeyError::Missing);
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|error| {
                KeyError::NotBase64(match error {
                    base64::DecodeError::InvalidByte(at, _)
                    | base64::DecodeError::InvalidLastSymbol(at, _) => at,
                    base64::DecodeError::InvalidLength(length) => length,
                    base64::DecodeError::InvalidPadding => text.len(),
                })
            })?;
        match bytes.len() {
            16 | 24 | 32 => Ok(GossipKey(text.to_owned())),
            _ => Err(KeyError::WrongSize),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a keyring request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyringOp {
    /// `GET`: the keys of every ring.
    List,
    /// `POST`: add a key to every member's keyring (primary unchanged).
    Install(GossipKey),
    /// `PUT`: make an installed key the primary (the one messages are encrypted with).
    Use(GossipKey),
    /// `DELETE`: drop a key that is not the primary.
    Remove(GossipKey),
}

/// The most nodes a keyring request may relay its answers through (Consul's limit).
pub const MAX_RELAY_FACTOR: u8 = 5;

/// One ring's answer: the WAN ring, or one datacenter's LAN ring.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyringResponse {
    pub wan: bool,
    pub datacenter: String,
    /// The network segment (Enterprise); empty.
    pub segment: String,
    /// Each key → how many members have it installed.
    pub keys: BTreeMap<String, usize>,
    /// Each primary key → how many members use it as primary.
    pub primary_keys: BTreeMap<String, usize>,
    /// Members that answered in this ring.
    pub num_nodes: usize,
    /// The ring's failure (`"1/3 nodes reported failure"`), if any member refused.
    pub error: Option<String>,
    /// Node name → why that node refused (`"Removing the primary key is not allowed"`).
    pub messages: BTreeMap<String, String>,
}
