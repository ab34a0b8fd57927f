import Foundation
import Testing

/// The coordinator's layering, read from its sources: the top-level folders of Sources/ZedgeCoordinator form
/// the layers of `LayeringScanner.layers` (bottom to top), and a folder uses only itself and earlier folders.
/// Each test fails with every offending file:line (paths relative to Sources/ZedgeCoordinator).
@Suite struct LayeringTests {
    let scanner: LayeringScanner

    init() throws {
        scanner = try LayeringScanner(root: LayeringScanner.packageRoot().appendingPathComponent("Sources/ZedgeCoordinator"))
    }

    @Test func everyFolderIsALayer() {
        Self.expectNone(scanner.unknownFolders(), "folders or files outside the layer list")
    }

    /// (a) Store/ holds the only SQL.
    @Test func noSQLOutsideStore() {
        Self.expectNone(scanner.sqlOutsideStore(), "lines outside Store/ run SQL")
    }

    /// (b) Only HTTP/ and Application/ know about HTTP.
    @Test func noHTTPBelowHTTP() {
        Self.expectNone(scanner.httpBelowHTTP(), "lines below HTTP/ use HTTP")
    }

    /// (c) No folder uses a top-level declaration of a later folder.
    @Test func layersHaveNoCycle() {
        Self.expectNone(scanner.upwardEdges(), "folder → folder edges point up the layer list")
    }

    /// (d) Controllers open no transaction.
    @Test func noTransactionInHTTP() {
        Self.expectNone(scanner.transactionsInHTTP(), "lines in HTTP/ open a transaction")
    }

    /// Records one issue that lists every item, or nothing when there are none.
    static func expectNone(_ items: [some CustomStringConvertible], _ what: String,
                           sourceLocation: SourceLocation = #_sourceLocation) {
        guard !items.isEmpty else { return }
        let lines = ["\(items.count) \(what) (paths under Sources/ZedgeCoordinator):"] + items.map { "  \($0)" }
        Issue.record(Comment(rawValue: lines.joined(separator: "\n")), sourceLocation: sourceLocation)
    }
}
