import Foundation
import ZedgeCore
import ZedgeTransport

/// `--wait`: polls `GET /api/v1/operations/{id}` until the operation is SUCCEEDED, FAILED or CANCELLED,
/// showing its current step and percent (`ProgressReporter`).
public struct OperationWaiter: Sendable {
    public let client: APIClient
    public let interval: Duration
    public let terminal: Bool

    public init(client: APIClient, interval: Duration = .milliseconds(500), terminal: Bool = StandardError.isTerminal) {
        self.client = client
        self.interval = interval
        self.terminal = terminal
    }

    /// Waits for the operation and returns its last state.
    /// - Throws: `CLIError.operationFailed` (with the operation's `error`) when it ends FAILED or CANCELLED.
    @discardableResult
    public func wait(for operationId: String) async throws -> JSONValue {
        // Ctrl-C stops the waiting, not the operation: say how to pick it up again.
        signal(SIGINT, SIG_IGN)
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        interrupt.setEventHandler {
            let line = "\ninterrupted: operation \(operationId) goes on; follow it with `zedgectl operation wait \(operationId)`\n"
            FileHandle.standardError.write(Data(line.utf8))
            exit(130)
        }
        interrupt.resume()
        defer {
            interrupt.cancel()
            signal(SIGINT, SIG_DFL)
        }
        var operation = try await fetch(operationId)
        let reporter = ProgressReporter(title: Self.describe(operation), terminal: terminal)
        while true {
            let status = operation["status"]?.stringValue ?? "?"
            let line = Self.describe(operation)
            if ["SUCCEEDED", "FAILED", "CANCELLED"].contains(status) {
                reporter.finish(line, succeeded: status == "SUCCEEDED")
                guard status == "SUCCEEDED" else {
                    throw CLIError.operationFailed(id: operationId, status: status, error: operation["error"]?.stringValue)
                }
                return operation
            }
            reporter.update(line, fraction: (operation["progress"]?.doubleValue ?? 0) / 100)
            try await Task.sleep(for: interval)
            operation = try await fetch(operationId)
        }
    }

    /// The operation's current state. A coordinator that does not answer (restarting, a replica failing over) is
    /// asked again for up to `unreachableSeconds` before the wait gives up.
    private func fetch(_ id: String) async throws -> JSONValue {
        let deadline = ContinuousClock.now + .seconds(Self.unreachableSeconds)
        while true {
            do {
                return try await client.send("GET", "/api/v1/operations/\(APIClient.segment(id))").json()
            } catch let error as TransportError where ContinuousClock.now < deadline {
                _ = error
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// How long `--wait` keeps asking a coordinator that does not answer.
    static let unreachableSeconds = 30

    /// `instance.create: vm.create 40% RUNNING`: the kind, the current step (the first RUNNING one, else the
    /// first PENDING one, else the last), the percent and the status.
    public static func describe(_ operation: JSONValue) -> String {
        let steps = operation["steps"]?.arrayValue ?? []
        let current = steps.first { $0["status"]?.stringValue == "RUNNING" }
            ?? steps.first { $0["status"]?.stringValue == "PENDING" }
            ?? steps.last
        let percent = Int((operation["progress"]?.doubleValue ?? 0).rounded(.down))
        var text = operation["kind"]?.stringValue ?? "operation"
        if let step = current?["name"]?.stringValue { text += ": \(step)" }
        return text + " \(percent)% \(operation["status"]?.stringValue ?? "")"
    }

    /// The operation in a 202 answer: the body itself (an Operation) or its `operation` member.
    public static func operation(in body: JSONValue) -> JSONValue? {
        if let nested = body["operation"], nested["id"] != nil { return nested }
        if body["steps"] != nil, body["kind"] != nil, body["id"] != nil { return body }
        return nil
    }
}
