import Foundation
import Testing
@testable import ZedgeCoordinator

/// The names and addresses a VM row gets from its domain UUID (`VirtualMachineFactory`).
@Suite("Virtual machine factory")
struct VirtualMachineFactoryTests {
    @Test func theMacIsQemusPrefixAndTheUUIDsFirstThreeBytes() throws {
        let known = try #require(UUID(uuidString: "0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9"))
        #expect(VirtualMachineFactory.mac(for: known) == "52:54:00:0a:1b:2c")
        for _ in 0..<2_000 {
            let uuid = UUID()
            let bytes = withUnsafeBytes(of: uuid.uuid) { Array($0) }
            #expect(VirtualMachineFactory.mac(for: uuid) == String(format: "52:54:00:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2]))
        }
    }

    @Test func theDomainNameIsTheUUIDsFirstEightDigitsAndTheNameMadeSafe() throws {
        let known = try #require(UUID(uuidString: "0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9"))
        #expect(VirtualMachineFactory.domainName(uuid: known, instanceName: "Web 01_é") == "zedge-0a1b2c3d-web-01-é")
        let long = VirtualMachineFactory.domainName(uuid: known, instanceName: String(repeating: "a", count: 100))
        #expect(long == "zedge-0a1b2c3d-" + String(repeating: "a", count: 40), "40 characters of the name at most")
    }
}
