//! `/v1/coordinate/*` JSON: Serf's coordinate and the entries that carry it.

use legate_catalog::{Coord, NodeCoordinate};
use serde::{Deserialize, Serialize};

/// Serf's `coordinate.Coordinate`, every component in seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct CoordJson {
    pub vec: Vec<f64>,
    pub error: f64,
    pub adjustment: f64,
    pub height: f64,
}

impl From<&Coord> for CoordJson {
    fn from(coord: &Coord) -> CoordJson {
        CoordJson {
            vec: coord.vec.clone(),
            error: coord.error,
            adjustment: coord.adjustment,
            height: coord.height,
        }
    }
}

impl From<CoordJson> for Coord {
    fn from(json: CoordJson) -> Coord {
        Coord {
            vec: json.vec,
            error: json.error,
            adjustment: json.adjustment,
            height: json.height,
        }
    }
}

/// One node's coordinate (`structs.Coordinate`), as listed and as `update` takes it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct CoordinateEntry {
    pub node: String,
    pub segment: String,
    pub coord: Option<CoordJson>,
}

impl From<&NodeCoordinate> for CoordinateEntry {
    fn from(entry: &NodeCoordinate) -> CoordinateEntry {
        CoordinateEntry {
            node: entry.node.to_string(),
            segment: entry.segment.clone(),
            coord: Some(CoordJson::from(&entry.coord)),
        }
    }
}

/// One datacenter's servers in the WAN pool (`structs.DatacenterMap`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct DatacenterMap {
    pub datacenter: String,
    #[serde(rename = "AreaID")]
    pub area_id: String,
    pub coordinates: Vec<CoordinateEntry>,
}
