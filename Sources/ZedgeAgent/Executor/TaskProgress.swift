#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ZedgeCore

/// Where a running task's progress goes: each report becomes a `TaskEventReport` (INFO) with the next sequence
/// number, which the coordinator records and which extends the task's lease.
public struct TaskProgress: Sendable {
    let report: @Sendable (_ name: String, _ metadata: JSONValue) async -> Void
    /// How often long steps report.
    public let interval: Duration

    public init(interval: Duration = .seconds(5), _ report: @escaping @Sendable (_ name: String, _ metadata: JSONValue) async -> Void) {
        self.interval = interval
        self.report = report
    }

    public func callAsFunction(_ name: String, _ metadata: JSONValue) async { await report(name, metadata) }
}
