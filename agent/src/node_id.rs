//! The node's UUID: given in config, or generated once and kept in the data directory, so a
//! restarted agent keeps its identity (Consul keeps it in `<data_dir>/node-id`).

use std::io;
use std::path::Path;

pub fn load_or_create(data_dir: &Path, configured: Option<&str>) -> io::Result<String> {
    let path = data_dir.join("node-id");
    if let Some(id) = configured {
        let id = parse(id).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("node_id {id:?} is not a UUID"),
            )
        })?;
        std::fs::write(&path, &id)?;
        return Ok(id);
    }
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(text.trim()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} holds no UUID", path.display()),
            )
        }),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let id = uuid::Uuid::new_v4().to_string();
            let temporary = data_dir.join("node-id.tmp");
            std::fs::write(&temporary, &id)?;
            std::fs::File::open(&temporary)?.sync_all()?;
            std::fs::rename(&temporary, &path)?;
            Ok(id)
        }
        Err(error) => Err(error),
    }
}

fn parse(text: &str) -> Option<String> {
    uuid::Uuid::parse_str(text)
        .ok()
        .map(|id| id.hyphenated().to_string())
}

/// The Raft node id: all 128 bits of the UUID, so two servers' ids differ whenever their
/// UUIDs do (an id cut to 8 bytes made UUIDs that differ only in their tail collide).
pub fn raft_id(node_id: &str) -> u128 {
    uuid::Uuid::parse_str(node_id)
        .expect("node ids are validated UUIDs")
        .as_u128()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), None).unwrap();
        assert_eq!(load_or_create(dir.path(), None).unwrap(), first);
        assert!(load_or_create(dir.path(), Some("not-a-uuid")).is_err());
        assert_ne!(raft_id(&first), 0);
    }

    #[test]
    fn raft_ids_differ_when_only_the_tail_of_the_uuid_does() {
        let a = raft_id("0b7a3c1e-58d4-4b8e-9e2f-6d1c0a9b8e7f");
        let b = raft_id("0b7a3c1e-58d4-4b8e-9e2f-6d1c0a9b8e70");
        assert_ne!(a, b);
        assert_eq!(a, 0x0b7a3c1e_58d4_4b8e_9e2f_6d1c0a9b8e7f);
    }
}
