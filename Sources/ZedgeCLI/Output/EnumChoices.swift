import ZedgeCore

/// The values of a seed enum as help text ("PUBLIC, PRIVATE or GROUP_SPECIFIC."), taken from ZedgeCore so that
/// `--help` never lists a value the API refuses.
enum EnumChoices {
    static func of<E: ZedgeEnum>(_ type: E.Type, except excluded: Set<E> = []) -> String {
        let values = E.allCases.filter { !excluded.contains($0) }.map(\.rawValue)
        guard let last = values.last else { return "" }
        return (values.count == 1 ? last : values.dropLast().joined(separator: ", ") + " or " + last) + "."
    }
}
