//! Pure translation between a [`Steering`] and map entries, both ways.
//!
//! One entry per configured service: `key -> backend of the active site`.
//! A service no site may carry gets `no_site_backend` if configured,
//! otherwise no entry at all (the frontend's map default applies). Services
//! the steering does not mention are treated the same as "no site".

use std::collections::{BTreeMap, BTreeSet};

use crate::config::Config;
use orbit_core::{ServiceId, SiteId, Steering};

use crate::error::Error;

/// The map key and per-site backends of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceMap {
    pub id: ServiceId,
    pub key: String,
    pub backends: BTreeMap<SiteId, String>,
}

/// What the config says about the map's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub services: Vec<ServiceMap>,
    pub no_site_backend: Option<String>,
}

/// One desired map entry and why it is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub key: String,
    pub backend: String,
    pub service: ServiceId,
    /// `None`: the no-site backend.
    pub site: Option<SiteId>,
}

impl Layout {
    pub(crate) fn from_config(cfg: &Config) -> Layout {
        let services = cfg
            .backends
            .iter()
            .map(|(id, per_site)| ServiceMap {
                id: id.clone(),
                key: cfg
                    .keys
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| id.as_str().to_owned()),
                backends: per_site.clone(),
            })
            .collect();
        Layout {
            services,
            no_site_backend: cfg.no_site_backend.clone(),
        }
    }

    /// Every backend the config names, with the first service and site
    /// that uses it (for errors).
    pub(crate) fn backends(&self) -> BTreeMap<&str, (&ServiceId, Option<&SiteId>)> {
        let mut all = BTreeMap::new();
        for svc in &self.services {
            for (site, backend) in &svc.backends {
                all.entry(backend.as_str()).or_insert((&svc.id, Some(site)));
            }
            if let Some(b) = &self.no_site_backend {
                all.entry(b.as_str()).or_insert((&svc.id, None));
            }
        }
        all
    }

    /// The entries `steering` asks for, sorted by key.
    pub(crate) fn desired(&self, steering: &Steering) -> Result<Vec<Entry>, Error> {
        let mut entries = Vec::with_capacity(self.services.len());
        for svc in &self.services {
            let active = steering
                .services
                .get(&svc.id)
                .and_then(|s| s.active.as_ref());
            match active {
                Some(site) => {
                    let backend =
                        svc.backends
                            .get(site)
                            .ok_or_else(|| Error::NoBackendForSite {
                                service: svc.id.to_string(),
                                site: site.to_string(),
                            })?;
                    entries.push(Entry {
                        key: svc.key.clone(),
                        backend: backend.clone(),
                        service: svc.id.clone(),
                        site: Some(site.clone()),
                    });
                }
                None => {
                    if let Some(b) = &self.no_site_backend {
                        entries.push(Entry {
                            key: svc.key.clone(),
                            backend: b.clone(),
                            service: svc.id.clone(),
                            site: None,
                        });
                    }
                }
            }
        }
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(entries)
    }

    /// Which site each service is sent to, read from map entries; notes
    /// anything that does not fit the config (unknown values, duplicates).
    pub(crate) fn observe(
        &self,
        entries: &[(String, String)],
    ) -> (BTreeMap<ServiceId, Option<SiteId>>, Vec<String>) {
        let mut notes = Vec::new();
        let mut by_key: BTreeMap<&str, &str> = BTreeMap::new();
        for (k, v) in entries {
            // HAProxy matches the first entry of a key.
            if by_key.contains_key(k.as_str()) {
                notes.push(format!("key {k:?} appears more than once"));
            } else {
                by_key.insert(k, v);
            }
        }
        let mut services = BTreeMap::new();
        for svc in &self.services {
            let site = match by_key.get(svc.key.as_str()) {
                None => None,
                Some(value) => {
                    let site = svc
                        .backends
                        .iter()
                        .find(|(_, b)| b.as_str() == *value)
                        .map(|(site, _)| site.clone());
                    if site.is_none() && self.no_site_backend.as_deref() != Some(*value) {
                        notes.push(format!(
                            "service {:?}: key {:?} points to backend {value:?}, which is no site's",
                            svc.id.as_str(),
                            svc.key
                        ));
                    }
                    site
                }
            };
            services.insert(svc.id.clone(), site);
        }
        let ours: BTreeSet<&str> = self.services.iter().map(|s| s.key.as_str()).collect();
        let foreign = by_key.keys().filter(|k| !ours.contains(*k)).count();
        if foreign > 0 {
            notes.push(format!("{foreign} keys belong to no configured service"));
        }
        (services, notes)
    }
}

/// How `actual` (runtime or file entries, in order) differs from `desired`:
/// one line per differing key; empty when they match exactly.
pub(crate) fn differences(desired: &[Entry], actual: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, v) in actual {
        if seen.insert(k, v).is_some() {
            out.push(format!("{k}: duplicate entry"));
        }
    }
    let want: BTreeMap<&str, &str> = desired
        .iter()
        .map(|e| (e.key.as_str(), e.backend.as_str()))
        .collect();
    for (k, v) in &want {
        match seen.get(k) {
            None => out.push(format!("{k}: missing (want {v})")),
            Some(have) if have != v => out.push(format!("{k}: {have} (want {v})")),
            Some(_) => {}
        }
    }
    for k in seen.keys() {
        if !want.contains_key(k) {
            out.push(format!("{k}: not wanted"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbit_core::{Role, ServiceSteering};

    fn id(s: &str) -> ServiceId {
        ServiceId::new(s).unwrap()
    }
    fn site(s: &str) -> SiteId {
        SiteId::new(s).unwrap()
    }

    fn layout(no_site: Option<&str>) -> Layout {
        let svc = |name: &str, key: &str| ServiceMap {
            id: id(name),
            key: key.to_owned(),
            backends: [
                (site("a"), format!("{name}_a")),
                (site("b"), format!("{name}_b")),
            ]
            .into(),
        };
        Layout {
            services: vec![svc("web", "web.example"), svc("db", "db")],
            no_site_backend: no_site.map(str::to_owned),
        }
    }

    fn steering(web: Option<&str>, db: Option<&str>) -> Steering {
        let s = |active: Option<&str>| ServiceSteering {
            prefixes: vec![],
            active: active.map(site),
            epoch: 0,
            local_role: Role::Standby,
            takeover: false,
        };
        Steering {
            generation: 1,
            local_site: site("a"),
            fenced: false,
            observe_only: false,
            services: [(id("web"), s(web)), (id("db"), s(db))].into(),
        }
    }

    fn pairs(entries: &[Entry]) -> Vec<(String, String)> {
        entries
            .iter()
            .map(|e| (e.key.clone(), e.backend.clone()))
            .collect()
    }

    #[test]
    fn steering_to_entries_and_back() {
        let l = layout(None);
        let entries = l.desired(&steering(Some("b"), Some("a"))).unwrap();
        assert_eq!(
            pairs(&entries),
            vec![
                ("db".to_owned(), "db_a".to_owned()),
                ("web.example".to_owned(), "web_b".to_owned())
            ]
        );
        let (observed, notes) = l.observe(&pairs(&entries));
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(observed[&id("web")], Some(site("b")));
        assert_eq!(observed[&id("db")], Some(site("a")));
    }

    #[test]
    fn no_site_removes_the_key_or_uses_the_no_site_backend() {
        let entries = layout(None).desired(&steering(None, Some("a"))).unwrap();
        assert_eq!(pairs(&entries), vec![("db".to_owned(), "db_a".to_owned())]);

        let l = layout(Some("be_503"));
        let entries = l.desired(&steering(None, Some("a"))).unwrap();
        assert_eq!(
            pairs(&entries),
            vec![
                ("db".to_owned(), "db_a".to_owned()),
                ("web.example".to_owned(), "be_503".to_owned())
            ]
        );
        let (observed, notes) = l.observe(&pairs(&entries));
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(observed[&id("web")], None);
    }

    #[test]
    fn a_site_without_backend_is_an_error_naming_both() {
        let e = layout(None)
            .desired(&steering(Some("c"), None))
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("\"web\"") && msg.contains("\"c\""), "{msg}");
    }

    #[test]
    fn observe_notes_what_does_not_fit() {
        let l = layout(None);
        let actual = vec![
            ("web.example".to_owned(), "other".to_owned()),
            ("db".to_owned(), "db_b".to_owned()),
            ("db".to_owned(), "db_a".to_owned()),
            ("stray".to_owned(), "x".to_owned()),
        ];
        let (observed, notes) = l.observe(&actual);
        assert_eq!(observed[&id("web")], None);
        assert_eq!(observed[&id("db")], Some(site("b")), "first entry wins");
        assert_eq!(notes.len(), 3, "{notes:?}");
    }

    #[test]
    fn differences_find_every_kind_of_drift() {
        let l = layout(None);
        let want = l.desired(&steering(Some("a"), Some("a"))).unwrap();
        assert!(differences(&want, &pairs(&want)).is_empty());
        let actual = vec![
            ("web.example".to_owned(), "web_b".to_owned()),
            ("web.example".to_owned(), "web_b".to_owned()),
            ("extra".to_owned(), "x".to_owned()),
        ];
        let d = differences(&want, &actual);
        assert_eq!(d.len(), 4, "{d:?}");
    }
}
