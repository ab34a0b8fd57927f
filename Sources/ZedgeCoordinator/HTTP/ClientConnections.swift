import Synchronization

/// What the coordinator knows of its clients' connections: whether the client has stopped sending on one (its input
/// closed: a FIN, or TLS's close_notify), so that a long-poll held on it can end instead of taking tasks that no one
/// will read (`LongPollParkingResponder`).
///
/// Why a channel handler and not the channel's state: Hummingbird allows remote half-closure
/// (`ChannelOptions.allowRemoteHalfClosure`), so a channel whose client has gone stays active until the server
/// answers. Without this, a task handed to a poll whose agent had given up (a timeout, a restart) stayed leased to it
/// for the delivery window (15 s) and spent an attempt. `ClientClosureHandler`, one per HTTP/1 connection, records
/// each connection here while it is open.
public final class ClientConnections: Sendable {
    /// One connection: whether its input has closed, and what to do once it does (one action at a time: the
    /// long-poll held on it).
    public final class Watch: Sendable {
        private struct State {
            var closed = false
            var onClose: (@Sendable () -> Void)?
        }

        private let state = Mutex(State())

        /// Whether the client has closed its side of the connection (or the connection is gone).
        public var isClosed: Bool { state.withLock { $0.closed } }

        /// Runs `action` once the input closes (at once if it has); nil removes the action set before.
        public func onClose(_ action: (@Sendable () -> Void)?) {
            let now = state.withLock { state -> Bool in
                state.onClose = state.closed ? nil : action
                return state.closed
            }
            if now { action?() }
        }

        /// The input closed: runs the action set, once.
        func close() {
            let action = state.withLock { state -> (@Sendable () -> Void)? in
                state.closed = true
                defer { state.onClose = nil }
                return state.onClose
            }
            action?()
        }
    }

    private let watches = Mutex<[ObjectIdentifier: Watch]>([:])
    /// Where the connections open are counted (`zedge_http_connections_open`); nil counts nothing.
    private let metrics: ReplicaMetrics?

    public init(metrics: ReplicaMetrics? = nil) {
        self.metrics = metrics
    }

    /// The handler to put in each connection's pipeline (after the HTTP codec).
    public func handler() -> ClientClosureHandler { ClientClosureHandler(connections: self) }

    /// The watch of the connection `id` (`ZedgeRequestContext.connection`); nil when it is not open (or has no handler).
    public func watch(_ id: ObjectIdentifier) -> Watch? {
        watches.withLock { $0[id] }
    }

    func opened(_ id: ObjectIdentifier) -> Watch {
        let watch = Watch()
        watches.withLock { $0[id] = watch }
        metrics?.connectionOpened()
        return watch
    }

    func ended(_ id: ObjectIdentifier) {
        if watches.withLock({ $0.removeValue(forKey: id) }) != nil { metrics?.connectionEnded() }
    }
}
