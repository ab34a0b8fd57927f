/// Trimming without Foundation: the agent's targets import only FoundationEssentials (no ICU), which has no
/// `trimmingCharacters(in:)`/`CharacterSet`. `Character.isWhitespace` covers what `.whitespacesAndNewlines` did
/// for the text Zedge trims (spaces, tabs, CR, LF, CRLF and the Unicode spaces).
extension StringProtocol {
    /// The text without its leading and trailing whitespace and newlines.
    public func trimmed() -> String { trimmed(while: \.isWhitespace) }

    /// The text without the leading and trailing characters `drop` accepts, e.g. `trimmed { $0 == "-" }`.
    public func trimmed(while drop: (Character) -> Bool) -> String {
        guard let first = firstIndex(where: { !drop($0) }), let last = lastIndex(where: { !drop($0) }) else { return "" }
        return String(self[first...last])
    }
}
