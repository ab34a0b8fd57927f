import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reads and writes zedgectl's two files under `<home>/.config/zedge/`: `config.json` (contexts) and
/// `credentials.json` (tokens). The directory is made 0700 and both files are written 0600, atomically (a
/// temporary file renamed over the old one), so a crash never leaves half a file.
public struct ConfigStore: Sendable {
    public let directory: String

    public var configPath: String { directory + "/config.json" }
    public var credentialsPath: String { directory + "/credentials.json" }

    public init(directory: String) { self.directory = directory }

    /// `$HOME/.config/zedge` (the path is fixed: packages and docs name it).
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> ConfigStore {
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return ConfigStore(directory: home + "/.config/zedge")
    }

    public func loadConfig() throws -> ConfigFile { try load(ConfigFile.self, from: configPath) ?? ConfigFile() }
    public func loadCredentials() throws -> CredentialsFile { try load(CredentialsFile.self, from: credentialsPath) ?? CredentialsFile() }
    public func save(_ config: ConfigFile) throws { try write(config, to: configPath) }
    public func save(_ credentials: CredentialsFile) throws { try write(credentials, to: credentialsPath) }

    /// An exclusive `flock` on `credentials.json.lock` (made 0600), held until `unlock()`; blocks while another
    /// zedgectl process holds it.
    public func lockCredentials() throws -> FileLock {
        try ensureDirectory()
        let fd = open(credentialsPath + ".lock", O_RDWR | O_CREAT, 0o600)
        guard fd >= 0 else { throw CLIError.usage("cannot open \(credentialsPath).lock: \(String(cString: strerror(errno)))") }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                close(fd)
                throw CLIError.usage("cannot lock \(credentialsPath).lock: \(String(cString: strerror(errno)))")
            }
        }
        return FileLock(fd: fd)
    }

    /// A held `flock`; `unlock()` releases it (closing the descriptor).
    public struct FileLock: Sendable {
        let fd: Int32
        public func unlock() {
            flock(fd, LOCK_UN)
            close(fd)
        }
    }

    private func load<T: Decodable>(_ type: T.Type, from path: String) throws -> T? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        do {
            return try Self.decoder.decode(T.self, from: data)
        } catch {
            throw CLIError.usage("\(path) is not valid: \(error); fix or remove it")
        }
    }

    private func write<T: Encodable>(_ value: T, to path: String) throws {
        try ensureDirectory()
        let data = try Self.encoder.encode(value) + Data("\n".utf8)
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw CLIError.usage("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        fchmod(fd, 0o600)
        let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        guard written == data.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw CLIError.usage("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    private func ensureDirectory() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        chmod(directory, 0o700)
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
