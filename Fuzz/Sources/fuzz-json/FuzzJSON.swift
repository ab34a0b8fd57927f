import Foundation
import FuzzDriver
import ZedgeCore

// Arbitrary bytes through the coordinator's body path: the strict scan (StrictJSONScanner), then what
// BodyDecoder does next (JSONSerialization, then JSONDecoder into typed bodies). Nothing may crash, and:
// - a text the scanner calls valid parses with JSONSerialization, and Foundation sees exactly the members the
//   scanner counted (no two of them merged into one: no duplicate slipped through);
// - JSONValue's encoding of a valid text scans valid again, with the same members.

/// The executable's entry point (SwiftPM links `main` to `fuzz_json_main`): libFuzzer's driver with this target.
@_cdecl("fuzz_json_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzJSON(data, size) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let data = Data(bytes)
    let outcome = StrictJSONScanner.scan(bytes)
    let parsed = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
    switch outcome {
    case .valid(let members):
        guard let parsed else { fail("the scanner accepted what JSONSerialization refuses", data) }
        let seen = memberCount(parsed)
        guard seen == members else { fail("the scanner counted \(members) members, Foundation sees \(seen)", data) }
        decodeTyped(data)
        if let value = try? ZedgeJSON.decoder().decode(JSONValue.self, from: data),
           let encoded = try? ZedgeJSON.encoder().encode(value) {
            guard case .valid(let again) = StrictJSONScanner.scan(encoded), again == memberCount(value) else {
                fail("JSONValue's encoding does not scan valid with its members", encoded)
            }
        }
    case .duplicateKey(let path):
        guard !path.isEmpty else { fail("a duplicate with an empty path", data) }
        // Still decode: BodyDecoder never gets here, but the typed decoders must survive it anyway.
        decodeTyped(data)
    case .malformed(let offset, _), .tooDeep(let offset, _):
        guard (0...count).contains(offset) else { fail("offset \(offset) outside the text", data) }
    }
    return 0
}

/// The decoders the coordinator and agent put bodies and payloads through.
func decodeTyped(_ data: Data) {
    let decoder = ZedgeJSON.decoder()
    _ = try? decoder.decode(VmSpec.self, from: data)
    _ = try? decoder.decode(HeartbeatRequest.self, from: data)
    _ = try? decoder.decode(RegisterRequest.self, from: data)
    _ = try? decoder.decode(QuotaConfig.self, from: data)
    _ = try? decoder.decode([String: JSONValue].self, from: data)
}

func memberCount(_ value: Any) -> Int {
    if let object = value as? [String: Any] { return object.count + object.values.reduce(0) { $0 + memberCount($1) } }
    if let array = value as? [Any] { return array.reduce(0) { $0 + memberCount($1) } }
    return 0
}

func memberCount(_ value: JSONValue) -> Int {
    switch value {
    case .object(let object): object.count + object.values.reduce(0) { $0 + memberCount($1) }
    case .array(let array): array.reduce(0) { $0 + memberCount($1) }
    default: 0
    }
}

func fail(_ message: String, _ data: Data) -> Never {
    fatalError("\(message): \(String(decoding: data.prefix(512), as: UTF8.self).debugDescription)")
}
