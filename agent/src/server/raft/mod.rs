//! Raft on sled (in progress).
