import ArgumentParser
import Foundation
import ZedgeCore

// MARK: - Operations

enum Operations: ResourceKind { static let spec = Resources.operations }

struct OperationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operation", abstract: "Operations (the progress of asynchronous actions).", subcommands: [ShowCommand<Operations>.self, Wait.self], aliases: ["operations", "op"])

    /// `operation wait ID`: follows an operation to its end (exit 1 when it FAILED).
    struct Wait: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "wait", abstract: "Wait for an operation, showing its progress.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The operation's id.") var operation: String
        @Option(help: "Seconds between polls.") var pollInterval: Double = 0.5

        func run() async throws {
            let session = try await global.session()
            let waiter = OperationWaiter(client: session.client, interval: .milliseconds(Int(max(0.05, pollInterval) * 1000)))
            let final = try await waiter.wait(for: operation)
            try global.printer.object(final, columns: Operations.spec.columns + Operations.spec.wideColumns)
        }
    }
}

// MARK: - Audit log

enum AuditLogs: ResourceKind { static let spec = Resources.auditLogs }

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "The audit log (oldest first).", subcommands: [List.self], aliases: ["audit-log", "audit-logs"])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Query the audit log.", aliases: ["ls"])
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this user's (username or id).") var user: String?
        @Option(help: "e.g. TENANT, INSTANCE.") var resourceType: String?
        @Option(help: "e.g. tenant.create, auth.login.") var action: String?
        @Option(help: "SUCCESS or FAILURE.") var status: String?
        @Option(help: "From this time (RFC 3339).") var since: String?
        @Option(help: "Until this time (RFC 3339).") var until: String?
        @OptionGroup var page: PageOptions

        func run() async throws {
            let session = try await global.session()
            var query = try page.query()
            if let user { query.append(("userId", try await NameResolver(client: session.client).id(user, Resources.users))) }
            for (key, value) in [("resourceType", resourceType), ("action", action), ("status", status), ("since", since), ("until", until)] {
                if let value { query.append((key, value)) }
            }
            var options = page
            options.filters = query.filter { $0.0 != "limit" && $0.0 != "cursor" }.map { "\($0.0)=\($0.1)" }
            try await options.list(AuditLogs.spec.path, spec: AuditLogs.spec, client: session.client, printer: global.printer)
        }
    }
}

// MARK: - RBAC (read-only)

enum Permissions: ResourceKind { static let spec = Resources.permissions }
enum RolePermissions: ResourceKind { static let spec = Resources.rolePermissions }

struct PermissionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "permission", abstract: "Permissions (read-only, seeded).", subcommands: [ListCommand<Permissions>.self, ShowCommand<Permissions>.self], aliases: ["permissions"])
}

struct RolePermissionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "role-permission", abstract: "Which role has which permission (read-only, seeded).", subcommands: [ListCommand<RolePermissions>.self], aliases: ["role-permissions"])
}

// MARK: - Admin

struct AdminCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "admin", abstract: "Administrative checks.", subcommands: [Consistency.self])

    /// `admin consistency`: exit 1 when the check finds violations.
    struct Consistency: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "consistency", abstract: "Check that allocated counters equal live claims (exit 1 on violations).")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let session = try await global.session()
            let response = try await session.client.send("GET", "/api/v1/admin/consistency")
            let body = try response.json()
            let violations = body["violations"]?.arrayValue ?? []
            if global.output == .table || global.output == .wide {
                if violations.isEmpty { global.printer.line("ok: no violations") } else {
                    try global.printer.list(violations, columns: [Column("KIND", "kind"), Column("RESOURCE", "resourceId"),
                                                                  Column("DETAIL", "detail")], wideColumns: [])
                }
            } else {
                try global.printer.object(body, raw: response.body)
            }
            if body["ok"]?.boolValue == false { throw ExitCode.failure }
        }
    }
}
