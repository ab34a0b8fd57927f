import Foundation
import Testing
@testable import ZedgeAgent

/// `--domain-type` as a pure decision over injected facts, and the readers of /sys and /proc against fixture
/// trees.
@Suite("Domain type")
struct DomainTypeSelectionTests {
    static let intel = VirtualisationFacts(kvmModules: ["kvm", "kvm_intel"], cpuVirtualisationFlags: ["vmx"])
    static let amd = VirtualisationFacts(kvmModules: ["kvm", "kvm_amd"], cpuVirtualisationFlags: ["svm"])
    /// These machines: a paravirtual kvm_pvm, no vmx/svm, yet /dev/kvm exists and libvirt offers kvm.
    static let pvm = VirtualisationFacts(kvmModules: ["kvm", "kvm_pvm"], cpuVirtualisationFlags: [], libvirtOffersKVM: true)

    @Test func autoPicksKVMOnlyWithHardwareAndLibvirt() {
        var intel = Self.intel
        intel.libvirtOffersKVM = true
        #expect(DomainTypeSelection.decide(.auto, uri: "qemu:///system", facts: intel).domainType == "kvm")
        var amd = Self.amd
        amd.libvirtOffersKVM = true
        #expect(DomainTypeSelection.decide(.auto, uri: "qemu:///system", facts: amd).domainType == "kvm")

        // Hardware, but libvirt does not offer kvm (e.g. /dev/kvm not accessible to QEMU): TCG, and why.
        intel.libvirtOffersKVM = false
        intel.libvirtDetail = "KVM is not supported on this host"
        let refused = DomainTypeSelection.decide(.auto, uri: "qemu:///system", facts: intel)
        #expect(refused.domainType == "qemu")
        #expect(refused.reason.contains("do not offer kvm: KVM is not supported on this host"))
        intel.libvirtOffersKVM = nil  // never asked
        #expect(DomainTypeSelection.decide(.auto, uri: "qemu:///system", facts: intel).domainType == "qemu")
    }

    @Test func aParavirtualKVMDoesNotCount() {
        let decision = DomainTypeSelection.decide(.auto, uri: "qemu:///system", facts: Self.pvm)
        #expect(decision.domainType == "qemu")
        #expect(decision.reason.contains("neither kvm_intel nor kvm_amd is loaded (loaded: kvm, kvm_pvm)"))
        #expect(decision.reason.contains("no vmx/svm"))
        // A module without its CPU flag (or the other vendor's) is no hardware virtualisation either.
        for facts in [VirtualisationFacts(kvmModules: ["kvm_intel"], cpuVirtualisationFlags: [], libvirtOffersKVM: true),
                      VirtualisationFacts(kvmModules: ["kvm_intel"], cpuVirtualisationFlags: ["svm"], libvirtOffersKVM: true),
                      VirtualisationFacts(kvmModules: [], cpuVirtualisationFlags: ["vmx"], libvirtOffersKVM: true)] {
            #expect(DomainTypeSelection.decide(.auto, uri: "qemu:///system", facts: facts).domainType == "qemu", "\(facts)")
        }
        #expect(DomainTypeSelection.decide(.auto, uri: "qemu:///system",
                                           facts: .init(kvmModules: ["kvm_intel"], cpuVirtualisationFlags: ["svm"]))
            .reason.contains("kvm_intel does not match the CPU flag svm"))
    }

    @Test func explicitChoicesWinAndTheTestDriverIsTest() {
        #expect(DomainTypeSelection.decide(.kvm, uri: "qemu:///system", facts: Self.pvm).domainType == "kvm")
        #expect(DomainTypeSelection.decide(.qemu, uri: "qemu:///system", facts: Self.intel).domainType == "qemu")
        for option in DomainTypeOption.allCases {
            #expect(DomainTypeSelection.decide(option, uri: "test:///default", facts: Self.intel).domainType == "test")
        }
    }

    @Test func cpuFlagsFromCpuinfo() {
        let cpuinfo = """
        processor\t: 0
        flags\t\t: fpu vme de pse tsc msr pae mce vmx sse2 ht
        processor\t: 1
        flags\t\t: fpu vme de pse tsc msr pae mce vmx sse2 ht
        vmx flags\t: vnmi preemption_timer

        """
        #expect(DomainTypeSelection.cpuVirtualisationFlags(cpuinfo: cpuinfo) == ["vmx"])
        #expect(DomainTypeSelection.cpuVirtualisationFlags(cpuinfo: "flags\t: fpu svm lm\n") == ["svm"])
        #expect(DomainTypeSelection.cpuVirtualisationFlags(cpuinfo: "flags\t: fpu sse4_2 hypervisor\n").isEmpty)
        // "vmx flags" lines name sub-features, not the flag itself.
        #expect(DomainTypeSelection.cpuVirtualisationFlags(cpuinfo: "vmx flags\t: vnmi\n").isEmpty)
    }

    @Test func hostFactsFromAFixtureTree() throws {
        let root = try makeTestDirectory("virt-facts")
        defer { try? FileManager.default.removeItem(at: root) }
        for module in ["kvm", "kvm_amd", "virtio_net"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent("sys/module/\(module)"), withIntermediateDirectories: true)
        }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("proc"), withIntermediateDirectories: true)
        try "flags\t: fpu svm\n".write(to: root.appendingPathComponent("proc/cpuinfo"), atomically: true, encoding: .utf8)
        let facts = DomainTypeSelection.hostFacts(sysRoot: root.path + "/sys", procRoot: root.path + "/proc")
        #expect(facts.kvmModules == ["kvm", "kvm_amd"])
        #expect(facts.cpuVirtualisationFlags == ["svm"])
        #expect(facts.hasHardwareVirtualisation)
    }

    /// This machine as it really is: whatever it has, a kvm_pvm host must come out as qemu.
    @Test func thisHost() async {
        let facts = DomainTypeSelection.hostFacts()
        let decision = await DomainTypeSelection.resolve(.auto, connection: LibvirtConnection(uri: "test:///default"))
        #expect(decision.domainType == "test")
        if facts.kvmModules.contains("kvm_pvm"), facts.cpuVirtualisationFlags.isEmpty {
            #expect(DomainTypeSelection.decide(.auto, uri: "qemu:///system", facts: facts).domainType == "qemu")
        }
    }
}
