import ArgumentParser
import Foundation
import ZedgeCore

enum Images: CreatableResource, UpdatableResource {
    static let spec = Resources.images
    typealias CreateFlags = ImageFlags
    typealias UpdateFlags = ImageFlags
}

struct ImageFlags: BodyFlags {
    @Option var name: String?
    @Option var description: String?
    @Option(help: ArgumentHelp(EnumChoices.of(ImageType.self))) var type: String?
    @Option var os: String?
    @Option var osVersion: String?
    @Option(help: "e.g. x86_64.") var architecture: String?
    @Option(help: ArgumentHelp(EnumChoices.of(ImageVisibility.self))) var visibility: String?
    @Option(help: "The tenant (name or id).") var tenant: String?
    @Option var status: String?

    func fields() throws -> [String: JSONValue] {
        var f: [String: JSONValue] = [:]
        f.put("name", name); f.put("description", description); f.put("imageType", type); f.put("baseOs", os)
        f.put("osVersion", osVersion); f.put("architecture", architecture); f.put("visibility", visibility); f.put("tenantId", tenant)
        f.put("status", status)
        return f
    }
}

/// An image's version addressed by id or version number.
struct ImageVersionRef {
    let imageId: String
    let versionId: String

    static func resolve(_ image: String, _ version: String, client: APIClient) async throws -> ImageVersionRef {
        let imageId = try await NameResolver(client: client).id(image, Images.spec)
        let versions = ResourceSpec(noun: "version of \(image)", plural: "versions of \(image)", path: Images.spec.item(imageId) + "/versions",
                                    nameField: "versionNumber", columns: [])
        return ImageVersionRef(imageId: imageId, versionId: try await NameResolver(client: client).id(version, versions))
    }

    var path: String { Images.spec.item(imageId) + "/versions/" + APIClient.segment(versionId) }
}

struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image", abstract: "Images, their versions, tags and files.", subcommands: [ListCommand<Images>.self, ShowCommand<Images>.self, CreateCommand<Images>.self, UpdateCommand<Images>.self,
                      DeleteCommand<Images>.self, Version.self, Tag.self, Upload.self, Download.self], aliases: ["images"])

    /// `image upload IMAGE VERSION FILE`: streams the file (PUT …/file) with a bytes-and-rate progress bar.
    struct Upload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "upload", abstract: "Upload a version's file (qcow2 or raw), streamed, with progress.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The image (name or id).") var image: String
        @Argument(help: "The version (number or id).") var version: String
        @Argument(help: "The file.", completion: .file()) var file: String
        @Flag(help: "No progress output.") var quiet = false

        func run() async throws {
            let session = try await global.session()
            let ref = try await ImageVersionRef.resolve(image, version, client: session.client)
            // A version takes its file once: say so before sending gigabytes the coordinator would refuse.
            let current = try await session.client.send("GET", ref.path).json()
            if current["checksumSha256"]?.stringValue != nil {
                throw CLIError.usage("version \(version) of \(image) has its file already (sha256 "
                    + "\(current["checksumSha256"]?.stringValue ?? "")); publish a new version for new bits")
            }
            let source = try FileUpload(path: file, showProgress: !quiet)
            var headers = ["content-type": "application/octet-stream", "accept": "application/json"]
            if let token = try await session.client.tokens.bearer() { headers["authorization"] = "Bearer \(token)" }
            let response = try await session.client.transport.http.upload(
                "PUT", url: session.client.transport.baseURL + ref.path + "/file", headers: headers, from: source)
            source.finish(succeeded: (200..<300).contains(response.status))
            guard (200..<300).contains(response.status) else {
                throw CLIError.api(Problem.parse(status: response.status, body: response.body))
            }
            try global.printer.object(try response.json(),
                                      raw: response.body, columns: Resources.imageVersions.columns)
        }
    }

    /// `image download IMAGE VERSION [-O FILE]`: streams the version's file to disk with a progress bar.
    struct Download: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "download", abstract: "Download a version's file, streamed, with progress.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The image (name or id).") var image: String
        @Argument(help: "The version (number or id).") var version: String
        @Option(name: [.customShort("O"), .customLong("output-file")], help: "Where to write it (default: IMAGE-VERSION.img here).",
                completion: .file())
        var outputFile: String?
        @Flag(help: "No progress output.") var quiet = false

        func run() async throws {
            let session = try await global.session()
            let ref = try await ImageVersionRef.resolve(image, version, client: session.client)
            let path = outputFile ?? "\(image)-\(version).img"
            let sink = try FileDownload(path: path, showProgress: !quiet)
            var headers = ["accept": "application/octet-stream"]
            if let token = try await session.client.tokens.bearer() { headers["authorization"] = "Bearer \(token)" }
            let outcome = try await session.client.transport.http.download(
                url: session.client.transport.baseURL + ref.path + "/file", headers: headers, into: sink)
            let succeeded = outcome.status == 200 && !outcome.abortedBySink
            sink.finish(succeeded: succeeded)
            guard succeeded else {
                try? FileManager.default.removeItem(atPath: path)
                if sink.writeFailed { throw CLIError.usage("cannot write \(path)") }
                throw CLIError.api(Problem.parse(status: outcome.status, body: sink.errorBody ?? Data()))
            }
            FileHandle.standardError.write(Data("\(path): \(outcome.bodyBytes) bytes, sha256 \(outcome.headers["etag"]?.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) ?? "?")\n".utf8))
        }
    }

    struct Version: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "version", abstract: "An image's versions.", subcommands: [List.self, Show.self, Create.self, Update.self, Delete.self, Prefetch.self], aliases: ["versions"])

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "list", abstract: "List an image's versions.", aliases: ["ls"])
            @OptionGroup var global: GlobalOptions
            @Argument(help: "The image (name or id).") var image: String
            @OptionGroup var page: PageOptions

            func run() async throws {
                let session = try await global.session()
                let id = try await NameResolver(client: session.client).id(image, Images.spec)
                try await page.list(Images.spec.item(id) + "/versions", spec: Resources.imageVersions, client: session.client, printer: global.printer)
            }
        }

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a version.", aliases: ["get"])
            @OptionGroup var global: GlobalOptions
            @Argument(help: "The image (name or id).") var image: String
            @Argument(help: "The version (number or id).") var version: String

            func run() async throws {
                let session = try await global.session()
                let ref = try await ImageVersionRef.resolve(image, version, client: session.client)
                let response = try await session.client.send("GET", ref.path)
                try global.printer.object(try response.json(), raw: response.body, columns: Resources.imageVersions.columns)
            }
        }

        struct Create: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "create", abstract: "Add a version (no file yet: upload it next).")
            @OptionGroup var global: GlobalOptions
            @Argument(help: "The image (name or id).") var image: String
            @Option(help: "The version, e.g. 1.0.") var versionNumber: String?
            @Option var versionName: String?
            @Option var releaseNotes: String?
            @Option(help: "true to make it the default.") var isDefault: Bool?
            @OptionGroup var input: BodyOptions

            func run() async throws {
                let session = try await global.session()
                let id = try await NameResolver(client: session.client).id(image, Images.spec)
                var typed: [String: JSONValue] = [:]
                typed.put("versionNumber", versionNumber); typed.put("versionName", versionName)
                typed.put("releaseNotes", releaseNotes); typed.put("isDefault", isDefault)
                let response = try await session.client.send("POST", Images.spec.item(id) + "/versions",
                                                             json: try await input.body(typed, client: session.client))
                try global.printer.object(try response.json(), raw: response.body, columns: Resources.imageVersions.columns)
            }
        }

        struct Update: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "update", abstract: "Change a version's status, default flag, name or notes.")
            @OptionGroup var global: GlobalOptions
            @Argument(help: "The image (name or id).") var image: String
            @Argument(help: "The version (number or id).") var version: String
            @Option var status: String?
            @Option var versionName: String?
            @Option var releaseNotes: String?
            @Option(help: "true to make it the default.") var isDefault: Bool?
            @OptionGroup var input: BodyOptions

            func run() async throws {
                let session = try await global.session()
                let ref = try await ImageVersionRef.resolve(image, version, client: session.client)
                var typed: [String: JSONValue] = [:]
                typed.put("status", status); typed.put("versionName", versionName); typed.put("releaseNotes", releaseNotes)
                typed.put("isDefault", isDefault)
                let response = try await session.client.send("PATCH", ref.path, json: try await input.body(typed, client: session.client))
                try global.printer.object(try response.json(), raw: response.body, columns: Resources.imageVersions.columns)
            }
        }

        struct Delete: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a version and its tags.", aliases: ["rm"])
            @OptionGroup var global: GlobalOptions
            @Argument(help: "The image (name or id).") var image: String
            @Argument(help: "The version (number or id).") var version: String

            func run() async throws {
                let session = try await global.session()
                let ref = try await ImageVersionRef.resolve(image, version, client: session.client)
                try await session.client.send("DELETE", ref.path)
            }
        }

        struct Prefetch: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "prefetch", abstract: "Warm a data center's (or machines') image caches.")
            @OptionGroup var global: GlobalOptions
            @Argument(help: "The image (name or id).") var image: String
            @Argument(help: "The version (number or id).") var version: String
            @Option(help: "The data center (name or id).") var dc: String?
            @Option(help: "A machine (name or id; repeatable).") var machine: [String] = []
            @OptionGroup var wait: WaitOptions

            func run() async throws {
                let session = try await global.session()
                let resolver = NameResolver(client: session.client)
                let ref = try await ImageVersionRef.resolve(image, version, client: session.client)
                var body: [String: JSONValue] = [:]
                if let dc { body["edgeDataCenterId"] = .string(try await resolver.id(dc, Resources.dataCenters)) }
                if !machine.isEmpty {
                    var ids: [JSONValue] = []
                    for name in machine { ids.append(.string(try await resolver.id(name, Resources.machines))) }
                    body["computeMachineIds"] = .array(ids)
                }
                let response = try await session.client.send("POST", ref.path + "/actions/prefetch", json: .object(body))
                try await Accepted.finish(response, spec: Resources.operations, session: session, wait: wait, printer: global.printer, refetch: false)
            }
        }
    }

    struct Tag: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tag", abstract: "An image's tags.", subcommands: [List.self, Show.self, Create.self, Update.self, Delete.self], aliases: ["tags"])

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "list", abstract: "List an image's tags.", aliases: ["ls"])
            @OptionGroup var global: GlobalOptions
            @Argument(help: "The image (name or id).") var image: String
            @OptionGroup var page: PageOptions

            func run() async throws {
                let session = try await global.session()
                let id = try await NameResolver(client: session.client).id(image, Images.spec)
                try await page.list(Images.spec.item(id) + "/tags", spec: Resources.imageTags, client: session.client, printer: global.printer)
            }
        }

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a tag.", aliases: ["get"])
            @OptionGroup var global: GlobalOptions
            @Argument(help: "The image (name or id).") var image: String
            @Argument(help: "The tag.") var tag: String

            func run() async throws {
                let session = try await global.session()
                let id = try await NameResolver(client: session.client).id(image, Images.spec)
                let response = try await session.client.send("GET", Images.spec.item(id) + "/tags/" + APIClient.segment(tag))
                try global.printer.object(try response.json(), raw: response.body, columns: Resources.imageTags.columns)
            }
        }

        struct Create: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "create", abstract: "Tag a version.")
            @OptionGroup var global: GlobalOptions
            @Argument(help: "The image (name or id).") var image: String
            @Argument(help: "The tag.") var tag: String
            @Option(help: "The version (number or id).") var version: String
            @Flag(help: "An immutable tag never moves.") var immutable = false

            func run() async throws {
                let session = try await global.session()
                let ref = try await ImageVersionRef.resolve(image, version, client: session.client)
                let body: JSONValue = ["tagName": .string(tag), "versionId": .string(ref.versionId), "isImmutable": .bool(immutable)]
                let response = try await session.client.send("POST", Images.spec.item(ref.imageId) + "/tags", json: body)
                try global.printer.object(try response.json(), raw: response.body, columns: Resources.imageTags.columns)
            }
        }

        struct Update: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "update", abstract: "Move a tag, or make it immutable.")
            @OptionGroup var global: GlobalOptions
            @Argument(help: "The image (name or id).") var image: String
            @Argument(help: "The tag.") var tag: String
            @Option(help: "The version to move it to (number or id).") var version: String?
            @Option(help: "true to make it immutable.") var immutable: Bool?

            func run() async throws {
                let session = try await global.session()
                let id = try await NameResolver(client: session.client).id(image, Images.spec)
                var body: [String: JSONValue] = [:]
                if let version { body["versionId"] = .string(try await ImageVersionRef.resolve(id, version, client: session.client).versionId) }
                body.put("isImmutable", immutable)
                let response = try await session.client.send("PATCH", Images.spec.item(id) + "/tags/" + APIClient.segment(tag), json: .object(body))
                try global.printer.object(try response.json(), raw: response.body, columns: Resources.imageTags.columns)
            }
        }

        struct Delete: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a tag.", aliases: ["rm"])
            @OptionGroup var global: GlobalOptions
            @Argument(help: "The image (name or id).") var image: String
            @Argument(help: "The tag.") var tag: String

            func run() async throws {
                let session = try await global.session()
                let id = try await NameResolver(client: session.client).id(image, Images.spec)
                try await session.client.send("DELETE", Images.spec.item(id) + "/tags/" + APIClient.segment(tag))
            }
        }
    }
}
