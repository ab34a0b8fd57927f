import Foundation
import ZedgeCore

/// Every table whose rows are a model, declared once: its SQL name and its name in messages.
enum Tables {
    static let tenants = Table<Tenant>("tenants", resource: "tenant")
    static let users = Table<User>("users", resource: "user")
    static let userGroups = Table<UserGroup>("user_groups", resource: "user group")
    static let groupMembers = Table<UserGroupMember>("user_group_members", resource: "group membership")
    static let permissions = Table<Permission>("permissions", resource: "permission")
    static let rolePermissions = Table<RolePermission>("role_permissions", resource: "role permission")
    static let apiKeys = Table<ApiKey>("api_keys", resource: "API key")
    static let refreshTokens = Table<RefreshToken>("refresh_tokens", resource: "refresh token")
    static let auditLogs = Table<AuditLog>("audit_logs", resource: "audit log entry")
    static let metricSamples = Table<MetricSample>("metric_samples", resource: "metric sample")
    static let edgeDataCenters = Table<EdgeDataCenter>("edge_data_centers", resource: "edge data center")
    static let resourcePools = Table<ResourcePool>("resource_pools", resource: "resource pool")
    static let computeMachines = Table<ComputeMachine>("compute_machines", resource: "compute machine")
    static let cloudBoxes = Table<CloudBox>("cloud_boxes", resource: "CloudBox")
    static let enrollmentTokens = Table<EnrollmentToken>("enrollment_tokens", resource: "enrollment token")
    static let agentCredentials = Table<AgentCredential>("agent_credentials", resource: "agent credential")
    static let templates = Table<Template>("templates", resource: "template")
    static let templateVersions = Table<TemplateVersion>("template_versions", resource: "template version")
    static let templateGroupGrants = Table<TemplateGroupGrant>("template_group_grants", resource: "template group grant")
    static let instances = Table<Instance>("instances", resource: "instance")
    static let virtualMachines = Table<VirtualMachine>("virtual_machines", resource: "virtual machine")
    static let instanceSets = Table<InstanceSet>("instance_sets", resource: "instance set")
    static let instanceSetMembers = Table<InstanceSetMember>("instance_set_members", resource: "instance set member")
    static let capacityClaims = Table<CapacityClaim>("capacity_claims", resource: "capacity claim")
    static let agentTasks = Table<AgentTask>("agent_tasks", resource: "task")
    static let operations = Table<ZedgeCore.Operation>("operations", resource: "operation")
    static let taskEvents = Table<TaskEvent>("task_events", resource: "task event")
}
