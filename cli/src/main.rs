//! orbitctl: operator commands for orbitd over its HTTP API.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("orbitctl: the operator API arrives with orbitd's daemon mode (issue 3)")
}
