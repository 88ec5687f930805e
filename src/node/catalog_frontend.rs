//! Catalog reads as a shard sees them: nodes are replicated here, a service's instances live
//! on the shard that owns its name, and node-wide views scatter to every shard.

use std::collections::{BTreeMap, BTreeSet};

use tokio::sync::oneshot;

use crate::catalog::{Check, Node, Pickable, Service, ServiceInstance};
use crate::kv::shard_of;
use crate::mesh::ShardMsg;
use crate::node::ctx::ShardCtx;
use crate::node::kv_frontend::{Busy, Indexed};
use crate::state::{CatalogAnswer, CatalogQuery};

impl ShardCtx {
    async fn catalog_query(
        &self,
        shard: usize,
        query: CatalogQuery,
    ) -> Result<CatalogAnswer, Busy> {
        if shard == self.id {
            self.catch_up();
            return Ok(self.catalog_answer(&query));
        }
        let (tx, rx) = oneshot::channel();
        self.mesh.shards[shard]
            .try_send(ShardMsg::Catalog { query, reply: tx })
            .map_err(|_| Busy)?;
        rx.await.map_err(|_| Busy)
    }

    /// Asks every shard; `query(shard)` builds each one's question. Answers in shard order.
    async fn catalog_all(
        &self,
        query: impl Fn(usize) -> CatalogQuery,
    ) -> Result<Vec<CatalogAnswer>, Busy> {
        let mut pending = Vec::new();
        for shard in 0..self.mesh.shards.len() {
            if shard == self.id {
                continue;
            }
            let (tx, rx) = oneshot::channel();
            let msg = ShardMsg::Catalog {
                query: query(shard),
                reply: tx,
            };
            self.mesh.shards[shard].try_send(msg).map_err(|_| Busy)?;
            pending.push((shard, rx));
        }
        self.catch_up();
        let mut answers: Vec<(usize, CatalogAnswer)> =
            vec![(self.id, self.catalog_answer(&query(self.id)))];
        for (shard, rx) in pending {
            answers.push((shard, rx.await.map_err(|_| Busy)?));
        }
        answers.sort_by_key(|(s, _)| *s);
        Ok(answers.into_iter().map(|(_, a)| a).collect())
    }

    /// The shard that owns service `name` (its instances and their checks).
    pub fn owner_of(&self, service: &str) -> usize {
        shard_of(&service.to_lowercase(), self.mesh.shards.len())
    }

    /// `/v1/health/service/<name>` and `/v1/catalog/service/<name>`: one shard, no scatter.
    pub async fn service_instances(
        &self,
        name: &str,
        tags: &[String],
    ) -> Result<Indexed<Vec<ServiceInstance>>, Busy> {
        let query = CatalogQuery::Instances {
            name: name.to_string(),
            tags: tags.to_vec(),
        };
        let a = self.catalog_query(self.owner_of(name), query).await?;
        Ok(Indexed {
            value: a.instances,
            index: a.index,
        })
    }

    /// DNS: up to `k` random healthy instances of `name`, picked on the owner shard.
    pub async fn pick_instances(
        &self,
        name: &str,
        tags: &[String],
        k: usize,
        exclude_warning: bool,
        seed: u64,
    ) -> Result<Vec<Pickable>, Busy> {
        let query = CatalogQuery::Pick {
            name: name.to_string(),
            tags: tags.to_vec(),
            k,
            exclude_warning,
            seed,
        };
        Ok(self.catalog_query(self.owner_of(name), query).await?.picked)
    }

    /// `/v1/catalog/services`: every shard's names merged.
    pub async fn service_tags(&self) -> Result<Indexed<BTreeMap<String, BTreeSet<String>>>, Busy> {
        let answers = self.catalog_all(|_| CatalogQuery::ServiceTags).await?;
        let index = answers.iter().map(|a| a.index).max().unwrap_or(0);
        let mut tags = BTreeMap::new();
        for a in answers {
            tags.extend(a.tags);
        }
        Ok(Indexed { value: tags, index })
    }

    /// `/v1/catalog/nodes`: the local replica.
    pub fn catalog_nodes(&self) -> Indexed<Vec<Node>> {
        self.catch_up();
        let state = self.state.borrow();
        Indexed {
            value: state.catalog.nodes(),
            index: state.catalog.replicated_index(),
        }
    }

    /// `/v1/coordinate/nodes`: the local replica.
    pub fn coordinates(&self) -> Indexed<Vec<crate::catalog::NodeCoordinate>> {
        self.catch_up();
        let (value, index) = self.state.borrow().catalog.coordinates();
        Indexed { value, index }
    }

    /// `/v1/catalog/node/<node>`: the node (local replica) and its services (every shard).
    pub async fn catalog_node(
        &self,
        node: &str,
    ) -> Result<Indexed<Option<(Node, Vec<Service>)>>, Busy> {
        let answers = self
            .catalog_all(|_| CatalogQuery::NodeServices {
                node: node.to_string(),
            })
            .await?;
        let index = answers.iter().map(|a| a.index).max().unwrap_or(0);
        let found = self.state.borrow().catalog.node(node).cloned();
        let mut services: Vec<Service> = answers.into_iter().flat_map(|a| a.services).collect();
        services.sort_by_key(|s| s.def.id.to_lowercase());
        Ok(Indexed {
            value: found.map(|n| (n, services)),
            index,
        })
    }

    /// `/v1/health/node/<node>`: node-level checks (local replica) and service checks (every shard).
    /// Everything this server's catalog holds for `node` (for anti-entropy diffs); `None`
    /// when a shard is too busy to answer.
    pub async fn node_view(&self, node: &str) -> Option<crate::catalog::NodeView> {
        let found = self.catalog_node(node).await.ok()?.value;
        let checks = self.node_checks(node).await.ok()?.value;
        let mut view = crate::catalog::NodeView::default();
        if let Some((node, services)) = found {
            view.node = Some(node.def);
            view.services = services.into_iter().map(|s| s.def).collect();
        }
        view.checks = checks.into_iter().map(|c| c.def).collect();
        Some(view)
    }

    pub async fn node_checks(&self, node: &str) -> Result<Indexed<Vec<Check>>, Busy> {
        let answers = self
            .catalog_all(|_| CatalogQuery::NodeServiceChecks {
                node: node.to_string(),
            })
            .await?;
        let index = answers.iter().map(|a| a.index).max().unwrap_or(0);
        let mut checks = self.state.borrow().catalog.node_level_checks(node);
        checks.extend(answers.into_iter().flat_map(|a| a.checks));
        checks.sort_by_key(|c| c.def.id.to_lowercase());
        Ok(Indexed {
            value: checks,
            index,
        })
    }

    /// `/v1/health/checks/<service>`: the owner's checks of that service.
    pub async fn service_checks(&self, name: &str) -> Result<Indexed<Vec<Check>>, Busy> {
        let a = self
            .catalog_query(
                self.owner_of(name),
                CatalogQuery::ChecksOfService {
                    name: name.to_string(),
                },
            )
            .await?;
        let mut checks = a.checks;
        checks.sort_by(|a, b| {
            (a.node.to_lowercase(), a.def.id.to_lowercase())
                .cmp(&(b.node.to_lowercase(), b.def.id.to_lowercase()))
        });
        Ok(Indexed {
            value: checks,
            index: a.index,
        })
    }

    /// `/v1/health/state/<state>`: every shard; node-level checks from shard 0 only.
    pub async fn checks_in_state(&self, state: &str) -> Result<Indexed<Vec<Check>>, Busy> {
        let answers = self
            .catalog_all(|shard| CatalogQuery::ChecksInState {
                state: state.to_string(),
                with_replicated: shard == 0,
            })
            .await?;
        let index = answers.iter().map(|a| a.index).max().unwrap_or(0);
        let mut checks: Vec<Check> = answers.into_iter().flat_map(|a| a.checks).collect();
        checks.sort_by(|a, b| {
            (a.node.to_lowercase(), a.def.id.to_lowercase())
                .cmp(&(b.node.to_lowercase(), b.def.id.to_lowercase()))
        });
        Ok(Indexed {
            value: checks,
            index,
        })
    }

    /// True when some shard holds service `service_id` on `node` (for check registration).
    pub async fn service_exists(&self, node: &str, service_id: &str) -> Result<bool, Busy> {
        let answers = self
            .catalog_all(|_| CatalogQuery::NodeServices {
                node: node.to_string(),
            })
            .await?;
        Ok(answers
            .iter()
            .flat_map(|a| &a.services)
            .any(|s| s.def.id.eq_ignore_ascii_case(service_id)))
    }
}
