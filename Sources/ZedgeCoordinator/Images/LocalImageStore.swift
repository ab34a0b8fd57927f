import Crypto
import Foundation
import NIOCore
import NIOFileSystem
import NIOPosix
import ZedgeCore

/// The embedded `ImageStore`: a directory (by default `<data dir>/images`) holding `sha256/<first two hex
/// digits>/<64 hex digits>`, with uploads in progress under `incoming/`.
///
/// All file I/O goes through NIOFileSystem (its thread pool), never an event loop. An upload is written to a
/// file opened with `O_TMPFILE` (NIOFileSystem's transactional creation): it has no name until the whole body
/// has arrived and been checked, so an interrupted or refused upload, even a killed process, leaves nothing.
/// It then gets a name under `incoming/`, and `place` renames it to its content address. Only the window
/// between those two steps can leave a file under `incoming/` (a process killed there); `sweep` removes such
/// files when the store is opened.
public struct LocalImageStore: ImageStore {
    public let root: String
    let fileSystem: FileSystem
    /// Bytes gathered before one write (one thread-pool hop per this many bytes).
    let writeBatch = 1 << 20
    /// Bytes per chunk when reading a file out.
    let readChunk = 256 * 1024

    /// A store rooted at `root` (created with mode 0700 when missing).
    public init(root: String, fileSystem: FileSystem = .shared) async throws {
        self.root = root
        self.fileSystem = fileSystem
        for directory in [root, "\(root)/sha256", "\(root)/incoming"] {
            try await fileSystem.createDirectory(at: FilePath(directory), withIntermediateDirectories: true,
                                                 permissions: [.ownerReadWriteExecute])
        }
    }

    func path(sha256: String) throws -> String {
        // The name comes from our own hashing or from the database; never a path from a client.
        guard ImageRef.isSHA256Hex(sha256) else { throw DomainError.invalid(field: "sha256", "must be 64 lowercase hexadecimal digits") }
        return "\(root)/sha256/\(sha256.prefix(2))/\(sha256)"
    }

    public func receive<Chunks: AsyncSequence>(_ chunks: Chunks, maxBytes: Int64) async throws -> ReceivedImageFile
    where Chunks.Element == ByteBuffer {
        let holding = "\(root)/incoming/\(UUID().uuidString.lowercased()).part"
        let handle = try await fileSystem.openFile(forWritingAt: FilePath(holding), options: .newFile(replaceExisting: false))
        var sha256 = SHA256()
        var md5 = Insecure.MD5()
        var head: [UInt8] = []
        head.reserveCapacity(DiskImageInspector.headLength)
        var tail: [UInt8] = []
        var size: Int64 = 0
        var written: Int64 = 0
        var pending = ByteBuffer()
        var checkedHead = false
        do {
            var iterator = chunks.makeAsyncIterator()
            while true {
                let next: ByteBuffer?
                do {
                    next = try await iterator.next()
                } catch {
                    // The client went away (or sent a broken body): what arrived is dropped.
                    throw DomainError(.invalid, "The upload ended before its body did.",
                                      errors: [FieldError(field: "file", message: "the body was cut off: \(error)")])
                }
                guard var chunk = next else { break }
                guard chunk.readableBytes > 0 else { continue }
                size += Int64(chunk.readableBytes)
                if size > maxBytes {
                    throw DomainError(.tooLarge, "The image file is larger than the limit of \(maxBytes) bytes.",
                                      errors: [FieldError(field: "file", message: "must be at most \(maxBytes) bytes")])
                }
                chunk.withUnsafeReadableBytes { bytes in
                    sha256.update(bufferPointer: bytes)
                    md5.update(bufferPointer: bytes)
                    if head.count < DiskImageInspector.headLength {
                        head += bytes.prefix(DiskImageInspector.headLength - head.count)
                    }
                    let last = bytes.suffix(DiskImageInspector.tailLength)
                    tail = Array((tail + last).suffix(DiskImageInspector.tailLength))
                }
                if !checkedHead, head.count >= DiskImageInspector.headLength {
                    checkedHead = true
                    if let refusal = DiskImageInspector.earlyRefusal(head: head, complete: false) { throw Self.refused(refusal) }
                }
                pending.writeBuffer(&chunk)
                if pending.readableBytes >= writeBatch {
                    try await handle.write(contentsOf: pending, toAbsoluteOffset: written)
                    written += Int64(pending.readableBytes)
                    pending.clear()
                }
            }
            if pending.readableBytes > 0 {
                try await handle.write(contentsOf: pending, toAbsoluteOffset: written)
                written += Int64(pending.readableBytes)
                pending.clear()
            }
            let inspection: DiskImageInspector.Inspection
            switch DiskImageInspector.inspect(head: head, tail: tail, size: size) {
            case .success(let value): inspection = value
            case .failure(let refusal): throw Self.refused(refusal)
            }
            try await handle.synchronize()
            try await handle.close(makeChangesVisible: true)
            return ReceivedImageFile(
                sha256: Self.hex(sha256.finalize()), md5: Self.hex(md5.finalize()), sizeBytes: size, inspection: inspection,
                holding: holding)
        } catch {
            // Never named: the unlinked temporary file goes with its descriptor.
            try? await handle.close(makeChangesVisible: false)
            throw error
        }
    }

    static func refused(_ refusal: DiskImageInspector.Refusal) -> DomainError {
        DomainError.invalid(field: "file", refusal.message)
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public func place(_ file: ReceivedImageFile) async throws {
        let target = try path(sha256: file.sha256)
        try await fileSystem.createDirectory(at: FilePath((target as NSString).deletingLastPathComponent),
                                             withIntermediateDirectories: true, permissions: [.ownerReadWriteExecute])
        do {
            try await fileSystem.moveItem(at: FilePath(file.holding), to: FilePath(target))
        } catch let error as FileSystemError where error.code == .fileAlreadyExists {
            // The same bytes are already stored.
            try await fileSystem.removeItem(at: FilePath(file.holding), strategy: .platformDefault, recursively: false)
        }
    }

    public func discard(_ file: ReceivedImageFile) async {
        _ = try? await fileSystem.removeItem(at: FilePath(file.holding), strategy: .platformDefault, recursively: false)
    }

    public func size(sha256: String) async throws -> Int64? {
        guard let info = try await fileSystem.info(forFileAt: FilePath(try path(sha256: sha256))) else { return nil }
        return info.size
    }

    public func read(sha256: String, range: ClosedRange<Int64>, _ body: (ByteBuffer) async throws -> Void) async throws {
        let handle = try await fileSystem.openFile(forReadingAt: FilePath(try path(sha256: sha256)), options: OpenOptions.Read())
        do {
            for try await chunk in handle.readChunks(in: range, chunkLength: .bytes(Int64(readChunk))) {
                try await body(chunk)
            }
            try await handle.close()
        } catch {
            try? await handle.close()
            throw error
        }
    }

    public func remove(sha256: String) async throws {
        try await fileSystem.removeItem(at: FilePath(try path(sha256: sha256)), strategy: .platformDefault, recursively: false)
    }

    /// Removes files under `incoming/` last changed more than `age` ago: left by a process killed between
    /// naming an upload and placing it. (Uploads in progress have no name there yet.)
    public func sweep(olderThan age: Duration = .seconds(3600), now: Date = Date()) async throws -> Int {
        let incoming = "\(root)/incoming"
        let cutoff = now.addingTimeInterval(-TimeInterval(age.components.seconds))
        let names = try await NIOThreadPool.singleton.runIfActive {
            try FileManager.default.contentsOfDirectory(atPath: incoming)
        }
        var removed = 0
        for name in names {
            let path = FilePath("\(incoming)/\(name)")
            guard let info = try await fileSystem.info(forFileAt: path, infoAboutSymbolicLink: true),
                  info.type == .regular else { continue }
            let changed = Date(timeIntervalSince1970: TimeInterval(info.lastDataModificationTime.seconds))
            if changed < cutoff {
                removed += try await fileSystem.removeItem(at: path, strategy: .platformDefault, recursively: false)
            }
        }
        return removed
    }
}
