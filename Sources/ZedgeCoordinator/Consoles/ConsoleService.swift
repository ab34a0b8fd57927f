import Foundation
import Synchronization
import ZedgeCore

/// Consoles through the agent's dial-out (issue #16), as Nova's console proxy does with its tokens, but with
/// the host reached over its own outbound connection (EVE's reverse tunnel) rather than dialled:
///
/// 1. `issue` makes a session with a single-use token (60 s) for a RUNNING instance whose host is reachable.
/// 2. A WebSocket presents the token (`spend`): the first one before the expiry wins, on any replica.
/// 3. `connect` asks the host's agent, with a `vm.console-open` call over its long-poll, to open a WebSocket of
///    its own to this replica, and waits for it in the `ConsoleRendezvous`; the HTTP layer splices the two.
public struct ConsoleService: Sendable {
    let sessions: any ConsoleSessionRepository
    let virtualMachines: any VirtualMachineRepository
    let computeMachines: any ModelRepository<ComputeMachine>
    let calls: AgentCallBroker
    /// How long the user's side waits for the agent's answer and WebSocket.
    let timeout: Duration
    /// This replica's base URL as agents reach it, named in the call when set (several replicas behind one name).
    let dialURL: String?

    public init(sessions: any ConsoleSessionRepository, virtualMachines: any VirtualMachineRepository,
                computeMachines: any ModelRepository<ComputeMachine>, calls: AgentCallBroker, timeout: Duration = .seconds(10),
                dialURL: String? = nil) {
        self.sessions = sessions
        self.virtualMachines = virtualMachines
        self.computeMachines = computeMachines
        self.calls = calls
        self.timeout = timeout
        self.dialURL = dialURL
    }

    /// A new session for `instance`'s console, and its token (shown once). 409 when the instance is not RUNNING
    /// on a host, or its host is OFFLINE.
    public func issue(_ type: ConsoleType, for instance: Instance, by userId: UUID, now: Date = Date()) async throws
        -> (session: ConsoleSession, token: String)
    {
        try await issue(type, for: instance, by: userId, cloudBoxId: nil, expiresAt: now.addingTimeInterval(ConsoleSession.tokenLifetime), now: now)
    }

    /// A CloudBox binding's session: the graphics, until the binding expires; its client authenticates to the VNC
    /// server with the binding's ticket (`setTicket`). The token goes to the box in the bind task.
    public func issue(forCloudBox boxId: UUID, instance: Instance, until expiresAt: Date, by userId: UUID?, now: Date = Date()) async throws
        -> (session: ConsoleSession, token: String)
    {
        try await issue(.vnc, for: instance, by: userId, cloudBoxId: boxId, expiresAt: expiresAt, now: now)
    }

    func issue(_ type: ConsoleType, for instance: Instance, by userId: UUID?, cloudBoxId: UUID?, expiresAt: Date, now: Date) async throws
        -> (session: ConsoleSession, token: String)
    {
        guard instance.status == .running, let vmId = instance.virtualMachineId, let machineId = instance.computeMachineId,
              let vm = try await virtualMachines.find(vmId), let uuid = vm.vmUuid.flatMap(UUID.init(uuidString:))
        else {
            throw DomainError.conflict("The instance is \(instance.status.rawValue): only a RUNNING instance has a console.")
        }
        guard let machine = try await computeMachines.find(machineId) else {
            throw DomainError.conflict("The instance's compute machine no longer exists.")
        }
        guard machine.status != .offline else {
            throw DomainError.conflict("The instance's compute machine is \(machine.status.rawValue): its agent cannot be reached for a console.")
        }
        let token = SecretToken.generate(.consoleToken)
        let session = ConsoleSession(
            id: .v7(), instanceId: instance.id, computeMachineId: machineId, tenantId: instance.tenantId, userId: userId,
            cloudBoxId: cloudBoxId, type: type, vmUuid: uuid, vmName: vm.vmName, createdAt: now, expiresAt: expiresAt)
        try await sessions.insert(session, tokenHash: token.hash)
        return (session, token.value)
    }

    /// Sets the session's VM's graphics password to `ticket` until `validUntil` through its host's agent, closing
    /// the tunnels of `ending` there; waits for the agent. 409 when it cannot, 503 when it does not answer.
    public func setTicket(_ ticket: String, validUntil: Date, on session: ConsoleSession, ending: [UUID] = []) async throws {
        let call = GraphicsPasswordCall(vmUuid: session.vmUuid, vmName: session.vmName, password: ticket, validUntil: validUntil,
                                        endSessions: ending, sessionId: session.id)
        let answer = try await calls.ask(.graphicsPassword, payload: try JSONValue(encoding: call),
                                         computeMachineId: session.computeMachineId, timeout: timeout)
        guard answer.outcome == .succeeded else {
            throw DomainError.conflict("The host could not set the console's ticket: \(answer.error ?? "no reason given")")
        }
    }

    /// The CloudBox's sessions that have not ended.
    public func openSessions(cloudBoxId: UUID) async throws -> [ConsoleSession] {
        try await sessions.open(cloudBoxId: cloudBoxId)
    }

    /// Ends `ended` (a CloudBox was unbound, or bound anew): marked ended now; their hosts' agents close their
    /// tunnels and rotate the VMs' graphics passwords to ones nobody knows. With `wait`, waits for the agents
    /// (errors are logged by the caller); without, asks in the background (the reconciler does not wait on hosts).
    public func revoke(_ ended: [ConsoleSession], wait: Bool, now: Date = Date()) async throws {
        for session in ended { try await sessions.end(session.id, at: now) }
        let calls = self.calls, timeout = self.timeout
        for group in Dictionary(grouping: ended, by: \.vmUuid).values {
            let first = group[0]
            let call = GraphicsPasswordCall(vmUuid: first.vmUuid, vmName: first.vmName, password: nil, validUntil: nil,
                                            endSessions: group.map(\.id))
            let payload = try JSONValue(encoding: call)
            let ask = { _ = try await calls.ask(.graphicsPassword, payload: payload, computeMachineId: first.computeMachineId, timeout: timeout) }
            if wait { try await ask() } else { Task { try? await ask() } }
        }
    }

    /// Spends `token`: its session, once. 404 for a token no session has, 403 for a used or expired one.
    public func spend(token: String, now: Date = Date()) async throws -> ConsoleSession {
        guard SecretToken.kind(of: token) == .consoleToken else { throw DomainError.notFound("Console session") }
        return try Self.session(from: try await sessions.spend(tokenHash: SecretToken.hash(token), now: now))
    }

    /// What presenting `token` would come to, without spending it.
    public func check(token: String, now: Date = Date()) async throws -> ConsoleSession {
        guard SecretToken.kind(of: token) == .consoleToken else { throw DomainError.notFound("Console session") }
        return try Self.session(from: try await sessions.peek(tokenHash: SecretToken.hash(token), now: now))
    }

    /// The session `token` names, whether or not it can still be spent (nil for none): what an audit row of a
    /// refused token says.
    public func session(named token: String, now: Date = Date()) async -> ConsoleSession? {
        guard SecretToken.kind(of: token) == .consoleToken,
              let state = try? await sessions.peek(tokenHash: SecretToken.hash(token), now: now) else { return nil }
        switch state {
        case .spent(let session), .alreadyUsed(let session), .expired(let session): return session
        case .unknown: return nil
        }
    }

    static func session(from spend: ConsoleSpend) throws -> ConsoleSession {
        switch spend {
        case .spent(let session): return session
        case .unknown: throw DomainError.notFound("Console session")
        case .alreadyUsed: throw DomainError.forbidden("This console URL has been used already; ask for a new one.")
        case .expired: throw DomainError.forbidden("This console URL has expired; ask for a new one.")
        }
    }

    /// Asks the session's host to dial this replica, and waits for the agent's WebSocket in `rendezvous`, handing it
    /// `userLeg`; returns the agent's leg. 409 when the agent answers that it cannot open the console (the VM is
    /// not running there, say), 503 when it does not answer or dial in time.
    public func connect<Leg: Sendable>(_ session: ConsoleSession, userLeg: Leg, rendezvous: ConsoleRendezvous<Leg>) async throws -> Leg {
        let call = ConsoleOpenCall(sessionId: session.id, vmUuid: session.vmUuid, vmName: session.vmName, type: session.type, dialURL: dialURL,
                                   ticketed: session.cloudBoxId != nil)
        let (calls, timeout) = (self.calls, self.timeout)
        let asking = Mutex<Task<Void, Never>?>(nil)
        // The call goes out once the session waits here: an agent that dials at once finds it.
        let ask: @Sendable () -> Void = {
            let task = Task {
                do {
                    let answer = try await calls.ask(.consoleOpen, payload: try JSONValue(encoding: call),
                                                     computeMachineId: session.computeMachineId, timeout: timeout)
                    if answer.outcome != .succeeded {
                        rendezvous.withdraw(session.id, with: DomainError.conflict("The host could not open the console: \(answer.error ?? "no reason given")"))
                    }
                } catch {
                    rendezvous.withdraw(session.id, with: error)
                }
            }
            asking.withLock { $0 = task }
        }
        do {
            // The agent answers once its WebSocket is up, so the leg is normally here before the answer.
            return try await rendezvous.awaitAgent(session: session.id, computeMachineId: session.computeMachineId, userLeg: userLeg,
                                                   timeout: timeout + .seconds(5), onWaiting: ask)
        } catch {
            asking.withLock { $0?.cancel() }
            throw error
        }
    }

    /// Records that the session's tunnel closed.
    public func ended(_ session: ConsoleSession, now: Date = Date()) async {
        try? await sessions.end(session.id, at: now)
    }

    /// Drops sessions unspent past their expiry, or ended, more than a day ago.
    public func prune(now: Date) async throws {
        try await sessions.prune(before: now.addingTimeInterval(-86_400))
    }
}
