//! Decoding a raw request once into `DnsRequest`, or deciding how to refuse it.
//!
//! The acceptance rules are those of the `miekg/dns` server Consul runs on
//! (`defaultMsgAcceptFunc`): responses are ignored; an opcode other than QUERY gets
//! NOTIMP; a request that does not have exactly one question, or has more than one answer,
//! more than one authority or more than two additional records gets FORMERR, as does one
//! that does not decode. Fewer than 12 bytes cannot carry an id to answer to, so they are
//! dropped. Error replies are bare headers, as miekg sends them.

use crate::config::DnsConfig;
use crate::name::{self, ParsedName};
use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::RecordType;

/// A request that passed decoding: its header fields, its single question and its EDNS.
#[derive(Clone, Debug)]
pub struct DnsRequest {
    pub id: u16,
    pub recursion_desired: bool,
    pub checking_disabled: bool,
    /// The question as asked; answers echo its name with the client's spelling.
    pub query: Query,
    pub parsed: ParsedName,
    /// The request's EDNS, if it had an OPT record.
    pub edns: Option<Edns>,
}

impl DnsRequest {
    pub fn qtype(&self) -> RecordType {
        self.query.query_type
    }

    /// The address of the EDNS client-subnet option (RFC 7871), when the request has one:
    /// the client a resolver asks for.
    pub fn client_subnet(&self) -> Option<std::net::IpAddr> {
        match self.edns.as_ref()?.option(EdnsCode::Subnet)? {
            EdnsOption::Subnet(subnet) => Some(subnet.addr()),
            _ => None,
        }
    }

    /// Builds a request for an internal lookup (CNAME chasing), as if a client had asked
    /// `name` with `qtype`.
    pub fn internal(query: Query, config: &DnsConfig) -> DnsRequest {
        let parsed = name::parse(&query.name, query.query_type, config);
        DnsRequest {
            id: 0,
            recursion_desired: false,
            checking_disabled: false,
            query,
            parsed,
            edns: None,
        }
    }
}

/// Why a raw request is not answered normally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Send nothing: too short to answer, or a response (answering those would let anyone
    /// reflect traffic at a third party).
    Ignore,
    /// Send this bare header (FORMERR or NOTIMP).
    Reply(Vec<u8>),
}

const RCODE_FORMERR: u8 = 1;
const RCODE_NOTIMP: u8 = 4;
const OPCODE_QUERY: u8 = 0;

/// Decodes a raw request.
pub fn decode(raw: &[u8], config: &DnsConfig) -> Result<DnsRequest, Rejection> {
    let Some(header) = raw.get(..12) else {
        return Err(Rejection::Ignore);
    };
    let is_response = header[2] & 0x80 != 0;
    if is_response {
        return Err(Rejection::Ignore);
    }
    let opcode = (header[2] >> 3) & 0x0f;
    if opcode != OPCODE_QUERY {
        return Err(Rejection::Reply(error_header(header, RCODE_NOTIMP)));
    }
    let count = |at: usize| u16::from_be_bytes([header[at], header[at + 1]]);
    let (questions, answers, authorities, additionals) = (count(4), count(6), count(8), count(10));
    if questions != 1 || answers > 1 || authorities > 1 || additionals > 2 {
        return Err(Rejection::Reply(error_header(header, RCODE_FORMERR)));
    }
    let message = Message::from_vec(raw)
        .map_err(|_| Rejection::Reply(error_header(header, RCODE_FORMERR)))?;
    let Some(query) = message.queries.first().cloned() else {
        return Err(Rejection::Reply(error_header(header, RCODE_FORMERR)));
    };
    let parsed = name::parse(&query.name, query.query_type, config);
    Ok(DnsRequest {
        id: message.metadata.id,
        recursion_desired: message.metadata.recursion_desired,
        checking_disabled: message.metadata.checking_disabled,
        query,
        parsed,
        edns: message.edns.clone(),
    })
}

/// A response header with no records: the request's id and opcode, RD and CD copied for
/// queries (as miekg's `SetReply` does), QR set and the given rcode.
fn error_header(request: &[u8], rcode: u8) -> Vec<u8> {
    let opcode_bits = request[2] & 0x78;
    let is_query = opcode_bits == 0;
    let rd = if is_query { request[2] & 0x01 } else { 0 };
    let cd = if is_query { request[3] & 0x10 } else { 0 };
    vec![
        request[0],
        request[1],
        0x80 | opcode_bits | rd,
        cd | rcode,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> DnsConfig {
        DnsConfig::default()
    }

    #[test]
    fn short_and_response_packets_are_ignored() {
        assert_eq!(decode(&[0; 11], &config()).unwrap_err(), Rejection::Ignore);
        let mut response = [0u8; 12];
        response[2] = 0x80;
        assert_eq!(decode(&response, &config()).unwrap_err(), Rejection::Ignore);
    }

    #[test]
    fn other_opcodes_get_notimp() {
        let mut update = [0u8; 12];
        update[0] = 0xab;
        update[2] = 5 << 3;
        let Rejection::Reply(reply) = decode(&update, &config()).unwrap_err() else {
            panic!("expected a reply");
        };
        assert_eq!(reply[0], 0xab);
        assert_eq!(reply[2], 0x80 | (5 << 3));
        assert_eq!(reply[3] & 0x0f, RCODE_NOTIMP);
    }

    #[test]
    fn zero_questions_get_formerr() {
        let mut packet = [0u8; 12];
        packet[2] = 0x01; // RD
        let Rejection::Reply(reply) = decode(&packet, &config()).unwrap_err() else {
            panic!("expected a reply");
        };
        assert_eq!(reply[2], 0x81);
        assert_eq!(reply[3] & 0x0f, RCODE_FORMERR);
    }

    #[test]
    fn compression_loop_gets_formerr() {
        // One question whose name is a pointer to itself (offset 12).
        let mut packet = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        packet.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        let Rejection::Reply(reply) = decode(&packet, &config()).unwrap_err() else {
            panic!("expected a reply");
        };
        assert_eq!(reply[3] & 0x0f, RCODE_FORMERR);
    }
}

#[cfg(test)]
mod client_subnet_tests {
    use super::*;

    /// dig 9.18's question with `+subnet=10.9.0.1/32` (and its cookie), byte for byte.
    const DIG_WITH_SUBNET: &str = "602e012000010000000000010b6578742d6e6561722d697005717565727906636f6e73756c000001000100002904d000000000001800080008000120000a090001000a00084efd62ac98c408a3";

    #[test]
    fn the_client_subnet_is_read_from_digs_question() {
        let bytes: Vec<u8> = (0..DIG_WITH_SUBNET.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&DIG_WITH_SUBNET[at..at + 2], 16).unwrap())
            .collect();
        let request = decode(&bytes, &DnsConfig::default()).unwrap();
        assert_eq!(
            request.client_subnet(),
            Some("10.9.0.1".parse().unwrap()),
            "{:?}",
            request.edns
        );
    }
}
