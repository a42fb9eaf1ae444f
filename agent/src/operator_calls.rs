//! The membership and operator part of `api::Backend`, shared by servers and clients: gossip
//! operations run on this agent; Raft and autopilot calls go to the server-side `Operator`,
//! directly on a server, over RPC from a client.

use crate::federation::WanPool;
use crate::membership::Membership;
use crate::run::{Shutdown, StopReason};
use crate::server::operator::NO_WAN_POOL;
use crate::server::rpc::message::{OperatorAnswer, OperatorError, OperatorRequest, RingOp};
use legate_api::backend::{
    AutopilotConfig, AutopilotHealth, AutopilotState, BackendError, KeyringOp, KeyringResponse,
    PeerSelector, RaftConfiguration, ReadOptions,
};
use legate_catalog::Datacenter;
use std::future::Future;
use std::time::Duration;

/// How long a graceful leave may take to spread before the agent stops anyway.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves one operator request, wherever the implementation sends it.
pub trait OperatorTransport: Send + Sync {
    fn operator(
        &self,
        request: OperatorRequest,
    ) -> impl Future<Output = Result<OperatorAnswer, OperatorError>> + Send;

    /// The same, served by datacenter `datacenter` (`?dc=` naming another one).
    fn operator_in(
        &self,
        datacenter: &str,
        request: OperatorRequest,
    ) -> impl Future<Output = Result<OperatorAnswer, OperatorError>> + Send;
}

pub fn operator_error(error: OperatorError) -> BackendError {
    match error {
        OperatorError::NoLeader => BackendError::NoLeader,
        OperatorError::Refused(text) => BackendError::Refused(text),
        OperatorError::Indeterminate(text) => BackendError::Indeterminate(text),
    }
}

fn unexpected(answer: OperatorAnswer) -> BackendError {
    BackendError::Internal(format!("unexpected operator answer {answer:?}"))
}

/// The shared calls, over this agent's gossip and an operator transport.
pub struct OperatorCalls<T> {
    pub membership: Membership,
    /// The WAN pool, on a server that has one.
    pub wan: Option<WanPool>,
    pub shutdown: Shutdown,
    pub node_name: String,
    pub datacenter: Datacenter,
    pub transport: T,
}

impl<T: OperatorTransport> OperatorCalls<T> {
    pub async fn join(&self, address: String, wan: bool) -> Result<(), BackendError> {
        if wan {
            return self.wan_pool()?.join(&address).await.map(drop);
        }
        self.membership.join(&address).await.map(drop)
    }

    /// Leaves the cluster gracefully, then stops the agent (Consul's `/v1/agent/leave`).
    pub async fn leave(&self) -> Result<(), BackendError> {
        let left = self.membership.gossip().leave(LEAVE_TIMEOUT).await;
        let shutdown = self.shutdown.clone();
        // Answer first, then stop: the caller is waiting on this very agent.
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            shutdown.stop(StopReason::Left);
        });
        left.map_err(|error| BackendError::Internal(error.to_string()))
    }

    pub async fn force_leave(
        &self,
        node: String,
        prune: bool,
        wan: bool,
    ) -> Result<(), BackendError> {
        if wan {
            return self.wan_pool()?.force_leave(&node, prune).await;
        }
        self.membership.force_leave(&node, prune).await
    }

    /// Every ring: the WAN ring first (this server's own, or through a server from a client
    /// agent; skipped where no server is in one), then the LAN ring; only the LAN ring with
    /// `local_only`.
    pub async fn keyring(
        &self,
        op: KeyringOp,
        local_only: bool,
    ) -> Result<Vec<KeyringResponse>, BackendError> {
        let mut rings = Vec::new();
        if !local_only {
            match &self.wan {
                Some(wan) => rings.push(wan.keyring(&self.node_name, op.clone()).await),
                None => match self
                    .transport
                    .operator(OperatorRequest::WanKeyring(RingOp::from_api(&op)))
                    .await
                {
                    Ok(OperatorAnswer::Keyring(ring)) => rings.push(ring.into_api()),
                    Err(OperatorError::Refused(why)) if why == NO_WAN_POOL => {}
                    Ok(other) => return Err(unexpected(other)),
                    Err(error) => return Err(operator_error(error)),
                },
            }
        }
        rings.extend(self.membership.keyring(&self.node_name, op).await);
        Ok(rings)
    }

    fn wan_pool(&self) -> Result<&WanPool, BackendError> {
        self.wan.as_ref().ok_or_else(|| {
            BackendError::Internal(
                "this agent is not in a WAN pool: only servers with a WAN port join one".to_owned(),
            )
        })
    }

    async fn call(&self, request: OperatorRequest) -> Result<OperatorAnswer, BackendError> {
        self.transport
            .operator(request)
            .await
            .map_err(operator_error)
    }

    /// `call`, served by `datacenter` when it names another one.
    async fn call_in(
        &self,
        datacenter: Option<&Datacenter>,
        request: OperatorRequest,
    ) -> Result<OperatorAnswer, BackendError> {
        match datacenter {
            Some(dc) if *dc != self.datacenter => self
                .transport
                .operator_in(dc.as_str(), request)
                .await
                .map_err(operator_error),
            _ => self.call(request).await,
        }
    }

    pub async fn raft_configuration(
        &self,
        options: ReadOptions,
    ) -> Result<RaftConfiguration, BackendError> {
        let stale = options.consistency == legate_api::backend::Consistency::Stale;
        match self
            .call_in(
                options.datacenter.as_ref(),
                OperatorRequest::RaftConfiguration { stale },
            )
            .await?
        {
            OperatorAnswer::RaftConfiguration(configuration) => Ok(configuration),
            other => Err(unexpected(other)),
        }
    }

    pub async fn raft_remove_peer(&self, by: PeerSelector) -> Result<(), BackendError> {
        self.call(OperatorRequest::RemovePeer(by)).await.map(drop)
    }

    pub async fn raft_transfer_leader(&self, id: Option<String>) -> Result<(), BackendError> {
        self.call(OperatorRequest::TransferLeader(id))
            .await
            .map(drop)
    }

    pub async fn autopilot_configuration(&self) -> Result<AutopilotConfig, BackendError> {
        match self.call(OperatorRequest::AutopilotConfiguration).await? {
            OperatorAnswer::AutopilotConfiguration(config) => Ok(config),
            other => Err(unexpected(other)),
        }
    }

    pub async fn set_autopilot_configuration(
        &self,
        config: AutopilotConfig,
        cas: Option<u64>,
    ) -> Result<bool, BackendError> {
        match self
            .call(OperatorRequest::SetAutopilotConfiguration { config, cas })
            .await?
        {
            OperatorAnswer::Condition(done) => Ok(done),
            other => Err(unexpected(other)),
        }
    }

    pub async fn autopilot_health(&self) -> Result<AutopilotHealth, BackendError> {
        match self.call(OperatorRequest::AutopilotHealth).await? {
            OperatorAnswer::AutopilotHealth(health) => Ok(health),
            other => Err(unexpected(other)),
        }
    }

    pub async fn renew_session(
        &self,
        datacenter: Option<&Datacenter>,
        id: legate_catalog::SessionId,
    ) -> Result<Option<legate_catalog::Session>, BackendError> {
        match self
            .call_in(datacenter, OperatorRequest::SessionRenew(id))
            .await?
        {
            OperatorAnswer::Session(session) => Ok(session),
            other => Err(unexpected(other)),
        }
    }

    /// `PUT /v1/coordinate/update`: to the leader of `datacenter`.
    pub async fn coordinate_update(
        &self,
        datacenter: Option<&Datacenter>,
        update: legate_catalog::NodeCoordinate,
    ) -> Result<(), BackendError> {
        match self
            .call_in(datacenter, OperatorRequest::CoordinateUpdate(update))
            .await?
        {
            OperatorAnswer::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// A user event for another datacenter, fired there by one of its servers.
    pub async fn fire_event_in(
        &self,
        datacenter: &Datacenter,
        event: &legate_api::backend::UserEvent,
    ) -> Result<(), BackendError> {
        let request = OperatorRequest::FireEvent {
            gossip_name: event.gossip_name(),
            payload: event.encode(),
        };
        match self.call_in(Some(datacenter), request).await? {
            OperatorAnswer::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// `/v1/coordinate/datacenters`, from a server's WAN pool.
    pub async fn coordinate_datacenters(
        &self,
    ) -> Result<Vec<legate_api::backend::DatacenterCoordinates>, BackendError> {
        match self.call(OperatorRequest::WanCoordinates).await? {
            OperatorAnswer::WanCoordinates(maps) => {
                Ok(maps.into_iter().map(|dc| dc.into_api()).collect())
            }
            other => Err(unexpected(other)),
        }
    }

    pub async fn autopilot_state(&self) -> Result<AutopilotState, BackendError> {
        match self.call(OperatorRequest::AutopilotState).await? {
            OperatorAnswer::AutopilotState(state) => Ok(state),
            other => Err(unexpected(other)),
        }
    }
}

/// The `Backend` methods that `OperatorCalls` serves, for a backend holding one in `$field`.
/// Servers and clients differ only in the transport, so both impls expand this.
#[macro_export]
macro_rules! delegate_operator_calls {
    ($field:ident) => {
        async fn join(&self, address: String, wan: bool) -> Result<(), BackendError> {
            self.$field.join(address, wan).await
        }

        async fn leave(&self) -> Result<(), BackendError> {
            self.$field.leave().await
        }

        async fn force_leave(
            &self,
            node: String,
            prune: bool,
            wan: bool,
        ) -> Result<(), BackendError> {
            self.$field.force_leave(node, prune, wan).await
        }

        async fn raft_configuration(
            &self,
            options: ReadOptions,
        ) -> Result<legate_api::backend::RaftConfiguration, BackendError> {
            self.$field.raft_configuration(options).await
        }

        async fn raft_remove_peer(
            &self,
            by: legate_api::backend::PeerSelector,
        ) -> Result<(), BackendError> {
            self.$field.raft_remove_peer(by).await
        }

        async fn raft_transfer_leader(&self, id: Option<String>) -> Result<(), BackendError> {
            self.$field.raft_transfer_leader(id).await
        }

        async fn autopilot_configuration(
            &self,
        ) -> Result<legate_api::backend::AutopilotConfig, BackendError> {
            self.$field.autopilot_configuration().await
        }

        async fn set_autopilot_configuration(
            &self,
            config: legate_api::backend::AutopilotConfig,
            cas: Option<u64>,
        ) -> Result<bool, BackendError> {
            self.$field.set_autopilot_configuration(config, cas).await
        }

        async fn autopilot_health(
            &self,
        ) -> Result<legate_api::backend::AutopilotHealth, BackendError> {
            self.$field.autopilot_health().await
        }

        async fn autopilot_state(
            &self,
        ) -> Result<legate_api::backend::AutopilotState, BackendError> {
            self.$field.autopilot_state().await
        }

        async fn renew_session(
            &self,
            datacenter: Option<legate_catalog::Datacenter>,
            id: legate_catalog::SessionId,
        ) -> Result<Option<legate_catalog::Session>, BackendError> {
            self.$field.renew_session(datacenter.as_ref(), id).await
        }

        async fn coordinate_update(
            &self,
            datacenter: Option<legate_catalog::Datacenter>,
            update: legate_catalog::NodeCoordinate,
        ) -> Result<(), BackendError> {
            self.$field
                .coordinate_update(datacenter.as_ref(), update)
                .await
        }

        async fn coordinate_datacenters(
            &self,
        ) -> Result<Vec<legate_api::backend::DatacenterCoordinates>, BackendError> {
            self.$field.coordinate_datacenters().await
        }

        fn coordinate(&self) -> Option<legate_catalog::Coord> {
            Some($crate::coordinate_sync::catalog_coord(
                &self.$field.membership.gossip().coordinate(),
            ))
        }

        async fn keyring(
            &self,
            op: legate_api::backend::KeyringOp,
            _relay_factor: u8,
            local_only: bool,
        ) -> Result<Vec<legate_api::backend::KeyringResponse>, BackendError> {
            // Every agent answers for itself over gossip, so relaying adds nothing.
            self.$field.keyring(op, local_only).await
        }
    };
}
