//! A small OVSDB client (RFC 7047): JSON-RPC over the ovsdb-server socket,
//! enough to verify the bridge orbit was configured for and to create
//! bridges and ports for the lab and the tests without `ovs-vsctl`.
//!

use serde_json::{json, Value};

use crate::error::Error;
use crate::jsonrpc::JsonRpc;

const DB: &str = "Open_vSwitch";

/// A connected OVSDB session.
#[derive(Debug)]
pub struct Ovsdb {
    rpc: JsonRpc,
}

/// What a bridge row holds, as orbit cares about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeInfo {
    pub name: String,
    pub datapath_type: String,
    pub fail_mode: Option<String>,
    pub protocols: Vec<String>,
    /// Port names, sorted.
    pub ports: Vec<String>,
}

/// The bridge to create.
#[derive(Debug, Clone)]
pub struct BridgeSpec {
    pub name: String,
    /// `netdev` for the userspace datapath.
    pub datapath_type: String,
    pub fail_mode: String,
    pub protocols: Vec<String>,
}

impl BridgeSpec {
    /// The bridge orbit expects: userspace datapath, no NORMAL fallback,
    /// OpenFlow 1.3.
    pub fn orbit_default(name: &str) -> BridgeSpec {
        BridgeSpec {
            name: name.to_owned(),
            datapath_type: "netdev".into(),
            fail_mode: "secure".into(),
            protocols: vec!["OpenFlow13".into()],
        }
    }
}

impl Ovsdb {
    /// Connects to `unix:PATH` or `tcp:HOST:PORT`.
    pub async fn connect(endpoint: &str) -> Result<Ovsdb, Error> {
        Ok(Ovsdb {
            rpc: JsonRpc::connect(endpoint).await?,
        })
    }

    fn fail(&self, detail: impl Into<String>) -> Error {
        self.rpc.fail(detail)
    }

    /// Runs a transaction (RFC 7047 §4.1.3, §5.2); any failed operation is
    /// an error naming it.
    pub async fn transact(&mut self, ops: Vec<Value>) -> Result<Vec<Value>, Error> {
        let n = ops.len();
        let mut params = vec![json!(DB)];
        params.extend(ops.iter().cloned());
        let result = self.rpc.call("transact", Value::Array(params)).await?;
        let results = result
            .as_array()
            .ok_or_else(|| self.fail(format!("transact answered {result}")))?
            .clone();
        for (i, r) in results.iter().enumerate() {
            if let Some(e) = r.get("error").filter(|e| !e.is_null()) {
                let op = ops
                    .get(i)
                    .map_or_else(|| "commit".to_owned(), |o| o["op"].to_string());
                let details = r.get("details").cloned().unwrap_or(Value::Null);
                return Err(self.fail(format!("operation {i} ({op}) failed: {e} {details}")));
            }
        }
        if results.len() < n {
            return Err(self.fail(format!("{} results for {n} operations", results.len())));
        }
        Ok(results)
    }

    async fn select(
        &mut self,
        table: &str,
        where_: Value,
        columns: &[&str],
    ) -> Result<Vec<Value>, Error> {
        let op = json!({"op": "select", "table": table, "where": where_, "columns": columns});
        let r = self.transact(vec![op]).await?;
        Ok(r.first()
            .and_then(|r| r.get("rows"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// Names of all bridges, sorted.
    pub async fn list_bridges(&mut self) -> Result<Vec<String>, Error> {
        let rows = self.select("Bridge", json!([]), &["name"]).await?;
        let mut names: Vec<String> = rows
            .iter()
            .filter_map(|r| r["name"].as_str().map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }

    /// The bridge row, or `None`.
    pub async fn bridge(&mut self, name: &str) -> Result<Option<BridgeInfo>, Error> {
        let rows = self
            .select(
                "Bridge",
                json!([["name", "==", name]]),
                &["name", "datapath_type", "fail_mode", "protocols", "ports"],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let port_uuids = set_items(&row["ports"]);
        let mut ports = Vec::new();
        if !port_uuids.is_empty() {
            let all = self.select("Port", json!([]), &["_uuid", "name"]).await?;
            for p in all {
                if port_uuids.contains(&p["_uuid"]) {
                    if let Some(n) = p["name"].as_str() {
                        ports.push(n.to_owned());
                    }
                }
            }
        }
        ports.sort();
        Ok(Some(BridgeInfo {
            name: name.to_owned(),
            datapath_type: row["datapath_type"].as_str().unwrap_or_default().to_owned(),
            fail_mode: set_items(&row["fail_mode"])
                .first()
                .and_then(Value::as_str)
                .map(str::to_owned),
            protocols: set_items(&row["protocols"])
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            ports,
        }))
    }

    /// What orbitd checks at start: the configured bridge exists and can
    /// speak OpenFlow 1.3.
    pub async fn verify_bridge(&mut self, name: &str) -> Result<BridgeInfo, Error> {
        let Some(info) = self.bridge(name).await? else {
            return Err(Error::BridgeMissing {
                bridge: name.to_owned(),
                endpoint: self.rpc.endpoint().to_owned(),
                existing: self.list_bridges().await?,
            });
        };
        // An empty protocols column means OVS's default set, which
        // includes 1.3 (ovs-vswitchd.conf.db(5), Bridge table).
        if !info.protocols.is_empty() && !info.protocols.iter().any(|p| p == "OpenFlow13") {
            return Err(Error::BridgeMisconfigured {
                bridge: name.to_owned(),
                detail: format!(
                    "protocols {:?} lack OpenFlow13; set protocols=OpenFlow13",
                    info.protocols
                ),
            });
        }
        Ok(info)
    }

    /// Makes sure the root `Open_vSwitch` row exists (what `ovs-vsctl
    /// init` does on a fresh database).
    pub async fn ensure_root(&mut self) -> Result<(), Error> {
        let rows = self.select("Open_vSwitch", json!([]), &["_uuid"]).await?;
        if rows.is_empty() {
            self.transact(vec![
                json!({"op": "insert", "table": "Open_vSwitch", "row": {}}),
            ])
            .await?;
        }
        Ok(())
    }

    /// Creates the bridge with its internal port, like `ovs-vsctl add-br`.
    pub async fn create_bridge(&mut self, spec: &BridgeSpec) -> Result<(), Error> {
        self.ensure_root().await?;
        let ops = vec![
            json!({"op": "insert", "table": "Interface", "uuid-name": "iface",
                   "row": {"name": spec.name, "type": "internal"}}),
            json!({"op": "insert", "table": "Port", "uuid-name": "port",
                   "row": {"name": spec.name, "interfaces": ["named-uuid", "iface"]}}),
            json!({"op": "insert", "table": "Bridge", "uuid-name": "br",
                   "row": {"name": spec.name,
                           "ports": ["named-uuid", "port"],
                           "datapath_type": spec.datapath_type,
                           "fail_mode": spec.fail_mode,
                           "protocols": ["set", spec.protocols]}}),
            json!({"op": "mutate", "table": "Open_vSwitch", "where": [],
                   "mutations": [["bridges", "insert", ["named-uuid", "br"]]]}),
        ];
        self.transact(ops).await.map(|_| ())
    }

    /// Adds a port with one interface of the same name; `ofport_request`
    /// pins its OpenFlow port number.
    pub async fn add_port(
        &mut self,
        bridge: &str,
        name: &str,
        ofport_request: Option<u16>,
    ) -> Result<(), Error> {
        let mut iface = json!({"name": name});
        if let Some(p) = ofport_request {
            iface["ofport_request"] = json!(p);
        }
        let ops = vec![
            json!({"op": "insert", "table": "Interface", "uuid-name": "iface", "row": iface}),
            json!({"op": "insert", "table": "Port", "uuid-name": "port",
                   "row": {"name": name, "interfaces": ["named-uuid", "iface"]}}),
            json!({"op": "mutate", "table": "Bridge", "where": [["name", "==", bridge]],
                   "mutations": [["ports", "insert", ["named-uuid", "port"]]]}),
        ];
        let r = self.transact(ops).await?;
        if r.get(2).and_then(|m| m["count"].as_u64()) != Some(1) {
            return Err(Error::BridgeMissing {
                bridge: bridge.to_owned(),
                endpoint: self.rpc.endpoint().to_owned(),
                existing: self.list_bridges().await?,
            });
        }
        Ok(())
    }

    /// The OpenFlow port number ovs-vswitchd assigned to an interface, once
    /// it has (`None` before, or -1 on failure as the `ofport` column says).
    pub async fn ofport(&mut self, iface: &str) -> Result<Option<i64>, Error> {
        let rows = self
            .select("Interface", json!([["name", "==", iface]]), &["ofport"])
            .await?;
        Ok(rows
            .first()
            .and_then(|r| set_items(&r["ofport"]).first().and_then(Value::as_i64)))
    }
}

/// The members of an OVSDB set (RFC 7047 §5.1): a bare atom is a set of one.
fn set_items(v: &Value) -> Vec<Value> {
    match v.as_array() {
        Some(a) if a.first().and_then(Value::as_str) == Some("set") => a
            .get(1)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        _ if v.is_null() => Vec::new(),
        _ => vec![v.clone()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_decode_per_rfc7047() {
        assert_eq!(set_items(&json!(["set", []])), Vec::<Value>::new());
        assert_eq!(set_items(&json!("secure")), vec![json!("secure")]);
        assert_eq!(
            set_items(&json!(["set", ["OpenFlow10", "OpenFlow13"]])),
            vec![json!("OpenFlow10"), json!("OpenFlow13")]
        );
        assert_eq!(set_items(&json!(["uuid", "x"])), vec![json!(["uuid", "x"])]);
    }
}
