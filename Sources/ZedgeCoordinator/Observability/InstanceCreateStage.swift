/// The stages of an instance create, in order: the `stage` label of `zedge_instance_create_stage_seconds` (wall
/// time, so that a stage that waits, for the database's one writer or for a CPU, shows it).
public enum InstanceCreateStage: String, Sendable, CaseIterable {
    /// The owning tenant, the template and its image, the NIC plan (before the transaction).
    case resolve
    /// Ranking the machines held in memory (`PlacementView`), with the image's holders.
    case rank
    /// Waiting for the transaction to begin (SQLite: the one write lock).
    case begin
    /// The quota check against the user's, groups' and tenant's usage.
    case quota
    /// The instance's row and the capacity claim (conditional UPDATE), with its GPUs.
    case claim
    /// The NICs, the virtual machine's row and the instance's placement.
    case vm
    /// The operation and its `vm.create` task.
    case enqueue
    /// COMMIT, and the wake of the machine's long-poll.
    case commit
}

/// The wall time between marks, each mark closing a stage (for `ReplicaMetrics.instanceCreate`).
struct StageTimes: Sendable {
    private(set) var recorded: [(stage: InstanceCreateStage, duration: Duration)] = []
    private var last: ContinuousClock.Instant

    init(since start: ContinuousClock.Instant = .now) {
        last = start
    }

    /// Closes `stage`: the time since the last mark (or the start).
    mutating func mark(_ stage: InstanceCreateStage) {
        let now = ContinuousClock.now
        recorded.append((stage, now - last))
        last = now
    }
}
