import Foundation
import Testing

/// The layering rules of LayeringTests, proven on small source trees: a clean tree passes every rule, and each
/// rule fails on a tree that breaks it, naming the right file:line.
@Suite struct LayeringScannerTests {
    /// A tree that keeps every rule: SQL only in Store/, HTTP only in HTTP/ and Application/, every use downward.
    /// Comments, string literals and nested declarations say forbidden things that must not count.
    static let cleanTree: [String: String] = [
        "Errors/DomainError.swift": #"""
            /// Failures of the domain, free of HTTP.
            public enum DomainError: Error {
                case notFound(String)
            }
            """#,
        "Store/Store.swift": #"""
            import SQLKit

            public struct Store: Sendable {
                public struct Options {}
                let database: any SQLDatabase
                func count() async throws -> Int {
                    let row = try await database.raw("SELECT COUNT(*) AS n FROM users FOR UPDATE").first()
                    guard let row else { throw DomainError.notFound("users") }
                    return try row.decode(column: "n", as: Int.self)
                }
            }
            """#,
        "Store/Repositories/UserRepository.swift": #"""
            public struct UserRepository {
                let store: Store
                func delete() async throws {
                    try await store.database.raw("""
                        DELETE FROM users
                        """).run()
                }
            }
            """#,
        "Auth/Authenticator.swift": #"""
            // The authenticator checks tokens against the Store; it never throws a Problem (HTTP does).
            /* Nor does it build a Response /* or a Request */ or call .raw( itself. */
            public struct Authenticator {
                public struct Options {}  // nested: not a top-level declaration of Auth
                let store: Store
                func check(_ token: String) throws {
                    guard !token.isEmpty else { throw DomainError.notFound("a \("Problem") is not SELECT ") }
                    print(#"raw "Request" \(Problem)"#)
                }
            }
            """#,
        "Auth/Token.swift": #"""
            final class Token: Decodable {
                required init(from decoder: any Decoder) throws {}  // the keyword, not HTTP's required(_:)
            }
            """#,
        "HTTP/Problem.swift": #"""
            import Hummingbird

            public struct Problem: Error {
                public let status: HTTPResponse.Status
            }

            func required<T>(_ value: T?) throws -> T {
                guard let value else { throw Problem(status: .badRequest) }
                return value
            }
            """#,
        "HTTP/Controllers/UserController.swift": #"""
            import Hummingbird

            struct UserController {
                let authenticator: Authenticator
                let users: UserRepository
                func delete(_ request: Request) async throws -> Response {
                    try authenticator.check(try required(request.headers[.authorization]))
                    try await users.delete()
                    return Response(status: .noContent)
                }
            }
            """#,
        "Application/Coordinator.swift": #"""
            import Hummingbird

            public enum Coordinator {
                static func controllers(store: Store) -> UserController {
                    UserController(authenticator: Authenticator(store: store), users: UserRepository(store: store))
                }
            }
            """#,
    ]

    /// Writes `files` into a fresh temporary folder and scans it.
    func scan(_ files: [String: String]) throws -> LayeringScanner {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("zedge-layering-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        for (path, text) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        return try LayeringScanner(root: root)
    }

    /// `cleanTree` with `files` added (or replaced).
    func scanCleanTree(adding files: [String: String]) throws -> LayeringScanner {
        try scan(Self.cleanTree.merging(files) { _, new in new })
    }

    @Test func theCleanTreePassesEveryRule() throws {
        let scanner = try scan(Self.cleanTree)
        #expect(scanner.files.count == 8)
        #expect(scanner.unknownFolders() == [])
        #expect(scanner.sqlOutsideStore() == [])
        #expect(scanner.httpBelowHTTP() == [])
        #expect(scanner.upwardReferences() == [])
        #expect(scanner.upwardEdges() == [])
        #expect(scanner.transactionsInHTTP() == [])
    }

    @Test func aFolderOutsideTheLayerListFails() throws {
        let scanner = try scanCleanTree(adding: ["API/Router.swift": "struct Router {}", "Main.swift": ""])
        #expect(scanner.unknownFolders() == [
            "unknown folder API: add it to the layer list",
            "Main.swift is in no folder: move it into a layer folder",
        ])
    }

    @Test func sqlOutsideStoreFails() throws {
        let scanner = try scanCleanTree(adding: [
            "Placement/CapacityLedger.swift": #"""
                import SQLKit

                // A comment may say SELECT * FROM machines FOR UPDATE.
                struct CapacityLedger {
                    func claim(_ database: any SQLDatabase) async throws {
                        try await database.transaction { transaction in
                            try await transaction.raw("""
                                UPDATE machines SET claimed = 1
                                """).run()
                        }
                    }
                }
                """#,
            "Leadership/Leadership.swift": #"""
                import PostgresNIO

                struct Leadership {
                    func lock(_ connection: PostgresConnection) async throws {
                        _ = try await connection.query("SELECT pg_try_advisory_lock(1)", logger: logger)
                    }
                }
                """#,
        ])
        #expect(scanner.sqlOutsideStore().map(\.description) == [
            "Leadership/Leadership.swift:1: runs SQL: import PostgresNIO",
            "Leadership/Leadership.swift:5: runs SQL: SELECT",
            "Placement/CapacityLedger.swift:1: runs SQL: import SQLKit",
            "Placement/CapacityLedger.swift:5: runs SQL: any SQLDatabase",
            "Placement/CapacityLedger.swift:6: runs SQL: database.transaction",
            "Placement/CapacityLedger.swift:7: runs SQL: .raw(",
            "Placement/CapacityLedger.swift:8: runs SQL: UPDATE",
        ])
    }

    @Test func aTransactionInAControllerFails() throws {
        let scanner = try scanCleanTree(adding: [
            "HTTP/Controllers/ThingController.swift": #"""
                // A comment may say store.transactions.run { }.
                struct ThingController {
                    func delete() async throws {
                        try await transactions.run { tx in try await things.remove(in: tx) }
                    }
                }
                """#,
        ])
        #expect(scanner.transactionsInHTTP().map(\.description) == [
            "HTTP/Controllers/ThingController.swift:4: opens a transaction: transactions.run",
        ])
    }

    @Test func httpBelowHTTPFails() throws {
        let scanner = try scanCleanTree(adding: [
            "Store/Page.swift": #"""
                import Hummingbird

                /// A Page is not a Response; it never throws a Problem.
                public struct Page: ResponseEncodable {
                    let items: [String]
                    func check() throws {
                        if items.isEmpty { throw Problem(status: .notFound) }
                        print("no Request here", "\(HTTPResponse.Status.ok)")
                    }
                }
                """#,
            "Auth/AuthMiddleware.swift": #"""
                @preconcurrency import HTTPTypes
                struct AuthMiddleware<Context>: RouterMiddleware {
                    func handle(_ request: Request, context: Context) -> Response { fatalError() }
                }
                """#,
        ])
        #expect(scanner.httpBelowHTTP().map(\.description) == [
            "Auth/AuthMiddleware.swift:1: imports HTTPTypes",
            "Auth/AuthMiddleware.swift:2: mentions RouterMiddleware",
            "Auth/AuthMiddleware.swift:3: mentions Request, Response",
            "Store/Page.swift:1: imports Hummingbird",
            "Store/Page.swift:7: mentions Problem",
            "Store/Page.swift:8: mentions HTTPResponse",
        ])
    }

    @Test func aUseOfALaterFolderFails() throws {
        let scanner = try scanCleanTree(adding: [
            "Store/AuditTrail.swift": #"""
                struct AuditTrail {
                    let options: Options  // nested in Store and Auth, top-level nowhere
                    func record(_ authenticator: Authenticator) {}
                    func check() throws { _ = try required(Optional(1)) }
                    func again(_ other: Authenticator) {}
                }
                """#,
            "Audit/Log.swift": #"""
                enum Log {
                    static let name = "\(Coordinator.self)"  // an interpolation is code
                }
                """#,
        ])
        #expect(scanner.upwardReferences().map(\.description) == [
            "Audit/Log.swift:2: uses Coordinator (Application)",
            "Store/AuditTrail.swift:3: uses Authenticator (Auth)",
            "Store/AuditTrail.swift:4: uses required (HTTP)",
            "Store/AuditTrail.swift:5: uses Authenticator (Auth)",
        ])
        #expect(scanner.upwardEdges().map(\.description) == [
            "Store → Auth (2 uses), e.g. Store/AuditTrail.swift:3: uses Authenticator (Auth)",
            "Store → HTTP (1 use), e.g. Store/AuditTrail.swift:4: uses required (HTTP)",
            "Audit → Application (1 use), e.g. Audit/Log.swift:2: uses Coordinator (Application)",
        ])
    }
}
