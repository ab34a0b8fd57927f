#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A closed set of string values from the schema of record (UPPER_SNAKE raw values, or dotted task kinds).
///
/// Conforming enums decode strictly: an unknown value fails with
/// `DecodingError.dataCorrupted` whose message is `must be one of A, B, C` and whose coding path names the
/// field, so the coordinator can turn it into a 400 `{field, message}` without extra work.
public protocol ZedgeEnum: RawRepresentable, CaseIterable, Codable, Sendable, Hashable
where RawValue == String, AllCases == [Self] {}

extension ZedgeEnum {
    /// The raw values, in declaration order.
    public static var allowedValues: [String] { allCases.map(\.rawValue) }

    /// The message used when a value is not one of `allowedValues`.
    public static var allowedValuesMessage: String {
        "must be one of " + allowedValues.joined(separator: ", ")
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        guard let value = Self(rawValue: raw) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: Self.allowedValuesMessage)
        }
        self = value
    }

    /// Parses a raw value, or returns a field error saying which values are allowed.
    public static func parse(_ raw: String, field: String) -> Result<Self, FieldError> {
        if let value = Self(rawValue: raw) { return .success(value) }
        return .failure(FieldError(field: field, message: allowedValuesMessage))
    }
}

/// Every `ZedgeEnum` of ZedgeCore, with its Swift type name, e.g. for OpenAPI generation or seeding SQL enums.
public enum ZedgeEnums {
    public static var all: [any ZedgeEnum.Type] {
        [
            TenantStatus.self, UserRole.self, UserStatus.self, ResourceType.self, PermissionAction.self,
            InstanceStatus.self, InstanceDesiredStatus.self, RentalMode.self,
            TemplateUseCase.self, TemplateType.self, TemplateVisibility.self, TemplateStatus.self,
            ComputeMachineType.self, HypervisorType.self, ComputeMachineStatus.self, HealthStatus.self,
            VirtualMachineStatus.self, ResourcePoolType.self, ResourcePoolStatus.self,
            InstanceSetType.self, InstanceSetStatus.self,
            PrivateDataDiskType.self, PrivateDataDiskStatus.self, ShareMode.self, MountMode.self,
            AttachmentStatus.self, ImageType.self, ImageVisibility.self, ImageStatus.self,
            ImageVersionStatus.self, VpcStatus.self, SubnetStatus.self, PlaceStatus.self,
            IpAddressStatus.self, CloudBoxStatus.self, EdgeDataCenterStatus.self, AuditStatus.self,
            OperationStatus.self, StepStatus.self, TaskKind.self, TaskStatus.self, EventKind.self,
            EnrollmentKind.self,
        ]
    }
}
