import Foundation

/// Reads the Swift sources of one module folder and checks them against the coordinator's layering rules.
/// It works on any `root`, so the rules themselves are tested on small fixture trees (LayeringScannerTests)
/// before they are applied to Sources/ZedgeCoordinator (LayeringTests).
struct LayeringScanner: Sendable {
    /// The top-level folders, bottom to top: a folder may use only itself and the folders before it.
    static let layers = [
        "Errors", "Executors", "Store", "Audit", "Auth", "Authorization", "TLS", "Observability", "Leadership", "Dispatch",
        "Hosts", "Placement", "Quotas", "Networks", "Images", "Templates", "Consoles", "CloudBoxes", "Disks", "Instances", "HTTP",
        "Application",
    ]

    /// Lines outside Store/ that contain one of these run SQL. So does a string literal line that starts with
    /// one of `sqlKeywords`.
    static let sqlMarkers = [
        "import SQLKit", "import SQLiteKit", "import PostgresKit", "import PostgresNIO", ".raw(", ".sql.",
        "database.sql", "SQLQueryString", "SQLBind", "SQLIdentifier", "SQLLiteral", "SQLExpression",
        "any SQLDatabase", "database.transaction", "FOR UPDATE",
    ]
    static let sqlKeywords = ["SELECT ", "UPDATE ", "INSERT INTO", "DELETE FROM"]

    /// Only HTTP/ and Application/ may import these modules or name these types (besides HTTP/'s own).
    static let httpModules = ["Hummingbird", "HummingbirdCore", "HummingbirdTLS", "HummingbirdWebSocket", "HTTPTypes", "NIOHTTP1", "NIOWebSocket"]
    static let httpTypes: Set<String> = ["HTTPResponse", "HTTPRequest", "Request", "Response", "RouterMiddleware"]

    struct Violation: Hashable, Sendable, CustomStringConvertible {
        let file: String
        let line: Int
        let message: String
        var description: String { "\(file):\(line): \(message)" }
    }

    /// One dependency of a folder on a later one: how often, and where first.
    struct Edge: Hashable, Sendable, CustomStringConvertible {
        let from: String
        let to: String
        let count: Int
        let example: Violation
        var description: String { "\(from) → \(to) (\(count) \(count == 1 ? "use" : "uses")), e.g. \(example)" }
    }

    struct SourceFile: Sendable {
        /// Relative to the root, e.g. "Store/Repositories/UserRepository.swift".
        let path: String
        /// Each line with its comments removed; string literals are kept.
        let code: [String]
        /// The identifiers outside comments and string literals (interpolations count as code), without
        /// member names (those right after a ".") and modifiers (`required init`).
        let identifiers: [(line: Int, name: String)]

        /// The top-level folder, "" for a file directly under the root.
        var folder: String { path.contains("/") ? String(path.prefix { $0 != "/" }) : "" }
    }

    let folders: [String]
    let files: [SourceFile]

    init(root: URL) throws {
        let manager = FileManager.default
        folders = try manager.contentsOfDirectory(atPath: root.path).filter { name in
            var isDirectory: ObjCBool = false
            return !name.hasPrefix(".")
                && manager.fileExists(atPath: root.appendingPathComponent(name).path, isDirectory: &isDirectory)
                && isDirectory.boolValue
        }.sorted()
        files = try manager.subpathsOfDirectory(atPath: root.path).filter { $0.hasSuffix(".swift") }.sorted().map { path in
            let (code, identifiers) = Self.lex(try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8))
            return SourceFile(path: path, code: code, identifiers: identifiers)
        }
    }

    /// The package root: the nearest folder above `file` that holds a Package.swift.
    static func packageRoot(of file: String = #filePath) -> URL {
        var folder = URL(fileURLWithPath: file).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path) {
            precondition(folder.pathComponents.count > 1, "no Package.swift above \(file)")
            folder = folder.deletingLastPathComponent()
        }
        return folder
    }

    // MARK: The rules

    /// Every folder (and every file) under the root belongs to a layer.
    func unknownFolders() -> [String] {
        folders.filter { !Self.layers.contains($0) }.map { "unknown folder \($0): add it to the layer list" }
            + files.filter { $0.folder.isEmpty }.map { "\($0.path) is in no folder: move it into a layer folder" }
    }

    /// (a) Outside Store/, no line runs SQL.
    func sqlOutsideStore() -> [Violation] {
        files.filter { $0.folder != "Store" }.flatMap { file in
            file.code.enumerated().compactMap { index, line -> Violation? in
                let text = line.trimmingCharacters(in: .whitespaces)
                let found = Self.sqlMarkers.filter { text.contains($0) }
                    + Self.sqlKeywords.filter { text.hasPrefix($0) || text.contains("\"" + $0) }
                    .map { $0.trimmingCharacters(in: .whitespaces) }
                guard !found.isEmpty else { return nil }
                return Violation(file: file.path, line: index + 1, message: "runs SQL: " + found.joined(separator: ", "))
            }
        }
    }

    /// Lines in HTTP/ containing one of these open or use a transaction.
    static let transactionMarkers = [".transaction {", ".transaction({", ".transaction(", "transactions.run", "Transaction"]

    /// (d) No controller (nothing in HTTP/) opens a transaction: a service owns each unit of work.
    func transactionsInHTTP() -> [Violation] {
        files.filter { $0.folder == "HTTP" }.flatMap { file in
            file.code.enumerated().compactMap { index, line -> Violation? in
                let found = Self.transactionMarkers.filter { line.contains($0) }
                guard let first = found.first else { return nil }
                return Violation(file: file.path, line: index + 1, message: "opens a transaction: " + first)
            }
        }
    }

    /// (b) Below HTTP/ (and outside Application/), nothing imports an HTTP module or names an HTTP type.
    func httpBelowHTTP() -> [Violation] {
        let httpNames = Self.httpTypes.union(topLevelDeclarations().filter { $0.value.contains("HTTP") }.keys)
        let importRegex = #/^\s*(?:@\w+\s+)*import\s+(?:(?:struct|class|enum|protocol|typealias|func|var|let)\s+)?(?<module>\w+)/#
        return files.filter { !["HTTP", "Application"].contains($0.folder) }.flatMap { file in
            let imports = file.code.enumerated().compactMap { index, line -> Violation? in
                guard let module = line.prefixMatch(of: importRegex)?.module, Self.httpModules.contains(String(module))
                else { return nil }
                return Violation(file: file.path, line: index + 1, message: "imports \(module)")
            }
            let mentions = Dictionary(grouping: file.identifiers.filter { httpNames.contains($0.name) }) { $0.line }
                .map { line, uses in
                    Violation(file: file.path, line: line,
                              message: "mentions " + Set(uses.map(\.name)).sorted().joined(separator: ", "))
                }
            return (imports + mentions).sorted { $0.line < $1.line }
        }
    }

    /// (c) Every use of a top-level declaration of a later folder, one per line and name.
    func upwardReferences() -> [Violation] {
        upwardUses().map(\.use)
    }

    /// (c) The same uses, as folder → folder edges with a count and the first use as an example.
    func upwardEdges() -> [Edge] {
        Dictionary(grouping: upwardUses()) { "\($0.from)\t\($0.to)" }.values.map { uses in
            Edge(from: uses[0].from, to: uses[0].to, count: uses.count, example: uses[0].use)
        }.sorted { (Self.rank($0.from), Self.rank($0.to)) < (Self.rank($1.from), Self.rank($1.to)) }
    }

    // MARK: Helpers

    private static func rank(_ folder: String) -> Int { layers.firstIndex(of: folder) ?? -1 }

    /// The names declared at column 0 (types, typealiases and functions; not their nested members), each with
    /// the folders that declare it.
    func topLevelDeclarations() -> [String: Set<String>] {
        let declaration = #/^(?:(?:public|internal|private|fileprivate|package|open|final|indirect|nonisolated)\s+|@\w+(?:\([^)]*\))?\s+)*(?:struct|enum|class|actor|protocol|typealias|func)\s+(?<name>\w+)/#
        var declarations: [String: Set<String>] = [:]
        for file in files {
            for line in file.code {
                if let name = line.prefixMatch(of: declaration)?.name { declarations[String(name), default: []].insert(file.folder) }
            }
        }
        return declarations
    }

    /// Uses, in files of a known layer, of a name whose lowest declaring layer is later than the file's.
    private func upwardUses() -> [(from: String, to: String, use: Violation)] {
        let lowestLayer = topLevelDeclarations().compactMapValues { $0.compactMap { Self.layers.firstIndex(of: $0) }.min() }
        return files.flatMap { file -> [(from: String, to: String, use: Violation)] in
            guard let layer = Self.layers.firstIndex(of: file.folder) else { return [] }
            var seen: Set<String> = []
            return file.identifiers.compactMap { line, name in
                guard let target = lowestLayer[name], target > layer, seen.insert("\(line) \(name)").inserted else { return nil }
                let to = Self.layers[target]
                return (from: file.folder, to: to, use: Violation(file: file.path, line: line, message: "uses \(name) (\(to))"))
            }
        }
    }

    /// Contextual keywords that are modifiers when a word follows them (`required init`), and names otherwise
    /// (a call to a top-level `func required(_:)`).
    static let modifiers: Set<String> = [
        "borrowing", "consuming", "convenience", "dynamic", "final", "indirect", "isolated", "lazy", "mutating",
        "nonisolated", "nonmutating", "open", "optional", "override", "package", "required", "unowned", "weak",
    ]

    /// Splits Swift source into per-line code without comments (string literals kept, for the SQL rule) and
    /// the identifiers outside comments and string literals (keywords included: no declaration is named like
    /// one, except the contextual `modifiers`). Handles nested block comments, multi-line and
    /// raw (#"…"#) strings, and interpolations (whose expressions are code).
    static func lex(_ source: String) -> (code: [String], identifiers: [(line: Int, name: String)]) {
        enum Context { case code(parens: Int), string(hashes: Int, multiline: Bool) }
        let text = Array(source.utf8)
        func at(_ index: Int) -> UInt8 { index < text.count ? text[index] : 0 }
        func count(_ byte: UInt8, from index: Int) -> Int {
            var end = index
            while at(end) == byte { end += 1 }
            return end - index
        }
        func isIdentifier(_ byte: UInt8) -> Bool {
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x5F
        }
        let (newline, quote, hash, backslash, slash, star, dot) = (UInt8(ascii: "\n"), UInt8(ascii: "\""),
            UInt8(ascii: "#"), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "*"), UInt8(ascii: "."))

        var contexts: [Context] = [.code(parens: 0)]
        var commentDepth = 0
        var lines: [String] = [], current: [UInt8] = [], identifiers: [(line: Int, name: String)] = []
        var previous: UInt8 = 0  // the last non-blank code byte, to tell `.member` from a name
        var index = 0
        func keep(_ length: Int) {
            current += text[index..<min(index + length, text.count)]
            index += length
        }
        while index < text.count {
            let byte = text[index]
            if byte == newline {
                lines.append(String(decoding: current, as: UTF8.self))
                current = []
                index += 1
                continue
            }
            if commentDepth > 0 {
                if byte == slash && at(index + 1) == star { commentDepth += 1; index += 2 }
                else if byte == star && at(index + 1) == slash { commentDepth -= 1; index += 2 }
                else { index += 1 }
                continue
            }
            switch contexts[contexts.count - 1] {
            case .string(let hashes, let multiline):
                if byte == backslash && count(hash, from: index + 1) >= hashes {
                    if at(index + 1 + hashes) == UInt8(ascii: "(") {  // an interpolation: code until its ")"
                        keep(hashes + 2)
                        contexts.append(.code(parens: 1))
                        previous = UInt8(ascii: "(")
                    } else {  // an escape: keep the escaped character (but never a line break)
                        keep(at(index + 1 + hashes) == newline ? hashes + 1 : hashes + 2)
                    }
                } else if byte == quote && count(quote, from: index) >= (multiline ? 3 : 1)
                            && count(hash, from: index + (multiline ? 3 : 1)) >= hashes {
                    keep((multiline ? 3 : 1) + hashes)
                    contexts.removeLast()
                    previous = quote
                } else {
                    keep(1)
                }
            case .code(let parens):
                let hashes = count(hash, from: index)
                if byte == slash && at(index + 1) == slash {
                    while index < text.count && text[index] != newline { index += 1 }
                } else if byte == slash && at(index + 1) == star {
                    commentDepth = 1
                    index += 2
                } else if at(index + hashes) == quote {  // a string literal opens
                    let multiline = count(quote, from: index + hashes) >= 3
                    keep(hashes + (multiline ? 3 : 1))
                    contexts.append(.string(hashes: hashes, multiline: multiline))
                } else if isIdentifier(byte) {
                    let start = index
                    while index < text.count && isIdentifier(text[index]) { index += 1 }
                    let name = String(decoding: text[start..<index], as: UTF8.self)
                    let isNumber = byte >= 0x30 && byte <= 0x39
                    let isModifier = modifiers.contains(name) && at(index) == UInt8(ascii: " ") && isIdentifier(at(index + 1))
                    if !isNumber && previous != dot && !isModifier {
                        identifiers.append((lines.count + 1, name))
                    }
                    current += text[start..<index]
                    previous = text[index - 1]
                } else {
                    if byte == UInt8(ascii: "(") { contexts[contexts.count - 1] = .code(parens: parens + 1) }
                    if byte == UInt8(ascii: ")") {
                        if parens == 1 && contexts.count > 1 { contexts.removeLast() }  // back into the string
                        else { contexts[contexts.count - 1] = .code(parens: parens - 1) }
                    }
                    if byte != UInt8(ascii: " ") && byte != UInt8(ascii: "\t") { previous = byte }
                    keep(1)
                }
            }
        }
        lines.append(String(decoding: current, as: UTF8.self))
        return (lines, identifiers)
    }
}
