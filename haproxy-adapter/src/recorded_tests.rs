//! Replies recorded from HAProxy 2.6.12 (`tests/replies/*.txt`, raw bytes
//! as received in interactive mode, prompt included) through the framer and
//! each command's parser.

use crate::error::Error;
use crate::framing::Framer;
use crate::reply::*;

macro_rules! recorded {
    ($name:literal) => {
        body(
            $name,
            include_bytes!(concat!("../tests/replies/", $name, ".txt")),
        )
    };
}

fn body(name: &str, bytes: &[u8]) -> String {
    // Byte by byte: the framer must not complete early at any split.
    let mut f = Framer::new();
    for (i, b) in bytes.iter().enumerate() {
        if let Some(r) = f.push(name, std::slice::from_ref(b)).unwrap() {
            assert_eq!(i + 1, bytes.len(), "{name}: reply completed early");
            return r;
        }
    }
    panic!("{name}: reply never completed");
}

#[test]
fn empty_replies_are_success() {
    for r in [
        recorded!("prompt"),
        recorded!("add_map_ok"),
        recorded!("add_map_payload_ok"),
        recorded!("commit_map_ok"),
        recorded!("set_map_ok"),
        recorded!("set_server_ok"),
        recorded!("shutdown_sessions_ok"),
    ] {
        expect_empty("x", &r).unwrap();
    }
}

#[test]
fn errors_name_the_command_and_quote_the_reply() {
    for (cmd, r, quoted) in [
        (
            "commit map @7 /m",
            recorded!("commit_map_out_of_range"),
            "Version number out of range.",
        ),
        (
            "add map @99 /m k v",
            recorded!("add_map_version_in_future"),
            "Version number in the future",
        ),
        (
            "add map @99 /m <<",
            recorded!("add_map_payload_version_in_future"),
            "Version number in the future",
        ),
        (
            "set map /m nokey x",
            recorded!("set_map_entry_not_found"),
            "entry not found.",
        ),
        (
            "set server be_a/zz state ready",
            recorded!("set_server_no_such_server"),
            "No such server.",
        ),
        (
            "shutdown sessions server be_a/zz",
            recorded!("shutdown_sessions_no_such_server"),
            "No such server.",
        ),
        (
            "bogus command",
            recorded!("unknown_command"),
            "Unknown command",
        ),
    ] {
        let e = expect_empty(cmd, &r).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(cmd) && msg.contains(quoted), "{msg}");
    }
}

#[test]
fn permission_denied_says_level_admin() {
    for r in [
        recorded!("shutdown_sessions_permission_denied"),
        recorded!("set_server_permission_denied"),
    ] {
        let e = expect_empty("shutdown sessions server be_a/a1", &r).unwrap_err();
        assert!(matches!(e, Error::PermissionDenied { .. }), "{e:?}");
        assert!(e.to_string().contains("level admin"), "{e}");
    }
}

#[test]
fn show_info_gives_version_and_pid() {
    let info = parse_info("show info", &recorded!("show_info")).unwrap();
    assert_eq!(info.version, "2.6.12-1+deb12u4");
    assert_eq!((info.major, info.minor), (2, 6));
    assert!(info.pid > 0);
    assert!(info.start_time.is_some());
    check_version(&info).unwrap();
}

#[test]
fn show_info_tells_a_stopping_process() {
    assert!(
        !parse_info("show info", &recorded!("show_info"))
            .unwrap()
            .stopping
    );
    // Recorded on a connection kept open across a master-worker reload.
    let old = parse_info("show info", &recorded!("show_info_stopping")).unwrap();
    assert!(old.stopping);
}

#[test]
fn versions_before_2_4_are_refused() {
    let text = recorded!("show_info").replace("Version: 2.6.12-1+deb12u4", "Version: 2.2.33");
    let info = parse_info("show info", &text).unwrap();
    let e = check_version(&info).unwrap_err();
    assert!(
        e.to_string().contains("2.2.33") && e.to_string().contains("2.4"),
        "{e}"
    );
    let text = recorded!("show_info").replace("Version: 2.6.12-1+deb12u4", "Version: 2.4.0");
    check_version(&parse_info("show info", &text).unwrap()).unwrap();
    let text = recorded!("show_info").replace("Version: 2.6.12-1+deb12u4", "Version: 3.0.1");
    check_version(&parse_info("show info", &text).unwrap()).unwrap();
}

#[test]
fn show_info_without_version_is_garbled() {
    let e = parse_info("show info", "Name: HAProxy\n").unwrap_err();
    assert!(matches!(e, Error::UnexpectedReply { .. }), "{e:?}");
}

#[test]
fn map_list_gives_file_and_versions() {
    let maps = parse_map_list("show map", &recorded!("show_map_list")).unwrap();
    assert_eq!(
        maps,
        vec![MapInfo {
            id: 2,
            file: "/tmp/hx/orbit.map".to_owned(),
            curr_ver: 0,
            next_ver: 0,
            entry_cnt: 1
        }]
    );
    let maps = parse_map_list("show map", &recorded!("show_map_list_after_commit")).unwrap();
    assert_eq!(
        (maps[0].curr_ver, maps[0].next_ver, maps[0].entry_cnt),
        (1, 1, 3)
    );
}

#[test]
fn map_entries_parse_in_order() {
    let e = parse_map_entries("show map /m", "/m", &recorded!("show_map_entries")).unwrap();
    assert_eq!(e, vec![("svc".to_owned(), "be_a".to_owned())]);
    let e = parse_map_entries(
        "show map /m",
        "/m",
        &recorded!("show_map_entries_after_commit"),
    )
    .unwrap();
    let keys: Vec<&str> = e.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["svc", "k1", "k2"]);
    let e = parse_map_entries("show map @1 /m", "/m", &recorded!("show_map_version")).unwrap();
    assert_eq!(e.len(), 3);
    assert!(parse_map_entries("x", "/m", &recorded!("show_map_empty"))
        .unwrap()
        .is_empty());
}

#[test]
fn unknown_map_is_named() {
    for r in [
        recorded!("show_map_unknown"),
        recorded!("prepare_map_unknown"),
    ] {
        let e = parse_map_entries("show map /nope", "/nope", &r).unwrap_err();
        assert!(matches!(e, Error::UnknownMap { .. }), "{e:?}");
        assert!(e.to_string().contains("/nope"), "{e}");
    }
}

#[test]
fn prepare_gives_the_version() {
    assert_eq!(
        parse_prepare("prepare map /m", &recorded!("prepare_map")).unwrap(),
        1
    );
    let e = parse_prepare("prepare map /m", &recorded!("prepare_map_unknown")).unwrap_err();
    assert!(e.to_string().contains("prepare map /m"), "{e}");
}

#[test]
fn servers_state_lists_servers() {
    let all =
        parse_servers_state("show servers state", None, &recorded!("show_servers_state")).unwrap();
    let names: Vec<(&str, &str)> = all
        .iter()
        .map(|s| (s.backend.as_str(), s.server.as_str()))
        .collect();
    assert_eq!(names, [("be_a", "a1"), ("be_b", "b1")]);
    assert_eq!(all[0].op_state, 2);
    let one = parse_servers_state("x", Some("be_a"), &recorded!("show_servers_state_one")).unwrap();
    assert_eq!(one.len(), 1);
    let e = parse_servers_state("x", Some("nope"), &recorded!("show_servers_state_unknown"))
        .unwrap_err();
    assert!(
        matches!(e, Error::UnknownBackend { .. }) && e.to_string().contains("nope"),
        "{e}"
    );
}

#[test]
fn backends_are_listed() {
    let b = parse_backends("show backend", &recorded!("show_backend")).unwrap();
    assert_eq!(b, ["be_a", "be_b", "be_none"]);
}

#[test]
fn garbled_replies_are_errors_for_every_parser() {
    let garbage = "\u{1b}[31mHTTP/1.1 400 Bad request\n";
    assert!(parse_map_list("show map", garbage).is_err());
    assert!(parse_map_entries("show map /m", "/m", garbage).is_err());
    assert!(parse_map_entries("show map /m", "/m", "0xZZ k v\n").is_err());
    assert!(parse_map_entries("show map /m", "/m", "0x12 keyonly\n").is_err());
    assert!(parse_prepare("prepare map /m", garbage).is_err());
    assert!(parse_prepare("prepare map /m", "New version created: x\n").is_err());
    assert!(parse_servers_state("show servers state", None, garbage).is_err());
    assert!(parse_servers_state("show servers state", None, "1\n# be_name\nbe_a\n").is_err());
    assert!(parse_backends("show backend", garbage).is_err());
    assert!(expect_empty("commit map @1 /m", garbage).is_err());
}

mod never_panics {
    use proptest::prelude::*;

    const RECORDED: [&[u8]; 6] = [
        include_bytes!("../tests/replies/show_info.txt"),
        include_bytes!("../tests/replies/show_map_list.txt"),
        include_bytes!("../tests/replies/show_map_version.txt"),
        include_bytes!("../tests/replies/show_servers_state.txt"),
        include_bytes!("../tests/replies/add_map_payload_version_in_future.txt"),
        include_bytes!("../tests/replies/show_backend.txt"),
    ];

    proptest! {
        #[test]
        fn on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            crate::fuzz_reply(&bytes);
            let mut framed = bytes.clone();
            framed.extend_from_slice(b"\n\n> ");
            crate::fuzz_reply(&framed);
        }

        #[test]
        fn on_mutated_recorded_replies(which in 0..RECORDED.len(), at in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
            let mut r = RECORDED[which].to_vec();
            let i = at % r.len();
            r[i] = byte;
            crate::fuzz_reply(&r);
            let body_end = r.len().saturating_sub(4).max(1);
            let mut truncated = r[..cut % body_end].to_vec();
            truncated.extend_from_slice(b"\n\n> ");
            crate::fuzz_reply(&truncated);
        }
    }
}
