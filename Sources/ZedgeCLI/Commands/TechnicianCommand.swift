import Foundation
import ZedgeCore
import ZedgeTransport

/// The technician's path: a fresh enrollment token and the one `zedge-agent register` line to run on the host.
enum TechnicianCommand {
    /// `zedge-agent register --kind KIND --coordinator URL --token TOKEN --ca-hash sha256:HEX [extra…]`, each
    /// argument shell-quoted when it needs it.
    static func registerLine(kind: String, url: String, token: String, caHash: String?, extra: [String] = []) -> String {
        var words = ["zedge-agent", "register", "--kind", kind, "--coordinator", url, "--token", token]
        if let caHash { words += ["--ca-hash", caHash] }
        return (words + extra).map(shellQuoted).joined(separator: " ")
    }

    /// `word` as is when it holds only safe characters, else in single quotes.
    static func shellQuoted(_ word: String) -> String {
        let safe = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,:/=@+%")
        if !word.isEmpty, word.unicodeScalars.allSatisfy(safe.contains) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Creates the token and prints the line (table: the line alone on stdout, the token's id and expiry on
    /// stderr; json/yaml: `{command, enrollmentToken, cloudBox?}` with the API's objects).
    static func issue(session: Session, printer: OutputPrinter, kind: EnrollmentKind, dataCenterId: String, poolId: String?,
                      uses: Int, expiresAt: String?, extra: [String], cloudBox: JSONValue? = nil) async throws {
        var body: [String: JSONValue] = ["edgeDataCenterId": .string(dataCenterId), "kind": .string(kind.rawValue), "uses": .number(Double(uses))]
        body.put("resourcePoolId", poolId)
        body.put("expiresAt", expiresAt)
        let token = try await session.client.send("POST", Resources.enrollmentTokens.path, json: .object(body)).json()
        guard let secret = token["token"]?.stringValue else { throw CLIError.invalidResponse("the enrollment token answer has no token") }
        let caHash = try session.caPEM.map { try CAPinning.fingerprint(ofPEM: $0) }
        let line = registerLine(kind: kind == .cloudBox ? "cloud-box" : "compute-machine", url: session.client.transport.baseURL,
                                token: secret, caHash: caHash, extra: extra)
        switch printer.format {
        case .table, .wide:
            printer.line(line)
            let uses = token["usesLeft"].map(ValueFormatter.cell) ?? "\(uses)"
            let expires = token["expiresAt"].map(ValueFormatter.cell) ?? "never"
            var note = "Run it on the host (token \(token["prefix"]?.stringValue ?? "") for \(uses) use(s), expires \(expires.isEmpty ? "never" : expires))."
            if caHash == nil { note += " This context is plain http: the agent needs https and the CA hash." }
            FileHandle.standardError.write(Data((note + "\n").utf8))
        case .json, .yaml:
            var object: [String: JSONValue] = ["command": .string(line), "enrollmentToken": token]
            if let cloudBox { object["cloudBox"] = cloudBox }
            try printer.object(.object(object))
        }
    }
}
