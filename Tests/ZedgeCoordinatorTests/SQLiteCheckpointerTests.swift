import Foundation
import Logging
import SQLKit
import Testing
@testable import ZedgeCoordinator

/// The coordinator's WAL is checkpointed off the writer (issue #14): a commit never copies the WAL into the
/// database file, whatever its size; the checkpointer does, on its own connection, once the WAL passes its
/// threshold.
@Suite("SQLite checkpointer")
struct SQLiteCheckpointerTests {
    /// 1,200 pages committed one row at a time: SQLite's own automatic checkpoint would have run in the writer at
    /// 1,000; with the checkpointer's threshold above that, nothing is copied and the database file stays small.
    @Test func theWriterNeverCheckpoints() async throws {
        try await withStore(checkpointPages: 100_000) { store, file in
            try await insertRows(1_200, into: store)
            #expect(store.checkpointer.done.checkpoints == 0)
            let bytes = try size(of: file)
            #expect(bytes < 200_000, "the database file holds \(bytes) bytes")
        }
    }

    /// Past its threshold the checkpointer copies the WAL into the database file, and later reads see every row.
    @Test func theCheckpointerCopiesTheWALPastItsThreshold() async throws {
        try await withStore(checkpointPages: 64) { store, file in
            let empty = try size(of: file)
            try await insertRows(200, into: store)
            let deadline = ContinuousClock.now + .seconds(10)
            while store.checkpointer.done.walFramesCopied < 64, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            let done = store.checkpointer.done
            #expect(done.checkpoints >= 1 && done.walFramesCopied >= 64, "\(done)")
            let bytes = try size(of: file)
            // The writer never checkpoints (above): the file grew by what the checkpointer copied.
            #expect(bytes >= empty + 16 * 4096, "the database file went from \(empty) to \(bytes) bytes")
            let count = try await store.raw("SELECT COUNT(*) AS n FROM t").first()?.decode(column: "n", as: Int.self)
            #expect(count == 200)
        }
    }

    /// By default the WAL is checkpointed once it holds 16 MiB of pages (4,096 pages of 4 KiB).
    @Test func theDefaultThresholdIsSixteenMiB() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-threshold-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("db.sqlite").path, logger: Logger(label: "test"))
        let pageSize = try await store.raw("PRAGMA page_size").first()?.decode(column: "page_size", as: Int.self)
        let pages = store.checkpointer.pages
        await store.close()
        #expect(pageSize == 4096)
        #expect(pages == 4096, "the WAL is checkpointed past \(pages) pages")
    }

    private func withStore(checkpointPages: Int, _ body: (SQLiteStore, String) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-checkpointer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("db.sqlite").path
        let store = try SQLiteStore(path: file, logger: Logger(label: "test"), checkpointPages: checkpointPages)
        do {
            try await store.raw("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)").run()
            try await body(store, file)
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    /// `count` rows of 4,000 bytes (a page each), one commit each.
    private func insertRows(_ count: Int, into store: SQLiteStore) async throws {
        for _ in 0..<count {
            try await store.raw("INSERT INTO t (v) VALUES (zeroblob(4000))").run()
        }
    }

    private func size(of file: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.intValue ?? -1
    }
}
