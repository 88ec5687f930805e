//! `/v1/coordinate/*`: network coordinates, and `?near=` ordering by estimated round trip.
//!
//! Every agent computes its LAN coordinate from its gossip probes (`gossip::vivaldi`) and
//! writes it to the catalog now and then (`AgentRuntime::coordinate_loop`); servers also keep
//! the WAN coordinates of the servers they probe. Consul's servers buffer updates and write a
//! batch every 5 s; ours write each update as it comes (one small entry: agents send at most
//! `COORDINATE_RATE_TARGET` per second cluster-wide, as Consul's do), so the reply means the
//! coordinate is stored.

use crate::acl::{Need, Resource};
use serde::Serialize;
use serde_json::Value;

use super::catalog_api::{blocking, filtered};
use super::decode::{self, Field};
use super::response::Reply;
use super::ApiRequest;
use crate::catalog::{CatalogCommand, CoordinateUpdate, NodeCoordinate};
use crate::error::ApiError;
use crate::gossip::vivaldi::{Coordinate, DIMENSIONS};
use crate::node::ctx::ShardCtx;
use crate::node::kv_frontend::Indexed;
use crate::state::Command;
use crate::state::WriteOutcome;

/// Consul's `coordinate.Coordinate` JSON.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CoordJson {
    vec: Vec<f64>,
    error: f64,
    adjustment: f64,
    height: f64,
}

impl CoordJson {
    pub fn new(c: &Coordinate) -> CoordJson {
        CoordJson {
            vec: c.vec.to_vec(),
            error: c.error,
            adjustment: c.adjustment,
            height: c.height,
        }
    }
}

/// Consul's `structs.Coordinate` (one node's entry).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct NodeCoordJson<'a> {
    node: &'a str,
    segment: &'a str,
    coord: CoordJson,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DatacenterMapJson<'a> {
    datacenter: &'a str,
    #[serde(rename = "AreaID")]
    area_id: &'static str,
    coordinates: Vec<NodeCoordJson<'a>>,
}

/// Consul answers every coordinate endpoint this way when `disable_coordinates` is set, on
/// the agent that received the request (before forwarding).
pub fn disabled() -> Reply {
    Reply::text(401, "Coordinate support disabled")
}

fn node_json(c: &NodeCoordinate) -> NodeCoordJson<'_> {
    NodeCoordJson {
        node: &c.node,
        segment: &c.segment,
        coord: CoordJson::new(&c.coord),
    }
}

/// The entries as JSON, kept to the `?segment=` asked for (present, even empty, means only
/// that segment, as in Consul).
fn in_segment<'a>(req: &ApiRequest, coords: &'a [NodeCoordinate]) -> Vec<NodeCoordJson<'a>> {
    let segment = req.query.get("segment");
    coords
        .iter()
        .filter(|c| segment.is_none_or(|s| s == c.segment))
        .map(node_json)
        .collect()
}

/// `GET /v1/coordinate/nodes`: every node's LAN coordinate, by node name; blocking.
pub async fn nodes(ctx: &ShardCtx, req: &ApiRequest) -> Reply {
    blocking(
        ctx,
        req,
        || async { Ok(ctx.coordinates()) },
        |coords| {
            let mut out = in_segment(req, coords);
            let before = out.len();
            out.retain(|c| req.allows(Resource::Node, c.node, Need::Read));
            let acl_filtered = out.len() != before;
            super::acl_filtered(Reply::json(&filtered(req, out), req.style), acl_filtered)
        },
    )
    .await
}

/// `GET /v1/coordinate/node/<node>`: that node's entries; 404 with an empty body if none.
pub async fn node(ctx: &ShardCtx, name: &str, req: &ApiRequest) -> Reply {
    blocking(
        ctx,
        req,
        || async {
            let Indexed { value, index } = ctx.coordinates();
            let mine = value
                .into_iter()
                .filter(|c| c.node.eq_ignore_ascii_case(name))
                .collect::<Vec<_>>();
            Ok(Indexed { value: mine, index })
        },
        |coords| {
            let out = in_segment(req, coords);
            match out.is_empty() {
                true => Reply::empty(404),
                false => Reply::json(&out, req.style),
            }
        },
    )
    .await
}

/// `GET /v1/coordinate/datacenters`: the WAN coordinates of every datacenter's servers, as
/// this server's WAN pool last heard them (its own included). Datacenters by name, servers by
/// name; as in Consul, a datacenter none of whose servers has a coordinate yet is left out.
pub fn datacenters(ctx: &ShardCtx, req: &ApiRequest) -> Reply {
    let wan = ctx.mesh.cluster.wan.load();
    let mut dcs: Vec<&str> = wan.iter().map(|s| s.datacenter.as_str()).collect();
    dcs.sort_unstable();
    dcs.dedup();
    let mut servers: Vec<_> = wan.iter().collect();
    servers.sort_by(|a, b| a.name.cmp(&b.name));
    let maps: Vec<DatacenterMapJson> = dcs
        .iter()
        .map(|dc| DatacenterMapJson {
            datacenter: dc,
            area_id: "wan",
            coordinates: servers
                .iter()
                .filter(|s| s.datacenter == *dc)
                .filter_map(|s| {
                    // Consul's `ListDatacenters` strips the `.<dc>` its WAN member names carry.
                    let suffix_at = s.name.len().saturating_sub(dc.len() + 1);
                    let plain = match s.name.strip_suffix(*dc) {
                        Some(rest) if rest.ends_with('.') => &s.name[..suffix_at],
                        _ => s.name.as_str(),
                    };
                    Some(NodeCoordJson {
                        node: plain,
                        segment: "",
                        coord: CoordJson::new(s.coord.as_ref()?),
                    })
                })
                .collect(),
        })
        .filter(|m| !m.coordinates.is_empty())
        .collect();
    Reply::json(&maps, req.style)
}

const UPDATE_FIELDS: &[Field] = &[
    ("Datacenter", &[]),
    ("Node", &[]),
    ("Segment", &[]),
    ("Coord", &[]),
    ("Partition", &[]),
    ("Token", &[]),
];
const COORD_FIELDS: &[Field] = &[
    ("Vec", &[]),
    ("Error", &[]),
    ("Adjustment", &[]),
    ("Height", &[]),
];

/// Reads a `Coordinate` object; `Err(text)` for Consul's decode failures, `Ok(None)` when it
/// decoded but is not an 8-dimension coordinate (Consul: "rejected bad coordinate").
pub fn parse_coord(v: Value) -> Result<Option<Coordinate>, String> {
    let f = decode::fields(v, COORD_FIELDS)?;
    let vec = f.floats("Vec")?;
    let (error, adjustment, height) = (
        f.float("Error")?,
        f.float("Adjustment")?,
        f.float("Height")?,
    );
    let Ok(vec) = <[f64; DIMENSIONS]>::try_from(vec) else {
        return Ok(None);
    };
    Ok(Some(Coordinate {
        vec,
        error,
        adjustment,
        height,
    }))
}

/// Why a `/v1/coordinate/update` body was refused.
#[derive(Debug, PartialEq)]
pub enum BadUpdate {
    /// Not JSON of the right shape: 400 `Request decode failed: ...`.
    Decode(String),
    /// Decoded, but not a valid 8-dimension coordinate: Consul's 500 `rejected bad coordinate`.
    Coordinate,
}

/// Reads a `/v1/coordinate/update` body (`{"Node","Segment","Coord"}`).
pub fn parse_update(body: &[u8]) -> Result<CoordinateUpdate, BadUpdate> {
    let body: Value = match body.is_empty() {
        true => Value::Null,
        false => serde_json::from_slice(body).map_err(|e| BadUpdate::Decode(e.to_string()))?,
    };
    let f = decode::fields(body, UPDATE_FIELDS).map_err(BadUpdate::Decode)?;
    let node = f.string("Node").map_err(BadUpdate::Decode)?;
    let segment = f.string("Segment").map_err(BadUpdate::Decode)?;
    let coord = match f.get("Coord").cloned() {
        None | Some(Value::Null) => None,
        Some(v) => parse_coord(v).map_err(BadUpdate::Decode)?,
    };
    let coord = coord
        .filter(Coordinate::is_valid)
        .ok_or(BadUpdate::Coordinate)?;
    let mut update = CoordinateUpdate::new(&node, &coord);
    update.segment = segment;
    Ok(update)
}

/// `PUT /v1/coordinate/update`: stores a node's LAN coordinate (dropped when the catalog does
/// not hold the node, as Consul does).
pub async fn update(ctx: &ShardCtx, req: &ApiRequest) -> Reply {
    let update = match parse_update(&req.body) {
        Ok(u) => u,
        Err(BadUpdate::Decode(e)) => {
            return Reply::text(400, format!("Request decode failed: {e}"))
        }
        Err(BadUpdate::Coordinate) => {
            return Reply::error(&ApiError::Internal(format!(
                "rejected bad coordinate: {}",
                String::from_utf8_lossy(&req.body)
            )))
        }
    };
    if let Err(e) = req.require(Resource::Node, &update.node, Need::Write) {
        return Reply::error(&e);
    }
    let cmd = Command::Catalog(CatalogCommand::CoordinateBatch(vec![update]));
    match ctx.write(cmd).await {
        WriteOutcome::Failed(e) => Reply::error(&e),
        _ => Reply::empty(200),
    }
}

/// Orders `items` nearest first from the node `?near=` names (`_agent` was resolved to this
/// agent's node by `dispatch`), by the catalog's coordinates, as Consul's
/// `sortNodesByDistanceFrom` does: a stable sort, items whose node has no coordinate last;
/// without a coordinate for the source, nothing moves.
pub fn sort_near<T>(
    ctx: &ShardCtx,
    req: &ApiRequest,
    items: &mut [T],
    node_of: impl Fn(&T) -> &str,
) {
    let Some(near) = req.query.get("near").filter(|n| !n.is_empty()) else {
        return;
    };
    sort_near_to(ctx, near, items, node_of);
}

/// `items` nearest first to node `near` (by network coordinates; unchanged when it has none).
pub fn sort_near_to<T>(ctx: &ShardCtx, near: &str, items: &mut [T], node_of: impl Fn(&T) -> &str) {
    let state = ctx.state.borrow();
    let Some(source) = state.catalog.coordinate(near).map(|c| c.coord) else {
        return;
    };
    let distance = |node: &str| {
        state
            .catalog
            .coordinate(node)
            .map_or(f64::INFINITY, |c| source.distance_s(&c.coord))
    };
    items.sort_by(|a, b| distance(node_of(a)).total_cmp(&distance(node_of(b))));
}
