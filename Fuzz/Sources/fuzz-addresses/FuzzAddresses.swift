import Foundation
import FuzzDriver
import ZedgeCore

// Arbitrary text through the address parsers (IPv4Address, IPv6Address, IPAddress, CIDRBlock, MACAddress,
// SubnetAddressing). Nothing may crash, and whatever parses formats to text that parses back to the same value
// and formats the same again. IPv4, CIDR and MAC text has one accepted spelling per value (no leading zeros, one
// separator, lowercase MAC on output), so for IPv4 the formatted text is the input itself.
// The input is one or two lines: an address or block, and optionally a gateway.

/// The executable's entry point (SwiftPM links `main` to `fuzz_addresses_main`): libFuzzer's driver with this target.
@_cdecl("fuzz_addresses_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzAddresses(data, size) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAddresses(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let lines = bytes.split(separator: UInt8(ascii: "\n"), maxSplits: 1, omittingEmptySubsequences: false)
    let text = lines.first.map { String(decoding: $0, as: UTF8.self) } ?? ""
    let second = lines.count > 1 ? String(decoding: lines[1], as: UTF8.self) : nil

    if let a = IPv4Address(text) {
        check(a.description == text, "IPv4 \(text.debugDescription) formats as \(a)")
        check(IPv4Address(a.description) == a, "IPv4 \(a) does not parse back")
        check(IPAddress(text) == .v4(a), "IPAddress disagrees with IPv4Address on \(text.debugDescription)")
    }
    if let a = IPv6Address(text) {
        roundTrip(a, text)
        check(IPAddress(text) == .v6(a), "IPAddress disagrees with IPv6Address on \(text.debugDescription)")
    }
    if let a = IPAddress(text) {
        roundTrip(a, text)
        check(a.family == IPAddress.Family.v6 || a.numericValue <= UInt128(UInt32.max), "IPv4 \(a) wider than 32 bits")
    }
    if let m = MACAddress(text) {
        roundTrip(m, text)
        check(m.description == text.lowercased(), "MAC \(text.debugDescription) formats as \(m)")
    }
    for allowHostBits in [false, true] {
        guard let block = try? CIDRBlock.parse(text, allowHostBits: allowHostBits) else { continue }
        roundTrip(block, text)
        check(CIDRBlock(block.description) == block, "CIDR \(block) is not strict after formatting")
        check(block.contains(block.networkAddress) && block.contains(block.lastAddress), "CIDR \(block) misses its ends")
        check(block.contains(block) && block.overlaps(block), "CIDR \(block) does not contain itself")
        check(block.address(at: 0) == block.networkAddress, "CIDR \(block) offset 0")
        if block.family.bitWidth - block.prefixLength < 128 {
            check(block.address(at: block.numberOfAddresses - 1) == block.lastAddress, "CIDR \(block) last offset")
            check(block.address(at: block.numberOfAddresses) == nil, "CIDR \(block) offset past the end")
        }
        if block.family == IPAddress.Family.v4, !allowHostBits {
            check(block.description == text, "CIDR \(text.debugDescription) formats as \(block)")
        }
        if let addressing = SubnetAddressing(cidrBlock: block.description, gateway: second) {
            let bounds = addressing.usableBounds
            check(block.contains(addressing.address(bounds.lowerBound)) && block.contains(addressing.address(bounds.upperBound)),
                  "subnet \(block) usable bounds leave the block")
            check(addressing.usableCount > 0 || addressing.gateway != nil, "subnet \(block) has no usable address")
            _ = addressing.unusable(block.networkAddress)
            _ = addressing.unusable(block.lastAddress)
            if let gateway = addressing.gateway { _ = SubnetAddressing.gatewayProblem(gateway, in: block) }
        }
    }
    return 0
}

func roundTrip<T: LosslessStringConvertible & Equatable>(_ value: T, _ text: String) {
    guard let again = T(value.description) else { fatalError("\(T.self) \(text.debugDescription) formats as \(value), which does not parse") }
    check(again == value, "\(T.self) \(text.debugDescription) → \(value) → \(again)")
    check(again.description == value.description, "\(T.self) \(value) formats differently the second time")
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
