import ZedgeCore

/// Why a placement was refused: the `reason` label of `zedge_placement_refusals_total`.
public enum PlacementRefusal: Sendable, Hashable {
    /// The pool (or every COMPUTE pool) has no machine at all.
    case noCandidates
    /// No machine fitted; the filter (`PlacementEngine`) that turned away the most machines, the first in the
    /// 409's order on a tie.
    case rejected(PlacementRejection)
    /// Machines fitted, but concurrent placements took their room first.
    case lostRace

    /// Every reason, in the 409's order, then the two outside the engine.
    public static var all: [PlacementRefusal] {
        PlacementRejection.allCases.map { .rejected($0) } + [.noCandidates, .lostRace]
    }

    /// The label value: the rejection's name in snake_case (`insufficient_cpu`), `no_candidates`, `lost_race`.
    public var label: String {
        switch self {
        case .noCandidates: "no_candidates"
        case .lostRace: "lost_race"
        case .rejected(let reason):
            reason.rawValue.reduce(into: "") { label, character in
                if character.isUppercase { label += "_" + character.lowercased() } else { label.append(character) }
            }
        }
    }
}
