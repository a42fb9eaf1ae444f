//! A lock's session: created for the lock, renewed every TTL/2 (as the Go client's
//! `RenewPeriodic` does), destroyed on release. Its loss (a renew answered 404, or no
//! successful renew for a whole TTL) is signalled, because every lock it holds is then gone.

use super::Lost;
use legate_api::client::{Client, ClientError};
use legate_api::types::session::SessionRequest;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Pause between renew attempts after an error, within the TTL.
const RENEW_RETRY: Duration = Duration::from_secs(1);

pub struct SessionKeeper {
    pub id: String,
    lost: Lost,
    renewer: JoinHandle<()>,
}

impl SessionKeeper {
    /// Creates a session named `name` with `ttl` (a Go duration) and starts renewing it.
    pub async fn create(
        client: &Client,
        name: &str,
        ttl: &str,
        datacenter: Option<&str>,
    ) -> Result<SessionKeeper, ClientError> {
        let ttl_duration = legate_api::duration::parse_std(ttl)
            .map_err(|error| ClientError::Decode(format!("session TTL {ttl:?}: {error}")))?;
        let request = SessionRequest {
            name: Some(name.to_owned()),
            ttl: Some(ttl.to_owned()),
            ..SessionRequest::default()
        };
        let id = client.session_create(&request, datacenter).await?;
        let (signal, lost) = watch::channel(false);
        let renewer = tokio::spawn(renew(client.clone(), id.clone(), ttl_duration, signal));
        Ok(SessionKeeper { id, lost, renewer })
    }

    /// Fires when the session is gone.
    pub fn lost(&self) -> Lost {
        self.lost.clone()
    }

    /// Stops renewing and destroys the session (which releases anything it still holds).
    pub async fn destroy(self, client: &Client) {
        self.renewer.abort();
        let _ = client.session_destroy(&self.id).await;
    }
}

async fn renew(client: Client, id: String, ttl: Duration, lost: watch::Sender<bool>) {
    let mut last_success = Instant::now();
    let mut pause = ttl / 2;
    loop {
        tokio::time::sleep(pause).await;
        match client.session_renew(&id).await {
            Ok(Some(session)) => {
                last_success = Instant::now();
                // A server may hand back a longer TTL; the client adopts it.
                let granted = legate_api::duration::parse_std(&session.ttl).unwrap_or(ttl);
                pause = granted.max(ttl) / 2;
            }
            Ok(None) => {
                let _ = lost.send(true);
                return;
            }
            Err(error) if last_success.elapsed() >= ttl => {
                tracing::warn!("session {id}: no renew within its TTL ({error})");
                let _ = lost.send(true);
                return;
            }
            Err(_) => pause = RENEW_RETRY,
        }
    }
}
