import CLibvirt
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The agent's `--domain-type`: `auto` (decide from the host), or `kvm` / `qemu` as the operator says.
public enum DomainTypeOption: String, Sendable, CaseIterable {
    case auto, kvm, qemu
}

/// What the domain-type decision looks at. Pure data, so the decision is testable with any host.
public struct VirtualisationFacts: Sendable, Hashable {
    /// Names under /sys/module that start with `kvm` (`kvm`, `kvm_intel`, `kvm_amd`, `kvm_pvm`, …).
    public var kvmModules: Set<String>
    /// The CPU's hardware-virtualisation flags from /proc/cpuinfo (`vmx`, `svm`), if any.
    public var cpuVirtualisationFlags: Set<String>
    /// Whether libvirt's domain capabilities offer `kvm` (`virConnectGetDomainCapabilities` with virttype
    /// kvm); nil when libvirt was not asked (the host already lacks hardware virtualisation).
    public var libvirtOffersKVM: Bool?
    /// libvirt's reason when it does not offer kvm.
    public var libvirtDetail: String?

    public init(kvmModules: Set<String>, cpuVirtualisationFlags: Set<String>, libvirtOffersKVM: Bool? = nil,
                libvirtDetail: String? = nil) {
        self.kvmModules = kvmModules
        self.cpuVirtualisationFlags = cpuVirtualisationFlags
        self.libvirtOffersKVM = libvirtOffersKVM
        self.libvirtDetail = libvirtDetail
    }

    /// True when a real hardware KVM module is loaded with its CPU flag: `kvm_intel` with `vmx`, or `kvm_amd`
    /// with `svm`. A paravirtual `kvm_pvm` (no vmx/svm; guests run at emulation speed or die) does not count.
    public var hasHardwareVirtualisation: Bool {
        (kvmModules.contains("kvm_intel") && cpuVirtualisationFlags.contains("vmx"))
            || (kvmModules.contains("kvm_amd") && cpuVirtualisationFlags.contains("svm"))
    }
}

/// libvirt's `<domain type=…>` the agent uses, and why (logged at start).
public struct DomainTypeDecision: Sendable, Hashable, CustomStringConvertible {
    /// "kvm", "qemu" (TCG) or "test".
    public var domainType: String
    public var reason: String

    public init(domainType: String, reason: String) {
        self.domainType = domainType
        self.reason = reason
    }

    public var description: String { "\(domainType) (\(reason))" }
}

/// Decides `<domain type=…>`: KVM only where it really works (DESIGN §10).
public enum DomainTypeSelection {
    /// The pure decision. `test:` URIs always get "test"; an explicit option wins otherwise; `auto` picks kvm
    /// only with hardware virtualisation *and* libvirt offering kvm, else qemu (TCG).
    public static func decide(_ option: DomainTypeOption, uri: String, facts: VirtualisationFacts) -> DomainTypeDecision {
        if uri.hasPrefix("test:") { return .init(domainType: "test", reason: "libvirt's test driver (\(uri))") }
        switch option {
        case .kvm: return .init(domainType: "kvm", reason: "--domain-type kvm")
        case .qemu: return .init(domainType: "qemu", reason: "--domain-type qemu: TCG emulation")
        case .auto: break
        }
        guard facts.hasHardwareVirtualisation else {
            var missing: [String] = []
            let hardwareModules = facts.kvmModules.intersection(["kvm_intel", "kvm_amd"])
            if hardwareModules.isEmpty {
                let loaded = facts.kvmModules.sorted()
                missing.append("neither kvm_intel nor kvm_amd is loaded"
                    + (loaded.isEmpty ? "" : " (loaded: \(loaded.joined(separator: ", ")))"))
            }
            if facts.cpuVirtualisationFlags.isEmpty { missing.append("the CPU has no vmx/svm flag") }
            if missing.isEmpty {
                missing.append("\(hardwareModules.sorted().joined(separator: ", ")) does not match the CPU flag "
                    + facts.cpuVirtualisationFlags.sorted().joined(separator: ", "))
            }
            return .init(domainType: "qemu", reason: "auto: no hardware virtualisation (\(missing.joined(separator: "; "))); TCG emulation")
        }
        guard facts.libvirtOffersKVM == true else {
            let detail = facts.libvirtDetail.map { ": \($0)" } ?? ""
            return .init(domainType: "qemu", reason: "auto: libvirt's domain capabilities do not offer kvm\(detail); TCG emulation")
        }
        return .init(domainType: "kvm", reason: "auto: hardware virtualisation and libvirt offers kvm")
    }

    /// The host's KVM modules and CPU flags from `sysRoot`/module and `procRoot`/cpuinfo.
    public static func hostFacts(sysRoot: String = "/sys", procRoot: String = "/proc") -> VirtualisationFacts {
        let modules = (try? FileManager.default.contentsOfDirectory(atPath: sysRoot + "/module")) ?? []
        let cpuinfo = (try? String(contentsOfFile: procRoot + "/cpuinfo", encoding: .utf8)) ?? ""
        return VirtualisationFacts(kvmModules: Set(modules.filter { $0.hasPrefix("kvm") }),
                                   cpuVirtualisationFlags: cpuVirtualisationFlags(cpuinfo: cpuinfo))
    }

    /// `vmx` and/or `svm` from the `flags` lines of /proc/cpuinfo.
    public static func cpuVirtualisationFlags(cpuinfo: String) -> Set<String> {
        var found: Set<String> = []
        for line in cpuinfo.split(separator: "\n") where line.hasPrefix("flags") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            for flag in line[line.index(after: colon)...].split(separator: " ") where flag == "vmx" || flag == "svm" {
                found.insert(String(flag))
            }
        }
        return found
    }

    /// Asks libvirt whether it offers kvm (`virConnectGetDomainCapabilities(virttype: "kvm")`); on the
    /// connection's queue. Returns false with libvirt's message when it does not (or cannot be asked).
    public static func libvirtOffersKVM(_ connection: LibvirtConnection) async -> (offered: Bool, detail: String?) {
        do {
            return try await connection.perform { conn in
                guard let xml = virConnectGetDomainCapabilities(conn, nil, "x86_64", nil, "kvm", 0) else {
                    return (false, LibvirtError.last("no domain capabilities for kvm").message)
                }
                defer { free(xml) }
                let text = String(cString: xml)
                return text.contains("<domain>kvm</domain>") ? (true, nil) : (false, "the capabilities name no kvm domain")
            }
        } catch {
            return (false, "\(error)")
        }
    }

    /// The decision for this host: reads /sys and /proc, and asks libvirt only when the hardware qualifies.
    public static func resolve(_ option: DomainTypeOption, connection: LibvirtConnection,
                               sysRoot: String = "/sys", procRoot: String = "/proc") async -> DomainTypeDecision {
        var facts = hostFacts(sysRoot: sysRoot, procRoot: procRoot)
        if option == .auto, !connection.uri.hasPrefix("test:"), facts.hasHardwareVirtualisation {
            let answer = await libvirtOffersKVM(connection)
            facts.libvirtOffersKVM = answer.offered
            facts.libvirtDetail = answer.detail
        }
        return decide(option, uri: connection.uri, facts: facts)
    }
}
