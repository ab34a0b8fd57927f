#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Address blocks no tenant network may use (IANA special-purpose registries, RFC 6890 and its updates):
/// "this network", loopback, link-local, multicast, reserved and broadcast for IPv4; unspecified, loopback,
/// IPv4-mapped, link-local and multicast for IPv6. An IPv4-mapped IPv6 subnet would otherwise be a second
/// spelling of IPv4 addresses that the cross-tenant overlap check compares by family.
public enum SpecialUseBlocks {
    public static let all: [(block: CIDRBlock, name: String)] = [
        ("0.0.0.0/8", "“this network” (RFC 791)"), ("127.0.0.0/8", "loopback (RFC 1122)"),
        ("169.254.0.0/16", "link-local (RFC 3927)"), ("224.0.0.0/4", "multicast (RFC 5771)"),
        ("240.0.0.0/4", "reserved and broadcast (RFC 1112, RFC 919)"),
        ("::/128", "the unspecified address (RFC 4291)"), ("::1/128", "loopback (RFC 4291)"),
        ("::ffff:0:0/96", "IPv4-mapped (RFC 4291)"), ("fe80::/10", "link-local (RFC 4291)"), ("ff00::/8", "multicast (RFC 4291)"),
    ].map { (CIDRBlock($0.0)!, $0.1) }

    /// The special-use block `block` overlaps, described ("224.0.0.0/4, multicast (RFC 5771)"); nil when none.
    public static func overlap(_ block: CIDRBlock) -> String? {
        all.first { $0.block.overlaps(block) }.map { "\($0.block), \($0.name)" }
    }
}
