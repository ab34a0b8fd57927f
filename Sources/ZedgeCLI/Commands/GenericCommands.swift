import ArgumentParser
import Foundation
import ZedgeCore

/// `<resource> list [--filter k=v]… [--limit N] [--cursor C] [--all]`.
struct ListCommand<R: ResourceKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "list", abstract: "List \(R.spec.plural).", aliases: ["ls"])
    }

    @OptionGroup var global: GlobalOptions
    @OptionGroup var page: PageOptions

    func run() async throws {
        let session = try await global.session()
        try await page.list(R.spec.path, spec: R.spec, client: session.client, printer: global.printer)
    }
}

/// Paging and filters of a list.
struct PageOptions: ParsableArguments {
    @Option(name: .customLong("filter"), help: "An equality filter key=value, as the API takes it (repeatable), e.g. status=ACTIVE.")
    var filters: [String] = []
    @Option(help: "At most this many items (the API's default is 50, its maximum 500).") var limit: Int?
    @Option(help: "Continue from this cursor (a previous page's nextCursor).") var cursor: String?
    @Flag(help: "Every page (follows nextCursor); -o json then prints {\"items\": [all of them], \"nextCursor\": null}.")
    var all = false

    func query() throws -> [(String, String)] {
        var query = try filters.map { filter -> (String, String) in
            guard let equals = filter.firstIndex(of: "="), equals != filter.startIndex else {
                throw CLIError.usage("--filter \(filter): expected key=value")
            }
            return (String(filter[..<equals]), String(filter[filter.index(after: equals)...]))
        }
        if let limit { query.append(("limit", String(limit))) }
        if let cursor { query.append(("cursor", cursor)) }
        return query
    }

    func list(_ path: String, spec: ResourceSpec, client: APIClient, printer: OutputPrinter) async throws {
        if all {
            let items = try await client.listAll(path, query: query())
            try printer.list(items, columns: spec.columns, wideColumns: spec.wideColumns)
        } else {
            let response = try await client.send("GET", path, query: query())
            let page = try response.json()
            try printer.list(page["items"]?.arrayValue ?? [], raw: response.body, columns: spec.columns, wideColumns: spec.wideColumns)
            if printer.format == .table || printer.format == .wide, let next = page["nextCursor"]?.stringValue {
                FileHandle.standardError.write(Data("more: --cursor \(next) (or --all)\n".utf8))
            }
        }
    }
}

/// `<resource> show NAME|ID`.
struct ShowCommand<R: ResourceKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "show", abstract: "Show one of the \(R.spec.plural)", aliases: ["get"])
    }

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Its id, or its \(R.spec.nameField ?? "id").") var target: String

    func run() async throws {
        let session = try await global.session()
        let id = try await NameResolver(client: session.client).id(target, R.spec)
        let response = try await session.client.send("GET", R.spec.item(id))
        try global.printer.object(try response.json(), raw: response.body, columns: R.spec.columns + R.spec.wideColumns)
    }
}

/// Body input every create and update takes besides its typed flags.
struct BodyOptions: ParsableArguments {
    @Option(name: .customLong("set"), help: ArgumentHelp(
        "key=value for any body field (repeatable). The value is JSON when it parses (8, true, null, [\"a\"], {…}, \"123\"), else a string; a.b=1 sets a nested member.",
        valueName: "key=value"))
    var sets: [String] = []
    @Option(name: [.customShort("f"), .customLong("file")], help: "A JSON object to send as the body (- for stdin); flags and --set override its fields.")
    var file: String?

    func body(_ typed: [String: JSONValue], client: APIClient) async throws -> JSONValue {
        let built = try BodyBuilder.build(file: file, fields: typed, sets: sets)
        return .object(try await NameResolver(client: client).resolveReferences(built))
    }
}

/// `<resource> create [typed flags] [--set k=v]… [-f FILE|-] [--wait]`.
struct CreateCommand<R: CreatableResource>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "create", abstract: "Create one of the \(R.spec.plural).")
    }

    @OptionGroup var global: GlobalOptions
    @OptionGroup var typed: R.CreateFlags
    @OptionGroup var input: BodyOptions
    /// Shown only where a create starts an operation (202: instances, disks); elsewhere accepted and ignored.
    @OptionGroup(visibility: R.spec.acceptedKey == nil ? .hidden : .default) var wait: WaitOptions

    func run() async throws {
        let session = try await global.session()
        let body = try await input.body(try typed.fields(), client: session.client)
        let response = try await session.client.send("POST", R.spec.path, json: body)
        try await Accepted.finish(response, spec: R.spec, session: session, wait: wait, printer: global.printer)
    }
}

/// `<resource> update NAME|ID [typed flags] [--set k=v]… [-f FILE|-]` (PATCH: only the fields given change;
/// `--set field=null` clears an optional one).
struct UpdateCommand<R: UpdatableResource>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "update", abstract: "Change fields of one of the \(R.spec.plural) (PATCH).")
    }

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Its id, or its \(R.spec.nameField ?? "id").") var target: String
    @OptionGroup var typed: R.UpdateFlags
    @OptionGroup var input: BodyOptions
    @OptionGroup var wait: WaitOptions

    func run() async throws {
        let session = try await global.session()
        let id = try await NameResolver(client: session.client).id(target, R.spec)
        let body = try await input.body(try typed.fields(), client: session.client)
        guard body.objectValue?.isEmpty == false else { throw CLIError.usage("nothing to change: give a flag, --set or -f") }
        let response = try await session.client.send("PATCH", R.spec.item(id), json: body)
        try await Accepted.finish(response, spec: R.spec, session: session, wait: wait, printer: global.printer)
    }
}

/// `<resource> delete NAME|ID… [--wait]`.
struct DeleteCommand<R: ResourceKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "delete", abstract: "Delete \(R.spec.plural) (see the API's per-model DELETE rules).",
                             aliases: ["rm"])
    }

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Ids, or \(R.spec.nameField ?? "id")s.") var targets: [String]
    @OptionGroup var wait: WaitOptions

    func run() async throws {
        let session = try await global.session()
        for target in targets {
            let id = try await NameResolver(client: session.client).id(target, R.spec)
            let response = try await session.client.send("DELETE", R.spec.item(id))
            if response.status == 202 {
                try await Accepted.finish(response, spec: R.spec, session: session, wait: wait, printer: global.printer, refetch: false,
                                          deleted: id)
            } else {
                FileHandle.standardError.write(Data("\(R.spec.noun) \(id) deleted\n".utf8))
            }
        }
    }
}

/// What a create, update or action prints: the object, or for a 202 the accepted object and its operation,
/// waited for with `--wait` (then the object is read again and printed as it ended up). A delete waited for (`deleted`,
/// the object's id) says "<noun> <id> deleted" as a delete that answered at once does; json and yaml print the
/// operation as it ended.
enum Accepted {
    static func finish(_ response: APIResponse, spec: ResourceSpec, session: Session, wait: WaitOptions, printer: OutputPrinter,
                       refetch: Bool = true, deleted: String? = nil) async throws {
        let body = try response.json()
        guard response.status == 202, let operation = OperationWaiter.operation(in: body),
              let operationId = operation["id"]?.stringValue else {
            try printer.object(body, raw: response.body, columns: spec.columns + spec.wideColumns)
            return
        }
        guard wait.wait else {
            // json and yaml print the answer as the API sent it; a table shows the accepted object (the operation
            // is the line on stderr).
            let accepted = printer.format == .json || printer.format == .yaml ? body : spec.acceptedKey.flatMap { body[$0] } ?? body
            try printer.object(accepted, raw: response.body, columns: spec.columns + spec.wideColumns)
            FileHandle.standardError.write(Data("operation \(operationId) \(operation["status"]?.stringValue ?? ""): `zedgectl operation wait \(operationId)` follows it\n".utf8))
            return
        }
        let waiter = OperationWaiter(client: session.client, interval: .milliseconds(Int(max(0.05, wait.pollInterval) * 1000)))
        let final = try await waiter.wait(for: operationId)
        let objectId = spec.acceptedKey.flatMap { body[$0]?["id"]?.stringValue } ?? final["resourceId"]?.stringValue
        if let deleted, printer.format != .json, printer.format != .yaml {
            FileHandle.standardError.write(Data("\(spec.noun) \(deleted) deleted\n".utf8))
        } else if refetch, !spec.path.isEmpty, let objectId {
            let fresh = try await session.client.send("GET", spec.item(objectId))
            try printer.object(try fresh.json(), raw: fresh.body, columns: spec.columns + spec.wideColumns)
        } else {
            try printer.object(final, columns: Resources.operations.columns + Resources.operations.wideColumns)
        }
    }
}
