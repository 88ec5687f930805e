//! Rendered answers of the hot catalog and health reads (`health/service`, `catalog/service`,
//! `catalog/services`), kept by each shard so that repeated reads, and the many blocking
//! readers woken by one change, of an unchanged catalog cost a refcount instead of a render.
//!
//! Exactness comes from the stamp, not from the answer's own `X-Consul-Index`: an entry is
//! served only while the catalog (every shard's catalog index) and the ACL table stand where
//! they stood before the answer was read, so no change of any kind can hide behind it. The
//! shell takes the stamp before the read, never after, and takes none (caches nothing) while
//! a shard has not applied a write that may already have been acknowledged.
//!
//! What is kept is the rendered reply (status, headers the handler set, body); the per-request
//! headers (`X-Consul-KnownLeader`, `X-Consul-LastContact`, consistency) are added on the way
//! out, as for a fresh answer.

use std::collections::HashMap;

use bytes::Bytes;

use super::query::Query;
use super::response::{JsonStyle, Reply};
use crate::config::{
    HTTP_BODY_CACHE_BYTES_MAX, HTTP_BODY_CACHE_ENTRIES_MAX, HTTP_BODY_CACHE_KEY_BYTES_MAX,
};

/// What a cached answer was computed under.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Stamp {
    /// The highest catalog index over the shards. Every catalog write takes a Raft index
    /// above all earlier ones, so any write moves it.
    pub catalog: u64,
    /// The ACL table's index (0 without ACLs): a changed policy or token may change who
    /// sees what.
    pub acl: u64,
}

struct Entry {
    stamp: Stamp,
    index: u64,
    status: u16,
    content_type: Option<&'static str>,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
}

/// One shard's rendered answers, at most `HTTP_BODY_CACHE_ENTRIES_MAX` of them and
/// `HTTP_BODY_CACHE_BYTES_MAX` bytes of keys and bodies; a key over
/// `HTTP_BODY_CACHE_KEY_BYTES_MAX` is answered afresh every time.
#[derive(Default)]
pub struct BodyCache {
    entries: HashMap<String, Entry, foldhash::fast::RandomState>,
    /// Bytes of keys and bodies held.
    bytes: usize,
    /// The latest stamp an answer was kept under: an answer read under an earlier one can
    /// never be served again (both indexes only grow), so it is not kept.
    newest: Option<Stamp>,
}

impl BodyCache {
    /// The answer kept for `key` and its index, if it was computed under `stamp`.
    pub fn get(&self, key: &str, stamp: Stamp) -> Option<(u64, Reply)> {
        let entry = self.entries.get(key).filter(|e| e.stamp == stamp)?;
        let reply = Reply {
            status: entry.status,
            content_type: entry.content_type,
            headers: entry.headers.clone(),
            body: entry.body.clone(),
            stream: None,
        };
        Some((entry.index, reply))
    }

    /// Keeps `reply` (read at `index` under `stamp`) for `key`. Entries of older stamps can
    /// never be served again, so they go first when the cache is full; if that is not enough,
    /// it starts again empty.
    pub fn put(&mut self, key: String, stamp: Stamp, index: u64, reply: &Reply) {
        let size = key.len() + reply.body.len();
        if reply.stream.is_some()
            || key.len() > HTTP_BODY_CACHE_KEY_BYTES_MAX
            || size > HTTP_BODY_CACHE_BYTES_MAX / 4
        {
            return;
        }
        if let Some(newest) = self.newest {
            if stamp.catalog < newest.catalog || stamp.acl < newest.acl {
                return;
            }
        }
        self.newest = Some(stamp);
        if let Some((old_key, old)) = self.entries.remove_entry(&key) {
            self.bytes -= old_key.len() + old.body.len();
        }
        if self.entries.len() >= HTTP_BODY_CACHE_ENTRIES_MAX
            || self.bytes + size > HTTP_BODY_CACHE_BYTES_MAX
        {
            self.entries.retain(|_, e| e.stamp == stamp);
            self.bytes = self
                .entries
                .iter()
                .map(|(k, e)| k.len() + e.body.len())
                .sum();
            if self.entries.len() >= HTTP_BODY_CACHE_ENTRIES_MAX
                || self.bytes + size > HTTP_BODY_CACHE_BYTES_MAX
            {
                self.entries.clear();
                self.bytes = 0;
            }
        }
        self.bytes += size;
        self.entries.insert(
            key,
            Entry {
                stamp,
                index,
                status: reply.status,
                content_type: reply.content_type,
                headers: reply.headers.clone(),
                body: reply.body.clone(),
            },
        );
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// The key of a read whose answer depends only on the catalog, the ACL table and the request:
/// its path, its query pairs in order but `index` and `wait` (each watcher's own), the JSON
/// style and who asks (the resolved token's accessor, empty without ACLs: a request without a
/// token is answered as the agent's default token, which can change). Every part is length-prefixed, so two requests share a key only if
/// they agree on all of them. `None` when the answer depends on more: `near` sorts by network
/// coordinates, and `consistent` must confirm leadership on every read.
pub fn key(path: &str, query: &Query, style: JsonStyle, who: &str) -> Option<String> {
    if query.has("near") || query.has("consistent") {
        return None;
    }
    let mut key = String::with_capacity(path.len() + query.raw().len() + 64);
    let mut part = |s: &str| {
        use std::fmt::Write;
        let _ = write!(key, "{}:{s}", s.len());
    };
    part(path);
    for (name, value) in query.pairs().filter(|(n, _)| *n != "index" && *n != "wait") {
        part(name);
        part(value);
    }
    part(match (style.indent, style.newline) {
        (false, false) => "compact",
        (true, false) => "indented",
        (false, true) => "newline",
        (true, true) => "pretty",
    });
    part(who);
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPACT: JsonStyle = JsonStyle {
        indent: false,
        newline: false,
    };

    #[test]
    fn keys_leave_out_only_the_watchers_own_parameters() {
        let k = |q: &str| key("/v1/health/service/web", &Query::parse(q), COMPACT, "");
        assert_eq!(k("index=5&wait=10s&passing"), k("passing&index=9"));
        assert_ne!(k("passing"), k(""));
        assert_ne!(k("tag=a&tag=b"), k("tag=b&tag=a"));
        // Length prefixes: values that would run together stay apart.
        assert_ne!(k("tag=a%26tag%3Db"), k("tag=a&tag=b"));
        assert_ne!(
            key("/v1/health/service/web", &Query::parse(""), COMPACT, "t1"),
            key("/v1/health/service/web", &Query::parse(""), COMPACT, "t2")
        );
        assert_eq!(k("near=_agent"), None);
        assert_eq!(k("consistent"), None);
    }

    #[test]
    fn an_answer_is_served_only_under_its_stamp_and_the_bounds_hold() {
        let mut cache = BodyCache::default();
        let at = |catalog| Stamp { catalog, acl: 0 };
        let reply = Reply::text(200, "x".repeat(1000));
        cache.put("a".into(), at(7), 7, &reply);
        let (index, hit) = cache.get("a", at(7)).expect("a hit");
        assert_eq!((index, hit.body.as_ref()), (7, reply.body.as_ref()));
        assert!(cache.get("a", at(8)).is_none());
        assert!(cache.get("a", Stamp { catalog: 7, acl: 1 }).is_none());
        for i in 0..HTTP_BODY_CACHE_ENTRIES_MAX * 2 {
            cache.put(format!("k{i}"), at(9), 9, &reply);
            assert!(cache.len() <= HTTP_BODY_CACHE_ENTRIES_MAX);
            assert!(cache.bytes() <= HTTP_BODY_CACHE_BYTES_MAX);
        }
        let big = Reply::text(200, "y".repeat(HTTP_BODY_CACHE_BYTES_MAX / 8));
        for i in 0..20 {
            cache.put(format!("b{i:02}"), at(10), 10, &big);
            assert!(cache.bytes() <= HTTP_BODY_CACHE_BYTES_MAX);
        }
        assert_eq!(cache.bytes(), cache.len() * (big.body.len() + "bNN".len()));
        // Read under an older stamp: never servable again, so not kept.
        cache.put("late".into(), at(9), 9, &reply);
        assert!(cache.get("late", at(9)).is_none());
        // A long key is not kept, whatever its body.
        cache.put(
            "k".repeat(HTTP_BODY_CACHE_KEY_BYTES_MAX + 1),
            at(10),
            10,
            &reply,
        );
        assert_eq!(cache.bytes(), cache.len() * (big.body.len() + "bNN".len()));
    }
}
