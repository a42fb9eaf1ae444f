//! `/v1/coordinate/*`: network coordinates of the LAN pool's nodes (from the catalog, where
//! agents report them) and of every datacenter's servers in the WAN pool.

use crate::backend::Backend;
use crate::error::ApiError;
use crate::reply;
use crate::router::{unexpected, Api, Incoming};
use crate::types::{CoordinateEntry, DatacenterMap};
use axum::response::Response;
use legate_catalog::{Coord, NodeCoordinate, NodeName, Query, QueryResult};

/// `GET /v1/coordinate/datacenters`: each datacenter's servers, by datacenter name.
pub async fn datacenters<B: Backend>(
    api: &Api<B>,
    request: Incoming,
) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    let mut known = api.backend.coordinate_datacenters().await?;
    known.sort_by(|a, b| a.datacenter.cmp(&b.datacenter));
    let maps: Vec<DatacenterMap> = known
        .iter()
        .map(|dc| DatacenterMap {
            datacenter: dc.datacenter.clone(),
            area_id: "wan".to_owned(),
            coordinates: dc
                .coordinates
                .iter()
                .map(|(node, coord)| {
                    CoordinateEntry::from(&NodeCoordinate {
                        node: node.as_str().into(),
                        segment: String::new(),
                        coord: coord.clone(),
                    })
                })
                .collect(),
        })
        .collect();
    Ok(reply::json(&maps, options.pretty))
}

/// `GET /v1/coordinate/nodes`: every node's coordinate; blocking.
pub async fn nodes<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    let read = api
        .read(&options, Query::Coordinates { node: None })
        .await?;
    let QueryResult::Coordinates(found) = &read.value else {
        return Err(unexpected(&read.value));
    };
    let entries: Vec<CoordinateEntry> = found.iter().map(CoordinateEntry::from).collect();
    Ok(reply::read_json(&entries, &read.meta, options.pretty))
}

/// `GET /v1/coordinate/node/<node>`: that node's coordinates, or 404 when it has none.
pub async fn node<B: Backend>(
    api: &Api<B>,
    node: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    let query = Query::Coordinates {
        node: Some(NodeName::from(node)),
    };
    let read = api.read(&options, query).await?;
    let QueryResult::Coordinates(found) = &read.value else {
        return Err(unexpected(&read.value));
    };
    if found.is_empty() {
        // Consul answers a bare 404 (with the read headers) for a node without one.
        return Ok(reply::not_found(&read.meta));
    }
    let entries: Vec<CoordinateEntry> = found.iter().map(CoordinateEntry::from).collect();
    Ok(reply::read_json(&entries, &read.meta, options.pretty))
}

/// `PUT /v1/coordinate/update`: `{"Node", "Segment", "Coord"}`, queued at the leader.
pub async fn update<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    let bytes = api.json_body(request).await?;
    let entry: CoordinateEntry = serde_json::from_slice(&bytes)
        .map_err(|error| ApiError::BadRequest(format!("Request decode failed: {error}")))?;
    let update = parse_update(entry)?;
    api.backend
        .coordinate_update(
            crate::options::remote_datacenter(options.datacenter.as_ref(), &api.info().datacenter),
            update,
        )
        .await?;
    Ok(reply::json(&true, options.pretty))
}

/// Checks an update the way Consul's `Coordinate.Update` does.
fn parse_update(entry: CoordinateEntry) -> Result<NodeCoordinate, ApiError> {
    if entry.node.is_empty() {
        return Err(ApiError::BadRequest("Must provide node".into()));
    }
    let Some(coord) = entry.coord else {
        return Err(ApiError::BadRequest("Must provide coordinate".into()));
    };
    let coord = Coord::from(coord);
    if !coord.is_valid() {
        return Err(ApiError::BadRequest(format!(
            "Invalid coordinate: it must have {} finite dimensions, a finite error and \
             adjustment and a non-negative height",
            legate_catalog::COORD_DIMENSIONS
        )));
    }
    Ok(NodeCoordinate {
        node: entry.node.into(),
        segment: entry.segment,
        coord,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::CoordJson;

    #[test]
    fn updates_are_checked_like_consuls() {
        let good = CoordinateEntry {
            node: "n1".into(),
            segment: String::new(),
            coord: Some(CoordJson {
                vec: vec![0.0; 8],
                error: 1.5,
                adjustment: 0.0,
                height: 1.0e-5,
            }),
        };
        assert_eq!(parse_update(good.clone()).unwrap().node.as_str(), "n1");
        let no_node = CoordinateEntry {
            node: String::new(),
            ..good.clone()
        };
        assert!(parse_update(no_node).is_err());
        let short = CoordinateEntry {
            coord: Some(CoordJson {
                vec: vec![0.0; 3],
                ..CoordJson::default()
            }),
            ..good.clone()
        };
        assert!(parse_update(short).is_err());
        let none = CoordinateEntry {
            coord: None,
            ..good
        };
        assert!(parse_update(none).is_err());
    }
}
