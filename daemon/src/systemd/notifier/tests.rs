use super::*;

fn notifier(now: Instant, watchdog: Option<Duration>) -> Notifier {
    let systemd = Systemd {
        socket: Some("/nonexistent/notify".into()),
        watchdog,
    };
    Notifier::new(systemd, now, Duration::from_secs(30))
}

fn statuses(notes: &[Note]) -> Vec<&str> {
    notes
        .iter()
        .filter_map(|n| match n {
            Note::Status(s) => Some(s.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn ready_comes_once_ready_with_the_state_and_until_then_status_says_why_not() {
    let t0 = Instant::now();
    let mut n = notifier(t0, None);
    let waiting = n.update(t0, || Err("fenced: reaches 1 of 3".into()), String::new);
    assert_eq!(
        waiting,
        [Note::Status("waiting: fenced: reaches 1 of 3".into())]
    );
    // The same reason again, later: nothing new to say.
    let later = t0 + Duration::from_secs(2);
    assert!(n
        .update(later, || Err("fenced: reaches 1 of 3".into()), String::new)
        .is_empty());
    let ready = n.update(later, || Ok(()), || "site a: carrying web".into());
    assert_eq!(
        ready,
        [Note::Ready, Note::Status("site a: carrying web".into())]
    );
    // Ready is said once.
    let t = later + Duration::from_secs(5);
    assert!(n
        .update(t, || Ok(()), || "site a: carrying web".into())
        .is_empty());
}

#[test]
fn ready_after_the_timeout_says_what_is_still_missing() {
    let t0 = Instant::now();
    let mut n = notifier(t0, None);
    let _ = n.update(t0, || Err("x".into()), String::new);
    assert_eq!(n.deadline(), Some(t0 + STATUS_EVERY));
    let t = t0 + Duration::from_secs(30);
    let notes = n.update(
        t,
        || Err("backend hook has not confirmed generation 4".into()),
        String::new,
    );
    assert_eq!(notes[0], Note::Ready);
    assert_eq!(
        statuses(&notes),
        ["ready after waiting 30s, though backend hook has not confirmed generation 4"]
    );
}

#[test]
fn status_changes_are_sent_at_most_once_a_second_and_the_last_one_wins() {
    let t0 = Instant::now();
    let mut n = notifier(t0, None);
    let _ = n.update(t0, || Ok(()), || "one".into());
    let soon = t0 + Duration::from_millis(100);
    assert!(n.update(soon, || Ok(()), || "two".into()).is_empty());
    assert_eq!(n.deadline(), Some(t0 + STATUS_EVERY));
    let t = t0 + STATUS_EVERY;
    assert_eq!(
        statuses(&n.update(t, || Ok(()), || "three".into())),
        ["three"]
    );
}

#[test]
fn the_watchdog_is_petted_at_half_its_time_only_when_the_loop_turns() {
    let t0 = Instant::now();
    let mut n = notifier(t0, Some(Duration::from_secs(10)));
    let count = |notes: &[Note]| notes.iter().filter(|n| **n == Note::Watchdog).count();
    assert_eq!(count(&n.update(t0, || Ok(()), String::new)), 1);
    assert_eq!(
        count(&n.update(t0 + Duration::from_secs(4), || Ok(()), String::new)),
        0
    );
    assert!(n.deadline() <= Some(t0 + Duration::from_secs(5)));
    assert_eq!(
        count(&n.update(t0 + Duration::from_secs(5), || Ok(()), String::new)),
        1
    );
}

#[test]
fn a_reload_is_announced_then_ready_again_with_its_outcome_but_not_before_ready() {
    let t0 = Instant::now();
    let mut n = notifier(t0, None);
    assert!(
        n.reloading(t0).is_empty(),
        "systemd knows no reload before READY=1"
    );
    let _ = n.update(t0, || Ok(()), || "s".into());
    let notes = n.reloading(t0);
    assert_eq!(notes[..2], [Note::Reloading, Note::MonotonicNow]);
    // While reloading nothing else is said.
    assert!(n
        .update(t0 + Duration::from_secs(3), || Ok(()), || "t".into())
        .is_empty());
    let done = n.reloaded(t0, "reload refused: bad".into());
    assert_eq!(
        done,
        [Note::Ready, Note::Status("reload refused: bad".into())]
    );
    let stop = n.stopping(t0);
    assert_eq!(stop[0], Note::Stopping);
    assert!(n
        .update(t0 + Duration::from_secs(9), || Ok(()), || "u".into())
        .is_empty());
}

#[test]
fn without_a_socket_nothing_is_said_and_no_wakeup_asked() {
    let t0 = Instant::now();
    let mut n = Notifier::new(Systemd::default(), t0, Duration::from_secs(1));
    assert!(n.update(t0, || Ok(()), || "s".into()).is_empty());
    assert!(n.stopping(t0).is_empty());
    assert_eq!(n.deadline(), None);
}
