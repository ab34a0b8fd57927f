import Synchronization

/// A shared integer that many agent tasks bump.
final class Counter: Sendable {
    private let atomic = Atomic<Int>(0)

    init() {}

    @discardableResult
    func increment(by amount: Int = 1) -> Int {
        atomic.wrappingAdd(amount, ordering: .relaxed).newValue
    }

    /// Adds one and returns the value before: a ticket dispenser for work-sharing loops.
    func next() -> Int {
        atomic.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    var value: Int { atomic.load(ordering: .relaxed) }
}
