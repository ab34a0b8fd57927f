#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ZedgeCore

/// The settings of `zedge-agent run` (and the ones `register` shares). Each comes from (highest first) its flag,
/// its `ZEDGE_AGENT_*` environment variable, the JSON file given with `--config`, or its default — the
/// coordinator's order:
///
/// | file key | flag | environment | default |
/// |---|---|---|---|
/// | `stateDir` | `--state-dir` | `ZEDGE_AGENT_STATE_DIR` | `/var/lib/zedge-agent` |
/// | `libvirtUri` | `--libvirt-uri` | `ZEDGE_AGENT_LIBVIRT_URI` | `qemu:///system` |
/// | `cpuMode` | `--cpu-mode` | `ZEDGE_AGENT_CPU_MODE` | `host-passthrough` |
/// | `cloudboxDir` | `--cloudbox-dir` | `ZEDGE_AGENT_CLOUDBOX_DIR` | `/etc/zedge-cloudbox` |
/// | `domainType` | `--domain-type` | `ZEDGE_AGENT_DOMAIN_TYPE` | `auto` |
/// | `imageCacheBytes` | `--image-cache-bytes` | `ZEDGE_AGENT_IMAGE_CACHE_BYTES` | `20G` |
/// | `imageDownloadBytesPerSecond` | `--image-download-bytes-per-second` | `ZEDGE_AGENT_IMAGE_DOWNLOAD_BYTES_PER_SECOND` | `0` (no limit) |
/// | `integrationBridge` | `--integration-bridge` | `ZEDGE_AGENT_INTEGRATION_BRIDGE` | `br-zedge` |
/// | `logLevel` | `--log-level` | `ZEDGE_AGENT_LOG_LEVEL` | `info` |
///
/// Sizes are bytes, optionally with a binary suffix: `512M`, `20G`, `1T` (also `20GiB`). The file is a JSON
/// object with these keys (strings, or whole numbers for sizes); an unknown key is refused, so a typo does not
/// go unnoticed. The coordinator's URL, the agent's credential and the pinned CA are not settings: `register`
/// writes them into the state dir, where `run` reads them.
public struct AgentConfiguration: Sendable, Hashable {
    public var stateDirectory = AgentLayout.defaultStateDirectory
    public var libvirtURI = "qemu:///system"
    public var cpuMode = CPUMode.hostPassthrough
    public var cloudBoxDirectory = FileCloudBoxControl.defaultDirectory.path
    public var domainType = DomainTypeOption.auto
    /// The image cache's bound in bytes (images in use by a domain are kept even beyond it).
    public var imageCacheBytes: Int64 = 20 << 30
    /// libcurl's `CURLOPT_MAX_RECV_SPEED_LARGE` for image downloads; 0 for no limit.
    public var imageDownloadBytesPerSecond: Int64 = 0
    /// The Open vSwitch bridge VM NICs on tenant networks attach to (a Linux interface name).
    public var integrationBridge = IntegrationBridge.defaultName
    /// The lowest level logged (to stderr, which systemd's journal keeps).
    public var logLevel = Logger.Level.info

    public init() {}

    /// One setting: its file key (the raw value), flag and environment variable.
    public enum Key: String, CaseIterable, Sendable {
        case stateDir, libvirtUri, cpuMode, cloudboxDir, domainType, imageCacheBytes, imageDownloadBytesPerSecond
        case integrationBridge, logLevel

        /// `ZEDGE_AGENT_` and the key in upper snake case.
        public var environmentVariable: String { "ZEDGE_AGENT_" + words.joined(separator: "_").uppercased() }
        /// `--` and the key in kebab case (ArgumentParser's name for the property of the same name).
        public var flag: String { "--" + words.joined(separator: "-").lowercased() }
        /// The default, as the file or a flag would spell it.
        public var defaultValue: String { AgentConfiguration().value(of: self) }

        /// What the setting does, for `--help`.
        public var summary: String {
            switch self {
            case .stateDir: "Where the agent keeps its registration, journal, images and disks."
            case .libvirtUri: "The libvirt URI (test:///default for development)."
            case .cpuMode: "KVM guests' CPU: host-passthrough, host-model, or default (QEMU's model; for nested hosts)."
            case .cloudboxDir: "CloudBoxes: where the session and network settings for the box's tools are written."
            case .domainType:
                "libvirt's domain type: auto (kvm only with hardware virtualisation that libvirt offers, else qemu), kvm, or qemu (TCG)."
            case .imageCacheBytes: "The image cache's bound in bytes (suffixes K, M, G, T). Images a VM uses are never evicted."
            case .imageDownloadBytesPerSecond: "Image downloads' rate limit in bytes per second (suffixes K, M, G; 0: none)."
            case .integrationBridge: "The Open vSwitch bridge VM NICs on tenant networks attach to; checked at start and reported."
            case .logLevel: "The lowest level logged: trace, debug, info, notice, warning, error or critical."
            }
        }

        /// The `--help` text of the key's flag: what it does, then its file key, environment variable and default.
        public var help: String {
            "\(summary) (file: \(rawValue); env: \(environmentVariable); default: \(defaultValue))"
        }

        private var words: [String] {
            var words: [String] = []
            var current = ""
            for c in rawValue {
                if c.isUppercase, !current.isEmpty { words.append(current); current = "" }
                current.append(c)
            }
            words.append(current)
            return words
        }
    }

    /// Resolves every key. `flags` holds only the flags given on the command line.
    /// - Throws: `AgentError` naming the key and where the bad value came from.
    public static func resolve(flags: [Key: String], environment: [String: String], configFile: String?) throws -> AgentConfiguration {
        var file: [String: String] = [:]
        if let configFile { file = try readFile(configFile) }
        var config = AgentConfiguration()
        for key in Key.allCases {
            let value: String, source: String
            if let v = flags[key] {
                (value, source) = (v, key.flag)
            } else if let v = environment[key.environmentVariable] {
                (value, source) = (v, key.environmentVariable)
            } else if let v = file[key.rawValue] {
                (value, source) = (v, "\(key.rawValue) in \(configFile ?? "")")
            } else {
                continue
            }
            try config.set(key, value, source: source)
        }
        return config
    }

    /// The value of `key`, as the file or a flag would spell it (sizes with their largest exact suffix).
    public func value(of key: Key) -> String {
        switch key {
        case .stateDir: stateDirectory
        case .libvirtUri: libvirtURI
        case .cpuMode: cpuMode.rawValue
        case .cloudboxDir: cloudBoxDirectory
        case .domainType: domainType.rawValue
        case .imageCacheBytes: Self.formatBytes(imageCacheBytes)
        case .imageDownloadBytesPerSecond: Self.formatBytes(imageDownloadBytesPerSecond)
        case .integrationBridge: integrationBridge
        case .logLevel: logLevel.rawValue
        }
    }

    /// Every setting by file key, for the startup log line: what the agent actually runs with.
    public var effectiveValues: Logger.Metadata {
        var metadata: Logger.Metadata = [:]
        for key in Key.allCases { metadata[key.rawValue] = "\(value(of: key))" }
        return metadata
    }

    mutating func set(_ key: Key, _ value: String, source: String) throws {
        func bad(_ expected: String) -> AgentError { AgentError("\(source): \"\(value)\" is not \(expected)") }
        switch key {
        case .stateDir:
            guard !value.isEmpty else { throw bad("a directory") }
            stateDirectory = value
        case .libvirtUri:
            guard value.contains(":") else { throw bad("a libvirt URI (e.g. qemu:///system)") }
            libvirtURI = value
        case .cpuMode:
            guard let mode = CPUMode(rawValue: value) else { throw bad("one of host-passthrough, host-model, default") }
            cpuMode = mode
        case .cloudboxDir:
            guard !value.isEmpty else { throw bad("a directory") }
            cloudBoxDirectory = value
        case .domainType:
            guard let type = DomainTypeOption(rawValue: value) else { throw bad("one of auto, kvm, qemu") }
            domainType = type
        case .imageCacheBytes:
            guard let bytes = Self.parseBytes(value), bytes > 0 else { throw bad("a positive size in bytes (e.g. 20G)") }
            imageCacheBytes = bytes
        case .imageDownloadBytesPerSecond:
            guard let bytes = Self.parseBytes(value) else { throw bad("a rate in bytes per second (e.g. 10M, 0 for no limit)") }
            imageDownloadBytesPerSecond = bytes
        case .integrationBridge:
            guard Validate.interfaceName(value, field: key.rawValue) == nil else {
                throw bad("a Linux interface name (1-15 letters, digits, '-', '_', '.')")
            }
            integrationBridge = value
        case .logLevel:
            guard let level = Logger.Level(rawValue: value) else {
                throw bad("one of " + Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))
            }
            logLevel = level
        }
    }

    /// `1234`, `512K`, `20M`, `3G`, `1T` (binary multiples; `KiB`/`KB`-style spellings too). Nil if malformed.
    public static func parseBytes(_ text: String) -> Int64? {
        var s = text.trimmed().uppercased()
        for suffix in ["IB", "B"] where s.hasSuffix(suffix) && s.count > suffix.count {
            let stripped = String(s.dropLast(suffix.count))
            if stripped.last.map({ "KMGT".contains($0) }) == true || suffix == "B" { s = stripped; break }
        }
        var shift: Int64 = 0
        if let last = s.last, let index = "KMGT".firstIndex(of: last) {
            shift = Int64(10 * ("KMGT".distance(from: "KMGT".startIndex, to: index) + 1))
            s.removeLast()
        }
        guard !s.isEmpty, s.allSatisfy(\.isASCII), s.allSatisfy(\.isNumber), let n = Int64(s), n >= 0 else { return nil }
        let (product, overflow) = n.multipliedReportingOverflow(by: 1 << shift)
        return overflow ? nil : product
    }

    /// `bytes` with the largest binary suffix that divides it exactly: `20G`, `1536M`, `1000`; `parseBytes` reads it back.
    public static func formatBytes(_ bytes: Int64) -> String {
        guard bytes != 0 else { return "0" }
        for (suffix, shift) in [("T", 40), ("G", 30), ("M", 20), ("K", 10)] where bytes % (Int64(1) << shift) == 0 {
            return "\(bytes >> shift)\(suffix)"
        }
        return "\(bytes)"
    }

    /// The file's keys and values as text; whole numbers are kept as their digits.
    static func readFile(_ path: String) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw AgentError("cannot read the config file \(path)") }
        guard let object = (try? JSONDecoder().decode(JSONValue.self, from: data))?.objectValue else {
            throw AgentError("the config file \(path) is not a JSON object")
        }
        var values: [String: String] = [:]
        for (key, value) in object {
            guard Key(rawValue: key) != nil else {
                throw AgentError("the config file \(path) has an unknown key \"\(key)\" (known: "
                    + Key.allCases.map(\.rawValue).joined(separator: ", ") + ")")
            }
            switch value {
            case .string(let s): values[key] = s
            case .number(let n) where Int64(exactly: n) != nil: values[key] = String(Int64(exactly: n)!)
            default: throw AgentError("\(key) in \(path) must be a string or a whole number")
            }
        }
        return values
    }
}
