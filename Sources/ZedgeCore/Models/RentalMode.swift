#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How a compute machine is rented: EXCLUSIVE (one instance takes the whole machine) or SHARED.
/// Used by ComputeMachine.rentalMode and Instance.rentalMode; placement matches the two.
public enum RentalMode: String, ZedgeEnum {
    case exclusive = "EXCLUSIVE"
    case shared = "SHARED"
}
