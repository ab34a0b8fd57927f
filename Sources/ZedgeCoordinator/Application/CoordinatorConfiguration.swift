import Configuration
import Foundation
import ZedgeCore
import Logging

/// Everything a coordinator needs to start. Built from the command line, `ZEDGE_*` environment variables
/// and a JSON file (in that precedence) by `init(reader:)`, or directly by tests.
public struct CoordinatorConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var dataDirectory: String
    /// `sqlite://PATH` or `postgres://…`; nil means `sqlite://<dataDirectory>/coordinator.db`.
    public var databaseURL: String?
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    /// Serve plain HTTP (development and tests behind a TLS-terminating proxy only).
    public var insecureHTTP: Bool
    /// The first admin's password; generated and printed once when nil.
    public var bootstrapAdminPassword: String?
    /// bcrypt cost, 12 or more.
    public var bcryptCost: Int
    public var accessTokenLifetime: Duration
    public var refreshTokenLifetime: Duration
    public var loginLimits: LoginRateLimiter.Limits
    public var logLevel: Logger.Level
    public var devMode: Bool
    /// How often agents heartbeat, in seconds.
    public var heartbeatIntervalSeconds: Int
    /// A machine is OFFLINE after this many intervals without a heartbeat.
    public var missedHeartbeatsBeforeOffline: Int
    /// One metric sample per host is kept at most this often, in seconds.
    public var metricSampleIntervalSeconds: TimeInterval
    /// Metric samples older than this are pruned, in seconds.
    public var metricRetentionSeconds: Int
    /// How long an agent holds a task without reporting before it is handed out again, in seconds.
    public var taskLeaseSeconds: Int
    /// How long a task handed out in a long-poll response stays leased before its agent acknowledges it (its first
    /// event), in seconds; at most `taskLeaseSeconds`. A response written to a connection whose agent has gone
    /// costs this window, not the whole lease.
    public var taskDeliverySeconds: Int
    /// How long a user's request that asks a host's agent a question (a console log) waits for the answer before it
    /// is a 503 and the call is withdrawn, in seconds (1-300).
    public var agentCallTimeoutSeconds: Int
    /// How long an instance stays in ERROR before the reconciler tries again to bring it to its desired status,
    /// in seconds (each try that fails starts the wait again).
    public var errorRetrySeconds: Int
    /// How often the instance reconciler looks at the instances that may need a step, in seconds.
    public var reconcileIntervalSeconds: Int
    /// How often a reconciler pass reads every settled instance again rather than only what changed (its resync,
    /// as a Kubernetes informer's), in seconds.
    public var reconcileFullPassIntervalSeconds: Int
    /// The oldest the fleet held in memory for placement (`PlacementView`) may be before a create reads it again,
    /// in milliseconds.
    public var placementViewMaxAgeMilliseconds: Int
    /// Seconds a guest gets to power off before `vm.stop` forces it.
    public var instanceStopTimeoutSeconds: Int
    /// Where agents keep instances' root disks.
    public var instanceDiskDirectory: String
    /// How a machine's health follows its readings: thresholds, window, transition period (`HealthPolicy`;
    /// CRITICAL machines get no new placements).
    public var healthPolicy: HealthPolicy
    /// The readings that make a host WARNING or CRITICAL: `healthPolicy.thresholds`.
    public var healthThresholds: HealthThresholds {
        get { healthPolicy.thresholds }
        set { healthPolicy.thresholds = newValue }
    }
    /// Where image files are kept (`LocalImageStore`); nil means `<dataDirectory>/images`. Several replicas
    /// must all name one shared directory.
    public var imageStoreDirectory: String?
    /// The largest image file an upload may carry, in bytes (413 beyond). Default 64 GiB.
    public var imageMaxUploadBytes: Int64
    /// How long a released IP address stays FROZEN before IPAM hands it out again, in seconds (stale ARP and
    /// neighbour caches must forget it first). Default 300.
    public var ipCoolDownSeconds: Int
    /// The VLAN ids tenants get automatically with their first subnet ("FIRST-LAST", within 2-4094).
    /// Default 100-3999.
    public var tenantVlanRange: ClosedRange<Int>
    /// Where Debian's `novnc` package installed noVNC, which the browser console page loads (issue #16).
    public var novncDirectory: String
    /// This replica's base URL as agents reach it (`https://replica-1.example:8443`), named in console calls so
    /// that the agent dials the replica holding the user's side of the tunnel. Needed with several replicas behind
    /// one address; nil: agents dial the coordinator URL they were configured with.
    public var consoleDialURL: String?

    public init(
        host: String = "127.0.0.1",
        port: Int = 8443,
        dataDirectory: String = "/var/lib/zedge",
        databaseURL: String? = nil,
        tlsCertificatePath: String? = nil,
        tlsKeyPath: String? = nil,
        insecureHTTP: Bool = false,
        bootstrapAdminPassword: String? = nil,
        bcryptCost: Int = 12,
        accessTokenLifetime: Duration = .seconds(15 * 60),
        refreshTokenLifetime: Duration = .seconds(30 * 24 * 3600),
        loginLimits: LoginRateLimiter.Limits = .init(),
        logLevel: Logger.Level = .info,
        devMode: Bool = false,
        heartbeatIntervalSeconds: Int = 10,
        missedHeartbeatsBeforeOffline: Int = 3,
        metricSampleIntervalSeconds: TimeInterval = 60,
        metricRetentionSeconds: Int = 6 * 3600,
        taskLeaseSeconds: Int = 120,
        taskDeliverySeconds: Int = 15,
        agentCallTimeoutSeconds: Int = 10,
        errorRetrySeconds: Int = 60,
        reconcileIntervalSeconds: Int = 5,
        reconcileFullPassIntervalSeconds: Int = 600,
        placementViewMaxAgeMilliseconds: Int = 2000,
        instanceStopTimeoutSeconds: Int = 60,
        instanceDiskDirectory: String = "/var/lib/zedge-agent/disks",
        healthPolicy: HealthPolicy = .init(),
        imageStoreDirectory: String? = nil,
        imageMaxUploadBytes: Int64 = 64 << 30,
        ipCoolDownSeconds: Int = 300,
        tenantVlanRange: ClosedRange<Int> = 100...3999,
        novncDirectory: String = "/usr/share/novnc",
        consoleDialURL: String? = nil
    ) {
        self.novncDirectory = novncDirectory
        self.consoleDialURL = consoleDialURL
        self.ipCoolDownSeconds = ipCoolDownSeconds
        self.tenantVlanRange = tenantVlanRange
        self.healthPolicy = healthPolicy
        self.imageStoreDirectory = imageStoreDirectory
        self.imageMaxUploadBytes = imageMaxUploadBytes
        self.host = host
        self.port = port
        // Absolute, whatever the working directory: the dev agent's state dir lives under it, and libvirt
        // refuses relative paths.
        self.dataDirectory = dataDirectory.hasPrefix("/") ? dataDirectory : URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
        self.databaseURL = databaseURL
        self.tlsCertificatePath = tlsCertificatePath
        self.tlsKeyPath = tlsKeyPath
        self.insecureHTTP = insecureHTTP
        self.bootstrapAdminPassword = bootstrapAdminPassword
        self.bcryptCost = bcryptCost
        self.accessTokenLifetime = accessTokenLifetime
        self.refreshTokenLifetime = refreshTokenLifetime
        self.loginLimits = loginLimits
        self.logLevel = logLevel
        self.devMode = devMode
        self.heartbeatIntervalSeconds = heartbeatIntervalSeconds
        self.missedHeartbeatsBeforeOffline = missedHeartbeatsBeforeOffline
        self.metricSampleIntervalSeconds = metricSampleIntervalSeconds
        self.metricRetentionSeconds = metricRetentionSeconds
        self.taskLeaseSeconds = taskLeaseSeconds
        self.taskDeliverySeconds = taskDeliverySeconds
        self.agentCallTimeoutSeconds = min(300, max(1, agentCallTimeoutSeconds))
        self.errorRetrySeconds = errorRetrySeconds
        self.reconcileIntervalSeconds = reconcileIntervalSeconds
        self.reconcileFullPassIntervalSeconds = reconcileFullPassIntervalSeconds
        self.placementViewMaxAgeMilliseconds = placementViewMaxAgeMilliseconds
        self.instanceStopTimeoutSeconds = instanceStopTimeoutSeconds
        self.instanceDiskDirectory = instanceDiskDirectory
    }

    /// `healthWindowSeconds` (60), `healthTransitionPeriodSeconds` (300), `healthRecoveryMargin` (5) and the thresholds.
    static func healthPolicy(_ config: ConfigReader) -> HealthPolicy {
        let d = HealthPolicy()
        return HealthPolicy(
            thresholds: thresholds(config),
            window: TimeInterval(max(1, config.int(forKey: "healthWindowSeconds", default: Int(d.window)))),
            transitionPeriod: TimeInterval(max(0, config.int(forKey: "healthTransitionPeriodSeconds", default: Int(d.transitionPeriod)))),
            recoveryMargin: max(0, config.double(forKey: "healthRecoveryMargin", default: d.recoveryMargin)))
    }

    /// `health{Warning,Critical}{Cpu,Memory,Disk}Percent` and `health{Warning,Critical}Temperature`.
    static func thresholds(_ config: ConfigReader) -> HealthThresholds {
        let d = HealthThresholds()
        func limits(_ level: String, _ fallback: HealthThresholds.Limits) -> HealthThresholds.Limits {
            .init(cpuPercent: config.double(forKey: ConfigKey("health\(level)CpuPercent"), default: fallback.cpuPercent),
                  memoryPercent: config.double(forKey: ConfigKey("health\(level)MemoryPercent"), default: fallback.memoryPercent),
                  diskPercent: config.double(forKey: ConfigKey("health\(level)DiskPercent"), default: fallback.diskPercent),
                  temperature: config.double(forKey: ConfigKey("health\(level)Temperature"), default: fallback.temperature))
        }
        return HealthThresholds(warning: limits("Warning", d.warning), critical: limits("Critical", d.critical))
    }

    /// The image store directory in effect.
    public var effectiveImageStoreDirectory: String {
        imageStoreDirectory ?? (dataDirectory as NSString).appendingPathComponent("images")
    }

    /// The database URL in effect.
    public var effectiveDatabaseURL: String {
        databaseURL ?? "sqlite://" + (dataDirectory as NSString).appendingPathComponent("coordinator.db")
    }

    /// Reads the configuration; keys are camelCase (`dataDir`), flags kebab-case (`--data-dir`),
    /// environment variables `ZEDGE_` + upper snake case (`ZEDGE_DATA_DIR`).
    public init(reader config: ConfigReader, defaultDataDirectory: String, devMode: Bool) throws {
        let listen = config.string(forKey: "listen", default: "127.0.0.1:8443")
        guard let (host, port) = Self.parseListen(listen) else {
            throw ConfigurationError("--listen must be HOST:PORT (e.g. 127.0.0.1:8443), got \"\(listen)\"")
        }
        let cost = config.int(forKey: "bcryptCost", default: 12)
        guard cost >= 12, cost <= 31 else { throw ConfigurationError("bcryptCost must be between 12 and 31") }
        let certificate = config.string(forKey: "tlsCert")
        let key = config.string(forKey: "tlsKey")
        guard (certificate == nil) == (key == nil) else {
            throw ConfigurationError("--tls-cert and --tls-key go together")
        }
        let level = config.string(forKey: "logLevel", default: "info")
        guard let logLevel = Logger.Level(rawValue: level) else {
            throw ConfigurationError("logLevel must be one of trace, debug, info, notice, warning, error, critical")
        }
        self.init(
            host: host,
            port: port,
            dataDirectory: config.string(forKey: "dataDir", default: defaultDataDirectory),
            databaseURL: config.string(forKey: "database"),
            tlsCertificatePath: certificate,
            tlsKeyPath: key,
            insecureHTTP: config.bool(forKey: "insecureHttp", default: false),
            bootstrapAdminPassword: config.string(forKey: "bootstrapAdminPassword", isSecret: true),
            bcryptCost: cost,
            accessTokenLifetime: .seconds(config.int(forKey: "accessTokenTtlSeconds", default: 900)),
            refreshTokenLifetime: .seconds(config.int(forKey: "refreshTokenTtlSeconds", default: 30 * 24 * 3600)),
            loginLimits: .init(
                perUsername: config.int(forKey: "loginLimitPerUsername", default: 5),
                perAddress: config.int(forKey: "loginLimitPerAddress", default: 20),
                window: .seconds(config.int(forKey: "loginLimitWindowSeconds", default: 300))
            ),
            logLevel: logLevel,
            devMode: devMode,
            heartbeatIntervalSeconds: max(1, config.int(forKey: "heartbeatIntervalSeconds", default: 10)),
            missedHeartbeatsBeforeOffline: max(1, config.int(forKey: "missedHeartbeatsBeforeOffline", default: 3)),
            metricSampleIntervalSeconds: TimeInterval(max(0, config.int(forKey: "metricSampleIntervalSeconds", default: 60))),
            metricRetentionSeconds: max(60, config.int(forKey: "metricRetentionSeconds", default: 6 * 3600)),
            taskLeaseSeconds: max(1, config.int(forKey: "taskLeaseSeconds", default: 120)),
            taskDeliverySeconds: max(1, config.int(forKey: "taskDeliverySeconds", default: 15)),
            agentCallTimeoutSeconds: config.int(forKey: "agentCallTimeoutSeconds", default: 10),
            errorRetrySeconds: max(1, config.int(forKey: "errorRetrySeconds", default: 60)),
            reconcileIntervalSeconds: max(1, config.int(forKey: "reconcileIntervalSeconds", default: 5)),
            reconcileFullPassIntervalSeconds: max(1, config.int(forKey: "reconcileFullPassIntervalSeconds", default: 600)),
            placementViewMaxAgeMilliseconds: max(0, config.int(forKey: "placementViewMaxAgeMilliseconds", default: 2000)),
            instanceStopTimeoutSeconds: min(3600, max(0, config.int(forKey: "instanceStopTimeoutSeconds", default: 60))),
            instanceDiskDirectory: config.string(forKey: "instanceDiskDirectory", default: "/var/lib/zedge-agent/disks"),
            healthPolicy: Self.healthPolicy(config),
            imageStoreDirectory: config.string(forKey: "imageStoreDir"),
            imageMaxUploadBytes: Int64(max(1, config.int(forKey: "imageMaxUploadBytes", default: 64 << 30))),
            ipCoolDownSeconds: max(0, config.int(forKey: "ipCoolDownSeconds", default: 300)),
            tenantVlanRange: try Self.parseVlanRange(config.string(forKey: "tenantVlanRange", default: "100-3999")),
            novncDirectory: config.string(forKey: "novncDirectory", default: "/usr/share/novnc"),
            consoleDialURL: config.string(forKey: "consoleDialUrl")
        )
    }

    /// Builds the reader: `arguments` (flags) over `ZEDGE_*` environment over the JSON file at `--config`.
    public static func reader(
        arguments: [String], environment: [String: String], configFile: String?
    ) async throws -> ConfigReader {
        var stripped: [String: String] = [:]
        for (name, value) in environment where name.hasPrefix("ZEDGE_") {
            stripped[String(name.dropFirst("ZEDGE_".count))] = value
        }
        var providers: [any ConfigProvider] = [
            CommandLineArgumentsProvider(arguments: ["zedge-coordinator"] + arguments),
            EnvironmentVariablesProvider(environmentVariables: stripped),
        ]
        if let configFile {
            providers.append(try await FileProvider<JSONSnapshot>(filePath: .init(configFile), allowMissing: false))
        }
        return ConfigReader(providers: providers)
    }

    /// "FIRST-LAST" with 2 ≤ FIRST ≤ LAST ≤ 4094 (VLAN 1 is the default VLAN of most switches; 0 and 4095
    /// are reserved by 802.1Q).
    static func parseVlanRange(_ value: String) throws -> ClosedRange<Int> {
        let parts = value.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let first = Int(parts[0]), let last = Int(parts[1]), 2 <= first, first <= last, last <= 4094 else {
            throw ConfigurationError("--tenant-vlan-range must be FIRST-LAST within 2-4094 (e.g. 100-3999), got \"\(value)\"")
        }
        return first...last
    }

    static func parseListen(_ value: String) -> (String, Int)? {
        guard let colon = value.lastIndex(of: ":") else { return nil }
        var host = String(value[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = Int(value[value.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        return (host, port)
    }
}
