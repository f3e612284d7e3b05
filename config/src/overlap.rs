//! Which service prefixes overlap, in O(n log n + overlaps).
//!
//! Comparing every prefix with every earlier one took 68 s of CPU at 100k
//! prefixes (issue 21). CIDR blocks are either nested or disjoint, so after
//! sorting by (family, network address, length) a sweep that keeps a stack
//! of the blocks still open finds every overlap: the blocks left on the
//! stack once those ending before the current one are popped are exactly
//! the ones containing it. Host bits are ignored, as `IpNet::contains` does:
//! `10.0.0.1/24` covers `10.0.0.0/24`.

use std::net::IpAddr;

use ipnet::IpNet;

/// One prefix as the inclusive range of addresses it covers, IPv4 before
/// IPv6 (`false` sorts first), so one sweep handles both families.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Block {
    v6: bool,
    first: u128,
    /// Shorter prefixes first, so at an equal start the enclosing block is
    /// pushed before the blocks it contains.
    len: u8,
    last: u128,
}

impl Block {
    fn of(net: &IpNet) -> Self {
        let (first, last) = match (net.network(), net.broadcast()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a).into(), u32::from(b).into()),
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b)),
            _ => unreachable!("network and broadcast share the prefix's family"),
        };
        Block {
            v6: matches!(net, IpNet::V6(_)),
            first,
            len: net.prefix_len(),
            last,
        }
    }

    fn contains(&self, other: &Block) -> bool {
        self.v6 == other.v6 && self.first <= other.first && other.last <= self.last
    }
}

/// Every overlapping pair as `(later, earlier)` indices into `prefixes`,
/// sorted, so a caller walking the prefixes in order reports each one
/// against its earlier overlaps in the order they were written.
pub(crate) fn overlapping_pairs(prefixes: &[IpNet]) -> Vec<(usize, usize)> {
    let mut order: Vec<(Block, usize)> = prefixes
        .iter()
        .enumerate()
        .map(|(i, p)| (Block::of(p), i))
        .collect();
    order.sort_unstable();
    let mut open: Vec<(Block, usize)> = Vec::new();
    let mut pairs = Vec::new();
    for (block, i) in order {
        while open.last().is_some_and(|(top, _)| !top.contains(&block)) {
            open.pop();
        }
        // Every block still open contains this one (nesting is laminar).
        pairs.extend(open.iter().map(|&(_, j)| (i.max(j), i.min(j))));
        open.push((block, i));
    }
    pairs.sort_unstable();
    pairs
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use ipnet::{Ipv4Net, Ipv6Net};
    use proptest::prelude::*;

    use super::*;

    /// The check as it was written before issue 21: every prefix against
    /// every earlier one.
    fn quadratic(prefixes: &[IpNet]) -> Vec<(usize, usize)> {
        let mut pairs = Vec::new();
        for (i, p) in prefixes.iter().enumerate() {
            for (j, other) in prefixes[..i].iter().enumerate() {
                if other.contains(p) || p.contains(other) {
                    pairs.push((i, j));
                }
            }
        }
        pairs
    }

    /// Few distinct addresses and every length, so nesting, duplicates and
    /// host bits are common.
    fn prefix() -> impl Strategy<Value = IpNet> {
        prop_oneof![
            (0u8..4, 0u8..4, 0u8..=32).prop_map(|(a, b, len)| {
                let addr = Ipv4Addr::new(10, a * 64, 0, b);
                IpNet::V4(Ipv4Net::new(addr, len).expect("length at most 32"))
            }),
            (0u16..4, 0u16..4, 0u8..=128).prop_map(|(a, b, len)| {
                let addr = Ipv6Addr::new(0x2001, 0xdb8, a << 14, 0, 0, 0, 0, b);
                IpNet::V6(Ipv6Net::new(addr, len).expect("length at most 128"))
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn the_sweep_finds_exactly_the_quadratic_checks_overlaps(
            prefixes in proptest::collection::vec(prefix(), 0..40)
        ) {
            prop_assert_eq!(overlapping_pairs(&prefixes), quadratic(&prefixes));
        }
    }

    #[test]
    fn a_hundred_thousand_disjoint_host_routes_do_not_overlap() {
        let prefixes: Vec<IpNet> = (0..100_000u32)
            .map(|i| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0xc612_0000 + i), 32).expect("/32")))
            .collect();
        assert!(overlapping_pairs(&prefixes).is_empty());
    }

    #[test]
    fn a_covering_prefix_overlaps_every_prefix_inside_it_and_no_other() {
        let p = |s: &str| s.parse::<IpNet>().expect("prefix");
        let prefixes = [
            p("192.0.2.1/32"),
            p("2001:db8::/32"),
            p("192.0.2.0/24"),
            p("198.51.100.0/24"),
            p("192.0.2.9/25"),
        ];
        assert_eq!(overlapping_pairs(&prefixes), [(2, 0), (4, 0), (4, 2)]);
    }
}
