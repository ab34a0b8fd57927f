import Foundation

/// Images (issue #9): what an uploaded version's file is (SHA-256, sizes, format), the groups a GROUP_SPECIFIC
/// image is shared with, and the uniqueness rules the seed states but a plain UNIQUE cannot hold:
///
/// - exactly one `is_latest` and at most one `is_default` version per image (partial unique indexes; the
///   repository also holds the image's row while it moves either flag, so concurrent publishes serialise);
/// - UNIQUE(name) among global images and templates (tenant_id NULL), which UNIQUE(tenant_id, name) lets
///   through because NULLs are distinct. Existing global duplicates are renamed `<name>-<last 12 hex digits
///   of the id>` (the random ones of a UUIDv7; all but the oldest row) so the index can be built.
///
/// Partial indexes (`… WHERE predicate`) read the same on SQLite and PostgreSQL.
enum SchemaV3 {
    static let migration = Migration(
        version: 3, name: "images", declared: schema(ColumnTypes(.sqlite), .sqlite).declared
    ) { engine in
        statements(ColumnTypes(engine), engine)
    }

    static func statements(_ t: ColumnTypes, _ engine: DatabaseEngine) -> [String] {
        schema(t, engine).finish() + [
            "ALTER TABLE image_versions ADD COLUMN checksum_sha256 \(t.text)",
            "ALTER TABLE image_versions ADD COLUMN size_bytes \(t.integer)",
            "ALTER TABLE image_versions ADD COLUMN virtual_size_bytes \(t.integer)",
            "ALTER TABLE image_versions ADD COLUMN disk_format \(t.text) CONSTRAINT ck_image_versions_disk_format CHECK (disk_format IN ('qcow2', 'raw'))",
            "CREATE INDEX ix_image_versions_checksum_sha256 ON image_versions (checksum_sha256)",
            "CREATE UNIQUE INDEX uq_image_versions_latest ON image_versions (image_id) WHERE is_latest",
            "CREATE UNIQUE INDEX uq_image_versions_default ON image_versions (image_id) WHERE is_default",
            renameGlobalDuplicates("templates"),
            "CREATE UNIQUE INDEX uq_templates_global_name ON templates (name) WHERE tenant_id IS NULL",
            renameGlobalDuplicates("images"),
            "CREATE UNIQUE INDEX uq_images_global_name ON images (name) WHERE tenant_id IS NULL",
        ]
    }

    /// Renames every global row of `table` that shares its name with an older (smaller id) global row. (Ids are
    /// UUID text on SQLite and UUID on PostgreSQL; both read as 36 characters, the last 12 the random ones.)
    static func renameGlobalDuplicates(_ table: String) -> String {
        """
        UPDATE \(table) SET name = name || '-' || lower(substr(CAST(id AS TEXT), 25, 12)) WHERE tenant_id IS NULL AND EXISTS (
            SELECT 1 FROM \(table) older WHERE older.tenant_id IS NULL AND older.name = \(table).name AND older.id < \(table).id)
        """
    }

    static func schema(_ t: ColumnTypes, _ engine: DatabaseEngine) -> SchemaBuilder {
        let s = SchemaBuilder(types: t, engine: engine)
        s.table("image_group_grants") { c in
            c.id()
            c.ref("image_id", "images", .cascade)
            c.ref("user_group_id", "user_groups", .cascade)
            c.timestamp("created_at")
            c.unique("image_id", "user_group_id")
        }
        return s
    }
}
