import Foundation

/// The whole schema as of the first release: every table of the seed data model and of DESIGN §2.
///
/// Columns mirror the ZedgeCore model types exactly (one per stored property, snake_case names), plus the
/// secret hashes that those types deliberately omit. Enum columns are TEXT with a CHECK over the enum's raw
/// values, written out literally so that this migration stays frozen when an enum later grows a case (that
/// needs a new migration). Names: `uq_<table>_<cols>`, `ck_<table>_<col>`, `fk_<table>_<col>`,
/// `ix_<table>_<cols>`.
///
/// Foreign keys that point at a table created later (tenants → users, resource_pools → subnets,
/// instances → virtual_machines) are declared in CREATE TABLE on SQLite, which checks them only at write
/// time, and added with ALTER TABLE after every table exists on PostgreSQL.
enum SchemaV1 {
    static let migration = Migration(
        version: 1, name: "schema-v1", declared: schema(ColumnTypes(.sqlite), .sqlite).declared
    ) { engine in statements(ColumnTypes(engine), engine) }

    static func statements(_ t: ColumnTypes, _ engine: DatabaseEngine) -> [String] { schema(t, engine).finish() }

    static func schema(_ t: ColumnTypes, _ engine: DatabaseEngine) -> SchemaBuilder {
        let s = SchemaBuilder(types: t, engine: engine)

        // MARK: Authentication & authorisation

        s.table("tenants") { c in
            c.id()
            c.text("name")
            c.text("description", .nullable)
            c.oneOf("status", ["ACTIVE", "INACTIVE", "SUSPENDED"])
            // Deliberately nullable (the seed says required): a tenant exists before its first admin.
            c.ref("admin_user_id", "users", .setNull, .nullable)
            c.integer("vlan_id", .nullable)
            c.json("quota_config", .nullable)
            c.timestamp("created_at")
            c.timestamp("updated_at")
            c.ref("created_by", "users", .setNull, .nullable)
            c.unique("name")
            c.unique("vlan_id")
        }

        s.table("users") { c in
            c.id()
            c.text("username")
            c.text("email")
            c.text("password_hash")  // secret: not in the Swift type
            c.oneOf("role", userRoles)
            c.oneOf("status", ["ACTIVE", "INACTIVE", "LOCKED"])
            c.ref("tenant_id", "tenants", .restrict, .nullable)
            c.json("quota_config", .nullable)
            c.timestamp("last_login_at", .nullable)
            c.timestamp("created_at")
            c.timestamp("updated_at")
            c.unique("username")
            c.unique("email")
            c.index("role")
        }

        s.table("user_groups") { c in
            c.id()
            c.text("name")
            c.text("description", .nullable)
            c.ref("tenant_id", "tenants", .restrict)
            c.ref("parent_group_id", "user_groups", .setNull, .nullable)
            c.json("quota_config", .nullable)
            c.timestamp("created_at")
            c.timestamp("updated_at")
            c.unique("tenant_id", "name")
        }

        s.table("user_group_members") { c in
            c.id()
            c.ref("group_id", "user_groups", .cascade)
            c.ref("user_id", "users", .cascade)
            c.timestamp("joined_at")
            c.ref("added_by", "users", .setNull, .nullable)
            c.unique("group_id", "user_id")
        }

        s.table("permissions") { c in
            c.id()
            c.oneOf("resource_type", [
                "TENANT", "USER", "USER_GROUP", "INSTANCE", "INSTANCE_SET", "STORAGE", "NETWORK", "IMAGE",
                "SERVER", "EDGE_DC", "PLACE", "TEMPLATE",
            ])
            c.oneOf("action", ["CREATE", "READ", "UPDATE", "DELETE", "MANAGE", "EXECUTE"])
            c.text("permission_name")
            c.text("description", .nullable)
            c.timestamp("created_at")
            c.unique("permission_name")
        }

        s.table("role_permissions") { c in
            c.id()
            c.oneOf("role", userRoles)
            c.ref("permission_id", "permissions", .cascade)
            c.unique("role", "permission_id")
        }

        // MARK: Compute & infrastructure

        s.table("edge_data_centers") { c in
            c.id()
            c.text("name")
            c.text("location", .nullable)
            c.oneOf("status", ["ACTIVE", "OFFLINE", "MAINTENANCE"])
            c.json("network_config", .nullable)
            c.integer("total_cpu_cores", default: "0")
            c.integer("total_memory_gb", default: "0")
            c.integer("total_storage_gb", default: "0")
            c.integer("total_gpu_count", default: "0")
            c.timestamp("created_at")
            c.timestamp("updated_at")
            c.unique("name")
        }

        s.table("resource_pools") { c in
            c.id()
            c.text("name")
            c.text("description", .nullable)
            c.ref("edge_data_center_id", "edge_data_centers", .restrict)
            c.oneOf("pool_type", ["COMPUTE", "STORAGE", "IP_ADDRESS"])
            c.text("scheduling_policy", default: "'load_balance'")
            c.oneOf("status", ["ACTIVE", "MAINTENANCE", "DISABLED"])
            c.integer("total_cpu_cores", default: "0")
            c.integer("total_memory_gb", default: "0")
            c.integer("total_storage_gb", default: "0")
            c.integer("total_gpu_count", default: "0")
            c.integer("allocated_cpu_cores", default: "0")
            c.integer("allocated_memory_gb", default: "0")
            c.integer("allocated_storage_gb", default: "0")
            c.integer("allocated_gpu_count", default: "0")
            c.ref("subnet_id", "subnets", .setNull, .nullable)
            c.json("ip_pool_config", .nullable)
            c.timestamp("created_at")
            c.timestamp("updated_at")
            c.unique("edge_data_center_id", "name")
            c.unique("subnet_id")
        }

        s.table("compute_machines") { c in
            c.id()
            c.text("hostname")
            c.text("name")
            c.ref("edge_data_center_id", "edge_data_centers", .restrict)
            c.ref("resource_pool_id", "resource_pools", .restrict)
            c.oneOf("machine_type", ["CPU_SERVER", "PC_FARM", "GPU_SERVER"])
            c.oneOf("rental_mode", rentalModes)
            c.oneOf("hypervisor_type", ["KVM", "VMWARE", "HYPER_V"])
            c.integer("cpu_cores")
            c.integer("memory_gb")
            c.integer("storage_gb")
            c.integer("gpu_count", .nullable, default: "0")
            c.text("gpu_model", .nullable)
            c.text("management_ip")
            c.text("business_ip", .nullable)
            c.integer("allocated_cpu_cores", default: "0")
            c.integer("allocated_memory_gb", default: "0")
            c.integer("allocated_storage_gb", default: "0")
            c.integer("allocated_gpu_count", default: "0")
            c.oneOf("status", ["ACTIVE", "MAINTENANCE", "OFFLINE", "DECOMMISSIONING"])
            c.oneOf("health_status", ["HEALTHY", "WARNING", "CRITICAL"])
            c.json("connection_config", .nullable)
            c.json("tags", .nullable)
            c.timestamp("created_at")
            c.timestamp("updated_at")
            c.timestamp("last_heartbeat", .nullable)
            c.unique("edge_data_center_id", "management_ip")
            c.unique("edge_data_center_id", "business_ip")
        }

        s.table("templates") { c in
            c.id()
            c.text("name")
            c.text("description", .nullable)
            c.oneOf("use_case", [
                "AI_APPLICATION", "GRAPHICS_RENDERING", "GAMING_HIGH_PERFORMANCE", "LIGHTWEIGHT_OFFICE",
                "WEB_SERVER", "DATABASE", "DEVELOPMENT", "GENERAL",
            ], .nullable)
            c.oneOf("template_type", ["INSTANCE", "INSTANCE_SET"])
            c.uuid("base_image_id", .nullable)  // the seed gives no FK
            c.integer("default_cpu_cores")
            c.integer("default_memory_gb")
            c.integer("default_storage_gb")
            c.integer("default_gpu_count", default: "0")
            c.double("default_bandwidth_gbps", .nullable)
            c.json("network_config", .nullable)
            c.text("user_data", .nullable)
            c.json("tags", .nullable)
            c.oneOf("visibility", ["PUBLIC", "PRIVATE", "GROUP_SPECIFIC"])
            c.ref("owner_id", "users", .restrict)
            c.ref("tenant_id", "tenants", .restrict, .nullable)
            c.text("version", default: "'v1.0.0'")
            c.oneOf("status", ["ACTIVE", "DEPRECATED", "ARCHIVED"])
            c.timestamp("created_at")
            c.timestamp("updated_at")
            c.unique("tenant_id", "name")
        }

        s.table("template_versions") { c in
            c.id()
            c.ref("template_id", "templates", .cascade)
            c.text("version_number")
            c.bool("is_latest", default: "FALSE")
            c.json("config_snapshot")
            c.text("changelog", .nullable)
            c.timestamp("created_at")
            c.ref("created_by", "users", .restrict)
            c.unique("template_id", "version_number")
        }

        s.table("instances") { c in
            c.id()
            c.text("name")
            c.ref("tenant_id", "tenants", .restrict)
            c.ref("user_id", "users", .restrict)
            c.ref("template_id", "templates", .setNull, .nullable)
            c.oneOf("status", ["CREATING", "STARTING", "RUNNING", "STOPPING", "STOPPED", "ERROR", "DELETING", "DELETED"])
            c.oneOf("desired_status", ["RUNNING", "STOPPED", "DELETED"])
            c.json("config", .nullable)
            c.oneOf("rental_mode", rentalModes, .nullable)
            c.ref("resource_pool_id", "resource_pools", .restrict, .nullable)
            c.ref("compute_machine_id", "compute_machines", .restrict, .nullable)
            c.ref("virtual_machine_id", "virtual_machines", .setNull, .nullable)
            c.integer("timeout_s", .nullable)
            c.timestamp("created_at")
            c.timestamp("updated_at")
            c.unique("virtual_machine_id")
        }

        s.table("virtual_machines") { c in
            c.id()
            c.ref("compute_machine_id", "compute_machines", .restrict)
            c.ref("instance_id", "instances", .cascade)
            c.text("vm_uuid", .nullable)
            c.text("vm_name")
            c.integer("cpu_cores")
            c.integer("memory_gb")
            c.integer("storage_gb")
            c.integer("gpu_count", .nullable, default: "0")
            c.oneOf("status", ["CREATING", "STARTING", "RUNNING", "STOPPING", "STOPPED", "RESTARTING", "ERROR", "DELETED"])
            c.text("ip_address", .nullable)
            c.text("mac_address", .nullable)
            c.json("config", .nullable)
            c.timestamp("created_at")
            c.timestamp("updated_at")
            c.unique("instance_id")
            c.unique("vm_uuid")
        }

        s.table("instance_sets") { c in
            c.id()
            c.text("name")
            c.text("description", .nullable)
            c.ref("owner_id", "users", .restrict)
            c.ref("tenant_id", "tenants", .restrict)
            c.ref("user_group_id", "user_groups", .setNull, .nullable)
            c.oneOf("set_type", ["PROJECT", "DEPARTMENT", "APPLICATION", "TRAINING", "CUSTOM"])
            c.oneOf("status", ["ACTIVE", "ARCHIVED", "DELETED"])
            c.json("tags", .nullable)
            c.timestamp("created_at")
            c.timestamp("updated_at")
            c.ref("created_by", "users", .setNull, .nullable)
            c.ref("updated_by", "users", .setNull, .nullable)
            c.unique("tenant_id", "name")
        }

        s.table("instance_set_members") { c in
            c.id()
            c.ref("set_id", "instance_sets", .cascade)
            c.ref("instance_id", "instances", .cascade)
            c.text("role")
            c.timestamp("joined_at")
            c.ref("added_by", "users", .setNull, .nullable)
            c.unique("set_id", "instance_id")
        }

        // MARK: Storage & images

        s.table("private_data_disks") { c in
            c.id()
            c.text("name")
            c.ref("tenant_id", "tenants", .restrict)
            c.ref("user_id", "users", .restrict)
            c.integer("size_gb")
            c.oneOf("disk_type", ["STANDARD", "SSD", "NVME"])
            c.oneOf("status", ["AVAILABLE", "ATTACHED", "CREATING", "DELETING", "ERROR"])
            c.oneOf("share_mode", ["EXCLUSIVE", "SHARED"])
            c.integer("max_attachments", default: "1")
            c.text("rbd_image_name")
            c.text("rbd_pool", default: "'private-data-disks'")
            c.timestamp("created_at")
            c.timestamp("updated_at")
            c.ref("created_by", "users", .setNull, .nullable)
            c.ref("updated_by", "users", .setNull, .nullable)
            c.unique("rbd_image_name")
        }

        s.table("instance_private_data_disk_attachments") { c in
            c.id()
            c.ref("instance_id", "instances", .cascade)
            c.ref("disk_id", "private_data_disks", .restrict)
            c.text("mount_path")
            c.oneOf("mount_mode", ["RW", "RO"])
            c.timestamp("attached_at")
            c.ref("attached_by", "users", .restrict)  // NOT NULL, so it cannot be SET NULL
            c.oneOf("status", ["ATTACHING", "ATTACHED", "DETACHING", "FAILED"])
            c.unique("instance_id", "disk_id")
        }

        s.table("images") { c in
            c.id()
            c.text("name")
            c.text("description", .nullable)
            c.oneOf("image_type", ["OS_BASE", "APPLICATION_LAYER", "CUSTOM"])
            c.text("base_os", .nullable)
            c.text("os_version", .nullable)
            c.text("architecture", .nullable)
            c.double("size_gb", .nullable)
            c.integer("min_cpu_cores", .nullable)
            c.integer("min_memory_gb", .nullable)
            c.integer("min_storage_gb", .nullable)
            c.integer("recommended_cpu_cores", .nullable)
            c.integer("recommended_memory_gb", .nullable)
            c.oneOf("visibility", ["PUBLIC", "PRIVATE", "GROUP_SPECIFIC"])
            c.oneOf("status", ["ACTIVE", "DEPRECATED", "ARCHIVED"])
            c.uuid("file_server_id", .nullable)  // no file_servers table
            c.text("file_path", .nullable)
            c.text("checksum_md5", .nullable)
            c.ref("owner_id", "users", .restrict)
            c.ref("tenant_id", "tenants", .restrict, .nullable)
            c.timestamp("created_at")
            c.timestamp("updated_at")
            c.unique("tenant_id", "name")
        }

        s.table("image_versions") { c in
            c.id()
            c.ref("image_id", "images", .cascade)
            c.text("version_number")
            c.text("version_name", .nullable)
            c.bool("is_latest", default: "FALSE")
            c.bool("is_default", default: "FALSE")
            c.ref("parent_version_id", "image_versions", .setNull, .nullable)
            c.double("size_gb", .nullable)
            c.text("file_path", .nullable)
            c.text("checksum_md5", .nullable)
            c.text("release_notes", .nullable)
            c.oneOf("status", ["ACTIVE", "DEPRECATED", "ARCHIVED"])
            c.timestamp("created_at")
            c.ref("created_by", "users", .restrict)  // NOT NULL, so it cannot be SET NULL
            c.unique("image_id", "version_number")
        }

        s.table("image_tags") { c in
            c.id()
            c.ref("image_id", "images", .cascade)
            c.ref("version_id", "image_versions", .cascade)
            c.text("tag_name")
            c.bool("is_immutable", default: "FALSE")
            c.timestamp("created_at")
            c.timestamp("updated_at")
            c.unique("image_id", "tag_name")
        }

        // MARK: Network

        s.table("vpcs") { c in
            c.id()
            c.text("name")
            c.text("description", .nullable)
            c.ref("tenant_id", "tenants", .restrict)
            c.ref("user_id", "users", .restrict)
            c.text("cidr_block")
            c.ref("edge_data_center_id", "edge_data_centers", .setNull, .nullable)
            c.integer("vlan_id", .nullable)
            c.bool("enable_dns", default: "TRUE")
            c.json("dns_servers", .nullable)
            c.oneOf("status", ["ACTIVE", "DISABLED", "DELETED"])
            c.timestamp("created_at")
            c.timestamp("updated_at")
            c.ref("created_by", "users", .setNull, .nullable)
            c.ref("updated_by", "users", .setNull, .nullable)
            c.unique("tenant_id", "name")
        }

        s.table("subnets") { c in
            c.id()
            c.text("name")
            c.ref("vpc_id", "vpcs", .cascade)
            c.text("cidr_block")
            c.text("availability_zone", .nullable)
            c.text("gateway", .nullable)
            c.integer("vlan_id", .nullable)
            c.bool("is_public", default: "FALSE")
            c.bool("auto_assign_ip", default: "TRUE")
            c.ref("ip_pool_id", "resource_pools", .setNull, .nullable)
            c.oneOf("status", ["ACTIVE", "DISABLED"])
            c.timestamp("created_at")
            c.timestamp("updated_at")
            c.ref("created_by", "users", .setNull, .nullable)
            c.ref("updated_by", "users", .setNull, .nullable)
            c.unique("vpc_id", "cidr_block")
            c.unique("ip_pool_id")
        }

        s.table("places") { c in
            c.id()
            c.text("name")
            c.text("description", .nullable)
            c.ref("tenant_id", "tenants", .restrict)
            c.ref("subnet_id", "subnets", .setNull, .nullable)
            c.text("location", .nullable)
            c.oneOf("status", ["ACTIVE", "INACTIVE", "DISABLED"])
            c.timestamp("created_at")
            c.timestamp("updated_at")
            c.ref("created_by", "users", .setNull, .nullable)
            c.ref("updated_by", "users", .setNull, .nullable)
            c.unique("tenant_id", "name")
            c.unique("subnet_id")
        }

        s.table("ip_addresses") { c in
            c.id()
            c.text("ip_address")
            c.ref("ip_pool_id", "resource_pools", .restrict)
            c.ref("subnet_id", "subnets", .restrict)
            c.oneOf("status", ["AVAILABLE", "ALLOCATED", "RESERVED", "FROZEN"])
            c.ref("instance_id", "instances", .setNull, .nullable)
            c.text("mac_address", .nullable)
            c.timestamp("allocated_at", .nullable)
            c.ref("allocated_by", "users", .setNull, .nullable)
            c.timestamp("lease_expires_at", .nullable)
            c.bool("is_range_start", default: "FALSE")
            c.integer("range_size", default: "1")
            c.json("tags", .nullable)
            c.timestamp("created_at")
            c.timestamp("updated_at")
            c.unique("ip_address")
        }

        // MARK: Cloud hardware

        s.table("cloud_boxes") { c in
            c.id()
            c.text("name")
            c.text("serial_number")
            c.uuid("network_id", .nullable)  // no networks table
            c.oneOf("status", ["ONLINE", "OFFLINE", "INITIALIZING", "MAINTENANCE", "ERROR"])
            c.text("ip_address", .nullable)
            c.text("mac_address", .nullable)
            c.text("firmware_version", .nullable)
            c.timestamp("last_boot_time", .nullable)
            c.bool("is_disabled", default: "FALSE")
            c.ref("edge_data_center_id", "edge_data_centers", .setNull, .nullable)
            c.timestamp("created_at")
            c.timestamp("updated_at")
            c.timestamp("last_heartbeat", .nullable)
            c.ref("temporary_instance_id", "instances", .setNull, .nullable)
            c.timestamp("temporary_bind_expires_at", .nullable)
            c.text("model", .nullable)
            c.text("manufacturer", .nullable)
            c.json("hardware_config", .nullable)
            c.text("location", .nullable)
            c.ref("assigned_user_id", "users", .setNull, .nullable)
            c.json("tags", .nullable)
            c.text("network_mode", .nullable)
            c.text("gateway", .nullable)
            c.json("dns_servers", .nullable)
            c.text("subnet_mask", .nullable)
            c.double("cpu_usage_percent", .nullable)
            c.double("memory_usage_percent", .nullable)
            c.double("disk_usage_percent", .nullable)
            c.double("temperature", .nullable)
            c.integer("uptime_seconds", .nullable)
            c.unique("serial_number")
        }

        // MARK: Audit

        s.table("audit_logs") { c in
            c.id()
            // Deliberately nullable (the seed says required): unknown users and unauthenticated refusals are
            // audited too, and rows outlive deleted users.
            c.ref("user_id", "users", .setNull, .nullable)
            // Zedge addition: scopes the log for a TENANT_ADMIN; no FK, so rows outlive their tenant.
            c.uuid("tenant_id", .nullable)
            c.text("action")
            c.text("resource_type")
            c.uuid("resource_id", .nullable)
            c.json("details", .nullable)
            c.text("ip_address", .nullable)
            c.text("user_agent", .nullable)
            c.oneOf("status", ["SUCCESS", "DENIED", "FAILED"])
            c.timestamp("created_at")
            c.index("created_at")
        }

        // MARK: DESIGN §2 additions

        s.table("operations") { c in
            c.id()
            c.text("kind")
            c.oneOf("status", ["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"])
            c.ref("tenant_id", "tenants", .setNull, .nullable)
            c.ref("user_id", "users", .setNull, .nullable)
            c.text("resource_type", .nullable)
            c.uuid("resource_id", .nullable)
            c.json("steps")
            c.double("progress", default: "0")
            c.json("request", .nullable)
            c.text("error", .nullable)
            c.timestamp("created_at")
            c.timestamp("updated_at")
            c.timestamp("started_at", .nullable)
            c.timestamp("ended_at", .nullable)
        }

        s.table("agent_tasks") { c in
            c.id()
            c.ref("operation_id", "operations", .setNull, .nullable)
            c.ref("compute_machine_id", "compute_machines", .cascade, .nullable)
            c.ref("cloud_box_id", "cloud_boxes", .cascade, .nullable)
            c.oneOf("kind", [
                "vm.create", "vm.start", "vm.stop", "vm.restart", "vm.delete",
                "disk.create", "disk.resize", "disk.delete", "disk.attach", "disk.detach",
                "image.fetch",
                "cloudbox.configure-network", "cloudbox.bind", "cloudbox.unbind", "cloudbox.reboot",
            ])
            c.json("payload")
            c.oneOf("status", ["QUEUED", "LEASED", "SUCCEEDED", "FAILED", "CANCELLED"])
            c.integer("attempts", default: "0")
            c.integer("max_attempts", default: "5")
            c.timestamp("lease_expires_at", .nullable)
            c.json("result", .nullable)
            c.text("error", .nullable)
            c.timestamp("created_at")
            c.timestamp("updated_at")
            c.timestamp("finished_at", .nullable)
            c.index("compute_machine_id", "status")
            c.index("cloud_box_id", "status")
            c.index("status", "lease_expires_at")
        }

        s.table("task_events") { c in
            c.id()
            c.ref("task_id", "agent_tasks", .cascade)
            c.ref("operation_id", "operations", .setNull, .nullable)
            c.integer("sequence")
            c.oneOf("kind", ["STEP", "INFO", "ERROR", "COMPLETE"])
            c.text("name")
            c.json("metadata", .nullable)
            c.timestamp("created_at")
            c.unique("task_id", "sequence")
        }

        s.table("api_keys") { c in
            c.id()
            c.ref("user_id", "users", .cascade)
            c.text("name")
            c.text("prefix")
            c.text("key_hash")  // secret: not in the Swift type
            c.timestamp("expires_at", .nullable)
            c.timestamp("last_used_at", .nullable)
            c.timestamp("revoked_at", .nullable)
            c.timestamp("created_at")
            c.unique("key_hash")
        }

        s.table("refresh_tokens") { c in
            c.id()
            c.ref("user_id", "users", .cascade)
            c.uuid("family_id")
            c.text("token_hash")  // secret: not in the Swift type
            c.timestamp("expires_at")
            c.timestamp("revoked_at", .nullable)
            c.timestamp("used_at", .nullable)
            c.timestamp("created_at")
            c.unique("token_hash")
            c.index("family_id")
        }

        s.table("enrollment_tokens") { c in
            c.id()
            c.ref("edge_data_center_id", "edge_data_centers", .restrict)
            c.ref("resource_pool_id", "resource_pools", .setNull, .nullable)
            c.oneOf("kind", ["COMPUTE_MACHINE", "CLOUD_BOX"])
            c.text("prefix")
            c.text("token_hash")  // secret: not in the Swift type
            c.integer("uses_left")
            c.integer("uses_total")
            c.timestamp("expires_at")
            c.timestamp("revoked_at", .nullable)
            c.ref("created_by", "users", .setNull, .nullable)
            c.timestamp("created_at")
            c.unique("token_hash")
        }

        s.table("agent_credentials") { c in
            c.id()
            c.ref("compute_machine_id", "compute_machines", .cascade, .nullable)
            c.ref("cloud_box_id", "cloud_boxes", .cascade, .nullable)
            c.text("prefix")
            c.text("secret_hash")  // secret: not in the Swift type
            c.timestamp("last_used_at", .nullable)
            c.timestamp("revoked_at", .nullable)
            c.timestamp("created_at")
            c.unique("secret_hash")
        }

        s.table("metric_samples") { c in
            c.id()
            c.ref("compute_machine_id", "compute_machines", .cascade, .nullable)
            c.ref("cloud_box_id", "cloud_boxes", .cascade, .nullable)
            c.timestamp("recorded_at")
            c.double("cpu_usage_percent", .nullable)
            c.double("memory_usage_percent", .nullable)
            c.double("disk_usage_percent", .nullable)
            c.double("temperature", .nullable)
            c.integer("uptime_seconds", .nullable)
            c.json("extra", .nullable)
            c.index("compute_machine_id", "recorded_at")
            c.index("cloud_box_id", "recorded_at")
            c.index("recorded_at")  // retention sweeps
        }

        return s
    }

    private static let userRoles = ["ADMIN", "TENANT_ADMIN", "OPERATOR", "USER"]
    private static let rentalModes = ["EXCLUSIVE", "SHARED"]
}
