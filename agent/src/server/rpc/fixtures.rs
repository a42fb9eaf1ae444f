//! Byte fixtures for the server RPC messages, under the rules of `legate_catalog::codec`: a
//! server must understand what a server of the previous release sends it during a rolling
//! upgrade, so every request and response variant keeps its bytes.

use super::message::*;
use crate::server::raft::record::{
    EntryRecord, LogIdV1, MembershipV1, PayloadV1, SnapshotHeader, VoteRecord,
};
use legate_api::backend::{AutopilotConfig, PeerSelector, RaftConfiguration, RaftServer};
use legate_catalog::codec::fixture;
use legate_catalog::command::{KvCondition, KvSet};
use legate_catalog::{Command, KvEntry, LogPayload, Outcome, Query, QueryResult};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

const A: u128 = 0x0b7a3c1e_58d4_4b8e_9e2f_6d1c0a9b8e7f;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rpc")
}

fn vote() -> VoteRecord {
    VoteRecord::V1 {
        term: 3,
        node: A,
        committed: true,
    }
}

fn log_id(index: u64) -> LogIdV1 {
    LogIdV1 {
        term: 3,
        node: A,
        index,
    }
}

fn command() -> LogPayload {
    LogPayload::from(Command::KvSet(KvSet {
        entry: KvEntry {
            key: "k".into(),
            value: b"v".to_vec(),
            ..KvEntry::default()
        },
        condition: KvCondition::Always,
    }))
}

fn read() -> ReadRequest {
    ReadRequest {
        query: Query::KvGet { key: "k".into() },
        consistency: ReadConsistency::Consistent,
        min_index: 7,
        wait_ms: 30_000,
        max_stale_ms: Some(5_000),
    }
}

fn coord() -> legate_catalog::Coord {
    legate_catalog::Coord {
        vec: vec![0.001, 0.0, -0.0025, 0.0, 0.0, 0.0, 0.0, 0.0],
        error: 0.2,
        adjustment: 0.00003,
        height: 0.0001,
    }
}

fn requests() -> Vec<(&'static str, RequestV1)> {
    vec![
        (
            "request-v1-append-entries",
            RequestV1::AppendEntries {
                vote: vote(),
                prev_log_id: Some(log_id(9)),
                leader_commit: Some(log_id(8)),
                entries: vec![EntryRecord::V1 {
                    log_id: log_id(10),
                    payload: PayloadV1::Normal(command()),
                }],
            },
        ),
        (
            "request-v1-vote",
            RequestV1::Vote {
                vote: vote(),
                last_log_id: Some(log_id(10)),
            },
        ),
        (
            "request-v1-install-snapshot",
            RequestV1::InstallSnapshot {
                vote: vote(),
                header: SnapshotHeader::V1 {
                    last_log_id: Some(log_id(10)),
                    membership_log_id: Some(log_id(1)),
                    membership: MembershipV1 {
                        configs: vec![BTreeSet::from([A])],
                        nodes: BTreeMap::from([(A, "127.0.0.1:8300".to_owned())]),
                    },
                    snapshot_id: "3-10-1".into(),
                    data_len: 3,
                },
                data: vec![1, 2, 3],
            },
        ),
        ("request-v1-write", RequestV1::Write { command: command() }),
        ("request-v1-read", RequestV1::Read(read())),
        ("request-v1-status", RequestV1::Status),
        (
            "request-v1-operator-remove-peer",
            RequestV1::Operator(OperatorRequest::RemovePeer(PeerSelector::Address(
                "127.0.0.2:8300".into(),
            ))),
        ),
        (
            "request-v1-operator-set-autopilot",
            RequestV1::Operator(OperatorRequest::SetAutopilotConfiguration {
                config: AutopilotConfig {
                    max_trailing_logs: 500,
                    server_stabilization_time: Duration::from_secs(10),
                    ..AutopilotConfig::default()
                },
                cas: Some(4),
            }),
        ),
        (
            "request-v1-operator-session-renew",
            RequestV1::Operator(OperatorRequest::SessionRenew(
                "adf4238a-882b-9ddc-4a9d-5b6758e4159e".into(),
            )),
        ),
        ("request-v1-trigger-election", RequestV1::TriggerElection),
        ("request-v1-group-info", RequestV1::GroupInfo),
        ("request-v1-disk-health", RequestV1::DiskHealth),
        (
            "request-v1-forward",
            RequestV1::Forward {
                datacenter: "dc2".into(),
                request: Box::new(RequestV1::Status),
            },
        ),
        ("request-v1-datacenters", RequestV1::Datacenters),
        (
            "request-v1-operator-coordinate-update",
            RequestV1::Operator(OperatorRequest::CoordinateUpdate(
                legate_catalog::NodeCoordinate {
                    node: "web-1".into(),
                    segment: String::new(),
                    coord: coord(),
                },
            )),
        ),
        (
            "request-v1-operator-wan-coordinates",
            RequestV1::Operator(OperatorRequest::WanCoordinates),
        ),
        (
            "request-v1-operator-fire-event",
            RequestV1::Operator(OperatorRequest::FireEvent {
                gossip_name: "consul:event:deploy".into(),
                payload: vec![1, 2, 3, 250],
            }),
        ),
        (
            "request-v1-operator-wan-keyring",
            RequestV1::Operator(OperatorRequest::WanKeyring(RingOp::Install(
                "T9jncgl9mbLus+baTTa7q7nPSUrXwbDi2dhbtqir37s=".into(),
            ))),
        ),
    ]
}

fn responses() -> Vec<(&'static str, ResponseV1)> {
    vec![
        (
            "response-v1-append-entries",
            ResponseV1::AppendEntries(AppendAnswer::PartialSuccess(Some(log_id(9)))),
        ),
        (
            "response-v1-vote",
            ResponseV1::Vote {
                vote: vote(),
                granted: true,
                last_log_id: None,
            },
        ),
        (
            "response-v1-install-snapshot",
            ResponseV1::InstallSnapshot { vote: vote() },
        ),
        (
            "response-v1-write",
            ResponseV1::Write(Ok(Ok(Outcome::Condition(true)))),
        ),
        (
            "response-v1-write-not-leader",
            ResponseV1::Write(Err(RemoteWriteError::NotLeader {
                leader: Some("127.0.0.3:8300".into()),
            })),
        ),
        (
            "response-v1-read",
            ResponseV1::Read(Ok(ReadAnswer {
                index: 12,
                value: QueryResult::Keys(vec!["k".into()]),
                known_leader: true,
                last_contact_ms: 0,
                consistency: ReadConsistency::Default,
            })),
        ),
        (
            "response-v1-status",
            ResponseV1::Status(StatusAnswer {
                leader: Some("127.0.0.1:8300".into()),
                voters: vec!["127.0.0.1:8300".into()],
            }),
        ),
        (
            "response-v1-operator-configuration",
            ResponseV1::Operator(Ok(OperatorAnswer::RaftConfiguration(RaftConfiguration {
                servers: vec![RaftServer {
                    id: "0b7a3c1e-58d4-4b8e-9e2f-6d1c0a9b8e7f".into(),
                    node: "s1".into(),
                    address: "127.0.0.1:8300".into(),
                    leader: true,
                    voter: true,
                    protocol_version: "3".into(),
                    last_index: 12,
                }],
                index: 12,
            }))),
        ),
        (
            "response-v1-operator-error",
            ResponseV1::Operator(Err(OperatorError::NoLeader)),
        ),
        (
            "response-v1-operator-session",
            ResponseV1::Operator(Ok(OperatorAnswer::Session(Some(legate_catalog::Session {
                id: "adf4238a-882b-9ddc-4a9d-5b6758e4159e".into(),
                name: "lock".into(),
                node: "n1".into(),
                lock_delay_ns: 15_000_000_000,
                ttl: "15s".into(),
                node_checks: vec!["serfHealth".into()],
                ..legate_catalog::Session::default()
            })))),
        ),
        (
            "response-v1-election-triggered",
            ResponseV1::ElectionTriggered,
        ),
        (
            "response-v1-group-info",
            ResponseV1::GroupInfo {
                voters: vec!["127.0.0.1:8300".into()],
                started_unix_ms: 1_764_633_600_000,
            },
        ),
        (
            "response-v1-failed",
            ResponseV1::Failed("raft stopped".into()),
        ),
        (
            "response-v1-disk-health",
            ResponseV1::DiskHealth(DiskHealthAnswer {
                slow: true,
                fsync_p99_us: Some(104_250),
            }),
        ),
        (
            "response-v1-forward-no-path",
            ResponseV1::Forward(ForwardFailure::NoPath),
        ),
        (
            "response-v1-forward-lost",
            ResponseV1::Forward(ForwardFailure::Lost("rpc timed out".into())),
        ),
        (
            "response-v1-operator-keyring",
            ResponseV1::Operator(Ok(OperatorAnswer::Keyring(RingAnswer {
                wan: true,
                datacenter: "dc1".into(),
                keys: BTreeMap::from([("T9jncgl9mbLus+baTTa7q7nPSUrXwbDi2dhbtqir37s=".into(), 3)]),
                primary_keys: BTreeMap::from([(
                    "T9jncgl9mbLus+baTTa7q7nPSUrXwbDi2dhbtqir37s=".into(),
                    2,
                )]),
                num_nodes: 3,
                error: Some("1/3 nodes reported failure".into()),
                messages: BTreeMap::from([("s3.dc1".into(), "no such key".into())]),
            }))),
        ),
        (
            "response-v1-operator-wan-coordinates",
            ResponseV1::Operator(Ok(OperatorAnswer::WanCoordinates(vec![DatacenterCoords {
                datacenter: "dc2".into(),
                coordinates: vec![("s1.dc2".into(), coord())],
            }]))),
        ),
        (
            "response-v1-datacenters",
            ResponseV1::Datacenters(vec!["dc1".into(), "dc2".into()]),
        ),
    ]
}

#[test]
fn every_request_keeps_its_bytes() {
    for (name, request) in requests() {
        fixture::pin(&dir(), name, &Request::V1(request));
    }
}

#[test]
fn every_response_keeps_its_bytes() {
    for (name, response) in responses() {
        fixture::pin(&dir(), name, &Response::V1(response));
    }
}

/// The framed transport's own bytes (`frame`): a caller or server of a later release must
/// still open and read connections this one does.
#[test]
fn the_framed_transport_keeps_its_bytes() {
    use super::frame::{self, Header, Kind};
    let request = legate_catalog::codec::encode(&Request::V1(RequestV1::Status));
    let cases = [
        ("framed-v1-hello", frame::hello().to_vec()),
        ("framed-v1-answer", frame::answer(1).to_vec()),
        (
            "framed-v1-request-status",
            frame::frames(Kind::Request, 0x0102_0304_0506_0708, &request).concat(),
        ),
        ("framed-v1-ping", frame::frames(Kind::Ping, 9, &[]).concat()),
    ];
    for (name, bytes) in cases {
        let stored = fixture::load(&dir(), name, &bytes);
        assert_eq!(
            fixture::hex(&stored),
            fixture::hex(&bytes),
            "{name} changed"
        );
    }
    let stored = fixture::load(&dir(), "framed-v1-request-status", &[]);
    let header = Header::decode(stored[..frame::HEADER_BYTES].try_into().unwrap()).unwrap();
    assert_eq!(
        (header.kind, header.end, header.id, header.len as usize),
        (Kind::Request, true, 0x0102_0304_0506_0708, request.len())
    );
    let decoded: Request = legate_catalog::codec::decode(&stored[frame::HEADER_BYTES..]).unwrap();
    assert_eq!(decoded, Request::V1(RequestV1::Status));
}
