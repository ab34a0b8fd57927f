import ArgumentParser
import Foundation
import ZedgeCore

enum Disks: CreatableResource, UpdatableResource {
    static let spec = Resources.disks
    typealias CreateFlags = DiskFlags
    typealias UpdateFlags = DiskPatchFlags
}

struct DiskFlags: BodyFlags {
    @Option var name: String?
    @Option(help: "Size in GB.") var sizeGb: Int?
    @Option var diskType: String?
    @Option(help: ArgumentHelp(EnumChoices.of(ShareMode.self))) var shareMode: String?
    @Option(help: "SHARED disks: at most this many attachments (default 2, at most 16).") var maxAttachments: Int?
    @Option(help: "The STORAGE pool (name or id).") var pool: String?
    @Option(help: "The data center whose only STORAGE pool to use (name or id).") var dc: String?
    @Option(help: "The tenant (name or id; ADMIN).") var tenant: String?

    func fields() throws -> [String: JSONValue] {
        var f: [String: JSONValue] = [:]
        f.put("name", name); f.put("sizeGb", sizeGb); f.put("diskType", diskType); f.put("shareMode", shareMode)
        f.put("maxAttachments", maxAttachments); f.put("storagePoolId", pool); f.put("edgeDataCenterId", dc); f.put("tenantId", tenant)
        return f
    }
}

struct DiskPatchFlags: BodyFlags {
    @Option var name: String?
    @Option(help: "Grow to this size in GB (asynchronous).") var sizeGb: Int?

    func fields() throws -> [String: JSONValue] {
        var f: [String: JSONValue] = [:]
        f.put("name", name); f.put("sizeGb", sizeGb)
        return f
    }
}

struct DiskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disk", abstract: "Private data disks (Ceph RBD): create, resize, attach and detach are asynchronous (--wait).",
        subcommands: [ListCommand<Disks>.self, ShowCommand<Disks>.self, CreateCommand<Disks>.self, UpdateCommand<Disks>.self,
                      DeleteCommand<Disks>.self, Resize.self, Attach.self, Detach.self, Attachments.self], aliases: ["disks"])

    struct Resize: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "resize", abstract: "Grow a disk (running guests see the new size).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The disk (name or id).") var disk: String
        @Option(help: "The new size in GB.") var sizeGb: Int
        @OptionGroup var wait: WaitOptions

        func run() async throws {
            let session = try await global.session()
            let id = try await NameResolver(client: session.client).id(disk, Disks.spec)
            let response = try await session.client.send("PATCH", Disks.spec.item(id), json: ["sizeGb": .number(Double(sizeGb))])
            try await Accepted.finish(response, spec: Disks.spec, session: session, wait: wait, printer: global.printer)
        }
    }

    struct Attach: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "attach", abstract: "Attach a disk to an instance.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The disk (name or id).") var disk: String
        @Option(help: "The instance (name or id).") var instance: String
        @Option(help: "Recorded for the guest's use.") var mountPath: String
        @Option(help: "RW (default) or RO.") var mode: String?
        @OptionGroup var wait: WaitOptions

        func run() async throws {
            let session = try await global.session()
            let resolver = NameResolver(client: session.client)
            let id = try await resolver.id(disk, Disks.spec)
            var body: [String: JSONValue] = ["instanceId": .string(try await resolver.id(instance, Resources.instances)),
                                             "mountPath": .string(mountPath)]
            body.put("mountMode", mode)
            let response = try await session.client.send("POST", Disks.spec.item(id) + "/attachments", json: .object(body))
            try await Accepted.finish(response, spec: DiskCommand.attachmentSpec(id), session: session, wait: wait, printer: global.printer)
        }
    }

    struct Detach: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "detach", abstract: "Detach a disk from an instance (the disk is kept).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The disk (name or id).") var disk: String
        @Option(help: "The instance (name or id), or --attachment.") var instance: String?
        @Option(help: "The attachment's id.") var attachment: String?
        @OptionGroup var wait: WaitOptions

        func run() async throws {
            let session = try await global.session()
            let resolver = NameResolver(client: session.client)
            let id = try await resolver.id(disk, Disks.spec)
            var attachmentId = attachment
            if attachmentId == nil {
                guard let instance else { throw CLIError.usage("give --instance or --attachment") }
                let instanceId = try await resolver.id(instance, Resources.instances)
                let attachments = try await session.client.send("GET", Disks.spec.item(id) + "/attachments").json()
                attachmentId = (attachments["items"]?.arrayValue ?? attachments.arrayValue ?? [])
                    .first { $0["instanceId"]?.stringValue == instanceId }?["id"]?.stringValue
                guard attachmentId != nil else { throw CLIError.notFound("the disk is not attached to \(instance)") }
            }
            let response = try await session.client.send("DELETE", Disks.spec.item(id) + "/attachments/" + APIClient.segment(attachmentId!))
            try await Accepted.finish(response, spec: DiskCommand.attachmentSpec(id), session: session, wait: wait, printer: global.printer, refetch: false)
        }
    }

    struct Attachments: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "attachments", abstract: "A disk's attachments.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The disk (name or id).") var disk: String

        func run() async throws {
            try await ActionRunner.read(global, spec: Disks.spec, target: disk, path: "/attachments",
                                        columns: Resources.diskAttachments.columns, wideColumns: Resources.diskAttachments.wideColumns)
        }
    }

    static func attachmentSpec(_ diskId: String) -> ResourceSpec {
        var spec = Resources.diskAttachments
        spec.path = Disks.spec.item(diskId) + "/attachments"
        return spec
    }
}
