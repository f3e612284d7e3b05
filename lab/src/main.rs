//! orbit-lab: builds two sites and a witness in network namespaces, breaks
//! things and measures failover from the client's point of view.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("orbit-lab: the lab testbed is not built yet (see issue 8)")
}
