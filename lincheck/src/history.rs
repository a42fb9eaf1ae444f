//! What a client did and saw: one `Operation` per request.

/// A value of a register; `None` reads as "no such key".
pub type Value = String;

/// What a client asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Read,
    Write(Value),
    /// Set `to` if the register holds `from` (rule 4 of the crate doc). `from: None` is
    /// Consul's `?cas=0`: create only if the key does not exist.
    Cas {
        from: Option<Value>,
        to: Value,
    },
}

/// What the client was told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// The value read (`None`: the key did not exist).
    Read(Option<Value>),
    /// The write was acknowledged.
    Written,
    /// The compare-and-set answered `true` or `false`.
    Cas(bool),
    /// No answer that says what happened (rule 3 of the crate doc).
    Unknown,
}

/// One request: sent at `call`, answered at `ret` (`None` when its outcome is unknown).
/// Times are in any unit, from one clock shared by all clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub client: u32,
    pub key: String,
    pub input: Input,
    pub output: Output,
    pub call: u64,
    pub ret: Option<u64>,
}

impl Operation {
    /// Whether the outcome is known: an answer arrived and says what happened.
    pub fn is_known(&self) -> bool {
        self.ret.is_some() && self.output != Output::Unknown
    }
}
