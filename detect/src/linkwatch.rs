//! Link watch: carrier on the local interfaces toward other sites.
//!
//! What it means: `[detect] links = { eth1 = ["b", "w"] }` says sites b and w
//! are reached through eth1. When every interface toward a site has lost
//! carrier, the local site cannot reach it at all, so the local verdict
//! about it becomes Dead at once (`SiteView::LinkDown`) instead of after
//! SWIM's suspicion. If all uplinks go, the local site sees no member and
//! the engine fences it within milliseconds. The other sites still need
//! their own evidence (SWIM + data plane) to declare this site dead: a
//! local carrier loss is a vote, never a verdict on its own.
//!
//! Carrier comes from rtnetlink `RTM_NEWLINK` / `RTM_DELLINK` multicast
//! (group `RTNLGRP_LINK`): `IFLA_CARRIER` when present, else `IFF_LOWER_UP`,
//! and never up while the interface is administratively down. The initial
//! state is read from `/sys/class/net/IF/carrier` at start.

use std::collections::BTreeMap;

use netlink_packet_core::Parseable;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::{AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket};
use orbit_core::SiteId;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::error::DetectError;
use crate::gossip::LocalReporter;

/// `RTMGRP_LINK` (linux/rtnetlink.h): the legacy bind-mask of RTNLGRP_LINK.
const RTMGRP_LINK: u32 = 1;

/// One carrier observation: interface name and whether it has carrier.
pub type Carrier = (String, bool);

fn carrier_of(msg: &LinkMessage, deleted: bool) -> Option<Carrier> {
    let name = msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })?;
    if deleted {
        return Some((name, false));
    }
    let admin_up = msg.header.flags.contains(LinkFlags::Up);
    let carrier = msg
        .attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::Carrier(c) => Some(*c != 0),
            _ => None,
        })
        .unwrap_or_else(|| msg.header.flags.contains(LinkFlags::LowerUp));
    Some((name, admin_up && carrier))
}

/// `RTM_NEWLINK` / `RTM_DELLINK` (linux/rtnetlink.h).
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
/// `sizeof(struct nlmsghdr)`.
const NLMSG_HDRLEN: usize = 16;

/// Parses one netlink datagram (possibly several messages) into carrier
/// observations. Malformed messages are skipped, never a panic.
///
/// Only link messages are decoded: the group delivers nothing else, and
/// decoding through `RouteNetlinkMessage` would link in the parsers of
/// every rtnetlink family (routes, addresses, traffic control...), about
/// 150 kB of orbitd's code that the kernel would map for nothing.
pub fn parse_datagram(mut buf: &[u8]) -> Vec<Carrier> {
    let mut out = Vec::new();
    while buf.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            break;
        }
        let kind = u16::from_ne_bytes([buf[4], buf[5]]);
        if kind == RTM_NEWLINK || kind == RTM_DELLINK {
            if let Ok(link) = LinkMessage::parse(&buf[NLMSG_HDRLEN..len]) {
                out.extend(carrier_of(&link, kind == RTM_DELLINK));
            }
        }
        // Messages are 4-byte aligned (NLMSG_ALIGN).
        let step = (len + 3) & !3;
        buf = buf.get(step..).unwrap_or(&[]);
    }
    out
}

/// Reads the current carrier of `iface` from sysfs (false if unknown).
pub fn carrier_now(iface: &str) -> bool {
    std::fs::read_to_string(format!("/sys/class/net/{iface}/carrier"))
        .map(|s| s.trim() == "1")
        .unwrap_or(false)
}

/// A running link watch. Dropping it stops it.
#[derive(Debug)]
pub struct LinkWatch {
    task: JoinHandle<()>,
}

impl Drop for LinkWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LinkWatch {
    /// Watches the interfaces of `links` (interface -> sites behind it) and
    /// reports every carrier change, and the initial state, to gossip.
    pub fn start(
        links: BTreeMap<String, Vec<SiteId>>,
        reporter: LocalReporter,
    ) -> Result<LinkWatch, DetectError> {
        let mut socket =
            TokioSocket::new(NETLINK_ROUTE).map_err(|e| DetectError::Netlink(e.to_string()))?;
        socket
            .socket_mut()
            .bind(&SocketAddr::new(0, RTMGRP_LINK))
            .map_err(|e| DetectError::Netlink(format!("bind RTMGRP_LINK: {e}")))?;
        let span = tracing::info_span!("linkwatch");
        let task = tokio::spawn(
            async move {
                let mut state: BTreeMap<String, bool> = BTreeMap::new();
                for (iface, sites) in &links {
                    let up = carrier_now(iface);
                    state.insert(iface.clone(), up);
                    if reporter
                        .link(iface.clone(), sites.clone(), up)
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                loop {
                    let (buf, _) = match socket.recv_from_full().await {
                        Ok(x) => x,
                        Err(e) => {
                            // ENOBUFS: events were lost; resync from sysfs.
                            tracing::warn!(error = %e, "netlink receive; resyncing");
                            let all: Vec<Carrier> =
                                links.keys().map(|i| (i.clone(), carrier_now(i))).collect();
                            if !report(&links, &mut state, all, &reporter).await {
                                return;
                            }
                            continue;
                        }
                    };
                    if !report(&links, &mut state, parse_datagram(&buf), &reporter).await {
                        return;
                    }
                }
            }
            .instrument(span),
        );
        Ok(LinkWatch { task })
    }
}

/// Reports the changes among `seen`; false when gossip is gone.
async fn report(
    links: &BTreeMap<String, Vec<SiteId>>,
    state: &mut BTreeMap<String, bool>,
    seen: Vec<Carrier>,
    reporter: &LocalReporter,
) -> bool {
    for (iface, up) in seen {
        let Some(sites) = links.get(&iface) else {
            continue;
        };
        if state.insert(iface.clone(), up) == Some(up) {
            continue;
        }
        tracing::info!(%iface, up, "link carrier changed");
        if reporter.link(iface, sites.clone(), up).await.is_err() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};
    use netlink_packet_route::RouteNetlinkMessage;

    fn datagram(name: &str, flags: LinkFlags, carrier: Option<u8>) -> Vec<u8> {
        encode(RouteNetlinkMessage::NewLink(link(name, flags, carrier)))
    }

    fn link(name: &str, flags: LinkFlags, carrier: Option<u8>) -> LinkMessage {
        let mut link = LinkMessage::default();
        link.header.flags = flags;
        link.attributes.push(LinkAttribute::IfName(name.into()));
        if let Some(c) = carrier {
            link.attributes.push(LinkAttribute::Carrier(c));
        }
        link
    }

    fn encode(message: RouteNetlinkMessage) -> Vec<u8> {
        let mut msg = NetlinkMessage::new(
            NetlinkHeader::default(),
            NetlinkPayload::InnerMessage(message),
        );
        msg.finalize();
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut buf);
        buf
    }

    #[test]
    fn carrier_attribute_and_flags_decide() {
        let up = LinkFlags::Up | LinkFlags::LowerUp;
        assert_eq!(
            parse_datagram(&datagram("eth1", up, Some(1))),
            vec![("eth1".into(), true)]
        );
        assert_eq!(
            parse_datagram(&datagram("eth1", up, Some(0))),
            vec![("eth1".into(), false)]
        );
        assert_eq!(
            parse_datagram(&datagram("eth1", up, None)),
            vec![("eth1".into(), true)]
        );
        assert_eq!(
            parse_datagram(&datagram("eth1", LinkFlags::LowerUp, Some(1))),
            vec![("eth1".into(), false)],
            "administratively down is no carrier"
        );
        let mut two = datagram("a", up, Some(1));
        two.extend(datagram("b", up, Some(0)));
        assert_eq!(parse_datagram(&two).len(), 2);
    }

    #[test]
    fn a_deleted_link_has_no_carrier_and_other_messages_are_ignored() {
        let up = LinkFlags::Up | LinkFlags::LowerUp;
        let deleted = encode(RouteNetlinkMessage::DelLink(link("eth1", up, Some(1))));
        assert_eq!(parse_datagram(&deleted), vec![("eth1".into(), false)]);
        // The same link message under another type (RTM_NEWADDR, 20) is
        // not a link event.
        let mut other = datagram("eth1", up, Some(1));
        other[4..6].copy_from_slice(&20u16.to_ne_bytes());
        let mut mixed = other.clone();
        mixed.extend(datagram("eth2", up, Some(1)));
        assert!(parse_datagram(&other).is_empty());
        assert_eq!(parse_datagram(&mixed), vec![("eth2".into(), true)]);
    }

    #[test]
    fn garbage_is_skipped() {
        assert!(parse_datagram(&[0xff; 40]).is_empty());
        assert!(parse_datagram(&[]).is_empty());
        let mut d = datagram("eth1", LinkFlags::Up, Some(1));
        d.truncate(d.len() - 3);
        assert!(parse_datagram(&d).is_empty());
    }
}
