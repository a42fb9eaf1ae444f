//! `DnsHandler` as a hickory-server `RequestHandler`, for whoever wants to run it inside
//! `hickory_server::Server` instead of `serve`.
//!
//! The handler answers from the raw request bytes exactly as `serve` does (same parsing,
//! same trimming), then hands the reply to hickory as a `MessageResponse`. Two things
//! differ from `serve`: hickory always compresses names (so `disable_compression` has no
//! effect), and its `Server` logs every query at info level and does not cap TCP
//! connections, which is why the agent should prefer `serve`.

use crate::handler::DnsHandler;
use crate::lookup::Lookup;
use crate::trim::Transport;
use hickory_proto::op::{Header, HeaderCounts, Message, Metadata, ResponseCode};
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

#[async_trait::async_trait]
impl<L: Lookup + Unpin> RequestHandler for DnsHandler<L> {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let transport = match request.protocol() {
            Protocol::Udp => Transport::Udp,
            _ => Transport::Tcp,
        };
        let source = request.src().ip();
        let reply = match self
            .respond_from(request.as_slice(), transport, source)
            .await
        {
            Some(bytes) => Message::from_vec(&bytes).ok(),
            None => None,
        };
        let Some(reply) = reply else {
            return server_failure(&request.metadata);
        };
        let response = MessageResponseBuilder::new(&request.queries, reply.edns.as_ref()).build(
            reply.metadata,
            reply.answers.iter(),
            reply.authorities.iter(),
            std::iter::empty(),
            reply.additionals.iter(),
        );
        match response_handle.send_response(response).await {
            Ok(info) => info,
            Err(error) => {
                tracing::debug!(%error, "failed to send a DNS reply");
                server_failure(&request.metadata)
            }
        }
    }
}

fn server_failure(request: &Metadata) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(request);
    metadata.response_code = ResponseCode::ServFail;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}
