import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ZedgeCore
@testable import ZedgeCoordinator

/// A coordinator and its admin, with what the image tests share: creating images and versions, uploading
/// files (raw bytes, or a stream that may break off), and an `ImageService` over the coordinator's own
/// database and image store (for the resolver, which instance creation calls).
struct ImageWorld: Sendable {
    let c: TestCoordinator
    let admin: String

    static func make(_ c: TestCoordinator) async throws -> ImageWorld {
        ImageWorld(c: c, admin: try await c.adminToken())
    }

    func unique(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(6).lowercased())" }

    /// POSTs an image; the body defaults to a PUBLIC OS_BASE image named `name`.
    func createImage(_ name: String, token: String? = nil, _ extra: [String: Any] = [:]) async throws -> APIResponse {
        var body: [String: Any] = ["name": name, "imageType": "OS_BASE", "visibility": "PUBLIC"]
        for (key, value) in extra { body[key] = value }
        return try await c.client.post("/api/v1/images", token: token ?? admin, body)
    }

    /// Creates an image and decodes it (fails the test unless 201).
    func image(_ name: String, token: String? = nil, _ extra: [String: Any] = [:]) async throws -> Image {
        let response = try await createImage(name, token: token, extra)
        guard response.status == 201 else { throw TestFailure("create image \(name): \(response.status) \(response.text)") }
        return try response.decode(Image.self)
    }

    /// Adds a version (fails the test unless 201).
    func version(_ imageId: UUID, _ number: String, token: String? = nil, _ extra: [String: Any] = [:]) async throws -> ImageVersion {
        var body: [String: Any] = ["versionNumber": number]
        for (key, value) in extra { body[key] = value }
        let response = try await c.client.post("/api/v1/images/\(imageId)/versions", token: token ?? admin, body)
        guard response.status == 201 else { throw TestFailure("create version \(number): \(response.status) \(response.text)") }
        return try response.decode(ImageVersion.self)
    }

    func filePath(_ imageId: UUID, _ versionId: UUID) -> String { "/api/v1/images/\(imageId)/versions/\(versionId)/file" }

    /// PUTs `bytes` as the version's file.
    func upload(_ imageId: UUID, _ versionId: UUID, _ bytes: [UInt8], token: String? = nil) async throws -> APIResponse {
        try await put(filePath(imageId, versionId), token: token ?? admin, body: .bytes(ByteBuffer(bytes: bytes)))
    }

    /// A version with `bytes` uploaded as its file.
    func versionWithFile(_ imageId: UUID, _ number: String, _ bytes: [UInt8], _ extra: [String: Any] = [:]) async throws -> ImageVersion {
        let version = try await version(imageId, number, extra)
        let uploaded = try await upload(imageId, version.id, bytes)
        guard uploaded.status == 200 else { throw TestFailure("upload \(number): \(uploaded.status) \(uploaded.text)") }
        return try uploaded.decode(ImageVersion.self)
    }

    /// A PUT with any body (streams too), its answer collected.
    func put(_ path: String, token: String, body: HTTPClientRequest.Body) async throws -> APIResponse {
        var request = HTTPClientRequest(url: c.baseURL + path)
        request.method = .PUT
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/octet-stream")
        request.body = body
        let response = try await c.client.http.execute(request, timeout: .seconds(300))
        let data = Data(buffer: try await response.body.collect(upTo: 16 << 20))
        return APIResponse(status: Int(response.status.code), headers: response.headers, body: data)
    }

    /// A GET or HEAD with extra headers, its answer collected.
    func fetch(_ path: String, token: String, method: HTTPMethod = .GET, headers: [(String, String)] = []) async throws -> APIResponse {
        try await c.client.send(method, path, token: token, headers: headers)
    }

    /// Every regular file under the image store (relative paths), sorted.
    func storedFiles() throws -> [String] {
        let root = c.configuration.effectiveImageStoreDirectory
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        var files: [String] = []
        while let path = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: "\(root)/\(path)", isDirectory: &isDirectory), !isDirectory.boolValue {
                files.append(path)
            }
        }
        return files.sorted()
    }

    /// Runs `body` with an `ImageService` over the coordinator's database and image store.
    func withService(_ body: @escaping @Sendable (ImageService) async throws -> Void) async throws {
        guard let url = c.configuration.databaseURL else { throw TestFailure("the test coordinator has no database URL") }
        let root = c.configuration.effectiveImageStoreDirectory
        try await Database.withDatabase(url: url, logger: Logger(label: "test")) { database in
            let store = Store(database: database)
            let files = try await LocalImageStore(root: root)
            try await body(ImageService(
                images: store.images, tasks: store.tasks, transactions: store.transactions, store: files,
                access: ImageAccess(images: store.images), maxUploadBytes: 1 << 30, logger: Logger(label: "test")))
        }
    }

    /// The principal a user's requests carry.
    static func principal(_ user: User) -> Principal {
        Principal(userId: user.id, username: user.username, role: user.role, tenantId: user.tenantId, credential: .accessToken)
    }

    static func sha256(_ bytes: [UInt8]) -> String { SHA256Hex.of(Data(bytes)) }

    /// `count` bytes of a repeating pattern (a whole number of 512-byte sectors makes a valid raw image).
    static func pattern(_ count: Int, seed: UInt8 = 7) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) } }
}

/// A qcow2 header (big-endian) as the spec lays it out, with optional header extensions after it, padded to
/// `length` bytes.
func qcow2Header(
    version: UInt32 = 3, size: UInt64 = 1 << 30, backingFileOffset: UInt64 = 0, clusterBits: UInt32 = 16,
    incompatible: UInt64 = 0, extensions: [(type: UInt32, data: [UInt8])] = [], length: Int = 3 << 16
) -> [UInt8] {
    var b = [UInt8](repeating: 0, count: length)
    func put32(_ v: UInt32, _ at: Int) { for i in 0..<4 { b[at + i] = UInt8(truncatingIfNeeded: v >> (24 - 8 * i)) } }
    func put64(_ v: UInt64, _ at: Int) { for i in 0..<8 { b[at + i] = UInt8(truncatingIfNeeded: v >> (56 - 8 * i)) } }
    b[0] = 0x51; b[1] = 0x46; b[2] = 0x49; b[3] = 0xFB
    put32(version, 4)
    put64(backingFileOffset, 8)
    if backingFileOffset != 0 {
        let name = Array("/etc/shadow".utf8)
        put32(UInt32(name.count), 16)
        b.replaceSubrange(Int(backingFileOffset)..<(Int(backingFileOffset) + name.count), with: name)
    }
    put32(clusterBits, 20)
    put64(size, 24)
    put64(1 << 16, 48)
    put32(1, 56)
    var offset = 72
    if version == 3 {
        put64(incompatible, 72)
        put32(4, 96)
        put32(104, 100)
        offset = 104
    }
    for (type, data) in extensions {
        put32(type, offset)
        put32(UInt32(data.count), offset + 4)
        b.replaceSubrange((offset + 8)..<(offset + 8 + data.count), with: data)
        offset += 8 + (data.count + 7) / 8 * 8
    }
    return b
}
