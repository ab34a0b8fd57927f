#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ZedgeCore

/// Keeps secrets that arrive inside task payloads out of the journal, logs and error messages: the cephx key of
/// `RbdCluster.cephKey` (the agent hands it to libvirt's secret store and nowhere else), and a CloudBox binding's
/// console ticket and tunnel path (`CloudBoxBindPayload.ticket`, `ConsoleEndpoint.websocketPath`/`websocketUrl`,
/// which only the box's 0600 session file keeps).
///
/// A payload holds them as object members named `RbdCluster.secretKey` wherever an `RbdCluster` appears
/// (`cluster` of the `disk.*` kinds, `rbdClusters[]` of `vm.create`); redaction walks the whole document, so
/// any nesting is covered.
public enum PayloadRedaction {
    /// What a redacted secret reads as.
    public static let placeholder = "<redacted>"
    /// The member names whose values are secrets.
    public static let secretKeys: Set<String> = [RbdCluster.secretKey, "ticket", "websocketPath", "websocketUrl"]

    /// `value` with every secret member's value (other than null) replaced by `placeholder`.
    public static func redacted(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let members):
            var out: [String: JSONValue] = [:]
            for (key, member) in members {
                out[key] = secretKeys.contains(key) && !member.isNull ? .string(placeholder) : redacted(member)
            }
            return .object(out)
        case .array(let items):
            return .array(items.map(redacted))
        default:
            return value
        }
    }

    /// The secret strings `value` carries (not yet redacted ones).
    public static func secrets(in value: JSONValue) -> [String] {
        switch value {
        case .object(let members):
            return members.flatMap { key, member -> [String] in
                if secretKeys.contains(key), case .string(let secret) = member, secret != placeholder, !secret.isEmpty {
                    return [secret]
                }
                return secrets(in: member)
            }
        case .array(let items):
            return items.flatMap(secrets(in:))
        default:
            return []
        }
    }

    /// `text` with every secret of `payload` replaced by `placeholder` (for error messages, which are
    /// journaled and sent: nothing should quote a key, and this makes sure).
    public static func scrub(_ text: String, secretsOf payload: JSONValue) -> String {
        secrets(in: payload).reduce(text) { $0.replacing($1, with: placeholder) }
    }
}
