//! The filter language (`legate_api::filter`) against golden files: expressions and the
//! trees or errors they parse to, and expressions evaluated against records shaped like
//! Consul's answers. Run with `UPDATE_GOLDEN=1` to accept a deliberate change, and review
//! the diff.

mod evaluate;
mod golden;
mod parse;
