//! The sans-IO OpenFlow session: version negotiation, echo answers and
//! keepalive, multipart reassembly and reply routing by xid. No sockets, no
//! clock reads: the driver in [`crate::conn`] feeds it [`Input`]s with the
//! current time and carries out its [`Output`]s.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::ofp::{Body, ErrorMsg, Hello, Message, MultipartReply, PortStatus, OFPMPF_MORE};

/// Where the handshake stands (OpenFlow 1.3.5 §6.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Our HELLO is out; waiting for the switch's.
    AwaitHello,
    /// Versions agreed (1.3); FEATURES_REQUEST is out.
    AwaitFeatures { xid: u32 },
    /// Requests may flow.
    Ready { datapath_id: u64 },
    /// The session is over (failed negotiation or protocol error).
    Closed,
}

/// Send an ECHO_REQUEST after this much silence from the switch (§6.3.2).
pub(crate) const ECHO_IDLE: Duration = Duration::from_secs(5);
/// Give the connection up after this much silence.
pub(crate) const DEAD_AFTER: Duration = Duration::from_secs(15);
/// Parts of unfinished multipart replies held at once, whatever xids they
/// answer (a switch could otherwise send "more follows" forever). OVS cuts
/// replies at 64 KiB: orbit's largest read-back (flows of 10,000 services)
/// takes ~50 parts, and this bounds what is held to ~64 MiB.
pub(crate) const MAX_PARTIAL_PARTS: usize = 1024;

#[derive(Debug)]
pub(crate) enum Input {
    /// The transport is up.
    Connected,
    Received(Message),
    /// Time passed (the driver ticks about once a second).
    Tick,
}

#[derive(Debug, PartialEq)]
pub(crate) enum Output {
    Send(Message),
    Ready {
        datapath_id: u64,
    },
    /// All parts of the multipart reply to `xid`.
    Multipart {
        xid: u32,
        parts: Vec<MultipartReply>,
    },
    Barrier {
        xid: u32,
    },
    Error {
        xid: u32,
        error: ErrorMsg,
    },
    PortStatus(PortStatus),
    /// Close the connection; the reason is logged.
    Close(String),
}

#[derive(Debug)]
pub(crate) struct Session {
    state: State,
    next_xid: u32,
    partial: HashMap<u32, Vec<MultipartReply>>,
    last_rx: Instant,
    echo_outstanding: bool,
}

impl Session {
    pub(crate) fn new(now: Instant) -> Session {
        Session {
            state: State::AwaitHello,
            next_xid: 1,
            partial: HashMap::new(),
            last_rx: now,
            echo_outstanding: false,
        }
    }

    pub(crate) fn state(&self) -> State {
        self.state
    }

    pub(crate) fn next_xid(&mut self) -> u32 {
        let x = self.next_xid;
        // xid 0 is left unused so that it never matches a real request.
        self.next_xid = self.next_xid.checked_add(1).unwrap_or(1);
        x
    }

    fn transition(&mut self, to: State) {
        tracing::debug!(from = ?self.state, to = ?to, "openflow session");
        self.state = to;
    }

    pub(crate) fn process(&mut self, now: Instant, input: Input) -> Vec<Output> {
        match input {
            Input::Connected => {
                self.last_rx = now;
                let xid = self.next_xid();
                self.transition(State::AwaitHello);
                vec![Output::Send(Message::new(xid, Body::Hello(Hello::of13())))]
            }
            Input::Received(m) => {
                // Any message proves the switch alive, not only echo replies.
                self.last_rx = now;
                self.echo_outstanding = false;
                self.received(m)
            }
            Input::Tick => {
                let idle = now.saturating_duration_since(self.last_rx);
                if idle > DEAD_AFTER && self.state != State::Closed {
                    self.transition(State::Closed);
                    return vec![Output::Close(format!(
                        "nothing from the switch for {} s",
                        idle.as_secs()
                    ))];
                }
                if idle > ECHO_IDLE && !self.echo_outstanding {
                    self.echo_outstanding = true;
                    let xid = self.next_xid();
                    return vec![Output::Send(Message::new(
                        xid,
                        Body::EchoRequest(Vec::new()),
                    ))];
                }
                Vec::new()
            }
        }
    }

    fn received(&mut self, m: Message) -> Vec<Output> {
        // Echo requests are answered in every state, or OVS drops the
        // connection after its inactivity probe (§6.3.2).
        if let Body::EchoRequest(data) = m.body {
            return vec![Output::Send(Message::new(m.xid, Body::EchoReply(data)))];
        }
        match (self.state, m.body) {
            (State::AwaitHello, Body::Hello(h)) => {
                if h.accepts_of13(m.version) {
                    let xid = self.next_xid();
                    self.transition(State::AwaitFeatures { xid });
                    vec![Output::Send(Message::new(xid, Body::FeaturesRequest))]
                } else {
                    self.transition(State::Closed);
                    // §6.3.1: OFPET_HELLO_FAILED / OFPHFC_INCOMPATIBLE.
                    let err = ErrorMsg {
                        typ: 0,
                        code: 0,
                        data: b"orbit speaks OpenFlow 1.3 only".to_vec(),
                    };
                    vec![
                        Output::Send(Message::new(m.xid, Body::Error(err))),
                        Output::Close(format!(
                            "switch offers no OpenFlow 1.3 (header version {:#04x}, bitmap {:?})",
                            m.version, h.versions
                        )),
                    ]
                }
            }
            (State::AwaitFeatures { xid }, Body::FeaturesReply(f)) if m.xid == xid => {
                self.transition(State::Ready {
                    datapath_id: f.datapath_id,
                });
                vec![Output::Ready {
                    datapath_id: f.datapath_id,
                }]
            }
            (State::AwaitHello | State::AwaitFeatures { .. }, Body::Error(e)) => {
                self.transition(State::Closed);
                vec![Output::Close(format!(
                    "handshake refused: {}",
                    e.describe()
                ))]
            }
            (State::Ready { .. }, Body::MultipartReply { flags, reply }) => {
                let held: usize = self.partial.values().map(Vec::len).sum();
                if flags & OFPMPF_MORE != 0 && held >= MAX_PARTIAL_PARTS {
                    self.transition(State::Closed);
                    return vec![Output::Close(format!(
                        "the switch sent {held} parts of unfinished multipart replies \
                         (limit {MAX_PARTIAL_PARTS}) and more are coming"
                    ))];
                }
                let parts = self.partial.entry(m.xid).or_default();
                parts.push(reply);
                if flags & OFPMPF_MORE != 0 {
                    return Vec::new();
                }
                let parts = self.partial.remove(&m.xid).unwrap_or_default();
                vec![Output::Multipart { xid: m.xid, parts }]
            }
            (State::Ready { .. }, Body::BarrierReply) => vec![Output::Barrier { xid: m.xid }],
            (State::Ready { .. }, Body::Error(error)) => {
                self.partial.remove(&m.xid);
                vec![Output::Error { xid: m.xid, error }]
            }
            (_, Body::PortStatus(p)) => vec![Output::PortStatus(p)],
            (_, Body::EchoReply(_)) => Vec::new(),
            (State::Closed, _) => Vec::new(),
            (state, body) => {
                // Async messages orbit did not ask for (packet-in, flow
                // removed ...) are harmless; anything else out of place is
                // a protocol error on this connection.
                if matches!(body, Body::Unsupported { .. }) {
                    tracing::trace!(xid = m.xid, "ignoring unsupported OpenFlow message");
                    return Vec::new();
                }
                self.transition(State::Closed);
                vec![Output::Close(format!(
                    "unexpected {} (version {:#04x}) in state {state:?}",
                    body.name(),
                    m.version
                ))]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofp::{FeaturesReply, MultipartReply};

    fn features(xid: u32) -> Message {
        Message::new(
            xid,
            Body::FeaturesReply(FeaturesReply {
                datapath_id: 42,
                n_buffers: 0,
                n_tables: 254,
                auxiliary_id: 0,
                capabilities: 0,
            }),
        )
    }

    fn t0() -> Instant {
        Instant::now()
    }

    fn ready() -> Session {
        let now = t0();
        let mut s = Session::new(now);
        s.process(now, Input::Connected);
        let out = s.process(
            now,
            Input::Received(Message::new(9, Body::Hello(Hello::of13()))),
        );
        let Some(Output::Send(Message { xid, .. })) = out.first() else {
            panic!("{out:?}")
        };
        let out = s.process(now, Input::Received(features(*xid)));
        assert_eq!(out, vec![Output::Ready { datapath_id: 42 }]);
        s
    }

    #[test]
    fn handshake_then_ready() {
        let s = ready();
        assert_eq!(s.state(), State::Ready { datapath_id: 42 });
    }

    #[test]
    fn a_switch_without_13_is_refused() {
        let now = t0();
        let mut s = Session::new(now);
        s.process(now, Input::Connected);
        let mut hello = Message::new(
            1,
            Body::Hello(Hello {
                versions: Some(0b10),
            }),
        );
        hello.version = 1;
        let out = s.process(now, Input::Received(hello));
        assert!(matches!(out.last(), Some(Output::Close(_))), "{out:?}");
        assert_eq!(s.state(), State::Closed);
    }

    #[test]
    fn echo_is_answered_with_the_same_xid_and_data() {
        let now = t0();
        let mut s = Session::new(now);
        let out = s.process(
            now,
            Input::Received(Message::new(77, Body::EchoRequest(vec![9]))),
        );
        assert_eq!(
            out,
            vec![Output::Send(Message::new(77, Body::EchoReply(vec![9])))]
        );
    }

    #[test]
    fn multipart_parts_are_joined() {
        let mut s = ready();
        let part = |flags| {
            Message::new(
                5,
                Body::MultipartReply {
                    flags,
                    reply: MultipartReply::GroupDesc(vec![]),
                },
            )
        };
        assert!(s
            .process(t0(), Input::Received(part(OFPMPF_MORE)))
            .is_empty());
        let out = s.process(t0(), Input::Received(part(0)));
        assert_eq!(
            out,
            vec![Output::Multipart {
                xid: 5,
                parts: vec![
                    MultipartReply::GroupDesc(vec![]),
                    MultipartReply::GroupDesc(vec![])
                ]
            }]
        );
    }

    #[test]
    fn a_multipart_reply_that_never_ends_closes_the_session() {
        let mut s = ready();
        let part = |xid| {
            Message::new(
                xid,
                Body::MultipartReply {
                    flags: OFPMPF_MORE,
                    reply: MultipartReply::GroupDesc(vec![]),
                },
            )
        };
        // Spread over several xids: what is held counts, whoever it is for.
        for i in 0..MAX_PARTIAL_PARTS {
            let xid = 5 + u32::try_from(i % 3).expect("small");
            assert!(s.process(t0(), Input::Received(part(xid))).is_empty());
        }
        let out = s.process(t0(), Input::Received(part(5)));
        assert!(
            matches!(out.as_slice(), [Output::Close(why)] if why.contains(&MAX_PARTIAL_PARTS.to_string())),
            "{out:?}"
        );
    }

    #[test]
    fn an_unexpected_message_closes_the_session() {
        let mut s = ready();
        let out = s.process(t0(), Input::Received(features(3)));
        assert!(matches!(out.as_slice(), [Output::Close(_)]), "{out:?}");
    }

    #[test]
    fn silence_brings_an_echo_then_a_close() {
        let start = t0();
        let mut s = ready();
        let at = |secs| start + Duration::from_secs(secs);
        assert!(s.process(at(3), Input::Tick).is_empty());
        let out = s.process(at(6), Input::Tick);
        assert!(
            matches!(
                out.as_slice(),
                [Output::Send(Message {
                    body: Body::EchoRequest(_),
                    ..
                })]
            ),
            "{out:?}"
        );
        // Only one echo while waiting.
        assert!(s.process(at(7), Input::Tick).is_empty());
        // An answer resets the clock.
        s.process(
            at(8),
            Input::Received(Message::new(1, Body::EchoReply(vec![]))),
        );
        assert!(s.process(at(12), Input::Tick).is_empty());
        let out = s.process(at(14), Input::Tick);
        assert_eq!(out.len(), 1, "a new echo after 5 s of silence: {out:?}");
        let out = s.process(at(24), Input::Tick);
        assert!(matches!(out.as_slice(), [Output::Close(_)]), "{out:?}");
        assert_eq!(s.state(), State::Closed);
    }
}
