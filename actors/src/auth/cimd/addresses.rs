//! Which addresses a server-side fetch must never reach (SSRF): everything that is not a
//! globally routed unicast address. The fetcher checks the address it resolved and then
//! connects to exactly that address, so DNS cannot change the answer in between.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` is not a public address, or `None` when it is.
pub fn blocked_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => blocked_v6(v6),
    }
}

const V4_BLOCKED: &[([u8; 4], u8, &str)] = &[
    ([0, 0, 0, 0], 8, "\"this network\" (0.0.0.0/8, unspecified)"),
    ([10, 0, 0, 0], 8, "private (10.0.0.0/8)"),
    ([100, 64, 0, 0], 10, "carrier-grade NAT (100.64.0.0/10)"),
    ([127, 0, 0, 0], 8, "loopback (127.0.0.0/8)"),
    ([169, 254, 0, 0], 16, "link-local (169.254.0.0/16)"),
    ([172, 16, 0, 0], 12, "private (172.16.0.0/12)"),
    (
        [192, 0, 0, 0],
        24,
        "IETF protocol assignments (192.0.0.0/24)",
    ),
    ([192, 0, 2, 0], 24, "documentation (192.0.2.0/24)"),
    ([192, 88, 99, 0], 24, "6to4 relay anycast (192.88.99.0/24)"),
    ([192, 168, 0, 0], 16, "private (192.168.0.0/16)"),
    ([198, 18, 0, 0], 15, "benchmarking (198.18.0.0/15)"),
    ([198, 51, 100, 0], 24, "documentation (198.51.100.0/24)"),
    ([203, 0, 113, 0], 24, "documentation (203.0.113.0/24)"),
    ([224, 0, 0, 0], 4, "multicast (224.0.0.0/4)"),
    ([240, 0, 0, 0], 4, "reserved (240.0.0.0/4, broadcast)"),
];

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let addr = u32::from(ip);
    V4_BLOCKED.iter().find_map(|(net, prefix, name)| {
        let mask = u32::MAX << (32 - u32::from(*prefix));
        (addr & mask == u32::from(Ipv4Addr::from(*net))).then_some(*name)
    })
}

const V6_BLOCKED: &[(Ipv6Addr, u8, &str)] = &[
    (
        Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0),
        128,
        "unspecified (::)",
    ),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1), 128, "loopback (::1)"),
    (
        Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0),
        96,
        "IPv4-compatible (::/96, deprecated)",
    ),
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        "NAT64 local use (64:ff9b:1::/48)",
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        "discard-only (100::/64)",
    ),
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        32,
        "Teredo tunnelling (2001::/32)",
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        "documentation (2001:db8::/32)",
    ),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        "documentation (3fff::/20)",
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        "unique local (fc00::/7)",
    ),
    (
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        10,
        "link-local (fe80::/10)",
    ),
    (
        Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
        10,
        "site-local (fec0::/10, deprecated)",
    ),
    (
        Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
        8,
        "multicast (ff00::/8)",
    ),
];

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    // Addresses that carry an IPv4 address are judged by it: ::ffff:127.0.0.1 is loopback, and
    // NAT64 (64:ff9b::/96) or 6to4 (2002::/16) would relay us to the embedded address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return blocked_v4(v4);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return blocked_v4(v4_from(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return blocked_v4(v4_from(s[1], s[2]));
    }
    let addr = u128::from(ip);
    V6_BLOCKED.iter().find_map(|(net, prefix, name)| {
        let mask = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
        (addr & mask == u128::from(*net) & mask).then_some(*name)
    })
}

fn v4_from(high: u16, low: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(high) << 16) | u32::from(low))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(text: &str) -> Option<&'static str> {
        blocked_range(text.parse().unwrap())
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "2002:0808:0808::1",
        ] {
            assert_eq!(blocked(ip), None, "{ip}");
        }
    }

    #[test]
    fn private_and_special_v4_ranges_are_blocked() {
        for (ip, why) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("100.127.255.255", "carrier-grade NAT"),
            ("0.0.0.0", "unspecified"),
            ("192.0.2.10", "documentation"),
            ("198.51.100.1", "documentation"),
            ("203.0.113.7", "documentation"),
            ("224.0.0.251", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("198.18.0.1", "benchmarking"),
        ] {
            let range = blocked(ip).unwrap_or_else(|| panic!("{ip} passed"));
            assert!(range.contains(why), "{ip}: {range}");
        }
    }

    #[test]
    fn special_v6_ranges_are_blocked() {
        for (ip, why) in [
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fc00::1", "unique local"),
            ("fd12:3456::1", "unique local"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("2001:0:4136:e378::1", "Teredo"),
            ("100::1", "discard"),
        ] {
            let range = blocked(ip).unwrap_or_else(|| panic!("{ip} passed"));
            assert!(range.contains(why), "{ip}: {range}");
        }
    }

    #[test]
    fn embedded_v4_addresses_are_judged_by_the_v4_address() {
        // IPv4-mapped: the classic way around a v4-only blocklist.
        assert!(blocked("::ffff:127.0.0.1").unwrap().contains("loopback"));
        assert!(blocked("::ffff:10.0.0.1").unwrap().contains("private"));
        assert!(
            blocked("::ffff:169.254.169.254")
                .unwrap()
                .contains("link-local")
        );
        assert_eq!(blocked("::ffff:8.8.8.8"), None);
        // NAT64 and 6to4 reach the embedded address too.
        assert!(blocked("64:ff9b::7f00:1").unwrap().contains("loopback"));
        assert_eq!(blocked("64:ff9b::808:808"), None);
        assert!(blocked("2002:c0a8:0101::1").unwrap().contains("private"));
        // IPv4-compatible (deprecated) addresses are refused outright.
        assert!(blocked("::7f00:1").is_some());
    }
}
