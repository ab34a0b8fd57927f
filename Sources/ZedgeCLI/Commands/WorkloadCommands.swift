import ArgumentParser
import Foundation
import ZedgeCore
import ZedgeTransport

// MARK: - Templates

enum Templates: CreatableResource, UpdatableResource {
    static let spec = Resources.templates
    typealias CreateFlags = TemplateFlags
    typealias UpdateFlags = TemplateFlags
}

struct TemplateFlags: BodyFlags {
    @Option var name: String?
    @Option var description: String?
    @Option(help: ArgumentHelp(EnumChoices.of(TemplateVisibility.self))) var visibility: String?
    @Option(help: "Default vCPUs.") var cpu: Int?
    @Option(help: "Default memory, GB.") var memoryGb: Int?
    @Option(help: "Default root disk, GB.") var storageGb: Int?
    @Option(help: "The image it boots (name or id).") var image: String?
    @Option(help: "Its tenant (name or id).") var tenant: String?
    @Option(help: "cloud-init user-data from this file.") var userDataFile: String?
    @Option(help: ArgumentHelp(EnumChoices.of(TemplateStatus.self))) var status: String?

    func fields() throws -> [String: JSONValue] {
        var f: [String: JSONValue] = [:]
        f.put("name", name); f.put("description", description); f.put("visibility", visibility); f.put("defaultCpuCores", cpu)
        f.put("defaultMemoryGb", memoryGb); f.put("defaultStorageGb", storageGb); f.put("baseImageId", image); f.put("tenantId", tenant)
        f.put("status", status)
        if let userDataFile {
            let data = try LocalFile.read(userDataFile)
            f.put("userData", String(decoding: data, as: UTF8.self))
        }
        return f
    }
}

struct TemplateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "template", abstract: "Templates and their versions.", subcommands: [ListCommand<Templates>.self, ShowCommand<Templates>.self, CreateCommand<Templates>.self,
                      UpdateCommand<Templates>.self, DeleteCommand<Templates>.self, Version.self], aliases: ["templates"])

    struct Version: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "version", abstract: "A template's versions.",
                                                        subcommands: [List.self, Create.self])

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "list", abstract: "List a template's versions.", aliases: ["ls"])
            @OptionGroup var global: GlobalOptions
            @Argument(help: "The template (name or id).") var template: String
            @OptionGroup var page: PageOptions

            func run() async throws {
                let session = try await global.session()
                let id = try await NameResolver(client: session.client).id(template, Templates.spec)
                try await page.list(Templates.spec.item(id) + "/versions", spec: Resources.templateVersions, client: session.client,
                                    printer: global.printer)
            }
        }

        struct Create: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "create", abstract: "Add a version (versionNumber, changelog, config).")
            @OptionGroup var global: GlobalOptions
            @Argument(help: "The template (name or id).") var template: String
            @Option(help: "The version, e.g. 1.1.0.") var versionNumber: String?
            @Option var changelog: String?
            @OptionGroup var input: BodyOptions

            func run() async throws {
                let session = try await global.session()
                let id = try await NameResolver(client: session.client).id(template, Templates.spec)
                var typed: [String: JSONValue] = [:]
                typed.put("versionNumber", versionNumber); typed.put("changelog", changelog)
                let response = try await session.client.send("POST", Templates.spec.item(id) + "/versions",
                                                             json: try await input.body(typed, client: session.client))
                try global.printer.object(try response.json(), raw: response.body, columns: Resources.templateVersions.columns)
            }
        }
    }
}

// MARK: - Instances

enum Instances: CreatableResource, UpdatableResource {
    static let spec = Resources.instances
    typealias CreateFlags = InstanceFlags
    typealias UpdateFlags = InstancePatchFlags
}

struct InstanceFlags: BodyFlags {
    @Option(help: "Its name.") var name: String?
    @Option(help: "The template (name or id).") var template: String?
    @Option(help: "The template's version.") var templateVersion: String?
    @Option(help: "The image version to boot (instead of the default).") var imageVersion: String?
    @Option(help: "The image tag to boot.") var imageTag: String?
    @Option(name: .customLong("param"), help: "A template parameter name=value (repeatable; value JSON when it parses).")
    var parameters: [String] = []
    @Option(help: "The resource pool (name or id).") var pool: String?
    @Option(help: "The tenant (name or id; ADMIN).") var tenant: String?
    @Option(help: ArgumentHelp("How it shares its machine (default SHARED): " + EnumChoices.of(RentalMode.self))) var rentalMode: String?
    @Option(help: "Stop it after this many seconds.") var timeoutS: Int?
    @Option(name: .customLong("network"), help: "A NIC on this subnet (name or id), optionally subnet=ADDRESS (repeatable).")
    var networks: [String] = []

    func fields() throws -> [String: JSONValue] {
        var f: [String: JSONValue] = [:]
        f.put("name", name); f.put("templateId", template); f.put("templateVersion", templateVersion); f.put("imageVersion", imageVersion)
        f.put("imageTag", imageTag); f.put("resourcePoolId", pool); f.put("tenantId", tenant); f.put("rentalMode", rentalMode)
        f.put("timeoutS", timeoutS)
        if !parameters.isEmpty {
            var values: [String: JSONValue] = [:]
            for parameter in parameters {
                let (path, value) = try BodyBuilder.parseAssignment(parameter)
                values[path.joined(separator: ".")] = value
            }
            f["parameters"] = .object(values)
        }
        if !networks.isEmpty {
            f["networks"] = .array(networks.map { nic in
                let parts = nic.split(separator: "=", maxSplits: 1).map(String.init)
                var object: [String: JSONValue] = ["subnetId": .string(parts[0])]
                if parts.count == 2 { object["ipAddress"] = .string(parts[1]) }
                return .object(object)
            })
        }
        return f
    }
}

struct InstancePatchFlags: BodyFlags {
    @Option var name: String?
    @Option(help: "Stop it after this many seconds.") var timeoutS: Int?

    func fields() throws -> [String: JSONValue] {
        var f: [String: JSONValue] = [:]
        f.put("name", name); f.put("timeoutS", timeoutS)
        return f
    }
}

struct InstanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "instance", abstract: "Instances (create, start, stop, restart and delete are asynchronous: --wait).",
        subcommands: [ListCommand<Instances>.self, ShowCommand<Instances>.self, CreateCommand<Instances>.self,
                      UpdateCommand<Instances>.self, DeleteCommand<Instances>.self,
                      Action<Start>.self, Action<Stop>.self, Action<Restart>.self, ConsoleLog.self, Console.self, DiskAttachments.self],
        aliases: ["instances"])

    protocol Verb { static var name: String { get }; static var abstract: String { get } }
    enum Start: Verb { static let name = "start"; static let abstract = "Start a stopped instance." }
    enum Stop: Verb { static let name = "stop"; static let abstract = "Stop a running instance." }
    enum Restart: Verb { static let name = "restart"; static let abstract = "Restart an instance." }

    /// `instance start|stop|restart NAME|ID [--wait]`.
    struct Action<V: Verb>: AsyncParsableCommand {
        static var configuration: CommandConfiguration { CommandConfiguration(commandName: V.name, abstract: V.abstract) }
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The instance (name or id).") var instance: String
        @OptionGroup var wait: WaitOptions

        func run() async throws {
            try await ActionRunner.run(global, spec: Instances.spec, target: instance, path: "/actions/\(V.name)", wait: wait)
        }
    }

    struct ConsoleLog: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "console-log", abstract: "The tail of an instance's serial console.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The instance (name or id).") var instance: String
        @Option(help: "How many lines.") var lines: Int?

        func run() async throws {
            let session = try await global.session()
            let id = try await NameResolver(client: session.client).id(instance, Instances.spec)
            let response = try await session.client.send("GET", Instances.spec.item(id) + "/console-log",
                                                         query: lines.map { [("lines", String($0))] } ?? [])
            let body = try response.json()
            if global.output == .table || global.output == .wide {
                for line in body["lines"]?.arrayValue ?? [] { global.printer.line(line.stringValue ?? "") }
            } else {
                try global.printer.object(body, raw: response.body)
            }
        }
    }

    /// `instance console NAME|ID [--type serial|vnc]`: the serial console in this terminal through the
    /// coordinator's tunnel (Ctrl-] ends it), or the browser URL of the graphics console.
    struct Console: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "console",
            abstract: "Open an instance's console: its serial port in this terminal (Ctrl-] ends it), or, with --type vnc, "
                + "the browser URL of its screen (single use, valid 60 s).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The instance (name or id).") var instance: String
        @Option(help: "serial (this terminal) or vnc (a browser URL).") var type: String = "serial"
        @Flag(help: "Print the URLs instead of connecting (serial too).") var urlOnly = false

        func run() async throws {
            guard ["serial", "vnc"].contains(type) else { throw CLIError.usage("--type must be serial or vnc") }
            let session = try await global.session()
            let id = try await NameResolver(client: session.client).id(instance, Instances.spec)
            let response = try await session.client.send("POST", Instances.spec.item(id) + "/console", json: .object(["type": .string(type)]))
            let body = try response.json()
            guard type == "serial", !urlOnly else {
                if global.output == .table || global.output == .wide {
                    global.printer.line(body["url"]?.stringValue ?? "")
                } else {
                    try global.printer.object(body, raw: response.body)
                }
                return
            }
            guard let url = body["websocketUrl"]?.stringValue else { throw CLIError.invalidResponse("no websocketUrl in \(body)") }
            let trust: CurlHTTPClient.TrustMode = session.caPEM.map { .caPEM($0) } ?? .system
            let end = try await Self.blocking {
                let socket = try CurlWebSocket.connect(url: url, trust: trust)
                // The coordinator has the token; its host joins a moment later (or refuses, and the close says why).
                FileHandle.standardError.write(Data("Connecting to \(instance)'s serial console through its host; Ctrl-] ends the session.\r\n".utf8))
                let terminal = try TerminalStream()
                defer { terminal.restore() }
                return socket.relay(terminal)
            }
            switch end {
            case .closedByServer(let code, let reason) where code >= 4000:
                throw CLIError.usage("The console closed: \(reason) (\(code))")
            case .connectionLost(let why):
                throw CLIError.usage("The console's connection was lost: \(why)")
            default:
                FileHandle.standardError.write(Data("\r\nConsole closed.\n".utf8))
            }
        }

        static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
            try await withCheckedThrowingContinuation { continuation in
                DispatchQueue(label: "zedgectl.console").async { continuation.resume(with: Result { try body() }) }
            }
        }
    }

    struct DiskAttachments: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "disk-attachments", abstract: "An instance's disk attachments.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The instance (name or id).") var instance: String

        func run() async throws {
            try await ActionRunner.read(global, spec: Instances.spec, target: instance, path: "/disk-attachments",
                                        columns: Resources.diskAttachments.columns, wideColumns: Resources.diskAttachments.wideColumns)
        }
    }
}

// MARK: - Instance sets

enum InstanceSets: CreatableResource, UpdatableResource {
    static let spec = Resources.instanceSets
    typealias CreateFlags = InstanceSetFlags
    typealias UpdateFlags = InstanceSetFlags
}

struct InstanceSetFlags: BodyFlags {
    @Option var name: String?
    @Option var description: String?
    @Option(help: "Its type (create).") var type: String?
    @Option(help: "The tenant (name or id; create).") var tenant: String?
    @Option(help: "The user group (name or id; create).") var group: String?
    @Option var status: String?
    @Option(help: "Tags as JSON.") var tags: String?

    func fields() throws -> [String: JSONValue] {
        var f: [String: JSONValue] = [:]
        f.put("name", name); f.put("description", description); f.put("setType", type); f.put("tenantId", tenant)
        f.put("userGroupId", group); f.put("status", status); f.put(json: "tags", tags)
        return f
    }
}

struct InstanceSetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "instance-set", abstract: "Instance sets and their members.", subcommands: [ListCommand<InstanceSets>.self, ShowCommand<InstanceSets>.self, CreateCommand<InstanceSets>.self,
                      UpdateCommand<InstanceSets>.self, DeleteCommand<InstanceSets>.self, Action<InstanceCommand.Start>.self,
                      Action<InstanceCommand.Stop>.self, Member.self], aliases: ["instance-sets"])

    /// `instance-set start|stop SET [--wait]`: every member (one operation, a step per member).
    struct Action<V: InstanceCommand.Verb>: AsyncParsableCommand {
        static var configuration: CommandConfiguration { CommandConfiguration(commandName: V.name, abstract: "\(V.name) every member.") }
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The set (name or id).") var set: String
        @OptionGroup var wait: WaitOptions

        func run() async throws {
            try await ActionRunner.run(global, spec: InstanceSets.spec, target: set, path: "/actions/\(V.name)", wait: wait, refetch: false)
        }
    }

    struct Member: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "member", abstract: "A set's members.",
                                                        subcommands: [List.self, Add.self, Remove.self])

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "list", abstract: "List a set's members.", aliases: ["ls"])
            @OptionGroup var global: GlobalOptions
            @Argument(help: "The set (name or id).") var set: String
            @OptionGroup var page: PageOptions

            func run() async throws {
                let session = try await global.session()
                let id = try await NameResolver(client: session.client).id(set, InstanceSets.spec)
                try await page.list(InstanceSets.spec.item(id) + "/members", spec: Resources.instanceSetMembers, client: session.client,
                                    printer: global.printer)
            }
        }

        struct Add: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "add", abstract: "Add an instance to a set.")
            @OptionGroup var global: GlobalOptions
            @Argument(help: "The set (name or id).") var set: String
            @Argument(help: "The instance (name or id).") var instance: String
            @Option var role: String?

            func run() async throws {
                let session = try await global.session()
                let resolver = NameResolver(client: session.client)
                let id = try await resolver.id(set, InstanceSets.spec)
                var body: [String: JSONValue] = ["instanceId": .string(try await resolver.id(instance, Instances.spec))]
                body.put("role", role)
                let response = try await session.client.send("POST", InstanceSets.spec.item(id) + "/members", json: .object(body))
                try global.printer.object(try response.json(), raw: response.body, columns: Resources.instanceSetMembers.columns)
            }
        }

        struct Remove: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove an instance from a set.", aliases: ["rm"])
            @OptionGroup var global: GlobalOptions
            @Argument(help: "The set (name or id).") var set: String
            @Argument(help: "The instance (name or id).") var instance: String

            func run() async throws {
                let session = try await global.session()
                let resolver = NameResolver(client: session.client)
                let id = try await resolver.id(set, InstanceSets.spec)
                // The route takes the member row's id: find the row of that instance (or that member id).
                let members = try await session.client.listAll(InstanceSets.spec.item(id) + "/members")
                var member = members.first { $0["id"]?.stringValue == instance }
                if member == nil {
                    let instanceId = try await resolver.id(instance, Instances.spec)
                    member = members.first { $0["instanceId"]?.stringValue == instanceId }
                }
                guard let memberId = member?["id"]?.stringValue else { throw CLIError.notFound("\(instance) is not a member of \(set)") }
                try await session.client.send("DELETE", InstanceSets.spec.item(id) + "/members/" + APIClient.segment(memberId))
            }
        }
    }
}

// MARK: - Virtual machines (read-only)

enum VirtualMachines: ResourceKind { static let spec = Resources.virtualMachines }

struct VirtualMachineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm", abstract: "Virtual machines (read-only: what agents run for instances).", subcommands: [ListCommand<VirtualMachines>.self, ShowCommand<VirtualMachines>.self], aliases: ["vms"])
}
