import Foundation
import SQLKit
import Synchronization
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

@Suite struct BodyDecoderTests {
    struct Body: RequestBody {
        var name: String
        var size: Int?
        var role: UserRole?
        var quota: QuotaConfig?
        static var immutableFields: Set<String> { ["owner"] }
        func validate() -> [FieldError] { name == "bad" ? [FieldError(field: "name", message: "is bad")] : [] }
    }

    func fields(_ json: String) -> [String] {
        do {
            _ = try BodyDecoder.decode(Body.self, from: Data(json.utf8))
            return []
        } catch let problem as Problem {
            #expect(problem.status == .badRequest)
            return problem.errors.map(\.field)
        } catch {
            Issue.record("unexpected error \(error)")
            return []
        }
    }

    @Test func acceptsAndReportsPresentFields() throws {
        let decoded = try BodyDecoder.decode(Body.self, from: Data(#"{"name":"ok","size":null}"#.utf8))
        #expect(decoded.value.name == "ok")
        #expect(decoded.presentFields == ["name", "size"])
        #expect(decoded.has("size") && !decoded.has("role"))
    }

    @Test func namesTheOffendingField() {
        #expect(fields(#"{"name":"ok","extra":1}"#) == ["extra"])
        #expect(fields(#"{"name":"ok","owner":"x"}"#) == ["owner"])
        #expect(fields(#"{"name":"ok","id":"x","createdAt":"x"}"#) == ["createdAt", "id"])
        #expect(fields(#"{"size":1}"#) == ["name"])
        #expect(fields(#"{"name":null}"#) == ["name"])
        #expect(fields(#"{"name":"ok","size":"ten"}"#) == ["size"])
        #expect(fields(#"{"name":"ok","size":1.5}"#) == ["size"])
        #expect(fields(#"{"name":"ok","role":"GOD"}"#) == ["role"])
        #expect(fields(#"{"name":"ok","quota":{"cpuCores":"x"}}"#) == ["quota.cpuCores"])
        #expect(fields(#"{"name":"bad"}"#) == ["name"])
        #expect(fields(#"{"name":"#) == ["body"])
        #expect(fields("[]") == ["body"])
        #expect(fields("") == ["body"])
    }

    @Test func enumErrorsListTheAllowedValues() throws {
        do {
            _ = try BodyDecoder.decode(Body.self, from: Data(#"{"name":"ok","role":"GOD"}"#.utf8))
            Issue.record("decoded a bad enum")
        } catch let problem as Problem {
            #expect(problem.errors.first?.message == "must be one of ADMIN, TENANT_ADMIN, OPERATOR, USER")
        }
    }
}

@Suite struct SchemaReflectorTests {
    @Test func reflectsPropertiesTypesAndRequiredness() throws {
        let schema = SchemaReflector.schema(for: User.self)
        guard case .object(let object) = schema, case .object(let properties)? = object["properties"],
              case .array(let required)? = object["required"] else {
            Issue.record("not an object schema: \(schema)")
            return
        }
        #expect(properties["id"] == ["type": "string", "format": "uuid"])
        #expect(properties["createdAt"] == ["type": "string", "format": "date-time"])
        #expect(properties["role"] == ["type": "string", "enum": ["ADMIN", "TENANT_ADMIN", "OPERATOR", "USER"]])
        #expect(required.contains("username") && !required.contains("tenantId"))
        #expect(properties["passwordHash"] == nil)
        #expect(SchemaReflector.propertyNames(of: Page<User>.self) == ["items", "nextCursor"])
    }
}

@Suite struct RowCodecTests {
    @Test func columnNamesAreSnakeCase() {
        #expect(RowCodec.column("edgeDataCenterId") == "edge_data_center_id")
        #expect(RowCodec.column("timeoutS") == "timeout_s")
        #expect(RowCodec.column("id") == "id")
        #expect(RowCodec.property("edge_data_center_id") == "edgeDataCenterId")
        for name in ["allocatedGpuCount", "temporaryBindExpiresAt", "vmUuid", "checksumMd5"] {
            #expect(RowCodec.property(RowCodec.column(name)) == name)
        }
    }

    @Test func writesEveryColumnIncludingNulls() throws {
        let tenant = Tenant(name: "t", status: .active)
        let columns = try RowCodec.columns(of: tenant).map(\.column)
        #expect(Set(columns) == ["id", "name", "description", "status", "admin_user_id", "vlan_id", "quota_config",
                                 "created_at", "updated_at", "created_by"])
    }
}

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

@Suite struct LoginRateLimiterTests {
    final class Clock: Sendable {
        let now = Synchronization.Mutex(ContinuousClock.now)
        func advance(_ duration: Duration) { now.withLock { $0 += duration } }
    }

    @Test func limitsPerUsernameAndForgetsAfterTheWindow() {
        let clock = Clock()
        let limiter = LoginRateLimiter(limits: .init(perUsername: 2, perAddress: 10, window: .seconds(60)), clock: { clock.now.withLock { $0 } })
        #expect(limiter.retryAfter(username: "Bob", address: "10.0.0.1") == nil)
        limiter.recordFailure(username: "bob", address: "10.0.0.1")
        limiter.recordFailure(username: "BOB", address: "10.0.0.2")
        #expect(limiter.retryAfter(username: "bob", address: "10.0.0.3") == 60)
        clock.advance(.seconds(30))
        #expect(limiter.retryAfter(username: "bob", address: String?.none) == 30)
        clock.advance(.seconds(31))
        #expect(limiter.retryAfter(username: "bob", address: String?.none) == nil)
    }

    @Test func limitsPerAddressAcrossUsernames() {
        let limiter = LoginRateLimiter(limits: .init(perUsername: 100, perAddress: 3, window: .seconds(60)))
        for name in ["a", "b", "c"] { limiter.recordFailure(username: name, address: "192.0.2.1") }
        #expect(limiter.retryAfter(username: "d", address: "192.0.2.1") != nil)
        #expect(limiter.retryAfter(username: "d", address: "192.0.2.2") == nil)
        limiter.recordSuccess(username: "a")
        #expect(limiter.retryAfter(username: "d", address: "192.0.2.1") != nil)
    }
}

@Suite struct AuthorizerTests {
    let authorizer = Authorizer(grants: Dictionary(uniqueKeysWithValues: UserRole.allCases.map { ($0, PermissionCatalog.defaultGrants(for: $0)) }))
    let tenant = UUID.v7()
    func principal(_ role: UserRole, tenant: UUID? = nil) -> Principal {
        Principal(userId: .v7(), username: "x", role: role, tenantId: tenant, credential: .accessToken)
    }

    @Test func functionLevelGrants() {
        #expect(authorizer.allows(principal(.admin), .tenant, .delete))
        #expect(!authorizer.allows(principal(.tenantAdmin), .tenant, .create))
        #expect(authorizer.allows(principal(.operator), .server, .manage))
        #expect(!authorizer.allows(principal(.operator), .instance, .create))
        #expect(authorizer.allows(principal(.user), .instance, .create))
        #expect(!authorizer.allows(principal(.user), .edgeDc, .update))
        #expect(throws: DomainError.self) { try authorizer.require(principal(.user), .tenant, .create) }
    }

    @Test func objectLevelReach() {
        let owner = principal(.user, tenant: tenant)
        #expect(authorizer.canReach(owner, tenantId: tenant, ownerId: owner.userId))
        #expect(!authorizer.canReach(owner, tenantId: tenant, ownerId: UUID.v7()))
        #expect(!authorizer.canReach(owner, tenantId: UUID.v7(), ownerId: owner.userId))
        #expect(authorizer.canReach(principal(.tenantAdmin, tenant: tenant), tenantId: tenant, ownerId: UUID.v7()))
        #expect(!authorizer.canReach(principal(.tenantAdmin, tenant: tenant), tenantId: UUID.v7(), ownerId: nil))
        #expect(authorizer.canReach(principal(.admin), tenantId: UUID.v7(), ownerId: nil))
    }
}

@Suite struct ConstraintViolationTests {
    @Test func uniqueViolationsNameTheLastColumn() {
        let problem = ConstraintViolation.unique(columns: ["tenant_id", "name"], resource: "user group")
        #expect(problem.kind == .conflict)
        #expect(problem.errors == [FieldError(field: "name", message: "A user group with this name already exists within this tenant.")])
        #expect(ConstraintViolation.unique(columns: ["email"], resource: "user").errors.map(\.field) == ["email"])
    }

    @Test func cursorsRoundTripAndRejectGarbage() {
        let id = UUID.v7()
        #expect(Cursor.decode(Cursor.encode(id)) == id)
        #expect(Cursor.decode("zzz") == nil)
        #expect(Cursor.decode("") == nil)
    }
}

@Suite struct ConfigurationTests {
    @Test func flagsOverrideEnvironmentOverrideFile() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-config-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data(#"{"listen":"10.0.0.1:9000","dataDir":"/from/file","logLevel":"debug","bcryptCost":13,"healthCriticalCpuPercent":99,"reconcileIntervalSeconds":2}"#.utf8)
            .write(to: URL(fileURLWithPath: file))
        let reader = try await CoordinatorConfiguration.reader(
            arguments: ["--listen", "127.0.0.1:7000"],
            environment: ["ZEDGE_DATA_DIR": "/from/env", "ZEDGE_BOOTSTRAP_ADMIN_PASSWORD": "secret-password", "DATA_DIR": "/ignored",
                          "ZEDGE_HEALTH_WARNING_TEMPERATURE": "70"],
            configFile: file)
        let configuration = try CoordinatorConfiguration(reader: reader, defaultDataDirectory: "/default", devMode: false)
        #expect(configuration.host == "127.0.0.1" && configuration.port == 7000)
        #expect(configuration.dataDirectory == "/from/env")
        #expect(configuration.logLevel == .debug)
        #expect(configuration.bcryptCost == 13)
        #expect(configuration.bootstrapAdminPassword == "secret-password")
        #expect(configuration.effectiveDatabaseURL == "sqlite:///from/env/coordinator.db")
        #expect(configuration.healthThresholds.critical.cpuPercent == 99 && configuration.healthThresholds.warning.temperature == 70)
        #expect(configuration.healthThresholds.critical.memoryPercent == HealthThresholds().critical.memoryPercent)
        #expect(configuration.reconcileIntervalSeconds == 2)
    }

    @Test func refusesBadValuesWithAClearMessage() async throws {
        for (arguments, message) in [
            (["--listen", "nonsense"], "--listen must be HOST:PORT"),
            (["--bcrypt-cost", "4"], "bcryptCost must be between 12 and 31"),
            (["--tls-cert", "/x.pem"], "--tls-cert and --tls-key go together"),
        ] {
            let reader = try await CoordinatorConfiguration.reader(arguments: arguments, environment: [:], configFile: nil)
            #expect {
                try CoordinatorConfiguration(reader: reader, defaultDataDirectory: "/d", devMode: false)
            } throws: { error in
                "\(error)".hasPrefix(message)
            }
        }
    }
}

@Suite struct AgentCredentialCacheTests {
    let machine = UUID(), other = UUID()

    @Test func keepsLiveCredentialsUntilTheirHostIsInvalidated() {
        let cache = AgentCredentialCache()
        let live = AgentCredential(computeMachineId: machine, prefix: "a")
        let (missed, generation) = cache.lookup("hash-a")
        #expect(missed == nil)
        cache.store(live, secretHash: "hash-a", readAt: generation)
        cache.store(AgentCredential(computeMachineId: other, prefix: "b"), secretHash: "hash-b", readAt: generation)
        #expect(cache.lookup("hash-a").credential == live)
        cache.invalidate(computeMachineId: machine, cloudBoxId: nil)
        #expect(cache.lookup("hash-a").credential == nil)
        #expect(cache.lookup("hash-b").credential != nil)
        // Revoked credentials are never kept.
        let (_, now) = cache.lookup("hash-c")
        cache.store(AgentCredential(computeMachineId: machine, prefix: "c", revokedAt: Date()), secretHash: "hash-c", readAt: now)
        #expect(cache.lookup("hash-c").credential == nil)
    }

    /// A read that started before a revocation and ends after its invalidation must not cache what it read.
    @Test func aReadThatRacedWithARevocationIsNotKept() {
        let cache = AgentCredentialCache()
        let (_, before) = cache.lookup("hash-a")
        cache.invalidate(computeMachineId: machine, cloudBoxId: nil)  // the revocation lands meanwhile
        cache.store(AgentCredential(computeMachineId: machine, prefix: "a"), secretHash: "hash-a", readAt: before)
        #expect(cache.lookup("hash-a").credential == nil)
        cache.invalidateAll()
        #expect(cache.count == 0)
    }

    @Test func staysWithinItsCapacity() {
        let cache = AgentCredentialCache(capacity: 3)
        for index in 0..<10 {
            let (_, generation) = cache.lookup("hash-\(index)")
            cache.store(AgentCredential(computeMachineId: UUID(), prefix: "p"), secretHash: "hash-\(index)", readAt: generation)
        }
        #expect(cache.count <= 3)
    }
}

@Suite struct SecretTokenTests {
    @Test func hashesAreLowercaseHexSHA256() {
        #expect(SecretToken.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let token = SecretToken.generate(.agentCredential)
        #expect(token.hash.count == 64 && token.hash == SecretToken.hash(token.value))
    }
}
