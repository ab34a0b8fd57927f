import ArgumentParser
import ZedgeCore

/// What zedgectl knows about one API resource: its command noun, its collection path, the field a user
/// names it by, and its table columns.
public struct ResourceSpec: Sendable {
    /// Singular, as in `zedgectl tenant list`.
    public var noun: String
    public var plural: String
    /// The collection, `/api/v1/tenants`.
    public var path: String
    /// The field that names an object (`name`, `username`, `serialNumber`); nil when it is addressed by id only.
    public var nameField: String?
    public var columns: [Column]
    /// Added by `-o wide`.
    public var wideColumns: [Column]
    /// In a 202 answer (`{instance, operation}`), the member holding the object.
    public var acceptedKey: String?

    public init(noun: String, plural: String, path: String, nameField: String? = "name", columns: [Column],
                wideColumns: [Column] = [], acceptedKey: String? = nil) {
        self.noun = noun
        self.plural = plural
        self.path = path
        self.nameField = nameField
        self.columns = columns
        self.wideColumns = wideColumns
        self.acceptedKey = acceptedKey
    }

    /// `path/{id}`.
    public func item(_ id: String) -> String { path + "/" + APIClient.segment(id) }
}

/// A resource zedgectl has commands for.
public protocol ResourceKind {
    static var spec: ResourceSpec { get }
}

/// Typed options of a create or update command, turned into body fields (only those given). A field whose
/// key is a reference (`tenantId`, `edgeDataCenterId`, …) may hold a name: `BodyBuilder` resolves it.
public protocol BodyFlags: ParsableArguments {
    func fields() throws -> [String: JSONValue]
}

/// No typed options (the generic `--set` and `-f` only).
public struct NoFlags: BodyFlags {
    public init() {}
    public func fields() throws -> [String: JSONValue] { [:] }
}

public protocol CreatableResource: ResourceKind {
    associatedtype CreateFlags: BodyFlags
}

public protocol UpdatableResource: ResourceKind {
    associatedtype UpdateFlags: BodyFlags
}
