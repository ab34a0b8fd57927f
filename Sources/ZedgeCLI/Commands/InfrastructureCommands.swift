import ArgumentParser
import Foundation
import ZedgeCore

// MARK: - Edge data centers

enum DataCenters: CreatableResource, UpdatableResource {
    static let spec = Resources.dataCenters
    typealias CreateFlags = DataCenterFlags
    typealias UpdateFlags = DataCenterFlags
}

struct DataCenterFlags: BodyFlags {
    @Option var name: String?
    @Option var location: String?
    @Option(help: "ACTIVE, MAINTENANCE, …") var status: String?
    @Option(help: "Network settings as JSON.") var networkConfig: String?

    func fields() throws -> [String: JSONValue] {
        var f: [String: JSONValue] = [:]
        f.put("name", name); f.put("location", location); f.put("status", status); f.put(json: "networkConfig", networkConfig)
        return f
    }
}

struct DataCenterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dc", abstract: "Edge data centers.", subcommands: [ListCommand<DataCenters>.self, ShowCommand<DataCenters>.self, CreateCommand<DataCenters>.self,
                      UpdateCommand<DataCenters>.self, DeleteCommand<DataCenters>.self], aliases: ["dcs", "data-center", "data-centers"])
}

// MARK: - Resource pools

enum Pools: CreatableResource, UpdatableResource {
    static let spec = Resources.pools
    typealias CreateFlags = PoolFlags
    typealias UpdateFlags = PoolFlags
}

struct PoolFlags: BodyFlags {
    @Option var name: String?
    @Option var description: String?
    @Option(help: "Its data center (name or id).") var dc: String?
    @Option(help: "COMPUTE (default), STORAGE or IP_ADDRESS.") var type: String?
    @Option var schedulingPolicy: String?
    @Option var status: String?
    @Option(help: "STORAGE pools: {\"monitors\": [\"10.0.0.11:6789\"], \"rbdPool\": …, \"cephUser\": …} as JSON.") var storageConfig: String?
    @Flag(help: "STORAGE pools: read the cephx key from the first line of standard input.") var cephKeyStdin = false

    func fields() throws -> [String: JSONValue] {
        var f: [String: JSONValue] = [:]
        f.put("name", name); f.put("description", description); f.put("edgeDataCenterId", dc); f.put("poolType", type)
        f.put("schedulingPolicy", schedulingPolicy); f.put("status", status); f.put(json: "storageConfig", storageConfig)
        if cephKeyStdin { f.put("cephKey", PasswordPrompt.firstLineOfStandardInput()) }
        return f
    }
}

struct PoolCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool", abstract: "Resource pools (compute, storage, IP addresses).", subcommands: [ListCommand<Pools>.self, ShowCommand<Pools>.self, CreateCommand<Pools>.self,
                      UpdateCommand<Pools>.self, DeleteCommand<Pools>.self], aliases: ["pools"])
}

// MARK: - Compute machines

enum Machines: UpdatableResource {
    static let spec = Resources.machines
    typealias UpdateFlags = MachineFlags
}

struct MachineFlags: BodyFlags {
    @Option var name: String?
    @Option(help: ArgumentHelp(EnumChoices.of(ComputeMachineStatus.self, except: [.offline]) + " OFFLINE comes from missed heartbeats.")) var status: String?
    @Option(help: ArgumentHelp("Which instances it takes: " + EnumChoices.of(RentalMode.self))) var rentalMode: String?
    @Option var businessIp: String?
    @Option(help: "Tags as JSON.") var tags: String?

    func fields() throws -> [String: JSONValue] {
        var f: [String: JSONValue] = [:]
        f.put("name", name); f.put("status", status); f.put("rentalMode", rentalMode); f.put("businessIp", businessIp)
        f.put(json: "tags", tags)
        return f
    }
}

struct MachineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "machine", abstract: "Compute machines (hosts with an agent).", subcommands: [ListCommand<Machines>.self, ShowCommand<Machines>.self, UpdateCommand<Machines>.self, DeleteCommand<Machines>.self,
                      Enroll.self, Evacuate.self, Metrics.self, ObservedVms.self, CachedImages.self, RevokeCredential.self, TaskCommand.self], aliases: ["machines"])

    /// `machine enroll --dc DC --pool P [--uses N]`: a COMPUTE_MACHINE token and the agent's register line.
    struct Enroll: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "enroll", abstract: "Print the one command that enrolls a compute machine (with a fresh token).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The data center (name or id).") var dc: String
        @Option(help: "The resource pool (name or id).") var pool: String
        @Option(help: "How many machines the token may enroll.") var uses = 1
        @Option(help: "When the token expires (RFC 3339).") var expiresAt: String?

        func run() async throws {
            let session = try await global.session()
            let resolver = NameResolver(client: session.client)
            let dcId = try await resolver.id(dc, Resources.dataCenters)
            let poolId = try await resolver.id(pool, Resources.pools)
            try await TechnicianCommand.issue(session: session, printer: global.printer, kind: .computeMachine, dataCenterId: dcId,
                                              poolId: poolId, uses: uses, expiresAt: expiresAt, extra: [])
        }
    }

    struct Evacuate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "evacuate", abstract: "Move every instance off a machine.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The machine (name or id).") var machine: String
        @OptionGroup var wait: WaitOptions

        func run() async throws {
            try await ActionRunner.run(global, spec: Machines.spec, target: machine, path: "/actions/evacuate", wait: wait, refetch: false)
        }
    }

    struct Metrics: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "metrics", abstract: "A machine's recent metric samples.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The machine (name or id).") var machine: String
        @OptionGroup var page: PageOptions

        func run() async throws {
            try await ActionRunner.read(global, spec: Machines.spec, target: machine, path: "/metrics", query: try page.query(),
                                        columns: MetricColumns.columns, wideColumns: MetricColumns.wide)
        }
    }

    struct ObservedVms: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "observed-vms", abstract: "The domains the machine's agent last reported.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The machine (name or id).") var machine: String

        func run() async throws {
            try await ActionRunner.read(global, spec: Machines.spec, target: machine, path: "/observed-vms",
                                        columns: [Column("UUID", "vmUuid"), Column("NAME", "vmName"), Column("STATE", "state")])
        }
    }

    struct CachedImages: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "cached-images", abstract: "The images the machine's agent caches.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The machine (name or id).") var machine: String

        func run() async throws {
            try await ActionRunner.read(global, spec: Machines.spec, target: machine, path: "/cached-images",
                                        columns: [Column("SHA256", "sha256"), Column("REPORTED", "reportedAt")])
        }
    }

    struct RevokeCredential: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke-credential", abstract: "Revoke the machine agent's credential.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The machine (name or id).") var machine: String

        func run() async throws {
            let session = try await global.session()
            let id = try await NameResolver(client: session.client).id(machine, Machines.spec)
            try await session.client.send("DELETE", Machines.spec.item(id) + "/credential")
        }
    }

    /// `machine task MACHINE --kind KIND [--payload JSON]`: an operator's direct task.
    struct TaskCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "task", abstract: "Queue a task for the machine's agent.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The machine (name or id).") var machine: String
        @Option(help: "The task kind, e.g. vm.stop.") var kind: String
        @Option(help: "Its payload as JSON.") var payload: String?
        @Option(help: "Attempts before it FAILS.") var maxAttempts: Int?
        @OptionGroup var wait: WaitOptions

        func run() async throws {
            var body: [String: JSONValue] = ["kind": .string(kind)]
            body.put(json: "payload", payload)
            body.put("maxAttempts", maxAttempts)
            try await ActionRunner.run(global, spec: Machines.spec, target: machine, path: "/tasks", body: .object(body), wait: wait, refetch: false)
        }
    }
}

/// Columns of `GET …/metrics`.
enum MetricColumns {
    static let columns = [Column("TIME", "recordedAt"), Column("CPU %", "cpuUsagePercent"), Column("MEMORY %", "memoryUsagePercent"),
                          Column("DISK %", "diskUsagePercent")]
    static let wide = [Column("TEMPERATURE", "temperature")]
}

// MARK: - CloudBoxes

enum CloudBoxes: CreatableResource, UpdatableResource {
    static let spec = Resources.cloudBoxes
    typealias CreateFlags = CloudBoxFlags
    typealias UpdateFlags = CloudBoxFlags
}

struct CloudBoxFlags: BodyFlags {
    @Option(help: "Its serial number (create).") var serial: String?
    @Option(help: "Its data center (name or id; create).") var dc: String?
    @Option var name: String?
    @Option var location: String?
    @Option var model: String?
    @Option var manufacturer: String?
    @Option(help: "The user it is assigned to (username or id).") var assignedUser: String?
    @Option(help: "true to disable it.") var disabled: Bool?
    @Option(help: "Tags as JSON.") var tags: String?

    func fields() throws -> [String: JSONValue] {
        var f: [String: JSONValue] = [:]
        f.put("serialNumber", serial); f.put("edgeDataCenterId", dc); f.put("name", name); f.put("location", location)
        f.put("model", model); f.put("manufacturer", manufacturer); f.put("assignedUserId", assignedUser); f.put("isDisabled", disabled)
        f.put(json: "tags", tags)
        return f
    }
}

struct CloudBoxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cloudbox", abstract: "CloudBoxes.", subcommands: [ListCommand<CloudBoxes>.self, ShowCommand<CloudBoxes>.self, Register.self, CreateCommand<CloudBoxes>.self,
                      UpdateCommand<CloudBoxes>.self, Bind.self, Unbind.self, ConfigureNetwork.self, Reboot.self, Metrics.self,
                      RevokeCredential.self], aliases: ["cloudboxes", "cloud-box", "cloud-boxes"])

    /// `cloudbox register --serial S --dc DC [--location L --model M]`: pre-registers the box and prints the
    /// agent's register line with a fresh single-use CLOUD_BOX token. A box already pre-registered with that
    /// serial keeps its record (a new token is issued).
    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "register", abstract: "Pre-register a CloudBox and print the one command to run on it.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The serial number on the box.") var serial: String
        @Option(help: "Its data center (name or id).") var dc: String
        @Option(help: "Where it is (room, shelf).") var location: String?
        @Option(help: "Its model.") var model: String?
        @Option(help: "Its name.") var name: String?
        @Option(help: "When the token expires (RFC 3339).") var expiresAt: String?

        func run() async throws {
            let session = try await global.session()
            let resolver = NameResolver(client: session.client)
            let dcId = try await resolver.id(dc, Resources.dataCenters)
            var body: [String: JSONValue] = ["serialNumber": .string(serial), "edgeDataCenterId": .string(dcId)]
            body.put("location", location); body.put("model", model); body.put("name", name)
            let box: JSONValue
            do {
                box = try await session.client.send("POST", CloudBoxes.spec.path, json: .object(body)).json()
            } catch CLIError.api(let problem) where problem.status == 409 {
                let id = try await resolver.id(serial, CloudBoxes.spec)
                box = try await session.client.send("GET", CloudBoxes.spec.item(id)).json()
                FileHandle.standardError.write(Data("CloudBox \(serial) was pre-registered already (\(id)); issuing a new token.\n".utf8))
            }
            try await TechnicianCommand.issue(session: session, printer: global.printer, kind: .cloudBox, dataCenterId: dcId, poolId: nil,
                                              uses: 1, expiresAt: expiresAt, extra: ["--serial-number", serial], cloudBox: box)
        }
    }

    struct Bind: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "bind", abstract: "Bind a CloudBox to an instance until a time.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The CloudBox (serial or id).") var box: String
        @Option(help: "The instance (name or id).") var instance: String
        @Option(help: "Until when (RFC 3339).") var expiresAt: String
        @OptionGroup var wait: WaitOptions

        func run() async throws {
            let session = try await global.session()
            let instanceId = try await NameResolver(client: session.client).id(instance, Resources.instances)
            try await ActionRunner.run(global, spec: CloudBoxes.spec, target: box, path: "/actions/bind",
                                       body: ["instanceId": .string(instanceId), "expiresAt": .string(expiresAt)], wait: wait)
        }
    }

    struct Unbind: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "unbind", abstract: "End a CloudBox's binding.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The CloudBox (serial or id).") var box: String
        @Option var reason: String?
        @OptionGroup var wait: WaitOptions

        func run() async throws {
            var body: [String: JSONValue] = [:]
            body.put("reason", reason)
            try await ActionRunner.run(global, spec: CloudBoxes.spec, target: box, path: "/actions/unbind", body: .object(body), wait: wait)
        }
    }

    struct ConfigureNetwork: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "configure-network", abstract: "DHCP, STATIC with an address, or STATIC from a place's subnet.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The CloudBox (serial or id).") var box: String
        @Option(help: "DHCP or STATIC.") var mode: String?
        @Option(help: "STATIC from this place's IPv4 subnet (name or id).") var place: String?
        @Option var ipAddress: String?
        @Option var subnetMask: String?
        @Option var gateway: String?
        @Option(help: "DNS servers (repeatable).") var dns: [String] = []
        @OptionGroup var wait: WaitOptions

        func run() async throws {
            var body: [String: JSONValue] = [:]
            body.put("networkMode", mode); body.put("placeId", place); body.put("ipAddress", ipAddress)
            body.put("subnetMask", subnetMask); body.put("gateway", gateway); body.put("dnsServers", dns)
            let session = try await global.session()
            let resolved = try await NameResolver(client: session.client).resolveReferences(body)
            try await ActionRunner.run(global, spec: CloudBoxes.spec, target: box, path: "/actions/configure-network",
                                       body: .object(resolved), wait: wait)
        }
    }

    struct Reboot: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "reboot", abstract: "Reboot a CloudBox.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The CloudBox (serial or id).") var box: String
        @Option var reason: String?
        @OptionGroup var wait: WaitOptions

        func run() async throws {
            var body: [String: JSONValue] = [:]
            body.put("reason", reason)
            try await ActionRunner.run(global, spec: CloudBoxes.spec, target: box, path: "/actions/reboot", body: .object(body), wait: wait)
        }
    }

    struct Metrics: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "metrics", abstract: "A CloudBox's recent metric samples.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The CloudBox (serial or id).") var box: String
        @OptionGroup var page: PageOptions

        func run() async throws {
            try await ActionRunner.read(global, spec: CloudBoxes.spec, target: box, path: "/metrics", query: try page.query(),
                                        columns: MetricColumns.columns, wideColumns: MetricColumns.wide)
        }
    }

    struct RevokeCredential: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke-credential", abstract: "Revoke the CloudBox agent's credential.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The CloudBox (serial or id).") var box: String

        func run() async throws {
            let session = try await global.session()
            let id = try await NameResolver(client: session.client).id(box, CloudBoxes.spec)
            try await session.client.send("DELETE", CloudBoxes.spec.item(id) + "/credential")
        }
    }
}

// MARK: - Enrollment tokens

enum EnrollmentTokens: CreatableResource {
    static let spec = Resources.enrollmentTokens
    typealias CreateFlags = EnrollmentTokenFlags
}

struct EnrollmentTokenFlags: BodyFlags {
    @Option(help: "The data center (name or id).") var dc: String?
    @Option(help: "The resource pool (name or id; compute machines).") var pool: String?
    @Option(help: ArgumentHelp(EnumChoices.of(EnrollmentKind.self))) var kind: String?
    @Option(help: "How many registrations it allows (default 1).") var uses: Int?
    @Option(help: "When it expires (RFC 3339).") var expiresAt: String?

    func fields() throws -> [String: JSONValue] {
        var f: [String: JSONValue] = [:]
        f.put("edgeDataCenterId", dc); f.put("resourcePoolId", pool); f.put("kind", kind); f.put("uses", uses); f.put("expiresAt", expiresAt)
        return f
    }
}

struct EnrollmentTokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enrollment-token", abstract: "Enrollment tokens (the token is shown once, by create; delete revokes).",
        subcommands: [ListCommand<EnrollmentTokens>.self, ShowCommand<EnrollmentTokens>.self, CreateCommand<EnrollmentTokens>.self,
                      DeleteCommand<EnrollmentTokens>.self], aliases: ["enrollment-tokens"])
}
