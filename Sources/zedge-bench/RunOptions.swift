/// The shape of one `agents` run, shared by both servers under test.
struct RunOptions: Sendable {
    var agents: Int
    /// Heartbeat interval, seconds.
    var interval: Int
    /// Seconds of sustained (open-loop) heartbeats.
    var duration: Int
    /// Requests in flight during registration and the closed-loop saturation run.
    var concurrency: Int
    /// Seconds of the saturation run.
    var saturationDuration: Int
    var wakeSamples: Int
    /// The most seconds spent sampling wake latency (an overloaded server misses samples for 10 s each).
    var wakeBudget: Int
    /// The long-poll's `wait`, seconds.
    var pollWait: Int
    /// Long-polls opened per second while the fleet comes up.
    var rampRate: Int
    /// The most connections the heartbeat pool opens.
    var heartbeatConnections: Int
    /// Keep agents heartbeating on their interval while the wake latency is sampled.
    var heartbeatsDuringWake: Bool
    /// Where to write each wake sample (`PATH.zedge`, `PATH.bare`: a line per sample, when it was sent in seconds
    /// since 1970 and its latency in ms); nil: nowhere.
    var wakeLatenciesPath: String? = nil
}
