import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import ZedgeCore
import ZedgeTransport

/// Bytes done and expected of an image download, readable from any thread while it runs.
public final class ImageProgress: Sendable {
    public let totalBytes: Int64
    private let done = Atomic<Int64>(0)

    public init(totalBytes: Int64) { self.totalBytes = totalBytes }

    /// Bytes of the file on disk so far (a resumed download starts at the partial file's size).
    public var doneBytes: Int64 { done.load(ordering: .relaxed) }
    func set(_ bytes: Int64) { done.store(bytes, ordering: .relaxed) }
}

/// Why a download attempt's response was refused by the part file.
enum ImagePartFailure: Sendable, Hashable {
    /// The response does not fit the expected file (wrong Content-Range start, total or length).
    case mismatch(String)
    /// Writing the part file failed (errno).
    case io(String)
}

/// The `<sha256>.part` file of one image download: a `CurlDownloadSink` that writes each chunk at its offset
/// with `pwrite` and feeds it to SHA-256 on the way, so the finished file is hashed exactly once.
///
/// On open, an existing partial file (left by a broken connection or a killed agent) is hashed from disk and
/// the download resumes after it with `Range`; a server that answers 200 instead of 206 starts the file over.
///
/// `@unchecked Sendable`: its state is touched by one download at a time, by the curl client's queue during
/// a transfer and by the fetch loop between transfers (ordered by the awaits in between).
final class ImagePartFile: CurlDownloadSink, @unchecked Sendable {
    let path: String
    let expectedSize: Int64
    let progress: ImageProgress
    private var fd: Int32
    private var hasher = Crypto.SHA256()
    /// Bytes of the file that are written and hashed.
    private(set) var size: Int64 = 0
    /// Body bytes written by this object's transfers (not what was on disk before).
    private(set) var receivedBytes: Int64 = 0
    /// The offset the current attempt asked for (`Range: bytes=N-`).
    private var requestedFrom: Int64 = 0
    private var collectingError = false
    private var errorBody = Data()
    private var status = 0
    private(set) var failure: ImagePartFailure?

    /// Opens (or creates, 0644) the part file and hashes what it holds; a file larger than the image starts
    /// over. Blocking: call off the cooperative pool.
    init(path: String, expectedSize: Int64, progress: ImageProgress) throws {
        self.path = path
        self.expectedSize = expectedSize
        self.progress = progress
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ImageCacheError.io("cannot open \(path): \(String(cString: strerror(errno)))") }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ImageCacheError.io("cannot stat \(path): \(String(cString: strerror(errno)))") }
        if Int64(st.st_size) > expectedSize {
            try truncate(to: 0)
        } else if st.st_size > 0 {
            try hashExisting(Int64(st.st_size))
        }
        progress.set(size)
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Reads the partial file's bytes through the hasher.
    private func hashExisting(_ length: Int64) throws {
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        var offset: Int64 = 0
        while offset < length {
            let n = pread(fd, buffer.baseAddress, min(chunk, Int(length - offset)), off_t(offset))
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw ImageCacheError.io("cannot read \(path): \(n == 0 ? "short file" : String(cString: strerror(errno)))") }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            offset += Int64(n)
        }
        size = length
    }

    /// Cuts the file back to `length` (only 0, or the hashed size) and resets the hasher for 0.
    private func truncate(to length: Int64) throws {
        guard ftruncate(fd, off_t(length)) == 0 else {
            throw ImageCacheError.io("cannot truncate \(path): \(String(cString: strerror(errno)))")
        }
        if length == 0 { hasher = Crypto.SHA256() }
        size = length
        progress.set(length)
    }

    /// Before each attempt: forget the previous response, and cut off any bytes written but not counted.
    func prepareAttempt() throws {
        failure = nil
        collectingError = false
        errorBody = Data()
        status = 0
        requestedFrom = size
        try truncate(to: size)
    }

    /// Starts the file over (after a 416 for a partial file the server does not recognise).
    func restart() throws { try truncate(to: 0) }

    /// The response's status, once `begin` has seen it.
    var responseStatus: Int { status }
    /// The start of a non-2xx response's body (a problem detail), at most 4 KiB.
    var errorText: String { String(decoding: errorBody, as: UTF8.self) }

    // MARK: CurlDownloadSink (on the curl client's queue)

    func begin(status: Int, headers: [String: String]) -> Bool {
        self.status = status
        switch status {
        case 206:
            guard let range = headers["content-range"], let parsed = Self.parseContentRange(range) else {
                failure = .mismatch("206 without a usable Content-Range")
                return false
            }
            guard parsed.start == requestedFrom else {
                failure = .mismatch("asked for bytes from \(requestedFrom), got \(range)")
                return false
            }
            if let total = parsed.total, total != expectedSize {
                failure = .mismatch("the coordinator's file has \(total) bytes, the image reference says \(expectedSize)")
                return false
            }
            return true
        case 200:
            if let length = headers["content-length"].flatMap({ Int64($0) }), length != expectedSize {
                failure = .mismatch("the coordinator's file has \(length) bytes, the image reference says \(expectedSize)")
                return false
            }
            if size > 0 {
                // The server ignored Range: take the whole body from the start.
                do { try truncate(to: 0) } catch {
                    failure = .io("\(error)")
                    return false
                }
            }
            return true
        default:
            collectingError = true
            return true
        }
    }

    func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if collectingError {
            if errorBody.count < 4096 { errorBody.append(contentsOf: bytes.prefix(4096 - errorBody.count)) }
            return true
        }
        guard size + Int64(bytes.count) <= expectedSize else {
            failure = .mismatch("the coordinator sent more than the image's \(expectedSize) bytes")
            return false
        }
        var written = 0
        while written < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + written, bytes.count - written, off_t(size + Int64(written)))
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                failure = .io("cannot write \(path): \(String(cString: strerror(errno)))")
                return false
            }
            written += n
        }
        hasher.update(bufferPointer: bytes)
        size += Int64(bytes.count)
        receivedBytes += Int64(bytes.count)
        progress.set(size)
        return true
    }

    // MARK: Finishing

    /// The SHA-256 (lowercase hex) of the complete file. Call once, when `size == expectedSize`.
    func digest() -> String {
        Hex.lowercase(hasher.finalize())
    }

    /// Makes the verified file durable and gives it its final name: fsync, close, rename, fsync the folder.
    func commit(to finalPath: String) throws {
        guard fsync(fd) == 0 else { throw ImageCacheError.io("cannot fsync \(path): \(String(cString: strerror(errno)))") }
        close(fd)
        fd = -1
        guard rename(path, finalPath) == 0 else {
            throw ImageCacheError.io("cannot rename \(path) to \(finalPath): \(String(cString: strerror(errno)))")
        }
        let dir = open(URL(fileURLWithPath: finalPath).deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            _ = fsync(dir)
            close(dir)
        }
    }

    /// Deletes the part file (after a checksum mismatch).
    func discard() {
        if fd >= 0 { close(fd) }
        fd = -1
        unlink(path)
        progress.set(0)
    }

    /// `bytes START-END/TOTAL` (TOTAL may be `*`).
    static func parseContentRange(_ value: String) -> (start: Int64, end: Int64, total: Int64?)? {
        let v = value.trimmed()
        guard v.hasPrefix("bytes ") else { return nil }
        let parts = v.dropFirst(6).split(separator: "/", maxSplits: 1)
        guard parts.count == 2 else { return nil }
        let range = parts[0].split(separator: "-", maxSplits: 1)
        guard range.count == 2, let start = Int64(range[0]), let end = Int64(range[1]), start <= end else { return nil }
        return (start, end, parts[1] == "*" ? nil : Int64(parts[1]))
    }
}
