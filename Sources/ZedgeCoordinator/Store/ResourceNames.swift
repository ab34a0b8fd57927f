import Foundation

/// The one place that knows what a table's rows are called in messages ("The edge data center still has
/// 2 resource pools.", "A user group with this name already exists."): every table of every migration.
/// `Table(_:)` takes its `resource` from here; `DeleteWithChildrenReferenceTableTests` checks that no table
/// is missing.
enum ResourceNames {
    /// Table → the singular name of one row, as a sentence uses it (lowercase unless a proper name).
    static let singular: [String: String] = [
        "tenants": "tenant",
        "users": "user",
        "user_groups": "user group",
        "user_group_members": "group membership",
        "permissions": "permission",
        "role_permissions": "role permission",
        "edge_data_centers": "edge data center",
        "resource_pools": "resource pool",
        "compute_machines": "compute machine",
        "templates": "template",
        "template_versions": "template version",
        "template_group_grants": "template group grant",
        "instances": "instance",
        "virtual_machines": "virtual machine",
        "instance_sets": "instance set",
        "instance_set_members": "instance set member",
        "capacity_claims": "capacity claim",
        "private_data_disks": "private data disk",
        "instance_private_data_disk_attachments": "disk attachment",
        "storage_pool_secrets": "storage pool secret",
        "images": "image",
        "image_versions": "image version",
        "image_tags": "image tag",
        "image_group_grants": "image group grant",
        "vpcs": "VPC",
        "subnets": "subnet",
        "places": "place",
        "ip_addresses": "IP address",
        "cloud_boxes": "CloudBox",
        "audit_logs": "audit log entry",
        "operations": "operation",
        "agent_tasks": "task",
        "task_events": "task event",
        "api_keys": "API key",
        "refresh_tokens": "refresh token",
        "enrollment_tokens": "enrollment token",
        "agent_credentials": "agent credential",
        "metric_samples": "metric sample",
        "machine_gpus": "GPU",
        "host_observations": "host observation",
        "agent_calls": "agent call",
        "console_sessions": "console session",
        "host_cached_images": "cached image",
    ]

    /// The name of one row of `table`; a table missing above reads as its own name (and fails the test).
    static func of(_ table: String) -> String {
        singular[table] ?? table.replacingOccurrences(of: "_", with: " ")
    }

    /// "resource pool" → "resource pools", "IP address" → "IP addresses", "audit log entry" → "audit log
    /// entries", "CloudBox" → "CloudBoxes".
    static func plural(_ noun: String) -> String {
        let lower = noun.lowercased()
        if ["s", "x", "z", "ch", "sh"].contains(where: { lower.hasSuffix($0) }) { return noun + "es" }
        if lower.hasSuffix("y"), let before = lower.dropLast().last, !"aeiou".contains(before) {
            return noun.dropLast() + "ies"
        }
        return noun + "s"
    }

    /// "1 resource pool", "2 resource pools".
    static func counted(_ count: Int, _ noun: String) -> String {
        "\(count) \(count == 1 ? noun : plural(noun))"
    }
}
