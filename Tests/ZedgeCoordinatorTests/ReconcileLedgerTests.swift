import Foundation
import Testing
@testable import ZedgeCoordinator

/// What the reconciler's incremental passes remember (`ReconcileLedger`), without I/O: a change that awaits a newer
/// report keeps its machine read until a pass judges one.
@Suite("Reconcile ledger")
struct ReconcileLedgerTests {
    @Test func aVmChangedAfterItsMachinesReportAwaitsANewerOne() {
        let ledger = ReconcileLedger()
        let machine = UUID(), unknown = UUID()
        let report = Date(timeIntervalSince1970: 1_800_000_000)
        let judged = ReconcileLedger.Judged(fingerprint: 7, reportAt: report, unjudgedChange: nil)
        ledger.record(passBegan: report, now: report, full: true, judged: [machine: judged], inFlight: [])
        #expect(ledger.judged(machine)?.unjudgedChange == nil)

        let deleted = report.addingTimeInterval(2)
        ledger.awaitNewerReport(machine, than: deleted)
        #expect(ledger.judged(machine)?.unjudgedChange == deleted)
        #expect(ledger.judged(machine)?.fingerprint == 7 && ledger.judged(machine)?.reportAt == report)
        ledger.awaitNewerReport(machine, than: report.addingTimeInterval(1))
        #expect(ledger.judged(machine)?.unjudgedChange == deleted, "the newest change is the one awaited")

        // A machine no pass has judged is read anyway: nothing to remember for it.
        ledger.awaitNewerReport(unknown, than: deleted)
        #expect(ledger.judged(unknown) == nil)

        // A pass that judged a newer report: nothing awaited any more.
        let newer = ReconcileLedger.Judged(fingerprint: 7, reportAt: deleted.addingTimeInterval(8), unjudgedChange: nil)
        ledger.record(passBegan: deleted.addingTimeInterval(9), now: deleted.addingTimeInterval(9), full: false,
                      judged: [machine: newer], inFlight: [])
        #expect(ledger.judged(machine)?.unjudgedChange == nil && ledger.judged(machine)?.reportAt == newer.reportAt)
    }
}
