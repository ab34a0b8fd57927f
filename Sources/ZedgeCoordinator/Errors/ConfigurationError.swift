import Foundation

/// A configuration value that cannot be used; its message is printed as the one line on stderr.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
