import Foundation

/// Instances by when they last changed: the reconciler's incremental passes read only the machines whose instances
/// changed since the pass before (`InstanceRepository.machinesWithChanges(since:)`, issue #14).
enum SchemaV9 {
    static let migration = Migration(version: 9, name: "instances-by-updated-at", declared: DeclaredSchema()) { _ in
        ["CREATE INDEX ix_instances_updated_at ON instances (updated_at)"]
    }
}
