import Foundation
import Testing
import ZedgeCore

/// `ExplicitNulls`: every optional property written, `null` without a value, at every depth; everything else as
/// `JSONEncoder` writes it (dates in ZedgeJSON's format, arrays, dictionaries, enums).
@Suite struct ExplicitNullsTests {
    struct Inner: Codable, Equatable {
        var name: String
        var note: String?
    }

    struct Outer: Codable, Equatable {
        var id: UUID
        var at: Date
        var count: Int?
        var flag: Bool?
        var inner: Inner?
        var inners: [Inner]
        var byName: [String: Inner]
        var maybe: [Int?]
        var status: OperationStatus?
    }

    @Test func optionalPropertiesAreWrittenAsNullAtEveryDepth() throws {
        let id = UUID(uuidString: "00000000-0000-7000-8000-000000000001")!
        let at = Date(timeIntervalSince1970: 1_700_000_000.5)
        let value = Outer(id: id, at: at, count: nil, flag: false, inner: nil, inners: [Inner(name: "a", note: nil)],
                          byName: ["b": Inner(name: "b", note: "x")], maybe: [1, nil], status: nil)
        let text = String(decoding: try ZedgeJSON.encoder().encode(ExplicitNulls(value)), as: UTF8.self)
        #expect(text == #"{"at":"2023-11-14T22:13:20.500Z","byName":{"b":{"name":"b","note":"x"}},"count":null,"flag":false,"id":"00000000-0000-7000-8000-000000000001","inner":null,"inners":[{"name":"a","note":null}],"maybe":[1,null],"status":null}"#)
        // Without it, the same value leaves those keys out; both decode to the same value.
        let plain = try ZedgeJSON.encoder().encode(value)
        #expect(String(decoding: plain, as: UTF8.self) == #"{"at":"2023-11-14T22:13:20.500Z","byName":{"b":{"name":"b","note":"x"}},"flag":false,"id":"00000000-0000-7000-8000-000000000001","inners":[{"name":"a"}],"maybe":[1,null]}"#)
        #expect(try ZedgeJSON.decoder().decode(Outer.self, from: Data(text.utf8)) == value)
        #expect(try ZedgeJSON.decoder().decode(Outer.self, from: plain) == value)
    }

    /// Each scalar optional: its value as `JSONEncoder` writes it, or null.
    @Test func scalarOptionalsAreWrittenAsThemselvesOrNull() throws {
        struct Scalars: Codable, Equatable {
            var b: Bool?, s: String?, d: Double?, f: Float?, i: Int?, i8: Int8?, i16: Int16?, i32: Int32?, i64: Int64?
            var u: UInt?, u8: UInt8?, u16: UInt16?, u32: UInt32?, u64: UInt64?
        }
        let full = Scalars(b: true, s: "x", d: 1.5, f: 2.5, i: -1, i8: -8, i16: -16, i32: -32, i64: -64, u: 1, u8: 8, u16: 16, u32: 32, u64: 64)
        let written = try ZedgeJSON.encoder().encode(ExplicitNulls(full))
        #expect(written == (try ZedgeJSON.encoder().encode(full)))
        #expect(try ZedgeJSON.decoder().decode(Scalars.self, from: written) == full)
        let empty = Scalars()
        let object = try #require(try JSONSerialization.jsonObject(with: ZedgeJSON.encoder().encode(ExplicitNulls(empty))) as? [String: Any])
        #expect(object.count == 14)
        #expect(object.values.allSatisfy { $0 is NSNull })
        #expect(ExplicitNulls<Int>.hasNoOptionals(Int.self) && !ExplicitNulls<Int?>.hasNoOptionals(Int?.self))
    }

    @Test func aPresentValueIsWrittenAsBefore() throws {
        let value = Inner(name: "n", note: "m")
        #expect(try ZedgeJSON.encoder().encode(ExplicitNulls(value)) == ZedgeJSON.encoder().encode(value))
        #expect(try ZedgeJSON.encoder().encode(ExplicitNulls([value])) == ZedgeJSON.encoder().encode([value]))
        let operation = ZedgeCore.Operation(kind: "x")
        let keys = try #require(try JSONSerialization.jsonObject(with: ZedgeJSON.encoder().encode(ExplicitNulls(operation))) as? [String: Any]).keys
        #expect(Set(keys) == ["id", "kind", "status", "tenantId", "userId", "resourceType", "resourceId", "steps", "progress",
                              "request", "error", "createdAt", "updatedAt", "startedAt", "endedAt"])
    }
}

/// The types `ExplicitNulls` passes through unwrapped (`hasNoOptionals`) really have nothing for it to do.
@Suite struct ExplicitNullsPassThroughTests {
    /// Every stored property of each protocol type passed through, at every depth, is not an Optional.
    @Test func typesPassedThroughHaveNoOptionals() throws {
        let heartbeat = HeartbeatResponse(heartbeatIntervalS: 10, serverTime: Date(timeIntervalSince1970: 1_700_000_000))
        #expect(ExplicitNulls<HeartbeatResponse>.hasNoOptionals(HeartbeatResponse.self))
        #expect(optionals(in: heartbeat).isEmpty)
        #expect(try ZedgeJSON.encoder().encode(ExplicitNulls(heartbeat)) == ZedgeJSON.encoder().encode(heartbeat))
        // A poll's answer: nothing optional below `calls`, which it writes as null itself.
        let assignment = TaskAssignment(id: UUID(), kind: .vmStart, payload: ["vmUuid": .string(UUID().uuidString), "vmName": "vm-1", "note": nil],
                                        attempt: 1, leaseExpiresAt: Date(timeIntervalSince1970: 1_700_000_000))
        let call = AgentCall(id: UUID(), kind: .consoleLog, payload: ["lines": 10], expiresAt: Date(timeIntervalSince1970: 1_700_000_000))
        #expect(ExplicitNulls<TaskPollResponse>.hasNoOptionals(TaskPollResponse.self))
        #expect(optionals(in: assignment).isEmpty)
        #expect(optionals(in: call).isEmpty)
        #expect(optionals(in: TaskPollResponse(tasks: [assignment], calls: [call])) == ["calls"])
        for answer in [TaskPollResponse(tasks: [assignment]), TaskPollResponse(tasks: [], calls: [call]), TaskPollResponse(tasks: [])] {
            let plain = try ZedgeJSON.encoder().encode(answer)
            #expect(try ZedgeJSON.encoder().encode(ExplicitNulls(answer)) == plain)
            let object = try #require(try JSONSerialization.jsonObject(with: plain) as? [String: Any])
            #expect(Set(object.keys) == ["tasks", "calls"])
        }
        #expect(String(decoding: try ZedgeJSON.encoder().encode(TaskPollResponse(tasks: [])), as: UTF8.self).contains("\"calls\":null"))
        // The check itself finds an optional, nested or not.
        struct Nested: Encodable { var inner: [Inner] }
        struct Inner: Encodable { var note: String? }
        #expect(optionals(in: Nested(inner: [Inner(note: "x")])) == ["inner.0.note"])
        #expect(!ExplicitNulls<Nested>.hasNoOptionals(Nested.self))
    }

    /// The paths of the Optional properties in `value`'s stored properties, at every depth (by reflection).
    private func optionals(in value: Any, path: String = "") -> [String] {
        Mirror(reflecting: value).children.enumerated().flatMap { index, child -> [String] in
            let name = path.isEmpty ? (child.label ?? "\(index)") : "\(path).\(child.label ?? "\(index)")"
            if Mirror(reflecting: child.value).displayStyle == .optional { return [name] }
            if child.value is Date { return [] }
            return optionals(in: child.value, path: name)
        }
    }
}
