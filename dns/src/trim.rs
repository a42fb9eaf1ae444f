//! Fitting a reply to its transport, then encoding it.
//!
//! Consul's rules (`agent/dns.go` `trimUDPResponse`, `trimTCPResponse`, `syncExtra`,
//! `dnsBinaryTruncate`), re-implemented from behaviour:
//! - UDP: the size limit is 512 bytes, or the client's EDNS buffer size when larger, capped
//!   at 65467 (65535 less IP and UDP headers). At 512 bytes the answers are first cut to
//!   `min(8, udp_answer_limit)`, and sizes are then measured uncompressed so that the reply
//!   fits even for a client that cannot decompress. Then answers are dropped from the end
//!   (after dropping the authority section) until the reply fits in the limit less 8 bytes,
//!   keeping at least one answer.
//! - TCP: at most 4096 answers (1024 for SRV), then the same loop against 65523 bytes.
//! - Whenever answers are dropped, the additional section is rebuilt to hold only what the
//!   remaining SRV targets need: the first additional record for each target name,
//!   following CNAME chains.
//! - The TC bit is set only with `enable_truncate`; by default Consul truncates silently.
//!
//! One deliberate difference: Consul rebuilds its additional section with the OPT record
//! in it and so drops EDNS from trimmed replies; here EDNS is kept apart and always sent.

use crate::config::DnsConfig;
use crate::request::DnsRequest;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
use hickory_proto::ProtoError;
use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};

/// The transport a request came on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Most answers Consul ever puts in a 512-byte UDP reply (`maxUDPAnswerLimit`).
const MAX_UDP_ANSWER_LIMIT: usize = 8;
/// Classic DNS over UDP without EDNS.
const DEFAULT_UDP_SIZE: usize = 512;
/// The largest UDP payload answered: 65535 less 68 bytes of IP and UDP headers.
const MAX_UDP_DATAGRAM_SIZE: usize = 65535 - 68;
/// The size limit of a TCP reply: 64 KiB less the header's overhead.
const MAX_TCP_SIZE: usize = 65523;
/// More answers than these never fit in 64 KiB, so they are cut before measuring.
const MAX_TCP_ANSWERS: usize = 4096;
const MAX_TCP_SRV_ANSWERS: usize = 1024;

/// Trims (when `trim`) and encodes a reply. An encoding failure yields a bare SERVFAIL.
pub fn finalize(
    mut message: Message,
    trim: bool,
    request: &DnsRequest,
    transport: Transport,
    config: &DnsConfig,
) -> Vec<u8> {
    let compress = !config.disable_compression;
    let mut encoded = None;
    if trim {
        let fit = match transport {
            Transport::Udp => fit_udp(request, &mut message, config.udp_answer_limit, compress),
            Transport::Tcp => fit_tcp(request, &mut message, compress),
        };
        encoded = fit.encoded;
        if fit.dropped && config.enable_truncate {
            message.metadata.truncation = true;
            encoded = None;
        }
    }
    if let Some(bytes) = encoded {
        return bytes;
    }
    encode(&message, compress).unwrap_or_else(|error| {
        tracing::warn!(%error, "failed to encode a DNS reply");
        let mut failure = Message::new(
            message.metadata.id,
            message.metadata.message_type,
            message.metadata.op_code,
        );
        failure.metadata.response_code = ResponseCode::ServFail;
        encode(&failure, compress).unwrap_or_default()
    })
}

/// What fitting a reply did.
struct Fit {
    /// Whether answers were dropped (the TC rule's input).
    dropped: bool,
    /// The final message's bytes, when the size loop's last measurement was already its
    /// final encoding. Most replies fit at once, so this saves encoding them twice.
    encoded: Option<Vec<u8>>,
}

/// Encodes a message, with or without name compression.
pub fn encode(message: &Message, compress: bool) -> Result<Vec<u8>, ProtoError> {
    let mut buffer = Vec::with_capacity(512);
    let mut encoder = BinEncoder::new(&mut buffer);
    if !compress {
        encoder.set_name_encoding(NameEncoding::Uncompressed);
    }
    message.emit(&mut encoder)?;
    if !complete(message, &buffer) {
        return Err(ProtoError::from("message does not fit in one DNS message"));
    }
    Ok(buffer)
}

/// Whether `bytes` hold all of `message`. hickory stops emitting records at 65,535 bytes and
/// still succeeds, with header counts describing only what it wrote; such bytes are a
/// different, silently truncated reply, so they count as too large and the trimming below
/// decides what to drop (binary search rather than one answer per round).
fn complete(message: &Message, bytes: &[u8]) -> bool {
    let count = |at: usize| {
        bytes.get(at..at + 2).map_or(0, |pair| {
            usize::from(u16::from_be_bytes([pair[0], pair[1]]))
        })
    };
    // The additional count includes the EDNS OPT record; hickory also sets TC when it cuts.
    let truncated = bytes.get(2).is_some_and(|flags| flags & 0x02 != 0);
    count(6) == message.answers.len()
        && count(8) == message.authorities.len()
        && count(10) == message.additionals.len() + usize::from(message.edns.is_some())
        && truncated == message.metadata.truncation
}

/// The encoded size of a message; unencodable counts as too large.
pub fn encoded_len(message: &Message, compress: bool) -> usize {
    encode(message, compress).map_or(usize::MAX, |bytes| bytes.len())
}

/// Fits a UDP reply; true when answers were dropped.
pub fn trim_udp(
    request: &DnsRequest,
    message: &mut Message,
    udp_answer_limit: usize,
    compress: bool,
) -> bool {
    fit_udp(request, message, udp_answer_limit, compress).dropped
}

fn fit_udp(
    request: &DnsRequest,
    message: &mut Message,
    udp_answer_limit: usize,
    compress: bool,
) -> Fit {
    let original = message.answers.len();
    let index = ExtraIndex::default();
    let mut max = DEFAULT_UDP_SIZE;
    if let Some(edns) = &request.edns {
        max = max.max(usize::from(edns.max_payload()));
    }
    let max = max.min(MAX_UDP_DATAGRAM_SIZE);

    let mut measure_compressed = compress;
    let max_answers = MAX_UDP_ANSWER_LIMIT.min(udp_answer_limit);
    if max == DEFAULT_UDP_SIZE && original > max_answers {
        measure_compressed = false;
        message.answers.truncate(max_answers);
        index.sync(message);
    }
    let (_, measured) = shrink(message, &index, max, max - 8, measure_compressed);
    Fit {
        dropped: message.answers.len() < original,
        // Bytes measured uncompressed are not the reply when the reply is compressed.
        encoded: measured.filter(|_| measure_compressed == compress),
    }
}

/// Fits a TCP reply; true when the size loop dropped answers (the count cut alone does not
/// count, as in Consul).
pub fn trim_tcp(request: &DnsRequest, message: &mut Message, compress: bool) -> bool {
    fit_tcp(request, message, compress).dropped
}

fn fit_tcp(request: &DnsRequest, message: &mut Message, compress: bool) -> Fit {
    let cap = if request.qtype() == RecordType::SRV {
        MAX_TCP_SRV_ANSWERS
    } else {
        MAX_TCP_ANSWERS
    };
    message.answers.truncate(cap);
    let index = ExtraIndex::default();
    let (dropped, encoded) = shrink(message, &index, MAX_TCP_SIZE, MAX_TCP_SIZE, compress);
    Fit { dropped, encoded }
}

/// Drops answers until the message is at most `limit` bytes (keeping one); `max` is the
/// size the binary search aims under. Returns whether anything was dropped, and the bytes
/// of the last measurement when they are those of the final message.
fn shrink(
    message: &mut Message,
    index: &ExtraIndex,
    max: usize,
    limit: usize,
    compress: bool,
) -> (bool, Option<Vec<u8>>) {
    let mut dropped = false;
    // Planned once, from the answers as they are before the first drop: every later answer
    // list is a prefix of them, and rebuilding the section name by name on each of the
    // (possibly hundreds of) rounds dominated the cost of large TCP replies.
    let mut plan: Option<Option<ExtraPlan>> = None;
    while message.answers.len() > 1 {
        let bytes = encode(message, compress).ok();
        let len = bytes.as_ref().map_or(usize::MAX, Vec::len);
        if len <= limit {
            return (dropped, bytes);
        }
        dropped = true;
        message.authorities.clear();
        let plan = plan.get_or_insert_with(|| index.plan(message, &message.answers));
        if len.saturating_sub(max) > 100 {
            let best = binary_truncate(message, max, plan.as_ref(), compress);
            message.answers.truncate(best);
        } else {
            message.answers.pop();
        }
        if let Some(plan) = plan {
            message.additionals = plan.for_prefix(message.answers.len());
        }
    }
    (dropped, None)
}

/// The largest number of answers whose message fits in `max` bytes, found by binary
/// search; a count leaving less than 10 bytes spare is taken at once.
fn binary_truncate(
    message: &mut Message,
    max: usize,
    plan: Option<&ExtraPlan>,
    compress: bool,
) -> usize {
    let original = message.answers.clone();
    let (mut start, mut end) = (0, original.len() + 1);
    let mut best = None;
    while end - start > 1 {
        let median = start + (end - start) / 2;
        message.answers = original[..median].to_vec();
        if let Some(plan) = plan {
            message.additionals = plan.for_prefix(median);
        }
        let len = encoded_len(message, compress);
        if len <= max {
            if max - len < 10 {
                best = Some(median);
                break;
            }
            start = median;
        } else {
            end = median;
        }
    }
    message.answers = original;
    best.unwrap_or(start)
}

/// The original additional section indexed by lower-case owner name (first record wins),
/// so that it can be rebuilt for whatever answers remain. Built at the first rebuild, from
/// the additional section as it still is then, because most replies fit untouched and never
/// need it. `None` inside when there were no additional records: nothing is ever rebuilt.
#[derive(Default)]
struct ExtraIndex(OnceCell<Option<HashMap<String, Record>>>);

impl ExtraIndex {
    fn build(message: &Message) -> Option<HashMap<String, Record>> {
        if message.additionals.is_empty() {
            return None;
        }
        let mut index = HashMap::new();
        for record in &message.additionals {
            index
                .entry(record.name.to_ascii().to_ascii_lowercase())
                .or_insert_with(|| record.clone());
        }
        Some(index)
    }

    /// The additional records `answers` need, answer by answer (see `ExtraPlan`); `None`
    /// when there were no additional records. `message` is only read to build the index.
    fn plan(&self, message: &Message, answers: &[Record]) -> Option<ExtraPlan> {
        let index = self.0.get_or_init(|| Self::build(message)).as_ref()?;
        let mut records = Vec::new();
        let mut ends = Vec::with_capacity(answers.len());
        let mut resolved = HashSet::new();
        for answer in answers {
            if let RData::SRV(srv) = &answer.data {
                let mut target = srv.target.to_ascii().to_ascii_lowercase();
                while resolved.insert(target.clone()) {
                    let Some(record) = index.get(&target) else {
                        break;
                    };
                    records.push(record.clone());
                    match &record.data {
                        RData::CNAME(cname) => target = cname.0.to_ascii().to_ascii_lowercase(),
                        _ => break,
                    }
                }
            }
            ends.push(records.len());
        }
        Some(ExtraPlan { records, ends })
    }

    /// Rebuilds the additional section for the SRV answers present.
    fn sync(&self, message: &mut Message) {
        if let Some(plan) = self.plan(message, &message.answers) {
            message.additionals = plan.records;
        }
    }
}

/// The additional section for a list of answers, and for each of its prefixes: answers only
/// add records the ones before them did not, so the section for the first `n` answers is the
/// first `ends[n - 1]` records. Trimming plans once instead of rebuilding the section, name
/// by name, for every answer count it tries.
struct ExtraPlan {
    records: Vec<Record>,
    ends: Vec<usize>,
}

impl ExtraPlan {
    /// The additional section for the first `count` answers planned.
    fn for_prefix(&self, count: usize) -> Vec<Record> {
        let end = count.checked_sub(1).map_or(0, |last| self.ends[last]);
        self.records[..end].to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::decode;
    use hickory_proto::op::{Edns, MessageType, OpCode, Query};
    use hickory_proto::rr::rdata::{self, SRV};
    use hickory_proto::rr::Name;
    use std::net::Ipv4Addr;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn request(qtype: RecordType, edns: Option<u16>) -> DnsRequest {
        let mut message = Message::new(1, MessageType::Query, OpCode::Query);
        message
            .queries
            .push(Query::query(name("many.service.consul."), qtype));
        if let Some(size) = edns {
            let mut opt = Edns::new();
            opt.set_max_payload(size);
            message.edns = Some(opt);
        }
        decode(&message.to_vec().unwrap(), &DnsConfig::default()).unwrap()
    }

    fn a_reply(request: &DnsRequest, count: u32) -> Message {
        let mut message = Message::new(1, MessageType::Response, OpCode::Query);
        message.queries.push(request.query.clone());
        for i in 0..count {
            let ip = Ipv4Addr::from(0x0a00_0000 + i);
            message.answers.push(Record::from_rdata(
                request.query.name.clone(),
                0,
                RData::A(rdata::A(ip)),
            ));
        }
        message
    }

    fn srv_reply(request: &DnsRequest, count: u32) -> Message {
        let mut message = Message::new(1, MessageType::Response, OpCode::Query);
        message.queries.push(request.query.clone());
        for i in 0..count {
            let target = name(&format!("node-{i}.node.dc1.consul."));
            message.answers.push(Record::from_rdata(
                request.query.name.clone(),
                0,
                RData::SRV(SRV::new(1, 1, 80, target.clone())),
            ));
            message.additionals.push(Record::from_rdata(
                target.clone(),
                0,
                RData::A(rdata::A(Ipv4Addr::from(0x0a00_0000 + i))),
            ));
            message.additionals.push(Record::from_rdata(
                target,
                0,
                RData::TXT(rdata::TXT::new(vec!["k=v".into()])),
            ));
        }
        message
    }

    #[test]
    fn udp_without_edns_caps_the_answer_count_at_eight() {
        let request = request(RecordType::A, None);
        let mut message = a_reply(&request, 30);
        assert!(trim_udp(&request, &mut message, 20, true));
        assert_eq!(message.answers.len(), 8);
        let mut message = a_reply(&request, 30);
        assert!(trim_udp(&request, &mut message, 3, true));
        assert_eq!(message.answers.len(), 3);
        let mut message = a_reply(&request, 3);
        assert!(!trim_udp(&request, &mut message, 3, true));
        assert_eq!(message.answers.len(), 3);
    }

    #[test]
    fn udp_with_edns_fills_the_client_buffer() {
        let request = request(RecordType::A, Some(1232));
        let mut message = a_reply(&request, 500);
        assert!(trim_udp(&request, &mut message, 3, true));
        let len = encoded_len(&message, true);
        assert!(len <= 1232 - 8, "{len} bytes");
        // Nearly full: one more answer (16 bytes compressed) would not fit.
        assert!(len + 16 > 1232 - 8, "{len} bytes");
        let mut message = a_reply(&request, 40);
        assert!(!trim_udp(&request, &mut message, 3, true));
        assert_eq!(message.answers.len(), 40);
    }

    #[test]
    fn srv_trimming_rebuilds_the_additional_section() {
        let request = request(RecordType::SRV, None);
        let mut message = srv_reply(&request, 10);
        assert!(trim_udp(&request, &mut message, 3, true));
        assert_eq!(message.answers.len(), 3);
        // Only the first record per target survives, and only for the kept targets.
        let extra: Vec<String> = message
            .additionals
            .iter()
            .map(|r| format!("{} {}", r.name, r.record_type()))
            .collect();
        assert_eq!(
            extra,
            [
                "node-0.node.dc1.consul. A",
                "node-1.node.dc1.consul. A",
                "node-2.node.dc1.consul. A"
            ]
        );
    }

    #[test]
    fn sync_follows_cname_chains_once() {
        let request = request(RecordType::SRV, None);
        let mut message = Message::new(1, MessageType::Response, OpCode::Query);
        let target = name("db.example.");
        for _ in 0..2 {
            message.answers.push(Record::from_rdata(
                request.query.name.clone(),
                0,
                RData::SRV(SRV::new(1, 1, 5432, target.clone())),
            ));
        }
        message.additionals = vec![
            Record::from_rdata(target, 0, RData::CNAME(rdata::CNAME(name("real.example.")))),
            Record::from_rdata(
                name("real.example."),
                0,
                RData::A(rdata::A(Ipv4Addr::new(10, 0, 0, 1))),
            ),
            Record::from_rdata(
                name("unrelated.example."),
                0,
                RData::A(rdata::A(Ipv4Addr::new(10, 0, 0, 2))),
            ),
        ];
        ExtraIndex::default().sync(&mut message);
        let types: Vec<RecordType> = message
            .additionals
            .iter()
            .map(|r| r.record_type())
            .collect();
        assert_eq!(types, [RecordType::CNAME, RecordType::A]);
    }

    #[test]
    fn a_planned_prefix_is_what_sync_would_build() {
        let request = request(RecordType::SRV, None);
        let mut message = srv_reply(&request, 6);
        // A repeated target adds nothing the second time.
        let again = message.answers[1].clone();
        message.answers.insert(3, again);
        let plan = ExtraIndex::default()
            .plan(&message, &message.answers)
            .unwrap();
        for count in 0..=message.answers.len() {
            let mut prefix = message.clone();
            prefix.answers.truncate(count);
            ExtraIndex::default().sync(&mut prefix);
            assert_eq!(
                plan.for_prefix(count),
                prefix.additionals,
                "{count} answers"
            );
        }
    }

    #[test]
    fn tcp_caps_answers_and_bytes() {
        let request = request(RecordType::A, None);
        // 1500 A records fit in 64 KiB: nothing to trim. (hickory compresses only the first
        // 120 names, so later records carry the whole name: 36 bytes instead of 16.)
        let mut message = a_reply(&request, 1500);
        assert!(!trim_tcp(&request, &mut message, true));
        assert_eq!(message.answers.len(), 1500);
        // 2500 do not: the size loop runs and reports it.
        let mut message = a_reply(&request, 2500);
        assert!(trim_tcp(&request, &mut message, true));
        let len = encoded_len(&message, true);
        assert!(len <= MAX_TCP_SIZE, "{len} bytes");
        assert!(len > MAX_TCP_SIZE - 100, "{len} bytes: nearly full");
        let request = super::tests::request(RecordType::SRV, None);
        let mut message = srv_reply(&request, 1100);
        trim_tcp(&request, &mut message, true);
        assert!(message.answers.len() <= MAX_TCP_SRV_ANSWERS);
    }

    #[test]
    fn a_reply_hickory_would_cut_short_is_trimmed_whole() {
        // 1000 SRV answers with two additional records each exceed 64 KiB; hickory's encoder
        // would stop at 65,535 bytes and succeed with a cut-short message. The trim must
        // instead drop whole answers with their additional records, EDNS or not.
        for edns in [None, Some(4096)] {
            let request = request(RecordType::SRV, edns);
            let mut message = srv_reply(&request, 1000);
            message.edns = request.edns.clone();
            assert!(
                encode(&message, true).is_err(),
                "the untrimmed reply does not fit"
            );
            assert!(trim_tcp(&request, &mut message, true));
            let bytes = encode(&message, true).unwrap();
            assert!(bytes.len() <= MAX_TCP_SIZE);
            let reply = Message::from_vec(&bytes).unwrap();
            assert!(!reply.metadata.truncation, "{edns:?}");
            assert_eq!(reply.answers.len(), message.answers.len());
            // Every kept answer keeps its target's address record.
            let addresses = reply
                .additionals
                .iter()
                .filter(|record| record.record_type() == RecordType::A)
                .count();
            assert_eq!(addresses, reply.answers.len(), "{edns:?}");
        }
    }

    #[test]
    fn tc_is_set_only_with_enable_truncate() {
        let request = request(RecordType::A, None);
        let silent = DnsConfig::default();
        let bytes = finalize(
            a_reply(&request, 10),
            true,
            &request,
            Transport::Udp,
            &silent,
        );
        let reply = Message::from_vec(&bytes).unwrap();
        assert!(!reply.metadata.truncation);
        assert_eq!(reply.answers.len(), 3);
        let loud = DnsConfig {
            enable_truncate: true,
            ..DnsConfig::default()
        };
        let bytes = finalize(a_reply(&request, 10), true, &request, Transport::Udp, &loud);
        assert!(Message::from_vec(&bytes).unwrap().metadata.truncation);
        // Not trimmed (PTR-style replies): untouched.
        let bytes = finalize(
            a_reply(&request, 10),
            false,
            &request,
            Transport::Udp,
            &loud,
        );
        let reply = Message::from_vec(&bytes).unwrap();
        assert_eq!(reply.answers.len(), 10);
        assert!(!reply.metadata.truncation);
    }

    #[test]
    fn compression_can_be_disabled() {
        let request = request(RecordType::A, Some(4096));
        let message = a_reply(&request, 10);
        let compressed = encode(&message, true).unwrap().len();
        let plain = encode(&message, false).unwrap().len();
        assert!(plain > compressed + 100, "{plain} vs {compressed}");
    }
}
