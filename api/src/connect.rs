//! `Listing`: whether a service listing answers with every instance of the service
//! (`/v1/catalog/service/:name`, `/v1/health/service/:name`) or only with those that accept
//! service-mesh (Connect) connections for it (`/v1/catalog/connect/:name`,
//! `/v1/health/connect/:name`).
//!
//! Consul serves both pairs with the same handlers (`catalogServiceNodes` and
//! `healthServiceNodes` with a `connect` flag): the same parameters, `?filter=`, read
//! headers and blocking. Only the instances differ. For a connect listing Consul's state
//! store returns the `connect-proxy` instances whose `Proxy.DestinationServiceName` is the
//! service, and the service's own instances registered `Connect.Native`.
//!
//! What Legate does not model: its catalog keeps an instance's `Kind` but neither a proxy's
//! destination nor the native flag (mesh is out of scope, and both would need a new
//! version of the durable record). So no instance can be shown to qualify, and a connect
//! listing is always `[]`. It still runs the service's query, so the answer carries that
//! query's `X-Consul-Index` and blocks on it; Consul blocks on the service's connect index
//! instead, so Legate may wake a blocked client when a plain instance changes, which the
//! blocking contract allows (an answer with a new index and the same body).

/// Which instances a service listing answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    /// Every instance of the service.
    Service,
    /// The instances that accept mesh connections for the service.
    Connect,
}

impl Listing {
    /// Keeps, of a service's instances in listing order, those this listing answers with.
    pub fn retain<T>(self, instances: &mut Vec<T>) {
        match self {
            Listing::Service => {}
            // No instance is known to be a proxy for the service or connect-native.
            Listing::Connect => instances.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_listing_has_no_instance_legate_can_vouch_for() {
        let mut instances = vec!["web-1", "web-2"];
        Listing::Service.retain(&mut instances);
        assert_eq!(instances, ["web-1", "web-2"]);
        Listing::Connect.retain(&mut instances);
        assert!(instances.is_empty());
    }
}
