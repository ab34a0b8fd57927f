import Foundation
import Testing
import ZedgeCore

/// `TaskKind.payloadProblems`: the one check of a task payload that the coordinator and the agent both run.
@Suite struct TaskPayloadTests {
    static let cluster = RbdCluster(storagePoolId: UUID(), monitors: ["10.0.0.1:6789"], rbdPool: "private-data-disks", cephUser: "zedge")
    static let image = ImageRef(imageId: UUID(), versionId: UUID(), sha256: String(repeating: "ab", count: 32), sizeBytes: 1 << 20,
                                virtualSizeBytes: 1 << 24, format: .qcow2)

    /// A valid payload of every kind, as the services build them.
    static func valid(_ kind: TaskKind) throws -> JSONValue {
        let vm = UUID()
        return switch kind {
        case .vmCreate:
            try JSONValue(encoding: VmCreatePayload(spec: VmSpec(name: "vm-1", uuid: vm, vcpus: 1, memoryMiB: 128,
                                                                 rootDisk: DiskSpec(source: .file(path: "/var/lib/zedge/vm-1.qcow2"), target: "vda"))))
        case .vmStart, .vmRestart, .vmDelete: try JSONValue(encoding: VmRefPayload(vmUuid: vm, vmName: "vm-1"))
        case .vmStop: try JSONValue(encoding: VmStopPayload(vmUuid: vm, vmName: "vm-1", timeoutS: 3600))
        case .diskCreate: try JSONValue(encoding: DiskCreatePayload(cluster: cluster, image: "pdd-1", sizeGb: 10))
        case .diskResize: try JSONValue(encoding: DiskResizePayload(cluster: cluster, image: "pdd-1", sizeGb: 20, vmUuids: [vm]))
        case .diskDelete: try JSONValue(encoding: DiskDeletePayload(cluster: cluster, image: "pdd-1"))
        case .diskAttach:
            try JSONValue(encoding: DiskAttachPayload(cluster: cluster, image: "pdd-1", vmUuid: vm, serial: "pdd-1", readOnly: true, shareable: false))
        case .diskDetach: try JSONValue(encoding: DiskDetachPayload(cluster: cluster, image: "pdd-1", vmUuid: vm))
        case .imageFetch: try JSONValue(encoding: ImageFetchPayload(image: image))
        case .cloudboxConfigureNetwork: try JSONValue(encoding: CloudBoxNetworkPayload(networkMode: "DHCP", dnsServers: ["10.0.0.53"]))
        case .cloudboxBind:
            try JSONValue(encoding: CloudBoxBindPayload(instanceId: vm, instanceName: "vm-1", console: ConsoleEndpoint(kind: .vnc, websocketPath: "/console/zct_x/websocket"),
                                                        ticket: "t-1", expiresAt: Date(timeIntervalSince1970: 2_000_000_000)))
        case .cloudboxUnbind: try JSONValue(encoding: CloudBoxUnbindPayload(instanceId: vm, reason: "released"))
        case .cloudboxReboot: try JSONValue(encoding: CloudBoxRebootPayload(reason: "maintenance"))
        }
    }

    @Test(arguments: TaskKind.allCases)
    func whatTheServicesBuildPasses(kind: TaskKind) throws {
        let payload = try Self.valid(kind)
        #expect(kind.payloadProblems(payload, rejectUnknownFields: true) == [], "\(kind.rawValue)")
    }

    /// `checkedPayload` is `payloadProblems` with the decoded payload: the kind's type, equal to what was encoded, when
    /// it decodes (even with problems of its values or unknown members); nil when it does not.
    @Test(arguments: TaskKind.allCases)
    func theCheckedPayloadIsTheKindsTypeAsSent(kind: TaskKind) throws {
        let payload = try Self.valid(kind)
        let (typed, problems) = kind.checkedPayload(payload, prefix: "payload", rejectUnknownFields: true)
        #expect(problems == [])
        let decoded = try #require(typed, "\(kind.rawValue)")
        #expect(type(of: decoded) == kind.payloadType)
        #expect(try JSONValue(encoding: decoded) == payload, "\(kind.rawValue)")

        var extra = try #require(payload.objectValue)
        extra["surplus"] = true
        let withExtra = kind.checkedPayload(.object(extra), prefix: "payload", rejectUnknownFields: true)
        #expect(withExtra.payload != nil && withExtra.problems.map(\.field) == ["payload.surplus"], "\(kind.rawValue)")
        #expect(withExtra.problems == kind.payloadProblems(.object(extra), prefix: "payload", rejectUnknownFields: true))

        let wrong = kind.checkedPayload("not an object", prefix: "payload", rejectUnknownFields: true)
        #expect(wrong.payload == nil && !wrong.problems.isEmpty, "\(kind.rawValue)")
    }

    @Test func vmStopTimeoutsOutsideZeroToAnHourAreRefused() throws {
        for timeout in [4_611_686_018_427_387_904, 3601, -5] {
            var payload = try Self.valid(.vmStop).objectValue!
            payload["timeoutS"] = .number(Double(timeout))
            let problems = TaskKind.vmStop.payloadProblems(.object(payload), prefix: "payload")
            #expect(problems.map(\.field) == ["payload.timeoutS"], "\(timeout): \(problems)")
        }
        for timeout in [0, 60, 3600] {
            var payload = try Self.valid(.vmStop).objectValue!
            payload["timeoutS"] = .number(Double(timeout))
            #expect(TaskKind.vmStop.payloadProblems(.object(payload)) == [])
        }
    }

    /// A payload checked while still typed (`problems(of:)`, what an `OperationPlan` does without decoding) gets
    /// the problems its JSON would get; another kind's type is refused as a whole.
    @Test func aTypedPayloadIsCheckedAsItsJSONWouldBe() throws {
        for timeout in [3601, -5, 0, 60] {
            let stop = VmStopPayload(vmUuid: UUID(), vmName: "vm-1", timeoutS: timeout)
            let typed = TaskKind.vmStop.problems(of: stop, prefix: "payload")
            #expect(typed == TaskKind.vmStop.payloadProblems(try JSONValue(encoding: stop), prefix: "payload"), "\(timeout)")
            #expect(typed.map(\.field) == (VmStopPayload.timeoutRange.contains(timeout) ? [] : ["payload.timeoutS"]), "\(timeout)")
        }
        let start = VmRefPayload(vmUuid: UUID(), vmName: "vm-1")
        #expect(TaskKind.vmStart.problems(of: start) == [])
        #expect(TaskKind.vmStop.problems(of: start, prefix: "payload").map(\.field) == ["payload"])
    }

    @Test func aPayloadThatDoesNotDecodeNamesTheField() throws {
        var stop = try Self.valid(.vmStop).objectValue!
        stop["timeoutS"] = "soon"
        #expect(TaskKind.vmStop.payloadProblems(.object(stop), prefix: "payload").map(\.field) == ["payload.timeoutS"])
        stop["timeoutS"] = 5.5
        #expect(TaskKind.vmStop.payloadProblems(.object(stop), prefix: "payload").map(\.field) == ["payload.timeoutS"])
        stop["timeoutS"] = 1e300
        #expect(TaskKind.vmStop.payloadProblems(.object(stop), prefix: "payload").map(\.field) == ["payload.timeoutS"])
        stop["timeoutS"] = nil
        stop["vmUuid"] = nil
        #expect(TaskKind.vmStop.payloadProblems(.object(stop), prefix: "payload")
            == [FieldError(field: "payload.vmUuid", message: "is required")])
        // Nested paths and array indexes, without a prefix (as the agent names them).
        let create = try JSONValue(encoding: VmCreatePayload(spec: VmSpec(
            name: "vm-1", uuid: UUID(), vcpus: 1, memoryMiB: 128, rootDisk: DiskSpec(source: .file(path: "/x.qcow2"), target: "vda"),
            nics: [NicSpec(mac: "52:54:00:00:00:01", attachment: .bridge("br0")), NicSpec(mac: "52:54:00:00:00:02", attachment: .bridge("br0"))])))
        var spec = create["spec"]!.objectValue!
        var nics = spec["nics"]!.arrayValue!
        var nic = nics[1].objectValue!
        nic["model"] = "ne2k"
        nics[1] = .object(nic)
        spec["nics"] = .array(nics)
        #expect(TaskKind.vmCreate.payloadProblems(.object(["spec": .object(spec)])).map(\.field) == ["spec.nics[1].model"])
        // Not an object at all: the whole payload.
        #expect(TaskKind.vmStart.payloadProblems(.array([]), prefix: "payload").map(\.field) == ["payload"])
        #expect(TaskKind.vmStart.payloadProblems("x").map(\.field) == ["payload"])
    }

    @Test func unknownMembersAreRefusedOnlyWhenAsked() throws {
        var stop = try Self.valid(.vmStop).objectValue!
        stop["timeout"] = 5  // a typo would otherwise silently leave the default of 60 s
        stop["graceful"] = .null  // null is as good as absent
        #expect(TaskKind.vmStop.payloadProblems(.object(stop), prefix: "payload", rejectUnknownFields: true)
            == [FieldError(field: "payload.timeout", message: "unknown field")])
        #expect(TaskKind.vmStop.payloadProblems(.object(stop)) == [], "an agent tolerates what a newer coordinator adds")
        // At any depth, arrays included.
        var attach = try Self.valid(.diskAttach).objectValue!
        var cluster = attach["cluster"]!.objectValue!
        cluster["keyring"] = "x"
        attach["cluster"] = .object(cluster)
        #expect(TaskKind.diskAttach.payloadProblems(.object(attach), prefix: "payload", rejectUnknownFields: true).map(\.field)
            == ["payload.cluster.keyring"])
    }

    @Test func everyProblemIsReportedAtOnce() throws {
        let stop = JSONValue.object(["vmUuid": .string(UUID().uuidString), "vmName": "", "timeoutS": -1])
        #expect(TaskKind.vmStop.payloadProblems(stop).map(\.field) == ["vmName", "timeoutS"])
    }

    @Test func vmNamesInPayloadsAreBoundedButAnOrphansNameIsAccepted() {
        #expect(VmRefPayload(vmUuid: UUID(), vmName: "zedge-web-1").validate() == [])
        #expect(VmRefPayload(vmUuid: UUID(), vmName: "zedge-someone's vm").validate() == [], "a domain the reconciler deletes may have any name")
        #expect(VmRefPayload(vmUuid: UUID(), vmName: String(repeating: "a", count: 256)).validate().map(\.field) == ["vmName"])
        #expect(VmRefPayload(vmUuid: UUID(), vmName: "a/b").validate().map(\.field) == ["vmName"])
        #expect(VmRefPayload(vmUuid: UUID(), vmName: "a\nb").validate().map(\.field) == ["vmName"])
        #expect(VmRefPayload(vmUuid: UUID(), vmName: "a\r\nb").validate().map(\.field) == ["vmName"], "a CR LF is one Character but holds a newline")
        #expect(VmRefPayload(vmUuid: UUID(), vmName: "a\tb").validate().map(\.field) == ["vmName"])
        #expect(VmRefPayload(vmUuid: UUID(), vmName: "été/b").validate().map(\.field) == ["vmName"])
        #expect(VmRefPayload(vmUuid: UUID(), vmName: "").validate().map(\.field) == ["vmName"])
    }

    @Test func onlyTheCloudBoxKindsAreCloudBoxKinds() {
        #expect(TaskKind.allCases.filter(\.isCloudBoxKind) == [.cloudboxConfigureNetwork, .cloudboxBind, .cloudboxUnbind, .cloudboxReboot])
    }
}
