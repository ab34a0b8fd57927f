import Foundation
import Logging
import SQLKit
import ZedgeCore

/// Every repository of the coordinator over one database, built once by the composition root, which hands
/// each service only the repositories it uses.
public struct Store: Sendable {
    public let database: Database
    public let tenants: SQLTenantRepository
    public let users: any UserRepository
    public let userGroups: any ModelRepository<UserGroup>
    public let groupMembers: any ModelRepository<UserGroupMember>
    public let permissions: any ModelRepository<Permission>
    public let rolePermissions: any RolePermissionRepository
    public let apiKeys: any ApiKeyRepository
    public let refreshTokens: any RefreshTokenRepository
    public let auditLogs: any TimeSeriesRepository<AuditLog>
    public let metricSamples: any TimeSeriesRepository<MetricSample>
    public let edgeDataCenters: any ModelRepository<EdgeDataCenter>
    public let resourcePools: any ModelRepository<ResourcePool>
    public let computeMachines: any ModelRepository<ComputeMachine>
    public let cloudBoxes: any ModelRepository<CloudBox>
    public let enrollmentTokens: any EnrollmentTokenRepository
    public let agentCredentials: any AgentCredentialRepository
    public let templates: any TemplateRepository
    public let templateVersions: any ModelRepository<TemplateVersion>
    public let templateGroupGrants: any ModelRepository<TemplateGroupGrant>
    public let images: any ImageRepository
    public let instances: any InstanceRepository
    public let virtualMachines: any VirtualMachineRepository
    public let instanceSets: any ModelRepository<InstanceSet>
    public let instanceSetMembers: any ModelRepository<InstanceSetMember>
    public let capacityClaims: any ModelRepository<CapacityClaim>
    public let capacity: any CapacityRepository
    public let quotas: any QuotaRepository
    public let hosts: any HostRepository
    public let tasks: any TaskRepository
    /// Operations, agent tasks and task events as lists for operators and users (`OperationController`); the
    /// dispatch path uses `tasks`.
    public let operations: any ModelRepository<ZedgeCore.Operation>
    public let agentTasks: any ModelRepository<AgentTask>
    public let taskEvents: any ModelRepository<TaskEvent>
    public let agentCalls: any AgentCallRepository
    public let consoleSessions: any ConsoleSessionRepository
    public let cachedImages: any CachedImageRepository
    public let networks: any NetworkRepository
    public let ipAddresses: any IpAddressRepository
    public let disks: any DiskRepository
    public let fleet: any FleetCensusRepository
    public let transactions: Transactions

    public init(database: Database) {
        self.database = database
        tenants = SQLTenantRepository(database: database)
        users = SQLUserRepository(database: database)
        userGroups = SQLModelRepository(Tables.userGroups, database: database)
        groupMembers = SQLModelRepository(Tables.groupMembers, database: database)
        permissions = SQLModelRepository(Tables.permissions, database: database)
        rolePermissions = SQLRolePermissionRepository(database: database)
        apiKeys = SQLApiKeyRepository(database: database)
        refreshTokens = SQLRefreshTokenRepository(database: database)
        auditLogs = SQLTimeSeriesRepository(Tables.auditLogs, timeColumn: "created_at", database: database)
        metricSamples = SQLTimeSeriesRepository(Tables.metricSamples, timeColumn: "recorded_at", database: database)
        edgeDataCenters = SQLModelRepository(Tables.edgeDataCenters, database: database)
        resourcePools = SQLModelRepository(Tables.resourcePools, database: database)
        computeMachines = SQLModelRepository(Tables.computeMachines, database: database)
        cloudBoxes = SQLModelRepository(Tables.cloudBoxes, database: database)
        enrollmentTokens = SQLEnrollmentTokenRepository(database: database)
        agentCredentials = SQLAgentCredentialRepository(database: database)
        templates = SQLTemplateRepository(database: database)
        templateVersions = SQLModelRepository(Tables.templateVersions, database: database)
        operations = SQLModelRepository(Tables.operations, database: database)
        agentTasks = SQLModelRepository(Tables.agentTasks, database: database)
        taskEvents = SQLModelRepository(Tables.taskEvents, database: database)
        templateGroupGrants = SQLModelRepository(Tables.templateGroupGrants, database: database)
        images = SQLImageRepository(database: database)
        instances = SQLInstanceRepository(database: database)
        virtualMachines = SQLVirtualMachineRepository(database: database)
        instanceSets = SQLModelRepository(Tables.instanceSets, database: database)
        instanceSetMembers = SQLModelRepository(Tables.instanceSetMembers, database: database)
        capacityClaims = SQLModelRepository(Tables.capacityClaims, database: database)
        capacity = SQLCapacityRepository()
        quotas = SQLQuotaRepository(database: database)
        hosts = SQLHostRepository(database: database)
        tasks = SQLTaskRepository(database: database)
        agentCalls = SQLAgentCallRepository(database: database)
        consoleSessions = SQLConsoleSessionRepository(database: database)
        cachedImages = SQLCachedImageRepository(database: database)
        networks = SQLNetworkRepository(database: database)
        ipAddresses = SQLIpAddressRepository(database: database)
        disks = SQLDiskRepository(database: database)
        fleet = SQLFleetCensusRepository(database: database)
        transactions = Transactions(database: database)
    }
}
