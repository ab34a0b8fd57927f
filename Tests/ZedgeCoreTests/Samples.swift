import Foundation
import ZedgeCore

/// Fully populated sample of every model (every optional set), with whole-second dates so `.iso8601` round-trips.
enum Samples {
    static func uuid(_ n: Int) -> UUID { UUID(uuidString: String(format: "00000000-0000-7000-8000-%012d", n))! }
    static func date(_ n: Int) -> Date { Date(timeIntervalSince1970: 1_700_000_000 + Double(n) * 60) }

    static let tenant = Tenant(
        id: uuid(0),
        name: "s1",
        description: "s2",
        status: TenantStatus.allCases.last!,
        adminUserId: uuid(4),
        vlanId: 6,
        quotaConfig: QuotaConfig(cpuCores: 8, memoryGb: 32, storageGb: 500, gpuCount: 1, instances: 10, disks: 4),
        createdAt: date(7),
        updatedAt: date(8),
        createdBy: uuid(9)
    )

    static let user = User(
        id: uuid(0),
        username: "s1",
        email: "s2",
        role: UserRole.allCases.last!,
        status: UserStatus.allCases.last!,
        tenantId: uuid(5),
        quotaConfig: QuotaConfig(cpuCores: 8, memoryGb: 32, storageGb: 500, gpuCount: 1, instances: 10, disks: 4),
        lastLoginAt: date(7),
        createdAt: date(8),
        updatedAt: date(9)
    )

    static let userGroup = UserGroup(
        id: uuid(0),
        name: "s1",
        description: "s2",
        tenantId: uuid(3),
        parentGroupId: uuid(4),
        quotaConfig: QuotaConfig(cpuCores: 8, memoryGb: 32, storageGb: 500, gpuCount: 1, instances: 10, disks: 4),
        createdAt: date(6),
        updatedAt: date(7)
    )

    static let userGroupMember = UserGroupMember(
        id: uuid(0),
        groupId: uuid(1),
        userId: uuid(2),
        joinedAt: date(3),
        addedBy: uuid(4)
    )

    static let permission = Permission(
        id: uuid(0),
        resourceType: ResourceType.allCases.last!,
        action: PermissionAction.allCases.last!,
        permissionName: "s3",
        description: "s4",
        createdAt: date(5)
    )

    static let rolePermission = RolePermission(
        id: uuid(0),
        role: UserRole.allCases.last!,
        permissionId: uuid(2)
    )

    static let instance = Instance(
        id: uuid(0),
        name: "s1",
        tenantId: uuid(2),
        userId: uuid(3),
        templateId: uuid(4),
        status: InstanceStatus.allCases.last!,
        desiredStatus: InstanceDesiredStatus.allCases.last!,
        config: ["k7": [1, 2.5, "x", true, nil]],
        rentalMode: RentalMode.allCases.last!,
        resourcePoolId: uuid(9),
        computeMachineId: uuid(10),
        virtualMachineId: uuid(11),
        timeoutS: 13,
        createdAt: date(13),
        updatedAt: date(14),
        startedAt: date(15)
    )

    static let capacityClaim = CapacityClaim(
        id: uuid(0), instanceId: uuid(1), computeMachineId: uuid(2), resourcePoolId: uuid(3),
        amounts: ClaimAmounts(cpuCores: 4, memoryGb: 5, storageGb: 6, gpuCount: 7), createdAt: date(8), releasedAt: date(9))

    static let templateGroupGrant = TemplateGroupGrant(id: uuid(0), templateId: uuid(1), userGroupId: uuid(2), createdAt: date(3))
    static let imageGroupGrant = ImageGroupGrant(id: uuid(0), imageId: uuid(1), userGroupId: uuid(2), createdAt: date(3))

    static let template = Template(
        id: uuid(0),
        name: "s1",
        description: "s2",
        useCase: TemplateUseCase.allCases.last!,
        templateType: TemplateType.allCases.last!,
        baseImageId: uuid(5),
        defaultCpuCores: 7,
        defaultMemoryGb: 8,
        defaultStorageGb: 9,
        defaultGpuCount: 10,
        defaultBandwidthGbps: 10.5,
        networkConfig: ["k11": [1, 2.5, "x", true, nil]],
        userData: "s12",
        tags: ["k13": [1, 2.5, "x", true, nil]],
        visibility: TemplateVisibility.allCases.last!,
        ownerId: uuid(15),
        tenantId: uuid(16),
        version: "s17",
        status: TemplateStatus.allCases.last!,
        createdAt: date(19),
        updatedAt: date(20)
    )

    static let templateVersion = TemplateVersion(
        id: uuid(0),
        templateId: uuid(1),
        versionNumber: "s2",
        isLatest: true,
        configSnapshot: ["k4": [1, 2.5, "x", true, nil]],
        changelog: "s5",
        createdAt: date(6),
        createdBy: uuid(7)
    )

    static let computeMachine = ComputeMachine(
        id: uuid(0),
        hostname: "s1",
        name: "s2",
        edgeDataCenterId: uuid(3),
        resourcePoolId: uuid(4),
        machineType: ComputeMachineType.allCases.last!,
        rentalMode: RentalMode.allCases.last!,
        hypervisorType: HypervisorType.allCases.last!,
        cpuCores: 9,
        memoryGb: 10,
        storageGb: 11,
        gpuCount: 12,
        gpuModel: "s12",
        managementIp: "s13",
        businessIp: "s14",
        allocatedCpuCores: 16,
        allocatedMemoryGb: 17,
        allocatedStorageGb: 18,
        allocatedGpuCount: 19,
        status: ComputeMachineStatus.allCases.last!,
        healthStatus: HealthStatus.allCases.last!,
        connectionConfig: ["k21": [1, 2.5, "x", true, nil]],
        tags: ["k22": [1, 2.5, "x", true, nil]],
        createdAt: date(23),
        updatedAt: date(24),
        lastHeartbeat: date(25)
    )

    static let virtualMachine = VirtualMachine(
        id: uuid(0),
        computeMachineId: uuid(1),
        instanceId: uuid(2),
        vmUuid: "s3",
        vmName: "s4",
        cpuCores: 6,
        memoryGb: 7,
        storageGb: 8,
        gpuCount: 9,
        status: VirtualMachineStatus.allCases.last!,
        ipAddress: "s10",
        macAddress: "s11",
        config: ["k12": [1, 2.5, "x", true, nil]],
        createdAt: date(13),
        updatedAt: date(14)
    )

    static let resourcePool = ResourcePool(
        id: uuid(0),
        name: "s1",
        description: "s2",
        edgeDataCenterId: uuid(3),
        poolType: ResourcePoolType.allCases.last!,
        schedulingPolicy: "s5",
        status: ResourcePoolStatus.allCases.last!,
        totalCpuCores: 8,
        totalMemoryGb: 9,
        totalStorageGb: 10,
        totalGpuCount: 11,
        allocatedCpuCores: 12,
        allocatedMemoryGb: 13,
        allocatedStorageGb: 14,
        allocatedGpuCount: 15,
        subnetId: uuid(15),
        ipPoolConfig: ["k16": [1, 2.5, "x", true, nil]],
        storageConfig: StorageConfig(monitors: ["10.0.0.1:6789"], rbdPool: "s17", cephUser: "s18"),
        createdAt: date(17),
        updatedAt: date(18)
    )

    static let instanceSet = InstanceSet(
        id: uuid(0),
        name: "s1",
        description: "s2",
        ownerId: uuid(3),
        tenantId: uuid(4),
        userGroupId: uuid(5),
        setType: InstanceSetType.allCases.last!,
        status: InstanceSetStatus.allCases.last!,
        tags: ["k8": [1, 2.5, "x", true, nil]],
        createdAt: date(9),
        updatedAt: date(10),
        createdBy: uuid(11),
        updatedBy: uuid(12)
    )

    static let instanceSetMember = InstanceSetMember(
        id: uuid(0),
        setId: uuid(1),
        instanceId: uuid(2),
        role: "s3",
        joinedAt: date(4),
        addedBy: uuid(5)
    )

    static let privateDataDisk = PrivateDataDisk(
        id: uuid(0),
        name: "s1",
        tenantId: uuid(2),
        userId: uuid(3),
        sizeGb: 5,
        diskType: PrivateDataDiskType.allCases.last!,
        status: PrivateDataDiskStatus.allCases.last!,
        shareMode: ShareMode.allCases.last!,
        maxAttachments: 9,
        rbdImageName: "s9",
        rbdPool: "s10",
        storagePoolId: uuid(15),
        error: "s16",
        createdAt: date(11),
        updatedAt: date(12),
        createdBy: uuid(13),
        updatedBy: uuid(14)
    )

    static let instancePrivateDataDiskAttachment = InstancePrivateDataDiskAttachment(
        id: uuid(0),
        instanceId: uuid(1),
        diskId: uuid(2),
        mountPath: "s3",
        mountMode: MountMode.allCases.last!,
        attachedAt: date(5),
        attachedBy: uuid(6),
        status: AttachmentStatus.allCases.last!,
        error: "s8"
    )

    static let image = Image(
        id: uuid(0),
        name: "s1",
        description: "s2",
        imageType: ImageType.allCases.last!,
        baseOs: "s4",
        osVersion: "s5",
        architecture: "s6",
        sizeGb: 7.5,
        minCpuCores: 9,
        minMemoryGb: 10,
        minStorageGb: 11,
        recommendedCpuCores: 12,
        recommendedMemoryGb: 13,
        visibility: ImageVisibility.allCases.last!,
        status: ImageStatus.allCases.last!,
        fileServerId: uuid(15),
        filePath: "s16",
        checksumMd5: "s17",
        ownerId: uuid(18),
        tenantId: uuid(19),
        createdAt: date(20),
        updatedAt: date(21)
    )

    static let imageVersion = ImageVersion(
        id: uuid(0),
        imageId: uuid(1),
        versionNumber: "s2",
        versionName: "s3",
        isLatest: false,
        isDefault: true,
        parentVersionId: uuid(6),
        sizeGb: 7.5,
        filePath: "s8",
        checksumMd5: "s9",
        checksumSha256: String(repeating: "a", count: 64),
        sizeBytes: 1 << 20,
        virtualSizeBytes: 1 << 30,
        diskFormat: .qcow2,
        releaseNotes: "s10",
        status: ImageVersionStatus.allCases.last!,
        createdAt: date(12),
        createdBy: uuid(13)
    )

    static let imageTag = ImageTag(
        id: uuid(0),
        imageId: uuid(1),
        versionId: uuid(2),
        tagName: "s3",
        isImmutable: false,
        createdAt: date(5),
        updatedAt: date(6)
    )

    static let vpc = Vpc(
        id: uuid(0),
        name: "s1",
        description: "s2",
        tenantId: uuid(3),
        userId: uuid(4),
        cidrBlock: "s5",
        edgeDataCenterId: uuid(6),
        vlanId: 8,
        enableDns: false,
        dnsServers: ["k9": [1, 2.5, "x", true, nil]],
        status: VpcStatus.allCases.last!,
        createdAt: date(11),
        updatedAt: date(12),
        createdBy: uuid(13),
        updatedBy: uuid(14)
    )

    static let subnet = Subnet(
        id: uuid(0),
        name: "s1",
        vpcId: uuid(2),
        cidrBlock: "s3",
        availabilityZone: "s4",
        gateway: "s5",
        vlanId: 7,
        isPublic: true,
        autoAssignIp: false,
        ipPoolId: uuid(9),
        status: SubnetStatus.allCases.last!,
        createdAt: date(11),
        updatedAt: date(12),
        createdBy: uuid(13),
        updatedBy: uuid(14)
    )

    static let place = Place(
        id: uuid(0),
        name: "s1",
        description: "s2",
        tenantId: uuid(3),
        subnetId: uuid(4),
        location: "s5",
        status: PlaceStatus.allCases.last!,
        createdAt: date(7),
        updatedAt: date(8),
        createdBy: uuid(9),
        updatedBy: uuid(10)
    )

    static let ipAddress = IpAddress(
        id: uuid(0),
        ipAddress: "s1",
        ipPoolId: uuid(2),
        subnetId: uuid(3),
        status: IpAddressStatus.allCases.last!,
        instanceId: uuid(5),
        macAddress: "s6",
        allocatedAt: date(7),
        allocatedBy: uuid(8),
        leaseExpiresAt: date(9),
        isRangeStart: false,
        rangeSize: 12,
        tags: ["k12": [1, 2.5, "x", true, nil]],
        createdAt: date(13),
        updatedAt: date(14)
    )

    static let cloudBox = CloudBox(
        id: uuid(0),
        name: "s1",
        serialNumber: "s2",
        networkId: uuid(3),
        status: CloudBoxStatus.allCases.last!,
        ipAddress: "s5",
        macAddress: "s6",
        firmwareVersion: "s7",
        lastBootTime: date(8),
        isDisabled: true,
        edgeDataCenterId: uuid(10),
        createdAt: date(11),
        updatedAt: date(12),
        lastHeartbeat: date(13),
        temporaryInstanceId: uuid(14),
        temporaryBindExpiresAt: date(15),
        model: "s16",
        manufacturer: "s17",
        hardwareConfig: ["k18": [1, 2.5, "x", true, nil]],
        location: "s19",
        assignedUserId: uuid(20),
        tags: ["k21": [1, 2.5, "x", true, nil]],
        networkMode: "s22",
        gateway: "s23",
        dnsServers: ["k24": [1, 2.5, "x", true, nil]],
        subnetMask: "s25",
        cpuUsagePercent: 26.5,
        memoryUsagePercent: 27.5,
        diskUsagePercent: 28.5,
        temperature: 29.5,
        uptimeSeconds: 31
    )

    static let edgeDataCenter = EdgeDataCenter(
        id: uuid(0),
        name: "s1",
        location: "s2",
        status: EdgeDataCenterStatus.allCases.last!,
        networkConfig: ["k4": [1, 2.5, "x", true, nil]],
        totalCpuCores: 6,
        totalMemoryGb: 7,
        totalStorageGb: 8,
        totalGpuCount: 9,
        createdAt: date(9),
        updatedAt: date(10)
    )

    static let auditLog = AuditLog(
        id: uuid(0),
        userId: uuid(1),
        tenantId: uuid(3),
        action: "s2",
        resourceType: "s3",
        resourceId: uuid(4),
        details: ["k5": [1, 2.5, "x", true, nil]],
        ipAddress: "s6",
        userAgent: "s7",
        status: AuditStatus.allCases.last!,
        createdAt: date(9)
    )

    static let operation = Operation(
        id: uuid(0),
        kind: "s1",
        status: OperationStatus.allCases.last!,
        tenantId: uuid(3),
        userId: uuid(4),
        resourceType: "s5",
        resourceId: uuid(6),
        steps: [OperationStep(name: "place", weight: 1, status: .succeeded, taskId: uuid(99)), OperationStep(name: "boot", weight: 3)],
        progress: 8.5,
        request: ["k9": [1, 2.5, "x", true, nil]],
        error: "s10",
        createdAt: date(11),
        updatedAt: date(12),
        startedAt: date(13),
        endedAt: date(14)
    )

    static let agentTask = AgentTask(
        id: uuid(0),
        operationId: uuid(1),
        computeMachineId: uuid(2),
        cloudBoxId: uuid(3),
        kind: TaskKind.allCases.last!,
        payload: ["k5": [1, 2.5, "x", true, nil]],
        status: TaskStatus.allCases.last!,
        attempts: 8,
        maxAttempts: 9,
        leaseExpiresAt: date(9),
        leaseHolder: uuid(10),
        result: ["k10": [1, 2.5, "x", true, nil]],
        error: "s11",
        createdAt: date(12),
        updatedAt: date(13),
        finishedAt: date(14)
    )

    static let taskEvent = TaskEvent(
        id: uuid(0),
        taskId: uuid(1),
        operationId: uuid(2),
        sequence: 4,
        kind: EventKind.allCases.last!,
        name: "s5",
        metadata: ["k6": [1, 2.5, "x", true, nil]],
        createdAt: date(7)
    )

    static let apiKey = ApiKey(
        id: uuid(0),
        userId: uuid(1),
        name: "s2",
        prefix: "s3",
        expiresAt: date(4),
        lastUsedAt: date(5),
        revokedAt: date(6),
        createdAt: date(7)
    )

    static let refreshToken = RefreshToken(
        id: uuid(0),
        userId: uuid(1),
        familyId: uuid(2),
        expiresAt: date(3),
        revokedAt: date(4),
        usedAt: date(5),
        createdAt: date(6)
    )

    static let enrollmentToken = EnrollmentToken(
        id: uuid(0),
        edgeDataCenterId: uuid(1),
        resourcePoolId: uuid(2),
        kind: EnrollmentKind.allCases.last!,
        prefix: "s4",
        usesLeft: 6,
        usesTotal: 7,
        expiresAt: date(7),
        revokedAt: date(8),
        createdBy: uuid(9),
        createdAt: date(10)
    )

    static let agentCredential = AgentCredential(
        id: uuid(0),
        computeMachineId: uuid(1),
        cloudBoxId: uuid(2),
        prefix: "s3",
        lastUsedAt: date(4),
        revokedAt: date(5),
        createdAt: date(6)
    )

    static let metricSample = MetricSample(
        id: uuid(0),
        computeMachineId: uuid(1),
        cloudBoxId: uuid(2),
        recordedAt: date(3),
        cpuUsagePercent: 4.5,
        memoryUsagePercent: 5.5,
        diskUsagePercent: 6.5,
        temperature: 7.5,
        uptimeSeconds: 9,
        extra: ["k9": [1, 2.5, "x", true, nil]]
    )

    /// Every model sample, for the generic round-trip tests.
    static let all: [any Codable & Hashable & Sendable] = [
        tenant, user, userGroup, userGroupMember, permission, rolePermission, instance, template, templateVersion, computeMachine, virtualMachine, resourcePool, instanceSet, instanceSetMember, privateDataDisk, instancePrivateDataDiskAttachment, image, imageVersion, imageTag, vpc, subnet, place, ipAddress, cloudBox, edgeDataCenter, auditLog, operation, agentTask, taskEvent, apiKey, refreshToken, enrollmentToken, agentCredential, metricSample, capacityClaim, templateGroupGrant, imageGroupGrant,
    ]
}
