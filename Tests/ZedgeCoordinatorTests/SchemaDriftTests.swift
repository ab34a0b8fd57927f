import Foundation
import SQLKit
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

/// The schema and the models agree: every stored property of every model is a column of its table, with
/// NOT NULL exactly when the property is not optional (checked against a migrated SQLite database).
@Suite struct SchemaDriftTests {
    @Test func everyModelPropertyIsAColumnWithTheRightNullability() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-drift-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let models: [(String, any Decodable.Type)] = [
            ("tenants", Tenant.self), ("users", User.self), ("user_groups", UserGroup.self),
            ("user_group_members", UserGroupMember.self), ("permissions", Permission.self),
            ("role_permissions", RolePermission.self), ("instances", Instance.self), ("templates", Template.self),
            ("template_versions", TemplateVersion.self), ("compute_machines", ComputeMachine.self),
            ("virtual_machines", VirtualMachine.self), ("resource_pools", ResourcePool.self),
            ("instance_sets", InstanceSet.self), ("instance_set_members", InstanceSetMember.self),
            ("private_data_disks", PrivateDataDisk.self),
            ("instance_private_data_disk_attachments", InstancePrivateDataDiskAttachment.self),
            ("images", Image.self), ("image_versions", ImageVersion.self), ("image_tags", ImageTag.self),
            ("vpcs", Vpc.self), ("subnets", Subnet.self), ("places", Place.self), ("ip_addresses", IpAddress.self),
            ("cloud_boxes", CloudBox.self), ("edge_data_centers", EdgeDataCenter.self), ("audit_logs", AuditLog.self),
            ("operations", ZedgeCore.Operation.self), ("agent_tasks", AgentTask.self), ("task_events", TaskEvent.self),
            ("api_keys", ApiKey.self), ("refresh_tokens", RefreshToken.self), ("enrollment_tokens", EnrollmentToken.self),
            ("agent_credentials", AgentCredential.self), ("metric_samples", MetricSample.self),
            ("capacity_claims", CapacityClaim.self), ("template_group_grants", TemplateGroupGrant.self),
            ("image_group_grants", ImageGroupGrant.self),
        ]
        // Reflect before entering the database's @Sendable closure (metatypes are not Sendable).
        let expected: [(table: String, type: String, schema: JSONValue)] = models.map { table, type in
            func reflect(_ type: any Decodable.Type) -> JSONValue { SchemaReflector.schema(for: type) }
            return (table, "\(type)", reflect(type))
        }
        try await Database.withDatabase(url: "sqlite://\(directory)/drift.db", logger: .init(label: "test")) { database in
            try await Migrator().migrate(database, logger: .init(label: "test"))
            for (table, type, reflected) in expected {
                let rows = try await database.sql.raw("SELECT name, \"notnull\" AS required FROM pragma_table_info(\(bind: table))").all()
                let columns = Dictionary(uniqueKeysWithValues: try rows.map {
                    (try $0.decode(column: "name", as: String.self), try $0.decode(column: "required", as: Int.self) == 1)
                })
                #expect(!columns.isEmpty, "table \(table) is missing")
                guard case .object(let schema) = reflected,
                      case .object(let properties)? = schema["properties"] else {
                    Issue.record("cannot reflect \(type)")
                    continue
                }
                let required: Set<String> = if case .array(let names)? = schema["required"] {
                    Set(names.compactMap { if case .string(let name) = $0 { name } else { nil } })
                } else { [] }
                for property in properties.keys {
                    let column = RowCodec.column(property)
                    guard let notNull = columns[column] else {
                        Issue.record("\(table).\(column) is missing for \(type).\(property)")
                        continue
                    }
                    #expect(notNull == required.contains(property), "\(table).\(column): NOT NULL \(notNull), property required \(required.contains(property))")
                }
            }
        }
    }
}
