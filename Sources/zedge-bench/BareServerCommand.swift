import ArgumentParser
import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import ZedgeCoordinator
import ZedgeCore

/// `zedge-bench bare-server`: the ceiling. A bare Hummingbird server with the same TLS as the coordinator
/// (its own CA and an ECDSA P-256 server certificate, made the same way) and endpoints shaped like the real
/// ones: the same JSON decoded and answered, credentials in a dictionary, tasks in memory; no database, no
/// middleware. `zedge-bench agents` starts it as a child process so that its CPU and memory are measured
/// as the coordinator's are.
struct BareServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bare-server",
        abstract: "Run the bare Hummingbird ceiling server (zedge-bench agents starts it itself).")

    @Option(help: "HOST:PORT to listen on (port 0: any free port, printed).")
    var listen = "127.0.0.1:0"
    @Option(help: "Directory for the TLS material (made if absent).")
    var dataDir: String
    @Option(help: "The heartbeat interval answered to agents, seconds.")
    var heartbeatInterval = 10

    private struct TaskBody: Decodable {
        var kind: TaskKind
        var payload: JSONValue?
        var maxAttempts: Int?
    }

    private struct Queued: Encodable {
        struct Ref: Encodable { var id: UUID; var status: String }
        var operation: Ref
        var task: Ref
    }

    private struct InstanceBody: Decodable {
        var name: String
        var templateId: UUID
        var tenantId: UUID?
    }

    private struct InstanceAccepted: Encodable {
        struct Ref: Encodable { var id: UUID; var name: String?; var status: String }
        var instance: Ref
        var operation: Ref
    }

    func run() async throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw ValidationError("--listen must be HOST:PORT")
        }
        let host = String(listen[..<colon])
        let tls = try TLSMaterial.loadOrCreate(dataDirectory: dataDir, hostnames: [host])
        var logger = Logger(label: "zedge.bench.bare")
        logger.logLevel = .warning
        let mailbox = BareMailbox()
        let interval = heartbeatInterval
        let router = Router()

        router.post("/agent/v1/register") { request, context -> Response in
            _ = try await Self.decode(RegisterRequest.self, request, context)
            let (machineId, credential) = mailbox.register()
            return try Self.json(RegisterResponse(
                agentId: UUID(), machineId: machineId, cloudBoxId: nil, credential: credential, heartbeatIntervalS: interval),
                status: .created)
        }
        router.post("/agent/v1/heartbeat") { request, context -> Response in
            guard mailbox.machine(authorization: request.headers[.authorization]) != nil else { return Response(status: .unauthorized) }
            _ = try await Self.decode(HeartbeatRequest.self, request, context)
            return try Self.json(HeartbeatResponse(heartbeatIntervalS: interval, serverTime: Date()))
        }
        router.get("/agent/v1/tasks") { request, _ -> Response in
            guard let machine = mailbox.machine(authorization: request.headers[.authorization]) else { return Response(status: .unauthorized) }
            let wait = request.uri.queryParameters.get("wait", as: Int.self) ?? 0
            guard (0...60).contains(wait) else { return Response(status: .badRequest) }
            let tasks = await mailbox.poll(machine, wait: .seconds(wait))
            return try Self.json(TaskPollResponse(tasks: tasks))
        }
        router.post("/agent/v1/tasks/:id/result") { request, context -> Response in
            guard mailbox.machine(authorization: request.headers[.authorization]) != nil else { return Response(status: .unauthorized) }
            _ = try await Self.decode(TaskResultReport.self, request, context)
            return Response(status: .noContent)
        }
        router.post("/api/v1/compute-machines/:id/tasks") { request, context -> Response in
            guard let machine = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else { return Response(status: .notFound) }
            let body = try await Self.decode(TaskBody.self, request, context)
            let task = TaskAssignment(
                id: UUID(), kind: body.kind, payload: body.payload ?? [:], attempt: 1, leaseExpiresAt: Date().addingTimeInterval(120))
            mailbox.enqueue(task, for: machine)
            return try Self.json(Queued(operation: .init(id: UUID(), status: "QUEUED"), task: .init(id: task.id, status: "QUEUED")),
                                 status: .accepted)
        }

        // An instance create: the body decoded, a vm.create task handed to the next machine in turn.
        router.post("/api/v1/instances") { request, context -> Response in
            let body = try await Self.decode(InstanceBody.self, request, context)
            guard let machine = mailbox.nextMachine() else { return Response(status: .conflict) }
            let vm = UUID()
            let task = TaskAssignment(
                id: UUID(), kind: .vmCreate,
                payload: ["spec": ["uuid": .string(vm.uuidString.lowercased()), "name": .string("zedge-\(vm.uuidString.prefix(8).lowercased())")]],
                attempt: 1, leaseExpiresAt: Date().addingTimeInterval(120))
            mailbox.enqueue(task, for: machine)
            return try Self.json(InstanceAccepted(instance: .init(id: UUID(), name: body.name, status: "CREATING"),
                                                  operation: .init(id: UUID(), status: "QUEUED")), status: .accepted)
        }

        let app = Application(
            router: router,
            server: try .tls(.http1(), tlsConfiguration: tls.serverConfiguration()),
            configuration: .init(address: .hostname(host, port: port), serverName: "zedge-bench-bare"),
            onServerRunning: { channel in
                print("zedge-bench bare server listening on https://\(host):\(channel.localAddress?.port ?? port)")
                fflush(nil)
            },
            logger: logger)
        try await app.runService()
    }

    /// The same decoding as the coordinator's last step (ZedgeJSON), without its strict-field pass.
    static func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: some RequestContext) async throws -> T {
        let buffer = try await request.body.collect(upTo: 1 << 20)
        do {
            return try ZedgeJSON.decoder().decode(type, from: Data(buffer.readableBytesView))
        } catch {
            throw HTTPError(.badRequest, message: "bad JSON: \(error)")
        }
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(bytes: try ZedgeJSON.encoder().encode(value))))
    }
}
