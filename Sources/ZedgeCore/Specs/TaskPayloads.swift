#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// Typed payloads of the agent task kinds (DESIGN §4). A task's `payload` JSON is one of these, by `TaskKind`.

/// `vm.create`: define the domain described by `spec` (idempotent by `spec.uuid`).
public struct VmCreatePayload: Codable, Sendable, Hashable {
    public var spec: VmSpec
    /// Start the domain once it is defined (what an instance create asks for); default false.
    public var start: Bool
    /// The Ceph clusters of the spec's RBD data disks (the instance's attached private data disks), so that
    /// the agent can define their libvirt secrets before the domain; their `cephKey`s are added at lease time
    /// only, as for the `disk.*` kinds.
    public var rbdClusters: [RbdCluster]

    public init(spec: VmSpec, start: Bool = false, rbdClusters: [RbdCluster] = []) {
        self.spec = spec
        self.start = start
        self.rbdClusters = rbdClusters
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        spec = try c.decode(VmSpec.self, forKey: .spec)
        start = try c.decodeIfPresent(Bool.self, forKey: .start) ?? false
        rbdClusters = try c.decodeIfPresent([RbdCluster].self, forKey: .rbdClusters) ?? []
    }

    /// The spec's problems, with fields prefixed "spec.".
    public func validate() -> [FieldError] {
        spec.validate().map { FieldError(field: "spec." + $0.field, message: $0.message) }
            + rbdClusters.enumerated().flatMap { $1.validate(field: "rbdClusters[\($0)]") }
    }
}

/// `vm.start`, `vm.restart`, `vm.delete`: the domain by UUID (the name is for messages and logs).
public struct VmRefPayload: Codable, Sendable, Hashable {
    public var vmUuid: UUID
    public var vmName: String

    public init(vmUuid: UUID, vmName: String) {
        self.vmUuid = vmUuid
        self.vmName = vmName
    }

    /// The longest `vmName`: the domain name as a host reports it (an orphan the reconciler deletes may have
    /// any name; only one that `Validate.name` accepts names a root overlay).
    public static let vmNameMaxLength = 255

    /// Why `vmName` cannot be a domain's name in a payload (empty, over 255 characters, control or
    /// bidirectional characters, or a '/'), or nil.
    public static func vmNameProblem(_ vmName: String, field: String = "vmName") -> FieldError? {
        if vmName.isEmpty { return FieldError(field: field, message: "must not be empty") }
        if let e = Validate.displayText(vmName, field: field, maxLength: vmNameMaxLength) { return e }
        // By byte, not `String.contains(_: String)`: on Linux that is Foundation's `range(of:)`, ~20 µs here, and
        // every VM task's payload is checked (issue #14). A "\r\n" holds the newline byte too.
        if vmName.utf8.contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\t") }) {
            return FieldError(field: field, message: "must not contain '/', newlines or tabs")
        }
        return nil
    }

    public func validate() -> [FieldError] { Validate.collect(Self.vmNameProblem(vmName)) }
}

/// `vm.stop`: ACPI shutdown, then a forced stop once `timeoutS` seconds have passed.
public struct VmStopPayload: Codable, Sendable, Hashable {
    public var vmUuid: UUID
    public var vmName: String
    /// Seconds to wait for the guest to power off before forcing it; default 60.
    public var timeoutS: Int

    public static let defaultTimeoutS = 60
    public static let timeoutRange = 0...3600

    public init(vmUuid: UUID, vmName: String, timeoutS: Int = VmStopPayload.defaultTimeoutS) {
        self.vmUuid = vmUuid
        self.vmName = vmName
        self.timeoutS = timeoutS
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vmUuid = try c.decode(UUID.self, forKey: .vmUuid)
        vmName = try c.decode(String.self, forKey: .vmName)
        timeoutS = try c.decodeIfPresent(Int.self, forKey: .timeoutS) ?? Self.defaultTimeoutS
    }

    /// `vmName` as `VmRefPayload` has it; `timeoutS` within `timeoutRange` (0-3600 s: a guest that ignores
    /// ACPI holds the host's later tasks for that long).
    public func validate() -> [FieldError] {
        Validate.collect(VmRefPayload.vmNameProblem(vmName), Validate.size(timeoutS, field: "timeoutS", in: Self.timeoutRange))
    }
}

/// `image.fetch`: download the version's file into the agent's cache and verify its SHA-256 (idempotent: an
/// image already cached is success at once). `observed` answers `{"sha256":…,"cached":true,"downloadedBytes":N}`.
public struct ImageFetchPayload: Codable, Sendable, Hashable {
    public var image: ImageRef

    public init(image: ImageRef) { self.image = image }

    public func validate() -> [FieldError] { image.validate(field: "image") }
}
