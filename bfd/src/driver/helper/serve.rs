//! The helper process's side of the protocol: it runs the driver, serves
//! its owner over stdin/stdout, and when made adoptable, waits on a unix
//! socket for the next orbitd to adopt its sessions.

use super::*;

/// The helper's side: runs a driver and serves its owner, first over
/// stdin/stdout. It exits when the owner says goodbye, or when the owner's
/// line ends without one and it was not made adoptable (or its linger is
/// zero); an adoptable helper waits for adoption instead (module doc).
///
/// The caller should keep termination signals from killing the helper
/// while it is owned: it must outlive its owner's graceful shutdown, which
/// ends with AdminDown on every session and a goodbye. An orphaned helper
/// exits on SIGTERM or SIGINT (a service manager cleaning up after its
/// owner died).
///
/// The sessions run on a thread of their own ([`start_dedicated`]), off
/// the runtime that serves the owner, at real-time priority with the
/// memory locked when `realtime` and the process may
/// ([`crate::realtime`]).
pub async fn serve(config: DriverConfig, realtime: bool) -> io::Result<()> {
    let (handle, mut events) = start_dedicated(config, realtime)?;
    let mut served = Served {
        handle,
        held: BTreeMap::new(),
        listening: None,
    };
    let mut owner = Owner::new(tokio::io::stdin(), tokio::io::stdout());
    let result = loop {
        match served.serve_owner(&mut owner, &mut events).await {
            End::Bye => {
                owner.finish().await;
                tracing::info!("released by its owner: exiting");
                break Ok(());
            }
            End::Gone => {
                drop(owner);
                let linger = served
                    .listening
                    .as_ref()
                    .map_or(Duration::ZERO, |l| l.linger);
                if linger.is_zero() {
                    tracing::info!("its owner is gone: exiting");
                    break Ok(());
                }
                match served.wait_for_adopter(linger, &mut events).await {
                    Ok(Some(next)) => owner = next,
                    Ok(None) => break Ok(()),
                    Err(error) => break Err(error),
                }
            }
        }
    };
    served.stop_listening();
    // Dropping the handle stops the driver and closes its sockets.
    result
}

/// How the owner's line ended.
enum End {
    /// A goodbye: exit.
    Bye,
    /// EOF or an error without a goodbye: the owner died.
    Gone,
}

/// The owner's line as the helper sees it: requests in, messages out
/// through a queue, so that a stalled owner never holds up the driver.
struct Owner {
    lines: LineReader,
    out: mpsc::UnboundedSender<Message>,
    writer: tokio::task::JoinHandle<()>,
}

impl Owner {
    fn new(
        read: impl AsyncRead + Send + Unpin + 'static,
        write: impl AsyncWrite + Send + Unpin + 'static,
    ) -> Owner {
        let (out, mut queue) = mpsc::unbounded_channel::<Message>();
        let writer = tokio::spawn(async move {
            let mut write = write;
            while let Some(message) = queue.recv().await {
                let Ok(mut line) = serde_json::to_string(&message) else {
                    continue;
                };
                line.push('\n');
                if write.write_all(line.as_bytes()).await.is_err() || write.flush().await.is_err() {
                    return;
                }
            }
        });
        Owner {
            lines: line_reader(read),
            out,
            writer,
        }
    }

    fn send(&self, message: Message) {
        // A closed queue only means the owner is gone; its EOF follows.
        let _ = self.out.send(message);
    }

    /// Lets what is queued (the goodbye's reply) go out, briefly.
    async fn finish(self) {
        let Owner { out, writer, .. } = self;
        drop(out);
        let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
    }
}

/// The socket an adoptable helper listens on.
struct Listening {
    listener: UnixListener,
    path: PathBuf,
    /// The inode bound, so that only our own file is removed at exit.
    ino: Option<u64>,
    linger: Duration,
}

struct Served {
    handle: BfdHandle,
    /// Every session with the config it was given (timers as last set)
    /// and its AdminDown flag: what an adopter reconciles against.
    held: BTreeMap<SessionKey, HeldSession>,
    listening: Option<Listening>,
}

impl Served {
    async fn serve_owner(
        &mut self,
        owner: &mut Owner,
        events: &mut mpsc::UnboundedReceiver<BfdEvent>,
    ) -> End {
        loop {
            tokio::select! {
                line = owner.lines.next_line() => {
                    let line = match line {
                        Ok(Some(line)) => line,
                        Ok(None) | Err(_) => return End::Gone,
                    };
                    let (id, request): (u64, Request) = match serde_json::from_str(&line) {
                        Ok(r) => r,
                        Err(error) => {
                            tracing::warn!(%error, "a bad request line was ignored");
                            continue;
                        }
                    };
                    if let Request::Bye = request {
                        owner.send(Message::Reply { id, reply: Reply::Done(true) });
                        return End::Bye;
                    }
                    let reply = self.handle(request).await;
                    owner.send(Message::Reply { id, reply });
                }
                Some(event) = events.recv() => owner.send(Message::Event(event)),
                accepted = accept(&self.listening) => {
                    if let Ok(stream) = accepted {
                        refuse(stream);
                    }
                }
            }
        }
    }

    async fn handle(&mut self, request: Request) -> Reply {
        let h = &self.handle;
        match request {
            Request::Add(peer) => {
                let result = h.add_session(peer.clone()).await;
                if let Ok(key) = &result {
                    let held = HeldSession {
                        config: peer,
                        admin_down: false,
                    };
                    self.held.insert(*key, held);
                }
                Reply::Added(result.map_err(|e| e.to_string()))
            }
            Request::Remove(key) => {
                self.held.remove(&key);
                Reply::Done(h.remove_session(key).await.unwrap_or(false))
            }
            Request::Admin(key, down) => {
                if let Some(held) = self.held.get_mut(&key) {
                    held.admin_down = down;
                }
                Reply::Done(h.set_admin_down(key, down).await.unwrap_or(false))
            }
            Request::SetTiming(key, timing) => {
                if let Some(held) = self.held.get_mut(&key) {
                    held.config.timing = timing;
                }
                Reply::Done(h.set_timing(key, timing).await.unwrap_or(false))
            }
            Request::Status => Reply::Status(h.status().await.unwrap_or_default()),
            Request::Adoptable(adoptable) => Reply::Result(self.listen(adoptable)),
            Request::Adopt { .. } => Reply::Result(Err("already owned by this line".into())),
            Request::Bye => Reply::Done(true),
        }
    }

    /// Listens on `adoptable.socket`, or takes the new linger if already
    /// listening there.
    fn listen(&mut self, adoptable: Adoptable) -> Result<(), String> {
        if let Some(l) = &mut self.listening {
            if l.path == adoptable.socket {
                l.linger = adoptable.linger;
                return Ok(());
            }
        }
        let path = adoptable.socket;
        let shown = path.display();
        // The owner made sure, under its lock, that nobody listens there:
        // whatever file is left is stale.
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("removing {shown}: {e}")),
        }
        let listener = UnixListener::bind(&path).map_err(|e| format!("binding {shown}: {e}"))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("chmod 0600 {shown}: {e}"))?;
        let ino = std::fs::metadata(&path).ok().map(|m| m.ino());
        tracing::info!(socket = %shown, linger = ?adoptable.linger, "adoptable: listening");
        self.stop_listening();
        self.listening = Some(Listening {
            listener,
            path,
            ino,
            linger: adoptable.linger,
        });
        Ok(())
    }

    /// Closes the socket and removes its file if it is still ours.
    fn stop_listening(&mut self) {
        let Some(l) = self.listening.take() else {
            return;
        };
        let ours = std::fs::metadata(&l.path).ok().map(|m| m.ino());
        if ours.is_some() && ours == l.ino {
            let _ = std::fs::remove_file(&l.path);
        }
    }

    /// Orphaned: every session keeps running while the socket waits for a
    /// new owner, for at most `linger`. `None`: nobody came (or a stop
    /// signal), exit.
    async fn wait_for_adopter(
        &mut self,
        linger: Duration,
        events: &mut mpsc::UnboundedReceiver<BfdEvent>,
    ) -> io::Result<Option<Owner>> {
        use tokio::signal::unix::{signal, SignalKind};
        let Some(listening) = &self.listening else {
            return Ok(None);
        };
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tracing::warn!(
            sessions = self.held.len(),
            ?linger,
            socket = %listening.path.display(),
            "the owner is gone without a goodbye (crashed?): keeping the sessions up while \
             waiting for it to come back"
        );
        let deadline = tokio::time::sleep(linger);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => {
                    tracing::warn!(
                        ?linger,
                        "nobody adopted the sessions in time: exiting (the peers will see them \
                         time out)"
                    );
                    return Ok(None);
                }
                _ = term.recv() => {
                    tracing::info!("SIGTERM while orphaned: exiting");
                    return Ok(None);
                }
                _ = int.recv() => {
                    tracing::info!("SIGINT while orphaned: exiting");
                    return Ok(None);
                }
                Some(event) = events.recv() => {
                    tracing::info!(?event, "a session changed while orphaned");
                }
                accepted = listening.listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    if let Some(owner) = handshake(stream, &self.held).await {
                        return Ok(Some(owner));
                    }
                }
            }
        }
    }
}

async fn accept(listening: &Option<Listening>) -> io::Result<UnixStream> {
    match listening {
        Some(l) => l.listener.accept().await.map(|(stream, _)| stream),
        None => std::future::pending().await,
    }
}

/// Only one owner at a time: a second connection is told so and closed.
fn refuse(stream: UnixStream) {
    let pid = stream.peer_cred().ok().and_then(|c| c.pid());
    tracing::warn!(?pid, "refused a second owner: this helper is owned");
    tokio::spawn(async move {
        let mut stream = stream;
        let hello = Message::Hello(Hello::Refused {
            pid: std::process::id(),
        });
        let Ok(mut line) = serde_json::to_string(&hello) else {
            return;
        };
        line.push('\n');
        // Then wait for the other side to close: closing on its unread
        // request would reset the connection and lose the answer.
        let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
            stream.write_all(line.as_bytes()).await?;
            stream.shutdown().await?;
            let mut sink = [0u8; 512];
            while tokio::io::AsyncReadExt::read(&mut stream, &mut sink).await? > 0 {}
            io::Result::Ok(())
        })
        .await;
    });
}

/// A connection while orphaned: an owner that asks to adopt gets the
/// sessions and becomes the owner; anything else is closed.
async fn handshake(stream: UnixStream, held: &BTreeMap<SessionKey, HeldSession>) -> Option<Owner> {
    let pid = stream.peer_cred().ok().and_then(|c| c.pid());
    let (read, write) = stream.into_split();
    let mut owner = Owner::new(read, write);
    let first = tokio::time::timeout(HANDSHAKE_TIMEOUT, owner.lines.next_line()).await;
    let Ok(Ok(Some(line))) = first else {
        return None;
    };
    match serde_json::from_str::<(u64, Request)>(&line) {
        Ok((_, Request::Adopt { protocol })) => {
            tracing::info!(
                adopter = ?pid,
                protocol,
                sessions = held.len(),
                "adopted by a new owner"
            );
            owner.send(Message::Hello(Hello::Adopted {
                protocol: PROTOCOL,
                pid: std::process::id(),
                netns: netns(),
                sessions: held.values().cloned().collect(),
            }));
            Some(owner)
        }
        _ => {
            tracing::warn!(?pid, "a connection that did not ask to adopt was closed");
            None
        }
    }
}
