/// The figures of one server under test, phase by phase.
struct TargetResults: Sendable {
    struct Registration: Sendable {
        var registered = 0
        var perSecond = 0.0
        var errors = 0
        var errorSummary: String?
        var usage: PhaseUsage?
    }

    struct Heartbeats: Sendable {
        var offeredPerSecond: Double?
        var achievedPerSecond = 0.0
        var errors = 0
        var errorSummary: String?
        var p50: Double?
        var p99: Double?
        var usage: PhaseUsage?
    }

    struct Wake: Sendable {
        var held = 0
        var samples = 0
        var misses = 0
        var missSummary: String?
        var p50: Double?
        var p99: Double?
        var enqueueP50: Double?
        var pollErrors = 0
        var pollErrorSummary: String?
        var heartbeatErrors = 0
        var usage: PhaseUsage?
        /// The server's VmRSS, KiB, just before the long-polls went out.
        var residentBeforePollsKiB: Int?
        /// Connections to the server established during the phase, counted when its RSS was read at the end: the
        /// held polls, and whatever the harness's heartbeat pool opened meanwhile (it opens more when answers are
        /// slow, so the count differs from run to run: 10,000–13,700 for 10,000 polls).
        var newConnections: Int?

        /// What each held poll added to the server's VmRSS, KiB: (VmRSS with every poll held − VmRSS before) ÷ polls
        /// held. Issue #14 item 4's "memory per held poll", without what the server held before (its database
        /// caches and per-agent state, which the bare server does not have).
        var residentPerHeldPollKiB: Double? {
            guard let before = residentBeforePollsKiB, let usage, held > 0 else { return nil }
            return (usage.serverResidentMiB * 1024 - Double(before)) / Double(held)
        }

        /// What each connection opened during the phase added to the server's VmRSS, KiB: the same growth ÷ the
        /// connections it came with. Held polls are nearly all of them; unlike `residentPerHeldPollKiB` it does
        /// not count the heartbeat connections the harness happened to open against the polls (issue #14 item 4).
        var residentPerNewConnectionKiB: Double? {
            guard let before = residentBeforePollsKiB, let usage, let newConnections, newConnections > 0 else { return nil }
            return (usage.serverResidentMiB * 1024 - Double(before)) / Double(newConnections)
        }
    }

    var registration = Registration()
    var sustained = Heartbeats()
    var saturation = Heartbeats()
    var wake = Wake()
}
