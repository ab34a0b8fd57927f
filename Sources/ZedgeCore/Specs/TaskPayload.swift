#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The typed payload of one `TaskKind` (DESIGN §4), with the one check of it that both sides run: the
/// coordinator before it queues a task (a 400 naming the field for an operator's direct task), and the agent
/// before it acts (FAILED with the reason, nothing done).
public protocol TaskPayload: Codable, Sendable {
    /// Every problem with the payload's values (ranges, lengths, formats), fields relative to the payload
    /// ("timeoutS", "spec.nics[0].mac"); empty when valid.
    func validate() -> [FieldError]
}

extension VmCreatePayload: TaskPayload {}
extension VmRefPayload: TaskPayload {}
extension VmStopPayload: TaskPayload {}
extension ImageFetchPayload: TaskPayload {}
extension DiskCreatePayload: TaskPayload {}
extension DiskResizePayload: TaskPayload {}
extension DiskDeletePayload: TaskPayload {}
extension DiskAttachPayload: TaskPayload {}
extension DiskDetachPayload: TaskPayload {}
extension CloudBoxNetworkPayload: TaskPayload {}
extension CloudBoxBindPayload: TaskPayload {}
extension CloudBoxUnbindPayload: TaskPayload {}
extension CloudBoxRebootPayload: TaskPayload {}

extension TaskKind {
    /// The payload type this kind carries.
    public var payloadType: any TaskPayload.Type {
        switch self {
        case .vmCreate: VmCreatePayload.self
        case .vmStart, .vmRestart, .vmDelete: VmRefPayload.self
        case .vmStop: VmStopPayload.self
        case .diskCreate: DiskCreatePayload.self
        case .diskResize: DiskResizePayload.self
        case .diskDelete: DiskDeletePayload.self
        case .diskAttach: DiskAttachPayload.self
        case .diskDetach: DiskDetachPayload.self
        case .imageFetch: ImageFetchPayload.self
        case .cloudboxConfigureNetwork: CloudBoxNetworkPayload.self
        case .cloudboxBind: CloudBoxBindPayload.self
        case .cloudboxUnbind: CloudBoxUnbindPayload.self
        case .cloudboxReboot: CloudBoxRebootPayload.self
        }
    }

    /// Whether the kind is carried out by a CloudBox's agent (`cloudbox.*`) rather than a ComputeMachine's.
    public var isCloudBoxKind: Bool {
        switch self {
        case .cloudboxConfigureNetwork, .cloudboxBind, .cloudboxUnbind, .cloudboxReboot: true
        default: false
        }
    }

    /// Every problem with `payload` as this kind's payload: first whether it decodes (a missing field, a wrong
    /// type or a bad enum value names its field), then the payload type's `validate()`. With `rejectUnknownFields`
    /// (what the coordinator's API does) a member the type does not have, at any depth, is one too; an agent
    /// leaves it out, so that a newer coordinator's optional additions do not fail an older agent.
    ///
    /// Fields are prefixed with `prefix` and a dot ("payload.timeoutS"); without one they are relative to the
    /// payload ("timeoutS") and a problem with the whole payload is named "payload".
    public func payloadProblems(_ payload: JSONValue, prefix: String? = nil, rejectUnknownFields: Bool = false) -> [FieldError] {
        checkedPayload(payload, prefix: prefix, rejectUnknownFields: rejectUnknownFields).problems
    }

    /// `payloadProblems`, with the payload as this kind's type when it decodes (nil when it does not): a caller
    /// that goes on to queue it plans it typed (`OperationPlan.task(_:for:typed:)`), so that it is decoded once.
    public func checkedPayload(_ payload: JSONValue, prefix: String? = nil, rejectUnknownFields: Bool = false)
        -> (payload: (any TaskPayload)?, problems: [FieldError])
    {
        func named(_ errors: [FieldError]) -> [FieldError] { Self.named(errors, prefix: prefix) }
        let decoded: any TaskPayload
        do {
            decoded = try payload.decodePayload(payloadType)
        } catch let error as DecodingError {
            if Self.codingPath(of: error).isEmpty, let field = integerCulprit(in: payload) {
                return (nil, named([FieldError(field: field, message: "must be an integer")]))
            }
            return (nil, named([FieldError(decoding: error, whole: "payload")]))
        } catch {
            return (nil, named([FieldError(field: "payload", message: "must be a \(rawValue) payload")]))
        }
        var problems: [FieldError] = []
        if rejectUnknownFields, let known = try? JSONValue(encoding: decoded) {
            Self.unknownMembers(of: payload, knownIn: known, at: "", into: &problems)
        }
        return (decoded, named(problems + decoded.validate()))
    }

    /// `payloadProblems` of a payload already typed, without decoding it: whether it is this kind's type, then its
    /// `validate()`.
    public func problems<P: TaskPayload>(of payload: P, prefix: String? = nil) -> [FieldError] {
        guard P.self == payloadType else {
            return Self.named([FieldError(field: "payload", message: "must be a \(rawValue) payload")], prefix: prefix)
        }
        return Self.named(payload.validate(), prefix: prefix)
    }

    /// `errors` with their fields under `prefix` ("payload" itself becomes `prefix`).
    static func named(_ errors: [FieldError], prefix: String?) -> [FieldError] {
        guard let prefix else { return errors }
        return errors.map { FieldError(field: $0.field == "payload" ? prefix : Self.join(prefix, $0.field), message: $0.message) }
    }

    /// The member whose number the decoder refused without saying where (Foundation's JSONDecoder reports a
    /// fractional or out-of-range number for an integer with an empty coding path): the first number that is
    /// not a whole one within Int's range and whose replacement by 0 makes that error go.
    private func integerCulprit(in payload: JSONValue) -> String? {
        for (path, field) in Self.inexactNumbers(in: payload, path: [], field: "") {
            do {
                _ = try payload.replacing(at: path[...], with: 0).decodePayload(payloadType)
                return field
            } catch let error as DecodingError where !Self.codingPath(of: error).isEmpty {
                return field
            } catch {
                continue
            }
        }
        return nil
    }

    /// Every number in `value` that no integer field takes: fractional, or beyond ±2^63.
    private static func inexactNumbers(in value: JSONValue, path: [JSONValue.PathStep], field: String) -> [([JSONValue.PathStep], String)] {
        switch value {
        case .number(let d):
            return d.rounded() != d || abs(d) >= 9.2e18 ? [(path, field)] : []
        case .object(let members):
            return members.sorted(by: { $0.key < $1.key }).flatMap { key, member in
                inexactNumbers(in: member, path: path + [.key(key)], field: join(field, key))
            }
        case .array(let items):
            return items.enumerated().flatMap { i, item in inexactNumbers(in: item, path: path + [.index(i)], field: "\(field)[\(i)]") }
        default:
            return []
        }
    }

    private static func codingPath(of error: DecodingError) -> [any CodingKey] {
        switch error {
        case .keyNotFound(_, let context), .valueNotFound(_, let context), .typeMismatch(_, let context), .dataCorrupted(let context):
            context.codingPath
        @unknown default:
            []
        }
    }

    /// Adds a problem for each member of `value` that `known` (the decoded payload encoded again) lacks. A
    /// null member is fine where the type leaves an absent optional out.
    private static func unknownMembers(of value: JSONValue, knownIn known: JSONValue, at path: String, into problems: inout [FieldError]) {
        switch (value, known) {
        case (.object(let members), .object(let knownMembers)):
            for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                let field = join(path, key)
                if let knownMember = knownMembers[key] {
                    unknownMembers(of: member, knownIn: knownMember, at: field, into: &problems)
                } else if member != .null {
                    problems.append(FieldError(field: field, message: "unknown field"))
                }
            }
        case (.array(let items), .array(let knownItems)) where items.count == knownItems.count:
            for (i, item) in items.enumerated() {
                unknownMembers(of: item, knownIn: knownItems[i], at: "\(path)[\(i)]", into: &problems)
            }
        default:
            return
        }
    }

    private static func join(_ path: String, _ field: String) -> String {
        path.isEmpty ? field : field.hasPrefix("[") ? path + field : "\(path).\(field)"
    }
}

extension JSONValue {
    /// One step into a JSON value: an object's member or an array's element.
    fileprivate enum PathStep {
        case key(String)
        case index(Int)
    }

    /// This value with the value at `path` replaced by `replacement` (unchanged where the path leads nowhere).
    fileprivate func replacing(at path: ArraySlice<PathStep>, with replacement: JSONValue) -> JSONValue {
        guard let step = path.first else { return replacement }
        switch (self, step) {
        case (.object(var members), .key(let key)):
            members[key] = members[key]?.replacing(at: path.dropFirst(), with: replacement)
            return .object(members)
        case (.array(var items), .index(let i)) where items.indices.contains(i):
            items[i] = items[i].replacing(at: path.dropFirst(), with: replacement)
            return .array(items)
        default:
            return self
        }
    }

    /// Decodes this value as the payload type `type` (opened from an existential).
    fileprivate func decodePayload(_ type: any TaskPayload.Type) throws -> any TaskPayload {
        func open<T: TaskPayload>(_ t: T.Type) throws -> any TaskPayload { try decode(as: t) }
        return try open(type)
    }
}
