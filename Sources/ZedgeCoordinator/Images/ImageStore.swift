import Foundation
import NIOCore
import ZedgeCore

/// An uploaded file that the store holds aside until it is placed under its SHA-256 (`ImageStore.place`) or
/// dropped (`discard`): what the upload learned on the way.
public struct ReceivedImageFile: Sendable, Hashable {
    /// 64 lowercase hex digits.
    public let sha256: String
    /// 32 lowercase hex digits (the seed's `checksumMd5`).
    public let md5: String
    public let sizeBytes: Int64
    /// qcow2 or raw and the guest-visible size, read from the file's bytes.
    public let inspection: DiskImageInspector.Inspection
    /// Where the store keeps it meanwhile (meaningful to the store only).
    public let holding: String

    public init(sha256: String, md5: String, sizeBytes: Int64, inspection: DiskImageInspector.Inspection, holding: String) {
        self.sha256 = sha256
        self.md5 = md5
        self.sizeBytes = sizeBytes
        self.inspection = inspection
        self.holding = holding
    }
}

/// Where image files live, content-addressed by SHA-256 (DESIGN §10). `LocalImageStore` (a directory under
/// the data dir) is the embedded default; several coordinator replicas must share that directory (or use
/// another implementation every replica reaches), because any replica may serve a download.
///
/// Nothing here holds a whole file in memory: files arrive and leave as chunks.
public protocol ImageStore: Sendable {
    /// Streams `chunks` into a file held aside, computing SHA-256 and MD5 and inspecting the format on the
    /// way. Throws `DomainError` `tooLarge` once more than `maxBytes` arrived, `invalid` (field `file`) for a
    /// refused file (see `DiskImageInspector`); whatever it throws (a client gone mid-body too), nothing is
    /// left behind.
    func receive<Chunks: AsyncSequence>(_ chunks: Chunks, maxBytes: Int64) async throws -> ReceivedImageFile
    where Chunks.Element == ByteBuffer

    /// Puts a received file under its SHA-256 with an atomic rename; when that file is already there (the
    /// same bytes uploaded before), the received copy is dropped.
    func place(_ file: ReceivedImageFile) async throws

    /// Drops a received file that will not be placed (nothing when it was placed or is gone).
    func discard(_ file: ReceivedImageFile) async

    /// The size in bytes of the file stored under `sha256`; nil when there is none.
    func size(sha256: String) async throws -> Int64?

    /// Hands bytes `range` (inclusive offsets) of the file stored under `sha256` to `body`, in chunks.
    func read(sha256: String, range: ClosedRange<Int64>, _ body: (ByteBuffer) async throws -> Void) async throws

    /// Removes the file stored under `sha256` (nothing when there is none).
    func remove(sha256: String) async throws
}
