//! The OVSDB client against a real ovsdb-server + ovs-vswitchd.

mod common;

use common::{unique, Ovs};
use orbit_sdn::ovsdb::{BridgeSpec, Ovsdb};
use orbit_sdn::Error;

#[tokio::test]
async fn creates_and_verifies_a_bridge_and_ports() {
    let ovs = Ovs::start();
    let br = unique("br");
    let mut db = Ovsdb::connect(&ovs.db_endpoint()).await.expect("connect");

    // A missing bridge is a clear error that names what exists.
    let err = db.verify_bridge(&br).await.expect_err("no bridge yet");
    assert!(matches!(err, Error::BridgeMissing { .. }), "{err}");
    assert!(err.to_string().contains(&br), "{err}");

    db.create_bridge(&BridgeSpec::orbit_default(&br))
        .await
        .expect("create");
    let info = db.verify_bridge(&br).await.expect("verify");
    assert_eq!(info.datapath_type, "netdev");
    assert_eq!(info.fail_mode.as_deref(), Some("secure"));
    assert_eq!(info.protocols, vec!["OpenFlow13".to_owned()]);
    assert_eq!(info.ports, vec![br.clone()]);
    assert!(db.list_bridges().await.expect("list").contains(&br));

    // ovs-vswitchd picks the bridge up: its OpenFlow mgmt socket appears and
    // ovs-ofctl (an independent client) sees the bridge.
    ovs.wait_mgmt(&br);
    let show = ovs.ofctl(&["show", &ovs.mgmt_endpoint(&br)]);
    assert!(show.contains("OFPT_FEATURES_REPLY"), "{show}");

    // A veth port with a requested OpenFlow port number.
    let host_if = unique("vo");
    let peer = format!("{host_if}p");
    ovs.ns.exec(&[
        "ip", "link", "add", &host_if, "type", "veth", "peer", "name", &peer,
    ]);
    db.add_port(&br, &host_if, Some(7)).await.expect("add port");
    let mut ofport = None;
    for _ in 0..200 {
        ofport = db.ofport(&host_if).await.expect("ofport");
        if ofport.is_some_and(|p| p > 0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(ofport, Some(7));
    let info = db.verify_bridge(&br).await.expect("verify");
    assert!(info.ports.contains(&host_if), "{info:?}");

    // Adding a port to a bridge that does not exist fails clearly.
    let err = db
        .add_port("nosuchbr", "x1", None)
        .await
        .expect_err("no bridge");
    assert!(err.to_string().contains("nosuchbr"), "{err}");
}

#[tokio::test]
async fn a_bridge_without_openflow13_is_refused() {
    let ovs = Ovs::start();
    let br = unique("br");
    let mut db = Ovsdb::connect(&ovs.db_endpoint()).await.expect("connect");
    let mut spec = BridgeSpec::orbit_default(&br);
    spec.protocols = vec!["OpenFlow10".into()];
    db.create_bridge(&spec).await.expect("create");
    let err = db.verify_bridge(&br).await.expect_err("1.0 only");
    assert!(err.to_string().contains("OpenFlow13"), "{err}");
}

#[tokio::test]
async fn an_unreachable_ovsdb_is_a_connect_error() {
    let err = Ovsdb::connect("unix:/nonexistent/orbit/db.sock")
        .await
        .expect_err("no socket");
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    let err = Ovsdb::connect("ssl:1.2.3.4:6640").await.expect_err("bad");
    assert!(matches!(err, Error::BadEndpoint(_)), "{err}");
}
