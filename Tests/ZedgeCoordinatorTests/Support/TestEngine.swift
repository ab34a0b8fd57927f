import Foundation
import Logging
import SQLKit
@testable import ZedgeCoordinator

/// The database engines the suite runs against: SQLite and PostgreSQL, on the server `ZEDGE_TEST_POSTGRES_URL`
/// names (`make test` starts a throwaway one with `scripts/with-postgres.sh`). Without it, every PostgreSQL
/// case fails saying so: a missing engine is never a silent skip.
enum TestEngine: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    static var all: [TestEngine] { [.sqlite, .postgres] }

    var testDescription: String { rawValue }

    /// A fresh, empty database for one test: a new SQLite file, or a new PostgreSQL database.
    func makeDatabaseURL(in directory: String) async throws -> String {
        switch self {
        case .sqlite:
            return "sqlite://\(directory)/coordinator.db"
        case .postgres:
            guard let base = ProcessInfo.processInfo.environment["ZEDGE_TEST_POSTGRES_URL"], !base.isEmpty else {
                throw TestFailure("the PostgreSQL case needs ZEDGE_TEST_POSTGRES_URL: run under scripts/with-postgres.sh (make test does)")
            }
            let name = "zt_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
            try await Database.withDatabase(url: base, logger: Logger(label: "test")) { database in
                try await database.sql.raw("CREATE DATABASE \(unsafeRaw: String(name))").run()
            }
            guard let slash = base.lastIndex(of: "/") else { return base }
            return String(base[...slash]) + name
        }
    }

    /// Runs `body` on a fresh database of this engine with every migration applied (in a temporary directory that
    /// is removed afterwards), without a coordinator around it.
    func withMigratedDatabase(_ body: @escaping @Sendable (Database) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-db-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await Database.withDatabase(url: try await makeDatabaseURL(in: directory), logger: Logger(label: "test")) { database in
            try await Migrator().migrate(database, logger: Logger(label: "test"))
            try await body(database)
        }
    }
}

import Testing
