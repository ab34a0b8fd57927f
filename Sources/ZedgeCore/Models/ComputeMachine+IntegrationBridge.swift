import Foundation

extension ComputeMachine {
    /// The Open vSwitch integration bridge its agent reported (`connectionConfig.integrationBridge`); nil when
    /// the agent reports none. Instances with NICs are placed only on machines that have one.
    public var integrationBridge: String? {
        guard let name = connectionConfig?.objectValue?["integrationBridge"]?.stringValue, !name.isEmpty else { return nil }
        return name
    }
}
