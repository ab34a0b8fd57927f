import ArgumentParser

/// `-o table|wide|json|yaml`.
/// - `table`: the resource's main columns (`show`: every top-level field, one per line);
/// - `wide`: more columns;
/// - `json`: the API's own JSON, byte for byte (`list --all`: the pages' items merged into one `{items, nextCursor: null}`);
/// - `yaml`: the same JSON as YAML (keys sorted).
public enum OutputFormat: String, CaseIterable, ExpressibleByArgument, Sendable {
    case table, wide, json, yaml
}
