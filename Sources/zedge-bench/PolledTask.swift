import Foundation
import ZedgeCore

/// A task as a simulated agent reads it from a long-poll answer (`TaskPollResponse`): its id, its kind and, for a
/// `vm.create`, the domain's `uuid` and `name` from `payload.spec` — all the harness acts on. The rest of the payload
/// is skipped rather than built into a `JSONValue` tree: decoding whole `TaskAssignment`s was 13 % of the harness's CPU
/// under `creates`, on the machine the coordinator is measured on (issue #14). The coordinator and the bare server
/// answer the same bytes either way.
struct PolledTask: Decodable, Sendable {
    struct Spec: Decodable, Sendable {
        var uuid: String?
        var name: String?
    }

    struct Payload: Decodable, Sendable {
        var spec: Spec?
    }

    var id: UUID
    var kind: TaskKind
    var payload: Payload?

    /// A long-poll answer, as `TaskPollResponse` (`{"tasks": […]}`).
    struct Answer: Decodable, Sendable {
        var tasks: [PolledTask]
    }
}
