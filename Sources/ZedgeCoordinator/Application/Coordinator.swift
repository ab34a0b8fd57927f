import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import UnixSignals
import ZedgeCore

/// What a started coordinator tells its caller (the CLI prints it; tests connect with it).
public struct CoordinatorStarted: Sendable {
    /// The bound port (the configured one, or the one the OS chose for port 0).
    public var port: Int
    public var scheme: String
    /// `sha256:…` of the CA agents pin; nil with --insecure-http or an operator-supplied certificate.
    public var caFingerprint: String?
    public var caCertificatePEM: String?
    /// The bootstrap admin's password when it was generated on this start; shown once.
    public var generatedAdminPassword: String?
    /// In dev mode: a one-use enrollment token for the local agent (into the demo data center and pool).
    public var devEnrollmentToken: String?
    /// Stops the coordinator gracefully, as SIGTERM does.
    public var shutdown: @Sendable () async -> Void
    /// Every route it serves, as the OpenAPI document describes them.
    public var catalog: RouteCatalog
}

/// Lets the started callback reach the service group that is created after the application.
private final class GroupHandle: Sendable {
    let group = Mutex<ServiceGroup?>(nil)
    func shutdown() async {
        await group.withLock { $0 }?.triggerGracefulShutdown()
    }
}

/// The coordinator's composition root, and the only one: opens the database, migrates, seeds RBAC,
/// bootstraps the admin, loads or makes TLS and signing keys, builds every long-lived object (repositories,
/// services, loops, the router) and runs them as one service group with graceful shutdown.
public enum Coordinator {
    /// How long a graceful shutdown (SIGTERM, SIGINT) may take before the coordinator's services are cancelled.
    public static let gracefulShutdownLimit: Duration = .seconds(30)

    /// Restores the seeded role grants in the configured database (`Store.resetRolePermissions`); running replicas
    /// on PostgreSQL follow at once, a running SQLite coordinator within its grants' reload interval (30 s).
    /// - Throws: `ConfigurationError` when the URL names no coordinator's database (a missing SQLite file, or a
    ///   database without users), so that a mistyped path never seeds a new database and reports success.
    public static func resetRolePermissions(configuration: CoordinatorConfiguration, logger: Logger) async throws -> Int {
        let url = configuration.effectiveDatabaseURL
        let missing = ConfigurationError("no coordinator's database at \(url): reset-role-permissions changes an existing one (check --data-dir, --database or --config)")
        if url.hasPrefix("sqlite://"), !FileManager.default.fileExists(atPath: String(url.dropFirst("sqlite://".count))) {
            throw missing
        }
        return try await Database.withDatabase(url: url, logger: logger) { database in
            let store = Store(database: database)
            guard (try? await store.users.count([])).map({ $0 > 0 }) == true else { throw missing }
            try await Migrator().migrate(database, logger: logger)
            return try await store.resetRolePermissions()
        }
    }

    public static func run(
        configuration: CoordinatorConfiguration,
        logger: Logger,
        shutdownSignals: [UnixSignal] = [.sigterm, .sigint],
        onStarted: @escaping @Sendable (CoordinatorStarted) async -> Void = { _ in }
    ) async throws {
        try FileManager.default.createDirectory(
            atPath: configuration.dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try await Database.withDatabase(url: configuration.effectiveDatabaseURL, logger: logger) { database in
            try await Migrator().migrate(database, logger: logger)
            let store = Store(database: database)
            try await store.seedPermissions()
            let grants = RoleGrants(try await store.rolePermissions.grantsByRole())
            let authorizer = Authorizer(grants: grants)
            let hasher = PasswordHasher(cost: UInt8(configuration.bcryptCost))
            let admin = try await store.bootstrapAdmin(password: configuration.bootstrapAdminPassword, hasher: hasher)
            if admin.created { logger.notice("created the bootstrap user 'admin'") }
            let signer = try await TokenSigner.loadOrCreate(
                dataDirectory: configuration.dataDirectory, lifetime: configuration.accessTokenLifetime)

            let tls: TLSMaterial?
            if configuration.insecureHTTP {
                tls = nil
                logger.warning("serving plain HTTP (--insecure-http): credentials cross the network in clear")
            } else if let certificate = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath {
                tls = try TLSMaterial.load(certificatePath: certificate, keyPath: key)
            } else {
                tls = try TLSMaterial.loadOrCreate(
                    dataDirectory: configuration.dataDirectory,
                    hostnames: configuration.host == "0.0.0.0" || configuration.host == "::" ? [] : [configuration.host])
            }

            let catalog = RouteCatalog()
            let sqliteWriterUse: (@Sendable () -> SQLiteWriterUse?)?
            if database.engine == .sqlite {
                let sql = database
                sqliteWriterUse = { sql.sqliteWriterUse }
            } else {
                sqliteWriterUse = nil
            }
            let metrics = MetricsRegistry(census: store.fleet, sqliteWriterUse: sqliteWriterUse, logger: logger)
            let tracker = LivenessTracker(sampleInterval: configuration.metricSampleIntervalSeconds, healthPolicy: configuration.healthPolicy)
            let notifier = TaskNotifier()
            let outcomes = TaskOutcomeHandlers(logger: logger)
            let leadership = Leadership()
            let sessions = ReplicaSessions(database: database, logger: logger)
            let heartbeatFreshness = TimeInterval(configuration.heartbeatIntervalSeconds * configuration.missedHeartbeatsBeforeOffline)
            let taskQueue = TaskQueue(tasks: store.tasks, notifier: notifier, leaseTTL: TimeInterval(configuration.taskLeaseSeconds),
                                      deliveryTTL: TimeInterval(configuration.taskDeliverySeconds), outcomes: outcomes,
                                      metrics: metrics.replica)
            let calls = AgentCallBroker(calls: store.agentCalls, notifier: notifier)
            let consoleLogs = ConsoleLogService(virtualMachines: store.virtualMachines, computeMachines: store.computeMachines, calls: calls,
                                                timeout: .seconds(configuration.agentCallTimeoutSeconds))
            let consoles = ConsoleService(
                sessions: store.consoleSessions, virtualMachines: store.virtualMachines, computeMachines: store.computeMachines, calls: calls,
                timeout: .seconds(configuration.agentCallTimeoutSeconds), dialURL: configuration.consoleDialURL)
            let consoleSockets = ConsoleWebSockets(
                consoles: consoles,
                authenticator: Authenticator(users: store.users, apiKeys: store.apiKeys, signer: signer, agentCredentials: store.agentCredentials),
                rendezvous: ConsoleRendezvous<ConsoleLeg>(), auditLogs: store.auditLogs, logger: logger)
            let dispatcher = WorkDispatcher(transactions: store.transactions, tasks: store.tasks, notifier: notifier,
                                            handoffTTL: taskQueue.deliveryTTL)
            let templateAccess = TemplateAccess(templates: store.templates, versions: store.templateVersions)
            let imageStore = try await LocalImageStore(root: configuration.effectiveImageStoreDirectory)
            let abandoned = try await imageStore.sweep()
            if abandoned > 0 { logger.notice("removed abandoned image uploads", metadata: ["count": "\(abandoned)"]) }
            let images = ImageService(
                images: store.images, tasks: store.tasks, transactions: store.transactions, store: imageStore,
                access: ImageAccess(images: store.images), maxUploadBytes: configuration.imageMaxUploadBytes, logger: logger)
            let ipam = IpamService(networks: store.networks, addresses: store.ipAddresses, transactions: store.transactions,
                                   coolDown: TimeInterval(configuration.ipCoolDownSeconds), logger: logger)
            let networks = NetworkService(networks: store.networks, tenants: store.tenants, edgeDataCenters: store.edgeDataCenters,
                                          ipam: ipam, transactions: store.transactions, tenantVlanRange: configuration.tenantVlanRange)
            let placement = Placement(hosts: store.hosts, pools: store.resourcePools, capacity: store.capacity, cachedImages: store.cachedImages,
                                      engine: PlacementEngine(heartbeatFreshness: heartbeatFreshness), liveness: tracker,
                                      metrics: metrics.replica,
                                      viewMaxAge: .milliseconds(configuration.placementViewMaxAgeMilliseconds))
            let storagePools = StoragePools(pools: store.resourcePools, disks: store.disks, transactions: store.transactions)
            let quotaService = QuotaService(quotas: store.quotas)
            let disks = DiskService(disks: store.disks, tenants: store.tenants, tasks: store.tasks, quotas: quotaService, dispatcher: dispatcher,
                                    storagePools: storagePools, outcomes: outcomes, logger: logger)
            let diskAttachments = DiskAttachments(disks: store.disks, instances: store.instances, computeMachines: store.computeMachines,
                                                  tasks: store.tasks, dispatcher: dispatcher, storagePools: storagePools, outcomes: outcomes,
                                                  logger: logger)
            let instances = InstanceService(
                instances: store.instances, tenants: store.tenants, computeMachines: store.computeMachines, tasks: store.tasks,
                auditLogs: store.auditLogs, access: templateAccess, images: images, quotas: quotaService, placement: placement,
                dispatcher: dispatcher, vmFactory: VirtualMachineFactory(),
                specs: VmSpecBuilder(diskDirectory: configuration.instanceDiskDirectory),
                attachments: NetworkAttachments(networks: store.networks, tenants: store.tenants, addresses: store.ipAddresses, ipam: ipam),
                diskAttachments: diskAttachments, stopTimeoutS: configuration.instanceStopTimeoutSeconds, outcomes: outcomes, logger: logger)
            let cloudBoxes = CloudBoxService(
                hosts: store.hosts, virtualMachines: store.virtualMachines, tasks: store.tasks, auditLogs: store.auditLogs,
                addresses: CloudBoxAddresses(networks: store.networks, addresses: store.ipAddresses, ipam: ipam),
                dispatcher: dispatcher, consoles: consoles, outcomes: outcomes, logger: logger)
            let hosts = HostService(hosts: store.hosts, computeMachines: store.computeMachines, cloudBoxes: store.cloudBoxes,
                                    instances: store.instances, agentCredentials: store.agentCredentials)
            let enrollment = AgentEnrollment(
                enrollmentTokens: store.enrollmentTokens, agentCredentials: store.agentCredentials, computeMachines: store.computeMachines,
                cloudBoxes: store.cloudBoxes, hosts: store.hosts, heartbeatInterval: configuration.heartbeatIntervalSeconds)
            let liveness = LivenessService(
                hosts: store.hosts, cachedImages: store.cachedImages, metricSamples: store.metricSamples, auditLogs: store.auditLogs, tracker: tracker,
                heartbeatInterval: TimeInterval(configuration.heartbeatIntervalSeconds),
                missedBeforeOffline: configuration.missedHeartbeatsBeforeOffline,
                metricRetention: TimeInterval(configuration.metricRetentionSeconds), leadership: leadership, logger: logger)
            let reconciler = InstanceReconciler(
                service: instances, cloudBoxes: cloudBoxes, hosts: store.hosts,
                disks: DiskReconciler(attachments: diskAttachments, disks: store.disks, tasks: store.tasks, hosts: store.hosts, logger: logger),
                tracker: tracker, freshness: heartbeatFreshness, errorRetryAfter: TimeInterval(configuration.errorRetrySeconds),
                fullPassInterval: TimeInterval(configuration.reconcileFullPassIntervalSeconds), metrics: metrics.replica, logger: logger)
            let router = buildRouter(
                RouterDependencies(
                    store: store, authorizer: authorizer, hasher: hasher, signer: signer,
                    limiter: LoginRateLimiter(limits: configuration.loginLimits), metrics: metrics,
                    refreshLifetime: configuration.refreshTokenLifetime,
                    heartbeatInterval: configuration.heartbeatIntervalSeconds, caCertificatePEM: tls?.caCertificatePEM,
                    tracker: tracker, taskQueue: taskQueue, dispatcher: dispatcher, notifier: notifier, enrollment: enrollment,
                    hosts: hosts, instances: instances, templateAccess: templateAccess, images: images, cloudBoxes: cloudBoxes,
                    calls: calls, consoleLogs: consoleLogs, consoles: consoles, novncDirectory: configuration.novncDirectory,
                    tlsEnabled: tls != nil, networks: networks, ipam: ipam, storagePools: storagePools, disks: disks,
                    diskAttachments: diskAttachments),
                catalog: catalog)
            // HTTP/1.1 with WebSocket upgrades for console tunnels (ConsoleWebSockets decides which upgrade).
            // Each HTTP/1 connection tells `connections` when its client stops sending (a held long-poll then ends).
            let connections = ClientConnections(metrics: metrics.replica)
            let http: HTTPServerBuilder = .http1WebSocketUpgrade(
                configuration: .init(http1: .init(additionalChannelHandlers: [connections.handler()]), ws: ConsoleWebSockets.configuration)
            ) { request, channel, logger in
                try await consoleSockets.shouldUpgrade(request, channel: channel, logger: logger)
            }
            let server: HTTPServerBuilder = if let tls {
                try .tls(http, tlsConfiguration: tls.serverConfiguration())
            } else {
                http
            }
            let generatedPassword = admin.generatedPassword
            let devToken = configuration.devMode ? try await DevSeed.seed(store) : nil
            let handle = GroupHandle()
            // Long-polls wait outside the router's middleware (LongPollParkingResponder); the rest goes straight to it.
            let app = Application(
                responder: LongPollParkingResponder(router.buildResponder(), connections: connections),
                server: server,
                configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "zedge-coordinator"),
                onServerRunning: { channel in
                    await onStarted(CoordinatorStarted(
                        port: channel.localAddress?.port ?? configuration.port,
                        scheme: tls == nil ? "http" : "https",
                        caFingerprint: tls?.caFingerprint, caCertificatePEM: tls?.caCertificatePEM,
                        generatedAdminPassword: generatedPassword, devEnrollmentToken: devToken,
                        shutdown: { await handle.shutdown() }, catalog: catalog))
                },
                logger: logger)
            // Started in this order, stopped in reverse: the HTTP server is last, so it stops first (long-polls
            // end at once, in-flight requests drain); then the loops, the liveness loop's final flush writing
            // the heartbeats that arrived during the drain; then the replica sessions.
            // The reconciler's passes run at a lower CPU priority than requests, off the cooperative pool.
            let background = ThreadExecutor(name: "zedge-background", nice: ThreadExecutor.backgroundNice)
            defer { background.stop() }
            var groupConfiguration = ServiceGroupConfiguration(
                services: [
                    LeadershipService(sessions: sessions, leadership: leadership, logger: logger),
                    TaskWakeListener(sessions: sessions, notifier: notifier, queue: taskQueue, logger: logger),
                    GrantsListener(sessions: sessions, rolePermissions: store.rolePermissions, grants: grants, logger: logger),
                    LeaderLoop("liveness pass", every: .seconds(1), leadership: nil, logger: logger,
                               final: { try? await liveness.flush() }, tick: { try await liveness.tick(now: $0) }),
                    LeaderLoop("lease expiry", every: .seconds(1), leadership: leadership, logger: logger,
                               tick: { now in
                                   try await taskQueue.expireLeases(now: now)
                                   try await calls.prune(now: now)
                                   try await consoles.prune(now: now)
                               }),
                    LeaderLoop("ip address sweep", every: .seconds(5), leadership: leadership, logger: logger,
                               tick: { _ = try await ipam.sweep(now: $0) }),
                    LeaderLoop("reconcile pass", every: .seconds(configuration.reconcileIntervalSeconds), leadership: leadership,
                               executor: background, logger: logger, tick: { try await reconciler.pass(now: $0) }),
                    HTTPServerService(server: app, notifier: notifier),
                ],
                gracefulShutdownSignals: shutdownSignals, logger: logger)
            // A stop ends within this even when a connection does not drain (a console WebSocket stays open for as
            // long as its user keeps it): the services are then cancelled.
            groupConfiguration.maximumGracefulShutdownDuration = Self.gracefulShutdownLimit
            let group = ServiceGroup(configuration: groupConfiguration)
            handle.group.withLock { $0 = group }
            try await group.run()
        }
    }
}
