//! Server RPC from the network: what a server reads from a connection on its RPC port (the
//! framed transport's hello, frame headers and reassembly) and the messages inside.

use legate_agent::server::rpc::frame::{self, Assembly, ANSWER_BYTES, HELLO_BYTES};
use legate_agent::server::rpc::message::{Request, Response};
use legate_catalog::codec;

/// The fuzzer's messages stay small; the limits' logic is the same at any size.
const MESSAGE_LIMIT: usize = 1 << 20;

/// A connection's bytes as the server's responder reads them: a hello, then frames until the
/// bytes run out or one is refused (the responder then closes the connection); every whole
/// message is decoded as a request. The first bytes also go through the caller's parse of the
/// server's answer.
pub fn frames(data: &[u8]) {
    if let Some(answer) = data.first_chunk::<ANSWER_BYTES>() {
        let _ = frame::parse_answer(answer);
    }
    let Some((hello, mut rest)) = data.split_first_chunk::<HELLO_BYTES>() else {
        return;
    };
    let _ = frame::parse_hello(hello);
    let mut assembly = Assembly::new(MESSAGE_LIMIT, MESSAGE_LIMIT);
    // Reads from a slice never wait, so polling once runs each read to its end.
    while let Ok(Some((header, body))) = futures::executor::block_on(frame::read_frame(&mut rest)) {
        match assembly.push(&header, body) {
            Ok(Some(message)) => messages(&message),
            Ok(None) => {}
            Err(_) => return,
        }
    }
}

/// One message's bytes, as a request (a server's side) and as a response (a caller's).
pub fn messages(data: &[u8]) {
    crate::round_trips(data, codec::decode::<Request>, codec::encode);
    crate::round_trips(data, codec::decode::<Response>, codec::encode);
}
