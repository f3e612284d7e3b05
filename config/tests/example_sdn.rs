//! The commented `[sdn]` block in examples/orbit.toml is a valid config.

use orbit_config::Config;

#[test]
fn the_example_sdn_block_parses_and_validates() {
    let text = include_str!("../../examples/orbit.toml");
    let start = text.find("# [sdn]").expect("example has an [sdn] block");
    let mut uncommented = text[..start].replace("[hook]", "[hook_disabled]");
    // Drop the hook backend so only [sdn] remains configured.
    if let Some(h) = uncommented.find("[hook_disabled]") {
        uncommented.truncate(h);
    }
    // The block ends at the first blank line (other backends' blocks follow).
    for line in text[start..].lines().take_while(|l| !l.trim().is_empty()) {
        if let Some(l) = line.strip_prefix("# ") {
            if !l.starts_with('#') {
                uncommented.push_str(l);
            }
        }
        uncommented.push('\n');
    }
    let cfg = Config::parse_valid(&uncommented, "examples/orbit.toml")
        .unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
    let sdn = cfg.sdn.expect("sdn section");
    assert_eq!(sdn.bridge, "br-metro");
    assert_eq!(sdn.ports.len(), 2);
    assert_eq!(sdn.cookie, 0x0b17_0000_0000_0001);
}
