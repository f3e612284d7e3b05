//! Serf agent adapter: a Serf agent's member events become site verdicts.
//!
//! Serf's RPC protocol (`docs/agent/rpc` of Serf, protocol version 1) is a
//! TCP stream of MessagePack values. Every request is a header map
//! `{Command, Seq}` optionally followed by a body map; every response is a
//! header map `{Seq, Error}` optionally followed by a body. We speak:
//! - `handshake` `{Version: 1}` (required first, no response body);
//! - `members` -> `{Members: [Member]}` (full resync after every connect);
//! - `stream` `{Type: "member-join,member-leave,member-failed,member-update,member-reap"}`
//!   -> an ack header, then for each event a header with the stream's `Seq`
//!   and a body `{Event, Members}`.
//!
//! Each Serf member carries a `site` tag. A site is Alive while any of its
//! members is alive, Dead once all of them failed or left; verdicts are the
//! local site's view (observer = local). With gossip running they join this
//! member's gossip view (so the other members count them toward the quorum,
//! with the data-plane check applied); without gossip they go straight to
//! the local engine. If the agent goes away, the adapter reconnects with
//! backoff and resyncs from `members`.

mod framer;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use orbit_core::{Event, Liveness, SiteId};
use rmpv::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::error::DetectError;
use crate::gossip::{LocalReporter, Source};
pub use framer::{Framer, MAX_ELEMENTS, MAX_VALUE};

/// The member tag naming a member's site.
pub const SITE_TAG: &str = "site";
const MEMBER_EVENTS: &str = "member-join,member-leave,member-failed,member-update,member-reap";
const STREAM_SEQ: u64 = 1;
const MEMBERS_SEQ: u64 = 2;

/// A Serf member, as much of it as we need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerfMember {
    pub name: String,
    pub status: String,
    pub tags: BTreeMap<String, String>,
}

/// A decoded response header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHeader {
    pub seq: u64,
    pub error: String,
}

/// Why an RPC value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SerfWireError {
    #[error("malformed MessagePack: {0}")]
    Decode(String),
    #[error("RPC value larger than {MAX_VALUE} bytes (the limit)")]
    TooLarge,
    #[error("RPC value of more than {MAX_ELEMENTS} elements (the limit)")]
    TooManyElements,
    #[error("unexpected RPC value: {0}")]
    Shape(String),
}

fn field<'a>(map: &'a Value, key: &str) -> Option<&'a Value> {
    map.as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        Value::Binary(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

pub fn parse_header(v: &Value) -> Result<ResponseHeader, SerfWireError> {
    let seq = field(v, "Seq")
        .and_then(Value::as_u64)
        .ok_or_else(|| SerfWireError::Shape(format!("header without Seq: {v}")))?;
    let error = field(v, "Error").and_then(text).unwrap_or_default();
    Ok(ResponseHeader { seq, error })
}

fn parse_member(v: &Value) -> Result<SerfMember, SerfWireError> {
    let name = field(v, "Name")
        .and_then(text)
        .ok_or_else(|| SerfWireError::Shape("member without Name".into()))?;
    let status = field(v, "Status")
        .and_then(text)
        .ok_or_else(|| SerfWireError::Shape(format!("member {name} without Status")))?;
    let mut tags = BTreeMap::new();
    if let Some(Value::Map(m)) = field(v, "Tags") {
        for (k, v) in m {
            if let (Some(k), Some(v)) = (text(k), text(v)) {
                tags.insert(k, v);
            }
        }
    }
    Ok(SerfMember { name, status, tags })
}

/// `{Members: [...]}` of a `members` reply or a member event.
pub fn parse_members(body: &Value) -> Result<Vec<SerfMember>, SerfWireError> {
    match field(body, "Members") {
        Some(Value::Array(a)) => a.iter().map(parse_member).collect(),
        Some(Value::Nil) | None => Ok(Vec::new()),
        Some(other) => Err(SerfWireError::Shape(format!("Members is {other}"))),
    }
}

/// `{Event, Members}` of a stream record.
pub fn parse_event(body: &Value) -> Result<(String, Vec<SerfMember>), SerfWireError> {
    let event = field(body, "Event")
        .and_then(text)
        .ok_or_else(|| SerfWireError::Shape("stream record without Event".into()))?;
    Ok((event, parse_members(body)?))
}

fn encode(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        // Writing into a Vec cannot fail.
        rmpv::encode::write_value(&mut out, v).expect("encode into Vec");
    }
    out
}

/// Encodes one request: header `{Command, Seq}` and an optional body.
pub fn request(command: &str, seq: u64, body: Option<Value>) -> Vec<u8> {
    let header = Value::Map(vec![
        (Value::from("Command"), Value::from(command)),
        (Value::from("Seq"), Value::from(seq)),
    ]);
    match body {
        Some(b) => encode(&[header, b]),
        None => encode(&[header]),
    }
}

/// Site liveness from Serf's member list: the sans-IO heart of the adapter.
#[derive(Debug)]
pub struct SerfView {
    local: SiteId,
    members: BTreeMap<String, (SiteId, String)>,
    emitted: BTreeMap<SiteId, Liveness>,
}

impl SerfView {
    pub fn new(local: SiteId) -> Self {
        SerfView {
            local,
            members: BTreeMap::new(),
            emitted: BTreeMap::new(),
        }
    }

    /// A full member list (after connect): replaces everything; every site
    /// verdict is re-emitted, since the agent may have restarted.
    pub fn resync(&mut self, members: &[SerfMember]) -> Vec<Event> {
        self.members.clear();
        self.emitted.clear();
        self.update(members)
    }

    /// Members changed (a stream record).
    pub fn update(&mut self, members: &[SerfMember]) -> Vec<Event> {
        for m in members {
            let Some(site) = m.tags.get(SITE_TAG).and_then(|s| s.parse::<SiteId>().ok()) else {
                tracing::debug!(member = %m.name, "serf member without a valid site tag ignored");
                continue;
            };
            if m.status == "reaped" {
                // Reaped members are gone for good; their site keeps the
                // verdict it had.
                self.members
                    .insert(m.name.clone(), (site, "left".to_owned()));
            } else {
                self.members
                    .insert(m.name.clone(), (site, m.status.clone()));
            }
        }
        self.verdicts()
    }

    fn verdicts(&mut self) -> Vec<Event> {
        let mut per_site: BTreeMap<SiteId, Liveness> = BTreeMap::new();
        for (site, status) in self.members.values() {
            if *site == self.local {
                continue;
            }
            let l = match status.as_str() {
                "alive" => Liveness::Alive,
                // Leaving is still answering.
                "leaving" => Liveness::Suspect,
                _ => Liveness::Dead,
            };
            let e = per_site.entry(site.clone()).or_insert(Liveness::Dead);
            *e = best(*e, l);
        }
        let mut out = Vec::new();
        for (site, l) in per_site {
            if self.emitted.get(&site) != Some(&l) {
                self.emitted.insert(site.clone(), l);
                out.push(Event::Verdict {
                    observer: self.local.clone(),
                    subject: site,
                    liveness: l,
                });
            }
        }
        out
    }
}

fn best(a: Liveness, b: Liveness) -> Liveness {
    let rank = |l| match l {
        Liveness::Alive => 3,
        Liveness::Suspect => 2,
        Liveness::Silent => 1,
        // Serf never reports Left (orbit's own state message does).
        Liveness::Dead | Liveness::Left => 0,
    };
    if rank(a) >= rank(b) {
        a
    } else {
        b
    }
}

/// Where the adapter's verdicts go.
#[derive(Debug, Clone)]
pub enum SerfSink {
    /// Straight to the local engine (`[detect] gossip = false`).
    Engine(mpsc::Sender<Event>),
    /// Into this member's gossip view, disseminated to the others.
    Gossip(LocalReporter),
}

impl SerfSink {
    /// Delivers one verdict; false when the receiver is gone.
    async fn deliver(&self, event: Event) -> bool {
        match (self, event) {
            (SerfSink::Engine(tx), event) => tx.send(event).await.is_ok(),
            (
                SerfSink::Gossip(reporter),
                Event::Verdict {
                    subject, liveness, ..
                },
            ) => reporter
                .source(Source::Serf, subject, Some(liveness))
                .await
                .is_ok(),
            (SerfSink::Gossip(_), _) => true,
        }
    }

    fn is_closed(&self) -> bool {
        match self {
            SerfSink::Engine(tx) => tx.is_closed(),
            SerfSink::Gossip(reporter) => reporter.is_closed(),
        }
    }
}

/// A running adapter. Dropping it stops it.
#[derive(Debug)]
pub struct SerfAdapter {
    task: JoinHandle<()>,
}

impl Drop for SerfAdapter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SerfAdapter {
    /// Connects to the agent at `rpc` (and keeps reconnecting), sending the
    /// local site's verdicts derived from Serf into `sink`.
    pub fn start(rpc: SocketAddr, local: SiteId, events: SerfSink) -> SerfAdapter {
        let span = tracing::info_span!("serf", %rpc);
        let task = tokio::spawn(
            async move {
                let mut view = SerfView::new(local);
                let mut backoff = Duration::from_millis(100);
                loop {
                    match session(rpc, &mut view, &events).await {
                        Ok(()) => return, // event receiver gone
                        Err(e) => tracing::warn!(error = %e, "serf agent connection lost"),
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    if events.is_closed() {
                        return;
                    }
                }
            }
            .instrument(span),
        );
        SerfAdapter { task }
    }
}

struct Conn {
    stream: TcpStream,
    framer: Framer,
    rpc: SocketAddr,
}

impl Conn {
    fn err(&self, message: impl Into<String>) -> DetectError {
        DetectError::Serf {
            addr: self.rpc,
            message: message.into(),
        }
    }

    async fn next_value(&mut self) -> Result<Value, DetectError> {
        let mut buf = [0u8; 8192];
        loop {
            match self.framer.next_value() {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => {}
                Err(e) => return Err(self.err(e.to_string())),
            }
            let n = self.stream.read(&mut buf).await?;
            if n == 0 {
                return Err(self.err("agent closed the connection"));
            }
            self.framer.push(&buf[..n]);
        }
    }

    async fn header(&mut self, seq: u64) -> Result<(), DetectError> {
        let v = self.next_value().await?;
        let h = parse_header(&v).map_err(|e| self.err(e.to_string()))?;
        if h.seq != seq {
            return Err(self.err(format!("reply for seq {} while waiting for {seq}", h.seq)));
        }
        if !h.error.is_empty() {
            return Err(self.err(format!("agent error: {}", h.error)));
        }
        Ok(())
    }
}

/// One connection: handshake, resync, stream until it breaks. `Ok` only
/// when the event receiver is gone.
async fn session(
    rpc: SocketAddr,
    view: &mut SerfView,
    events: &SerfSink,
) -> Result<(), DetectError> {
    let stream = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(rpc))
        .await
        .map_err(|_| DetectError::Serf {
            addr: rpc,
            message: "connect timed out".into(),
        })??;
    let mut c = Conn {
        stream,
        framer: Framer::default(),
        rpc,
    };
    let version = Value::Map(vec![(Value::from("Version"), Value::from(1))]);
    c.stream
        .write_all(&request("handshake", 0, Some(version)))
        .await?;
    c.header(0).await?;
    // Subscribe before listing, so no change can fall between the two;
    // events that arrive before the list are superseded by it.
    let kinds = Value::Map(vec![(Value::from("Type"), Value::from(MEMBER_EVENTS))]);
    c.stream
        .write_all(&request("stream", STREAM_SEQ, Some(kinds)))
        .await?;
    c.header(STREAM_SEQ).await?;
    c.stream
        .write_all(&request("members", MEMBERS_SEQ, None))
        .await?;
    loop {
        let v = c.next_value().await?;
        let h = parse_header(&v).map_err(|e| c.err(e.to_string()))?;
        if !h.error.is_empty() {
            return Err(c.err(format!("agent error: {}", h.error)));
        }
        let body = c.next_value().await?;
        let changes = match h.seq {
            STREAM_SEQ => {
                let (event, members) = parse_event(&body).map_err(|e| c.err(e.to_string()))?;
                tracing::debug!(%event, members = members.len(), "serf event");
                view.update(&members)
            }
            MEMBERS_SEQ => {
                let members = parse_members(&body).map_err(|e| c.err(e.to_string()))?;
                tracing::info!(members = members.len(), "connected to serf agent");
                view.resync(&members)
            }
            other => return Err(c.err(format!("reply for unknown seq {other}"))),
        };
        for e in changes {
            if !events.deliver(e).await {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, site: &str, status: &str) -> SerfMember {
        SerfMember {
            name: name.into(),
            status: status.into(),
            tags: [(SITE_TAG.to_owned(), site.to_owned())].into(),
        }
    }

    #[test]
    fn site_is_dead_only_when_all_its_members_are() {
        let mut v = SerfView::new("b".parse().unwrap());
        let e = v.resync(&[
            member("a1", "a", "alive"),
            member("a2", "a", "alive"),
            member("b1", "b", "alive"),
        ]);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(v.update(&[member("a1", "a", "failed")]).is_empty());
        let e = v.update(&[member("a2", "a", "left")]);
        assert_eq!(
            e,
            vec![Event::Verdict {
                observer: "b".parse().unwrap(),
                subject: "a".parse().unwrap(),
                liveness: Liveness::Dead
            }]
        );
        let e = v.update(&[member("a1", "a", "alive")]);
        assert!(matches!(
            e[..],
            [Event::Verdict {
                liveness: Liveness::Alive,
                ..
            }]
        ));
    }

    #[test]
    fn framer_waits_for_whole_values_and_rejects_garbage() {
        let bytes = request("members", 7, None);
        let mut f = Framer::default();
        f.push(&bytes[..3]);
        assert_eq!(f.next_value(), Ok(None));
        f.push(&bytes[3..]);
        let v = f.next_value().unwrap().unwrap();
        assert_eq!(field(&v, "Seq").and_then(Value::as_u64), Some(7));
        assert_eq!(f.next_value(), Ok(None));
        // The never-used marker decodes as nil, which is no header.
        let mut g = Framer::default();
        g.push(&[0xc1]);
        let v = g.next_value().unwrap().unwrap();
        assert!(parse_header(&v).is_err());
        // A 4 GiB string header is refused before its data arrives.
        let mut h = Framer::default();
        h.push(&[0xdb, 0xff, 0xff, 0xff, 0xff, b'x']);
        assert_eq!(h.next_value(), Err(SerfWireError::TooLarge));
    }

    #[test]
    fn members_without_site_tags_or_with_bad_shapes_are_handled() {
        let body = Value::Map(vec![(
            Value::from("Members"),
            Value::Array(vec![Value::Map(vec![
                (Value::from("Name"), Value::from("x")),
                (Value::from("Status"), Value::from("alive")),
            ])]),
        )]);
        let m = parse_members(&body).unwrap();
        let mut v = SerfView::new("b".parse().unwrap());
        assert!(v.resync(&m).is_empty());
        let bad = Value::Map(vec![(Value::from("Members"), Value::from(3))]);
        assert!(parse_members(&bad).is_err());
        assert!(parse_header(&Value::from("x")).is_err());
    }
}
