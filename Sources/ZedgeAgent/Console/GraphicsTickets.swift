#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization
import ZedgeCore

/// The graphics passwords of this host's VMs (issue #16): changed one at a time per VM, in the order asked, and
/// with which console session's ticket each VM holds now.
///
/// A rotation that ends sessions (a CloudBox unbound or its binding expired, or its ticket used once) changes the
/// password only while the VM holds one of those sessions' tickets, or none this agent knows of. Without that, the
/// rotation for an old binding, asked in the background when it expired, could arrive after a new binding's
/// ticket was set, and shut the new box out. After an agent restart no holder is known, and a rotation rotates.
public final class GraphicsTickets: Sendable {
    let hypervisor: any Hypervisor

    private struct Entry {
        /// The session whose ticket the VM's password is; nil when none (drawn at define, or rotated).
        var holder: UUID?
        /// The last change asked for: the next waits for it.
        var tail: Task<Void, Never>?
        var pending = 0
    }

    private let table = Mutex<[UUID: Entry]>([:])

    public init(hypervisor: any Hypervisor) {
        self.hypervisor = hypervisor
    }

    /// Sets the VM's password to `password` (a session's ticket, or nil `session` for one of nobody's) until
    /// `validUntil`. Throws what `Hypervisor.setGraphicsPassword` throws.
    public func set(vm: UUID, password: String, validUntil: Date?, session: UUID?) async throws {
        let hypervisor = self.hypervisor
        try await serially(vm) {
            try await hypervisor.setGraphicsPassword(uuid: vm, password: password, validUntil: validUntil)
            self.table.withLock { $0[vm]?.holder = session }
        }
    }

    /// Rotates the VM's password to a random one nobody knows, when it is the ticket of one of `endingSessions`, or
    /// of no known session; an empty `endingSessions` rotates whatever the VM holds. Returns whether it rotated.
    @discardableResult
    public func rotate(vm: UUID, endingSessions: [UUID]) async throws -> Bool {
        let hypervisor = self.hypervisor
        return try await serially(vm) {
            let holder = self.table.withLock { $0[vm]?.holder }
            if let holder, !endingSessions.isEmpty, !endingSessions.contains(holder) { return false }
            try await hypervisor.setGraphicsPassword(uuid: vm, password: GraphicsPassword.random(), validUntil: nil)
            self.table.withLock { $0[vm]?.holder = nil }
            return true
        }
    }

    /// The session whose ticket the VM holds, as far as this agent knows.
    public func holder(of vm: UUID) -> UUID? {
        table.withLock { $0[vm]?.holder }
    }

    /// Runs `body` once every change asked earlier for `vm` has finished.
    private func serially<T: Sendable>(_ vm: UUID, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let task = table.withLock { table -> Task<Result<T, any Error>, Never> in
            var entry = table[vm] ?? Entry()
            let previous = entry.tail
            let task = Task<Result<T, any Error>, Never> {
                await previous?.value
                do { return .success(try await body()) } catch { return .failure(error) }
            }
            entry.tail = Task { _ = await task.value }
            entry.pending += 1
            table[vm] = entry
            return task
        }
        let result = await task.value
        table.withLock { table in
            table[vm]?.pending -= 1
            if let entry = table[vm], entry.pending == 0, entry.holder == nil { table[vm] = nil }
        }
        return try result.get()
    }
}
