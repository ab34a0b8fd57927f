import Foundation
import Logging
import SQLKit
@testable import ZedgeCoordinator

/// The database engines the suite runs against: SQLite always, PostgreSQL when
/// `ZEDGE_TEST_POSTGRES_URL` names a server (`make test` starts a throwaway one).
enum TestEngine: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    static var all: [TestEngine] {
        ProcessInfo.processInfo.environment["ZEDGE_TEST_POSTGRES_URL"]?.isEmpty == false ? [.sqlite, .postgres] : [.sqlite]
    }

    var testDescription: String { rawValue }

    /// A fresh, empty database for one test: a new SQLite file, or a new PostgreSQL database.
    func makeDatabaseURL(in directory: String) async throws -> String {
        switch self {
        case .sqlite:
            return "sqlite://\(directory)/coordinator.db"
        case .postgres:
            let base = ProcessInfo.processInfo.environment["ZEDGE_TEST_POSTGRES_URL"]!
            let name = "zt_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
            try await Database.withDatabase(url: base, logger: Logger(label: "test")) { database in
                try await database.sql.raw("CREATE DATABASE \(unsafeRaw: String(name))").run()
            }
            guard let slash = base.lastIndex(of: "/") else { return base }
            return String(base[...slash]) + name
        }
    }
}

import Testing
