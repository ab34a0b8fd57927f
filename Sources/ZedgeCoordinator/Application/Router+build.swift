import Hummingbird
import Logging
import ZedgeCore

/// What the router's controllers need.
public struct RouterDependencies: Sendable {
    public var store: Store
    public var authorizer: Authorizer
    public var hasher: PasswordHasher
    public var signer: TokenSigner
    public var limiter: LoginRateLimiter
    public var metrics: MetricsRegistry
    public var refreshLifetime: Duration
    /// How often agents are told to heartbeat, in seconds.
    public var heartbeatInterval: Int
    /// The CA agents pin (nil with --insecure-http or an operator-supplied certificate).
    public var caCertificatePEM: String?
    /// Where heartbeats land (in memory; `LivenessService` writes them).
    public var tracker: LivenessTracker
    public var taskQueue: TaskQueue
    public var dispatcher: WorkDispatcher
    public var notifier: TaskNotifier
    public var enrollment: AgentEnrollment
    public var hosts: HostService
    public var instances: InstanceService
    public var templateAccess: TemplateAccess
    public var images: ImageService
    public var cloudBoxes: CloudBoxService
    public var calls: AgentCallBroker
    public var consoleLogs: ConsoleLogService
    public var consoles: ConsoleService
    /// Where Debian's `novnc` package keeps noVNC (the browser console's VNC client).
    public var novncDirectory: String
    /// Whether the server speaks TLS (console URLs are `https`/`wss` then).
    public var tlsEnabled: Bool
    public var networks: NetworkService
    public var ipam: IpamService
    public var storagePools: StoragePools
    public var disks: DiskService
    public var diskAttachments: DiskAttachments
}

/// Builds the coordinator's router: middleware (outermost first: metrics, audit, problem+json,
/// authentication) and every controller's routes, each described in `catalog`.
public func buildRouter(_ deps: RouterDependencies, catalog: RouteCatalog) -> Router<ZedgeRequestContext> {
    let store = deps.store
    let router = Router(context: ZedgeRequestContext.self)
    router.add(middleware: HTTPMetricsMiddleware(metrics: deps.metrics.replica))
    router.add(middleware: AuditMiddleware(repository: store.auditLogs, catalog: catalog))
    router.add(middleware: ProblemMiddleware(catalog: catalog))
    router.add(middleware: AuthenticationMiddleware(
        authenticator: Authenticator(
            users: store.users, apiKeys: store.apiKeys, signer: deps.signer, agentCredentials: store.agentCredentials),
        catalog: catalog))

    func routes(_ path: String, tag: String, resourceType: String) -> RouteRegistrar {
        RouteRegistrar(
            group: router.group(RouterPath(path)), prefix: path.isEmpty ? "" : "/" + path,
            catalog: catalog, tag: tag, resourceType: resourceType)
    }

    SystemController(database: store.database, metrics: deps.metrics, catalog: catalog)
        .register(on: routes("", tag: "system", resourceType: "SYSTEM"))
    AuthController(
        auth: AuthService(
            users: store.users, refreshTokens: store.refreshTokens, transactions: store.transactions, hasher: deps.hasher, signer: deps.signer,
            limiter: deps.limiter, refreshLifetime: deps.refreshLifetime),
        users: store.users
    ).register(on: routes("api/v1/auth", tag: "auth", resourceType: "AUTH"))
    TenantController(tenants: store.tenants, users: store.users, networks: deps.networks, authorizer: deps.authorizer)
        .register(on: routes("api/v1/tenants", tag: "tenants", resourceType: ResourceType.tenant.rawValue))
    UserController(users: store.users, tenants: store.tenants, authorizer: deps.authorizer, hasher: deps.hasher)
        .register(on: routes("api/v1/users", tag: "users", resourceType: ResourceType.user.rawValue))
    UserGroupController(
        groups: store.userGroups, members: store.groupMembers, users: store.users, tenants: store.tenants,
        authorizer: deps.authorizer
    ).register(on: routes("api/v1/user-groups", tag: "user-groups", resourceType: ResourceType.userGroup.rawValue))
    ApiKeyController(apiKeys: store.apiKeys, authorizer: deps.authorizer)
        .register(on: routes("api/v1/api-keys", tag: "api-keys", resourceType: "API_KEY"))
    PermissionController(permissions: store.permissions, rolePermissions: store.rolePermissions, authorizer: deps.authorizer).register(
        permissions: routes("api/v1/permissions", tag: "rbac", resourceType: "PERMISSION"),
        rolePermissions: routes("api/v1/role-permissions", tag: "rbac", resourceType: "ROLE_PERMISSION"))
    InfrastructureController(dataCenters: store.edgeDataCenters, pools: store.resourcePools, networks: store.networks,
                             storagePools: deps.storagePools, authorizer: deps.authorizer)
        .register(
            dataCenters: routes("api/v1/edge-data-centers", tag: "infrastructure", resourceType: ResourceType.edgeDc.rawValue),
            pools: routes("api/v1/resource-pools", tag: "infrastructure", resourceType: ResourceType.edgeDc.rawValue))
    EnrollmentTokenController(edgeDataCenters: store.edgeDataCenters, resourcePools: store.resourcePools, enrollmentTokens: store.enrollmentTokens, authorizer: deps.authorizer)
        .register(on: routes("api/v1/enrollment-tokens", tag: "agents", resourceType: ResourceType.server.rawValue))
    HostController(users: store.users, metricSamples: store.metricSamples, edgeDataCenters: store.edgeDataCenters, computeMachines: store.computeMachines, cloudBoxes: store.cloudBoxes, agentCredentials: store.agentCredentials, hosts: deps.hosts, authorizer: deps.authorizer, tracker: deps.tracker, cachedImages: store.cachedImages).register(
        machines: routes("api/v1/compute-machines", tag: "infrastructure", resourceType: ResourceType.server.rawValue),
        cloudBoxes: routes("api/v1/cloud-boxes", tag: "infrastructure", resourceType: ResourceType.server.rawValue))
    AgentController(
        enrollment: deps.enrollment,
        caCertificatePEM: deps.caCertificatePEM, tracker: deps.tracker, heartbeatInterval: deps.heartbeatInterval,
        queue: deps.taskQueue, notifier: deps.notifier, calls: deps.calls, secrets: TaskSecrets(disks: store.disks),
        metrics: deps.metrics.replica
    ).register(on: routes("agent/v1", tag: "agent protocol", resourceType: "AGENT"))
    OperationController(operations: store.operations, agentTasks: store.agentTasks, taskEvents: store.taskEvents,
                        computeMachines: store.computeMachines, queue: deps.taskQueue, dispatcher: deps.dispatcher,
                        authorizer: deps.authorizer).register(
        operations: routes("api/v1/operations", tag: "operations", resourceType: "OPERATION"),
        tasks: routes("api/v1/tasks", tag: "operations", resourceType: "TASK"),
        machines: routes("api/v1/compute-machines", tag: "infrastructure", resourceType: ResourceType.server.rawValue))
    TemplateController(tenants: store.tenants, userGroups: store.userGroups, templates: store.templates, templateVersions: store.templateVersions, instances: store.instances, authorizer: deps.authorizer, access: deps.templateAccess, images: deps.images)
        .register(templates: routes("api/v1/templates", tag: "templates", resourceType: ResourceType.template.rawValue))
    ImageController(tenants: store.tenants, userGroups: store.userGroups, images: store.images, service: deps.images,
                    prefetch: ImagePrefetch(computeMachines: store.computeMachines, dataCenters: store.edgeDataCenters, dispatcher: deps.dispatcher),
                    authorizer: deps.authorizer)
        .register(images: routes("api/v1/images", tag: "images", resourceType: ResourceType.image.rawValue))
    AgentImageController(images: deps.images)
        .register(on: routes("agent/v1", tag: "agent protocol", resourceType: "AGENT"))
    InstanceController(computeMachines: store.computeMachines, instances: store.instances, service: deps.instances, consoleLogs: deps.consoleLogs, consoles: deps.consoles, tlsEnabled: deps.tlsEnabled, authorizer: deps.authorizer)
        .register(instances: routes("api/v1/instances", tag: "instances", resourceType: ResourceType.instance.rawValue),
                  machines: routes("api/v1/compute-machines", tag: "infrastructure", resourceType: ResourceType.server.rawValue))
    InstanceSetController(tenants: store.tenants, userGroups: store.userGroups, instances: store.instances, instanceSets: store.instanceSets, instanceSetMembers: store.instanceSetMembers, service: deps.instances, authorizer: deps.authorizer)
        .register(on: routes("api/v1/instance-sets", tag: "instances", resourceType: ResourceType.instanceSet.rawValue))
    CloudBoxActionController(users: store.users, cloudBoxes: store.cloudBoxes, instances: store.instances, service: deps.cloudBoxes, hosts: deps.hosts, authorizer: deps.authorizer)
        .register(on: routes("api/v1/cloud-boxes", tag: "infrastructure", resourceType: ResourceType.server.rawValue))
    VpcController(networks: store.networks, tenants: store.tenants, service: deps.networks, authorizer: deps.authorizer)
        .register(on: routes("api/v1/vpcs", tag: "networks", resourceType: ResourceType.network.rawValue))
    SubnetController(networks: store.networks, service: deps.networks, authorizer: deps.authorizer)
        .register(on: routes("api/v1/subnets", tag: "networks", resourceType: ResourceType.network.rawValue))
    PlaceController(networks: store.networks, tenants: store.tenants, service: deps.networks, authorizer: deps.authorizer)
        .register(on: routes("api/v1/places", tag: "networks", resourceType: ResourceType.place.rawValue))
    IpAddressController(networks: store.networks, addresses: store.ipAddresses, instances: store.instances, ipam: deps.ipam,
                        authorizer: deps.authorizer)
        .register(on: routes("api/v1/ip-addresses", tag: "networks", resourceType: ResourceType.network.rawValue))
    DiskController(disks: store.disks, instances: store.instances, service: deps.disks, attachments: deps.diskAttachments,
                   authorizer: deps.authorizer)
        .register(on: routes("api/v1/private-data-disks", tag: "disks", resourceType: ResourceType.storage.rawValue),
                  instances: routes("api/v1/instances", tag: "instances", resourceType: ResourceType.instance.rawValue))
    VirtualMachineController(virtualMachines: store.virtualMachines, authorizer: deps.authorizer)
        .register(on: routes("api/v1/virtual-machines", tag: "infrastructure", resourceType: ResourceType.server.rawValue))
    ConsoleController(consoles: deps.consoles, novncDirectory: deps.novncDirectory, tlsEnabled: deps.tlsEnabled)
        .register(consoles: routes("console", tag: "consoles", resourceType: "CONSOLE"),
                  agent: routes("agent/v1", tag: "agent protocol", resourceType: "AGENT"), router: router)
    AdminController(check: ConsistencyCheck(database: store.database))
        .register(on: routes("api/v1/admin", tag: "admin", resourceType: "ADMIN"))
    AuditLogController(auditLogs: store.auditLogs)
        .register(on: routes("api/v1/audit-logs", tag: "audit", resourceType: "AUDIT_LOG"))
    return router
}
