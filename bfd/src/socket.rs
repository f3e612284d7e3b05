//! UDP sockets for BFD: a receive socket per (local address, port) that
//! reports the received TTL / hop limit (RFC 5881 §5, RFC 5883 §5), and a
//! transmit socket per local address with TTL 255 and a source port in
//! 49152–65535 (RFC 5881 §4).

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage,
};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::Error;

/// RFC 5881 §4: single-hop Control packets go to UDP 3784.
pub const SINGLE_HOP_PORT: u16 = 3784;
/// RFC 5883 §2: multihop Control packets go to UDP 4784.
pub const MULTI_HOP_PORT: u16 = 4784;
/// RFC 5881 §5: sent with TTL / hop limit 255.
pub const SEND_TTL: u32 = 255;
/// Socket buffer size asked for (bytes).
const SOCKET_BUFFER: usize = 4 << 20;

fn domain(ip: IpAddr) -> Domain {
    if ip.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    }
}

fn io_err(addr: SocketAddr, what: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Socket { addr, what, source }
}

/// A socket bound to `local:port` that delivers the TTL of every datagram.
pub(crate) fn bind_receive(local: IpAddr, port: u16) -> Result<UdpSocket, Error> {
    let addr = SocketAddr::new(local, port);
    let s = Socket::new(domain(local), Type::DGRAM, Some(Protocol::UDP))
        .map_err(io_err(addr, "create receive socket"))?;
    if local.is_ipv6() {
        s.set_only_v6(true)
            .map_err(io_err(addr, "set IPV6_V6ONLY"))?;
    }
    s.set_reuse_address(true)
        .map_err(io_err(addr, "set SO_REUSEADDR"))?;
    s.set_nonblocking(true)
        .map_err(io_err(addr, "set non-blocking"))?;
    s.bind(&addr.into())
        .map_err(io_err(addr, "bind receive socket"))?;
    // Many sessions share this socket: a short stall of the event loop at
    // 10 ms intervals queues hundreds of datagrams, more than the default
    // buffer holds. Raise it past rmem_max when privileged, else as far as
    // allowed; a smaller buffer only costs headroom, so errors are ignored.
    if setsockopt(&s, sockopt::RcvBufForce, &SOCKET_BUFFER).is_err() {
        let _ = s.set_recv_buffer_size(SOCKET_BUFFER);
    }
    let nix_err = |e: nix::Error| io::Error::from_raw_os_error(e as i32);
    if local.is_ipv4() {
        setsockopt(&s, sockopt::Ipv4RecvTtl, &true)
            .map_err(nix_err)
            .map_err(io_err(addr, "set IP_RECVTTL"))?;
    } else {
        setsockopt(&s, sockopt::Ipv6RecvHopLimit, &true)
            .map_err(nix_err)
            .map_err(io_err(addr, "set IPV6_RECVHOPLIMIT"))?;
    }
    UdpSocket::from_std(s.into()).map_err(io_err(addr, "register receive socket"))
}

/// A socket bound to `local` and a free port in 49152–65535, sending with
/// TTL 255. `seed` picks the first port tried.
///
/// A plain non-blocking std socket: the event loop never waits to send, and
/// a tokio socket would report its first send as `WouldBlock` until the
/// reactor had seen it writable, losing the first packet.
pub(crate) fn bind_transmit(local: IpAddr, seed: u32) -> Result<std::net::UdpSocket, Error> {
    let mut last = None;
    for i in 0..64u32 {
        let port =
            49152 + u16::try_from((seed.wrapping_add(i.wrapping_mul(7919))) % 16384).unwrap_or(0);
        let addr = SocketAddr::new(local, port);
        let s = Socket::new(domain(local), Type::DGRAM, Some(Protocol::UDP))
            .map_err(io_err(addr, "create transmit socket"))?;
        if local.is_ipv6() {
            s.set_only_v6(true)
                .map_err(io_err(addr, "set IPV6_V6ONLY"))?;
            s.set_unicast_hops_v6(SEND_TTL)
                .map_err(io_err(addr, "set IPV6_UNICAST_HOPS"))?;
        } else {
            s.set_ttl_v4(SEND_TTL).map_err(io_err(addr, "set IP_TTL"))?;
        }
        s.set_nonblocking(true)
            .map_err(io_err(addr, "set non-blocking"))?;
        if setsockopt(&s, sockopt::SndBufForce, &SOCKET_BUFFER).is_err() {
            let _ = s.set_send_buffer_size(SOCKET_BUFFER);
        }
        match s.bind(&addr.into()) {
            Ok(()) => return Ok(s.into()),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some((addr, e)),
            Err(e) => return Err(io_err(addr, "bind transmit socket")(e)),
        }
    }
    let (addr, e) = last.unwrap_or((
        SocketAddr::new(local, 0),
        io::Error::from(io::ErrorKind::AddrInUse),
    ));
    Err(io_err(addr, "find a free source port in 49152-65535")(e))
}

/// One received datagram with its source and TTL / hop limit.
#[derive(Debug)]
pub(crate) struct Datagram {
    pub src: SocketAddr,
    pub ttl: Option<u8>,
    pub len: usize,
}

/// Receive one datagram into `buf`, waiting until one arrives.
pub(crate) async fn recv_with_ttl(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<Datagram> {
    loop {
        sock.readable().await?;
        match try_recv_with_ttl(sock, buf) {
            Ok(d) => return Ok(d),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Receive one datagram if one is queued; `WouldBlock` otherwise.
pub(crate) fn try_recv_with_ttl(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<Datagram> {
    {
        let fd = sock.as_raw_fd();
        sock.try_io(Interest::READABLE, || {
            let mut cmsg = nix::cmsg_space!(libc::c_int, libc::c_int);
            let mut iov = [IoSliceMut::new(buf)];
            let msg = recvmsg::<SockaddrStorage>(fd, &mut iov, Some(&mut cmsg), MsgFlags::empty())
                .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
            let mut ttl = None;
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    match c {
                        ControlMessageOwned::Ipv4Ttl(t) | ControlMessageOwned::Ipv6HopLimit(t) => {
                            ttl = u8::try_from(t).ok();
                        }
                        _ => {}
                    }
                }
            }
            let src = msg
                .address
                .and_then(|a| {
                    if let Some(v4) = a.as_sockaddr_in() {
                        Some(SocketAddr::V4((*v4).into()))
                    } else {
                        a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
                    }
                })
                .ok_or_else(|| io::Error::other("datagram without a source address"))?;
            Ok(Datagram {
                src,
                ttl,
                len: msg.bytes,
            })
        })
    }
}

/// The source address the kernel would use toward `peer` (a route lookup
/// via an unsent UDP `connect`): for BGP peers configured without a local
/// address. Sends nothing.
pub fn route_source(peer: IpAddr) -> io::Result<IpAddr> {
    let any: SocketAddr = if peer.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let s = std::net::UdpSocket::bind(any)?;
    s.connect(SocketAddr::new(peer, SINGLE_HOP_PORT))?;
    Ok(s.local_addr()?.ip())
}
