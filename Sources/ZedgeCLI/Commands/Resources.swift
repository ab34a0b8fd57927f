/// Every resource zedgectl addresses: path, name field and columns.
public enum Resources {
    static let tenants = ResourceSpec(
        noun: "tenant", plural: "tenants", path: "/api/v1/tenants",
        columns: [Column("ID", "id"), Column("NAME", "name"), Column("STATUS", "status")],
        wideColumns: [Column("VLAN", "vlanId"), Column("DESCRIPTION", "description"), Column("CREATED", "createdAt")])
    static let users = ResourceSpec(
        noun: "user", plural: "users", path: "/api/v1/users", nameField: "username",
        columns: [Column("ID", "id"), Column("USERNAME", "username"), Column("ROLE", "role"), Column("STATUS", "status"),
                  Column("TENANT", "tenantId")],
        wideColumns: [Column("EMAIL", "email"), Column("LAST LOGIN", "lastLoginAt")])
    static let groups = ResourceSpec(
        noun: "group", plural: "user groups", path: "/api/v1/user-groups",
        columns: [Column("ID", "id"), Column("NAME", "name"), Column("TENANT", "tenantId")],
        wideColumns: [Column("PARENT", "parentGroupId"), Column("DESCRIPTION", "description")])
    static let groupMembers = ResourceSpec(
        noun: "member", plural: "members", path: "", nameField: nil,
        columns: [Column("USER", "userId"), Column("GROUP", "groupId")], wideColumns: [Column("JOINED", "joinedAt")])
    static let apiKeys = ResourceSpec(
        noun: "api-key", plural: "API keys", path: "/api/v1/api-keys",
        columns: [Column("ID", "id"), Column("NAME", "name"), Column("PREFIX", "prefix"), Column("EXPIRES", "expiresAt"),
                  Column("REVOKED", "revokedAt")],
        wideColumns: [Column("USER", "userId"), Column("LAST USED", "lastUsedAt")])
    static let dataCenters = ResourceSpec(
        noun: "dc", plural: "edge data centers", path: "/api/v1/edge-data-centers",
        columns: [Column("ID", "id"), Column("NAME", "name"), Column("LOCATION", "location"), Column("STATUS", "status")],
        wideColumns: [Column("CPU", "totalCpuCores"), Column("MEMORY GB", "totalMemoryGb"), Column("STORAGE GB", "totalStorageGb")])
    static let pools = ResourceSpec(
        noun: "pool", plural: "resource pools", path: "/api/v1/resource-pools",
        columns: [Column("ID", "id"), Column("NAME", "name"), Column("TYPE", "poolType"), Column("DC", "edgeDataCenterId"),
                  Column("STATUS", "status")],
        wideColumns: [Column("CPU", "totalCpuCores"), Column("CPU USED", "allocatedCpuCores"), Column("MEMORY GB", "totalMemoryGb"),
                      Column("MEMORY USED", "allocatedMemoryGb")])
    static let machines = ResourceSpec(
        noun: "machine", plural: "compute machines", path: "/api/v1/compute-machines",
        columns: [Column("ID", "id"), Column("NAME", "name"), Column("STATUS", "status"), Column("HEALTH", "healthStatus"),
                  Column("MANAGEMENT IP", "managementIp")],
        wideColumns: [Column("HOSTNAME", "hostname"), Column("POOL", "resourcePoolId"), Column("CPU", "cpuCores"),
                      Column("CPU USED", "allocatedCpuCores"), Column("MEMORY GB", "memoryGb"),
                      Column("MEMORY USED", "allocatedMemoryGb"), Column("LAST HEARTBEAT", "lastHeartbeat")])
    static let cloudBoxes = ResourceSpec(
        noun: "cloudbox", plural: "CloudBoxes", path: "/api/v1/cloud-boxes", nameField: "serialNumber",
        columns: [Column("ID", "id"), Column("SERIAL", "serialNumber"), Column("NAME", "name"), Column("STATUS", "status"),
                  Column("DC", "edgeDataCenterId")],
        wideColumns: [Column("LOCATION", "location"), Column("MODEL", "model"), Column("IP", "ipAddress"),
                      Column("DISABLED", "isDisabled"), Column("LAST HEARTBEAT", "lastHeartbeat")])
    static let enrollmentTokens = ResourceSpec(
        noun: "enrollment-token", plural: "enrollment tokens", path: "/api/v1/enrollment-tokens", nameField: nil,
        columns: [Column("ID", "id"), Column("KIND", "kind"), Column("PREFIX", "prefix"), Column("USES LEFT", "usesLeft"),
                  Column("EXPIRES", "expiresAt"), Column("REVOKED", "revokedAt")],
        wideColumns: [Column("DC", "edgeDataCenterId"), Column("POOL", "resourcePoolId")])
    static let templates = ResourceSpec(
        noun: "template", plural: "templates", path: "/api/v1/templates",
        columns: [Column("ID", "id"), Column("NAME", "name"), Column("VISIBILITY", "visibility"), Column("STATUS", "status"),
                  Column("VERSION", "version")],
        wideColumns: [Column("CPU", "defaultCpuCores"), Column("MEMORY GB", "defaultMemoryGb"),
                      Column("STORAGE GB", "defaultStorageGb"), Column("IMAGE", "baseImageId"), Column("TENANT", "tenantId")])
    static let templateVersions = ResourceSpec(
        noun: "template version", plural: "template versions", path: "", nameField: nil,
        columns: [Column("ID", "id"), Column("VERSION", "versionNumber"), Column("LATEST", "isLatest"), Column("CREATED", "createdAt")],
        wideColumns: [Column("CHANGELOG", "changelog")])
    static let instances = ResourceSpec(
        noun: "instance", plural: "instances", path: "/api/v1/instances",
        columns: [Column("ID", "id"), Column("NAME", "name"), Column("STATUS", "status"), Column("DESIRED", "desiredStatus"),
                  Column("MACHINE", "computeMachineId")],
        wideColumns: [Column("TENANT", "tenantId"), Column("TEMPLATE", "templateId"), Column("POOL", "resourcePoolId"),
                      Column("CREATED", "createdAt")],
        acceptedKey: "instance")
    static let instanceSets = ResourceSpec(
        noun: "instance-set", plural: "instance sets", path: "/api/v1/instance-sets",
        columns: [Column("ID", "id"), Column("NAME", "name"), Column("TYPE", "setType"), Column("STATUS", "status")],
        wideColumns: [Column("TENANT", "tenantId"), Column("GROUP", "userGroupId"), Column("DESCRIPTION", "description")])
    static let instanceSetMembers = ResourceSpec(
        noun: "member", plural: "members", path: "", nameField: nil,
        columns: [Column("INSTANCE", "instanceId"), Column("ROLE", "role")], wideColumns: [Column("JOINED", "joinedAt")])
    static let images = ResourceSpec(
        noun: "image", plural: "images", path: "/api/v1/images",
        columns: [Column("ID", "id"), Column("NAME", "name"), Column("TYPE", "imageType"), Column("OS", "baseOs"),
                  Column("VISIBILITY", "visibility"), Column("STATUS", "status")],
        wideColumns: [Column("ARCH", "architecture"), Column("TENANT", "tenantId")])
    static let imageVersions = ResourceSpec(
        noun: "image version", plural: "image versions", path: "", nameField: "versionNumber",
        columns: [Column("ID", "id"), Column("VERSION", "versionNumber"), Column("NAME", "versionName"),
                  Column("FORMAT", "diskFormat"), Column("BYTES", "sizeBytes"), Column("FILE", "hasFile"),
                  Column("LATEST", "isLatest"), Column("DEFAULT", "isDefault")],
        wideColumns: [Column("SHA256", "checksumSha256"), Column("STATUS", "status")])
    static let imageTags = ResourceSpec(
        noun: "image tag", plural: "image tags", path: "", nameField: "tagName",
        columns: [Column("ID", "id"), Column("TAG", "tagName"), Column("VERSION", "versionId"), Column("IMMUTABLE", "isImmutable")])
    static let disks = ResourceSpec(
        noun: "disk", plural: "private data disks", path: "/api/v1/private-data-disks",
        columns: [Column("ID", "id"), Column("NAME", "name"), Column("SIZE GB", "sizeGb"), Column("STATUS", "status"),
                  Column("SHARE", "shareMode")],
        wideColumns: [Column("TYPE", "diskType"), Column("TENANT", "tenantId"), Column("POOL", "storagePoolId"), Column("ERROR", "error")],
        acceptedKey: "disk")
    static let diskAttachments = ResourceSpec(
        noun: "attachment", plural: "disk attachments", path: "", nameField: nil,
        columns: [Column("ID", "id"), Column("DISK", "diskId"), Column("INSTANCE", "instanceId"),
                  Column("MOUNT", "mountPath"), Column("MODE", "mountMode"), Column("STATUS", "status")],
        wideColumns: [Column("ERROR", "error")],
        acceptedKey: "attachment")
    static let vpcs = ResourceSpec(
        noun: "vpc", plural: "VPCs", path: "/api/v1/vpcs",
        columns: [Column("ID", "id"), Column("NAME", "name"), Column("CIDR", "cidrBlock"), Column("DC", "edgeDataCenterId"),
                  Column("STATUS", "status")],
        wideColumns: [Column("TENANT", "tenantId"), Column("VLAN", "vlanId"), Column("DNS", "dnsServers")])
    static let subnets = ResourceSpec(
        noun: "subnet", plural: "subnets", path: "/api/v1/subnets",
        columns: [Column("ID", "id"), Column("NAME", "name"), Column("VPC", "vpcId"), Column("CIDR", "cidrBlock"),
                  Column("GATEWAY", "gateway"), Column("STATUS", "status")],
        wideColumns: [Column("VLAN", "vlanId"), Column("IP POOL", "ipPoolId")])
    static let places = ResourceSpec(
        noun: "place", plural: "places", path: "/api/v1/places",
        columns: [Column("ID", "id"), Column("NAME", "name"), Column("SUBNET", "subnetId"), Column("LOCATION", "location"),
                  Column("STATUS", "status")],
        wideColumns: [Column("TENANT", "tenantId"), Column("DESCRIPTION", "description")])
    static let ipAddresses = ResourceSpec(
        noun: "ip-address", plural: "IP addresses", path: "/api/v1/ip-addresses", nameField: "ipAddress",
        columns: [Column("ID", "id"), Column("ADDRESS", "ipAddress"), Column("SUBNET", "subnetId"), Column("STATUS", "status"),
                  Column("INSTANCE", "instanceId")],
        wideColumns: [Column("MAC", "macAddress"), Column("RANGE", "rangeSize"), Column("LEASE EXPIRES", "leaseExpiresAt")])
    static let operations = ResourceSpec(
        noun: "operation", plural: "operations", path: "/api/v1/operations", nameField: nil,
        columns: [Column("ID", "id"), Column("KIND", "kind"), Column("STATUS", "status"), Column("PROGRESS", "progress")],
        wideColumns: [Column("RESOURCE", "resourceType"), Column("RESOURCE ID", "resourceId"), Column("ERROR", "error")])
    static let auditLogs = ResourceSpec(
        noun: "audit", plural: "audit log entries", path: "/api/v1/audit-logs", nameField: nil,
        columns: [Column("TIME", "createdAt"), Column("USER", "userId"), Column("ACTION", "action"),
                  Column("RESOURCE", "resourceType"), Column("STATUS", "status")],
        wideColumns: [Column("RESOURCE ID", "resourceId"), Column("IP", "ipAddress"), Column("ID", "id")])
    static let virtualMachines = ResourceSpec(
        noun: "vm", plural: "virtual machines", path: "/api/v1/virtual-machines", nameField: "vmName",
        columns: [Column("ID", "id"), Column("NAME", "vmName"), Column("STATUS", "status"), Column("MACHINE", "computeMachineId"),
                  Column("INSTANCE", "instanceId")],
        wideColumns: [Column("IP", "ipAddress"), Column("MAC", "macAddress"), Column("CPU", "cpuCores"), Column("MEMORY GB", "memoryGb")])
    static let permissions = ResourceSpec(
        noun: "permission", plural: "permissions", path: "/api/v1/permissions", nameField: "permissionName",
        columns: [Column("ID", "id"), Column("NAME", "permissionName"), Column("RESOURCE", "resourceType"), Column("ACTION", "action")])
    static let rolePermissions = ResourceSpec(
        noun: "role-permission", plural: "role permissions", path: "/api/v1/role-permissions", nameField: nil,
        columns: [Column("ROLE", "role"), Column("PERMISSION", "permissionId")])

    /// Body fields that refer to another object, so a create or update may give a name instead of an id.
    static let references: [String: ResourceSpec] = [
        "tenantId": tenants, "userId": users, "adminUserId": users, "assignedUserId": users, "ownerId": users,
        "edgeDataCenterId": dataCenters, "resourcePoolId": pools, "storagePoolId": pools, "templateId": templates,
        "baseImageId": images, "imageId": images, "vpcId": vpcs, "subnetId": subnets, "placeId": places,
        "instanceId": instances, "parentGroupId": groups, "userGroupId": groups, "computeMachineId": machines,
    ]
}
