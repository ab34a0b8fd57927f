import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Synchronization
import ZedgeCore
import ZedgeTransport

/// The host's side of console tunnels (issue #16): for a `vm.console-open` call, opens the VM's serial console
/// or graphics, dials a WebSocket back to the coordinator (its own credential, the pinned CA, through libcurl:
/// no inbound connection to the host, no SwiftNIO server), and relays between them until either side ends.
/// Each tunnel runs on threads of its own.
public final class ConsoleTunnels: Sendable {
    let libvirtURI: String
    /// This host's VMs' graphics passwords: a CloudBox ticket is rotated away once used. Nil on hosts without a
    /// hypervisor (then tickets are not one-time).
    let tickets: GraphicsTickets?
    let coordinator: String
    let credential: String
    let caPEM: String
    let logger: Logger
    private let open = Mutex<[UUID: CurlWebSocket]>([:])

    public init(libvirtURI: String, tickets: GraphicsTickets?, coordinator: String, credential: String, caPEM: String, logger: Logger) {
        self.libvirtURI = libvirtURI
        self.tickets = tickets
        var base = coordinator
        while base.hasSuffix("/") { base.removeLast() }
        self.coordinator = base
        self.credential = credential
        self.caPEM = caPEM
        self.logger = logger
    }

    /// How many tunnels are open now.
    public var count: Int { open.withLock { $0.count } }

    /// Opens the console and the WebSocket; returns once both are up (the relay goes on in the background).
    /// Throws when the VM has no such console here or the coordinator refuses the WebSocket.
    public func open(_ call: ConsoleOpenCall) async throws {
        var base = call.dialURL ?? coordinator
        while base.hasSuffix("/") { base.removeLast() }
        let url = base + ConsoleOpenCall.agentPath(session: call.sessionId)
        let (uri, credential, caPEM, logger) = (libvirtURI, self.credential, self.caPEM, self.logger)
        let uuid = call.vmUuid.uuidString.lowercased()
        let metadata: Logger.Metadata = ["session": "\(call.sessionId)", "vm": "\(call.vmName)", "type": "\(call.type.rawValue)"]
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            DispatchQueue(label: "zedge.agent.console").async {
                let stream: any ByteStream
                let socket: CurlWebSocket
                do {
                    switch (call.type, call.ticketed) {
                    case (.serial, _):
                        stream = try SerialConsoleStream(uri: uri, uuid: uuid)
                    case (.vnc, false):
                        // The coordinator checked the token, the tenant and the expiry: the tunnel's end is let in.
                        stream = try GraphicsConsoleStream(uri: uri, uuid: uuid, skipAuth: true)
                    case (.vnc, true):
                        // A CloudBox presents its ticket to QEMU; once it is in, the ticket is spent (unless a newer
                        // binding's ticket has replaced it meanwhile).
                        let tickets = self.tickets
                        stream = WatchedGraphicsStream(try GraphicsConsoleStream(uri: uri, uuid: uuid, skipAuth: false)) {
                            logger.info("console ticket used: rotating the graphics password", metadata: metadata)
                            Task { try? await tickets?.rotate(vm: call.vmUuid, endingSessions: [call.sessionId]) }
                        }
                    }
                } catch {
                    continuation.resume(throwing: error)
                    return
                }
                do {
                    socket = try CurlWebSocket.connect(url: url, headers: ["Authorization": "Bearer \(credential)"],
                                                       trust: .caPEM(caPEM), timeout: .seconds(10))
                } catch {
                    stream.shutdown()
                    continuation.resume(throwing: error)
                    return
                }
                self.open.withLock { $0[call.sessionId] = socket }
                logger.info("console tunnel open", metadata: metadata)
                continuation.resume()
                let end = socket.relay(stream)
                self.open.withLock { _ = $0.removeValue(forKey: call.sessionId) }
                logger.info("console tunnel closed", metadata: metadata.merging(["end": "\(end)"]) { $1 })
            }
        }
    }

    /// Closes the tunnels of these sessions (a CloudBox was unbound), if they are open here.
    public func end(_ sessions: [UUID]) {
        for socket in open.withLock({ table in sessions.compactMap { table[$0] } }) { socket.cancel() }
    }

    /// Closes every open tunnel (the agent is stopping).
    public func closeAll() {
        for socket in open.withLock({ Array($0.values) }) { socket.cancel() }
    }
}
