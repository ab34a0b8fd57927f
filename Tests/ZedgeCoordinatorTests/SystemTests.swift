import Foundation
import Testing
import ZedgeCore
@testable import ZedgeCoordinator

@Suite struct SystemTests {
    @Test(arguments: TestEngine.all)
    func healthReadinessAndMetrics(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            #expect(try await c.client.get("/healthz", token: nil).status == 200)
            let ready = try await c.client.get("/readyz", token: nil)
            #expect(ready.status == 200)
            #expect(try ready.json()["status"] as? String == "ready")
            _ = try await c.adminToken()
            _ = try await c.client.get("/api/v1/nowhere", token: nil)

            let metrics = try await c.client.get("/metrics", token: nil)
            #expect(metrics.status == 200)
            #expect(metrics.headers.first(name: "Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
            #expect(metrics.text.contains(#"zedge_http_requests_total{route="/api/v1/auth/login",method="POST",status="200"} 1"#))
            #expect(metrics.text.contains(#"zedge_http_request_duration_seconds_bucket{route="/api/v1/auth/login",method="POST",status="200",le="+Inf"} 1"#))
            #expect(metrics.text.contains(#"status="404""#))

            // The series made by the first request counts the next ones; another status is a series of its own.
            _ = try await c.adminToken()
            _ = try await c.client.post("/api/v1/auth/login", token: nil, ["username": "admin", "password": "wrong-password"])
            let again = try await c.client.get("/metrics", token: nil).text
            #expect(again.contains(#"zedge_http_requests_total{route="/api/v1/auth/login",method="POST",status="200"} 2"#))
            #expect(again.contains(#"zedge_http_request_duration_seconds_count{route="/api/v1/auth/login",method="POST",status="200"} 2"#))
            #expect(again.contains(#"zedge_http_requests_total{route="/api/v1/auth/login",method="POST",status="401"} 1"#))
        }
    }

    @Test(arguments: TestEngine.all)
    func unknownRoutesAreProblem404s(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let response = try await c.client.get("/api/v1/nowhere", token: nil)
            #expect(response.status == 404)
            #expect(response.headers.first(name: "Content-Type") == "application/problem+json")
            // A known path with a method it does not support is a 405 naming the allowed ones.
            let wrongMethod = try await c.client.send(.PUT, "/api/v1/users/\(UUID())", token: nil, json: [:])
            #expect(wrongMethod.status == 405)
            #expect(wrongMethod.headers.first(name: "Allow") == "DELETE, GET, PATCH")
            // A malformed id is a 404 like any id that names nothing.
            let token = try await c.adminToken()
            #expect(try await c.client.get("/api/v1/users/not-a-uuid", token: token).status == 404)
        }
    }

    @Test(arguments: TestEngine.all)
    func openAPIDescribesEveryRoute(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let response = try await c.client.get("/api/v1/openapi.json", token: nil)
            #expect(response.status == 200)
            let document = try response.json()
            #expect(document["openapi"] as? String == "3.1.0")
            let paths = try #require(document["paths"] as? [String: [String: Any]])
            let expected: [(String, String)] = [
                ("/api/v1/auth/login", "post"), ("/api/v1/auth/refresh", "post"), ("/api/v1/auth/logout", "post"),
                ("/api/v1/auth/me", "get"),
                ("/api/v1/vpcs", "post"), ("/api/v1/vpcs", "get"), ("/api/v1/vpcs/{id}", "get"),
                ("/api/v1/vpcs/{id}", "patch"), ("/api/v1/vpcs/{id}", "delete"),
                ("/api/v1/subnets", "post"), ("/api/v1/subnets", "get"), ("/api/v1/subnets/{id}", "get"),
                ("/api/v1/subnets/{id}", "patch"), ("/api/v1/subnets/{id}", "delete"),
                ("/api/v1/places", "post"), ("/api/v1/places", "get"), ("/api/v1/places/{id}", "get"),
                ("/api/v1/places/{id}", "patch"), ("/api/v1/places/{id}", "delete"),
                ("/api/v1/ip-addresses", "post"), ("/api/v1/ip-addresses", "get"), ("/api/v1/ip-addresses/{id}", "get"),
                ("/api/v1/ip-addresses/{id}", "patch"), ("/api/v1/ip-addresses/{id}", "delete"),
                ("/api/v1/private-data-disks", "post"), ("/api/v1/private-data-disks", "get"),
                ("/api/v1/private-data-disks/{id}", "get"), ("/api/v1/private-data-disks/{id}", "patch"),
                ("/api/v1/private-data-disks/{id}", "delete"), ("/api/v1/private-data-disks/{id}/attachments", "post"),
                ("/api/v1/private-data-disks/{id}/attachments", "get"),
                ("/api/v1/private-data-disks/{id}/attachments/{attachmentId}", "get"),
                ("/api/v1/private-data-disks/{id}/attachments/{attachmentId}", "delete"),
                ("/api/v1/instances/{id}/disk-attachments", "get"),
                ("/api/v1/tenants", "post"), ("/api/v1/tenants", "get"), ("/api/v1/tenants/{id}", "get"),
                ("/api/v1/tenants/{id}", "patch"), ("/api/v1/tenants/{id}", "delete"),
                ("/api/v1/users", "post"), ("/api/v1/users", "get"), ("/api/v1/users/{id}", "get"),
                ("/api/v1/users/{id}", "patch"), ("/api/v1/users/{id}", "delete"),
                ("/api/v1/user-groups", "post"), ("/api/v1/user-groups", "get"), ("/api/v1/user-groups/{id}", "get"),
                ("/api/v1/user-groups/{id}", "patch"), ("/api/v1/user-groups/{id}", "delete"),
                ("/api/v1/user-groups/{id}/members", "get"), ("/api/v1/user-groups/{id}/members", "post"),
                ("/api/v1/user-groups/{id}/members/{userId}", "delete"), ("/api/v1/user-groups/{id}/members/{userId}", "get"),
                ("/api/v1/api-keys", "post"), ("/api/v1/api-keys", "get"), ("/api/v1/api-keys/{id}", "get"),
                ("/api/v1/api-keys/{id}", "delete"),
                ("/api/v1/permissions", "get"), ("/api/v1/permissions/{id}", "get"), ("/api/v1/role-permissions", "get"),
                ("/api/v1/role-permissions", "post"), ("/api/v1/role-permissions/{id}", "get"), ("/api/v1/role-permissions/{id}", "delete"),
                ("/api/v1/audit-logs", "get"),
                ("/healthz", "get"), ("/readyz", "get"), ("/metrics", "get"), ("/api/v1/openapi.json", "get"),
                ("/api/v1/edge-data-centers", "post"), ("/api/v1/edge-data-centers", "get"),
                ("/api/v1/edge-data-centers/{id}", "get"), ("/api/v1/edge-data-centers/{id}", "patch"),
                ("/api/v1/edge-data-centers/{id}", "delete"),
                ("/api/v1/resource-pools", "post"), ("/api/v1/resource-pools", "get"), ("/api/v1/resource-pools/{id}", "get"),
                ("/api/v1/resource-pools/{id}", "patch"), ("/api/v1/resource-pools/{id}", "delete"),
                ("/api/v1/enrollment-tokens", "post"), ("/api/v1/enrollment-tokens", "get"),
                ("/api/v1/enrollment-tokens/{id}", "get"), ("/api/v1/enrollment-tokens/{id}", "delete"),
                ("/api/v1/compute-machines", "get"), ("/api/v1/compute-machines/{id}", "get"),
                ("/api/v1/compute-machines/{id}/metrics", "get"), ("/api/v1/compute-machines/{id}/credential", "delete"),
                ("/api/v1/cloud-boxes", "post"), ("/api/v1/cloud-boxes", "get"), ("/api/v1/cloud-boxes/{id}", "get"),
                ("/api/v1/cloud-boxes/{id}/metrics", "get"), ("/api/v1/cloud-boxes/{id}/credential", "delete"),
                ("/agent/v1/ca.pem", "get"), ("/agent/v1/register", "post"), ("/agent/v1/heartbeat", "post"),
                ("/agent/v1/tasks", "get"), ("/agent/v1/tasks/{id}/events", "post"), ("/agent/v1/tasks/{id}/result", "post"),
                ("/agent/v1/calls/{id}/answer", "post"), ("/api/v1/instances/{id}/console-log", "get"),
                ("/api/v1/instances/{id}/console", "post"), ("/console/{token}", "get"), ("/console/{token}/websocket", "get"),
                ("/agent/v1/console-sessions/{id}/websocket", "get"),
                ("/api/v1/images/{id}/versions/{versionId}/actions/prefetch", "post"), ("/api/v1/compute-machines/{id}/cached-images", "get"),
                ("/api/v1/operations/{id}", "get"), ("/api/v1/compute-machines/{id}/tasks", "post"),
                ("/api/v1/operations", "get"), ("/api/v1/operations/{id}/actions/cancel", "post"),
                ("/api/v1/operations/{id}/events", "get"), ("/api/v1/operations/{id}/tasks", "get"),
                ("/api/v1/tasks", "get"), ("/api/v1/tasks/{id}", "get"),
                ("/api/v1/templates/{id}/versions/{versionId}", "get"),
                ("/api/v1/instance-sets/{id}/members/{memberId}", "get"),
                ("/api/v1/compute-machines/{id}/observed-vms", "get"),
                ("/api/v1/compute-machines/{id}", "patch"), ("/api/v1/compute-machines/{id}/actions/evacuate", "post"),
                ("/api/v1/cloud-boxes/{id}", "patch"), ("/api/v1/cloud-boxes/{id}/actions/bind", "post"),
                ("/api/v1/cloud-boxes/{id}/actions/unbind", "post"), ("/api/v1/cloud-boxes/{id}/actions/configure-network", "post"),
                ("/api/v1/cloud-boxes/{id}/actions/reboot", "post"),
                ("/api/v1/templates", "post"), ("/api/v1/templates", "get"), ("/api/v1/templates/{id}", "get"),
                ("/api/v1/templates/{id}", "patch"), ("/api/v1/templates/{id}", "delete"),
                ("/api/v1/templates/{id}/versions", "get"), ("/api/v1/templates/{id}/versions", "post"),
                ("/api/v1/instances", "post"), ("/api/v1/instances", "get"), ("/api/v1/instances/{id}", "get"),
                ("/api/v1/instances/{id}", "patch"), ("/api/v1/instances/{id}", "delete"),
                ("/api/v1/instances/{id}/actions/{action}", "post"),
                ("/api/v1/instance-sets", "post"), ("/api/v1/instance-sets", "get"), ("/api/v1/instance-sets/{id}", "get"),
                ("/api/v1/instance-sets/{id}", "patch"), ("/api/v1/instance-sets/{id}", "delete"),
                ("/api/v1/instance-sets/{id}/members", "get"), ("/api/v1/instance-sets/{id}/members", "post"),
                ("/api/v1/instance-sets/{id}/members/{memberId}", "delete"), ("/api/v1/instance-sets/{id}/actions/{action}", "post"),
                ("/api/v1/admin/consistency", "get"), ("/api/v1/compute-machines/{id}", "delete"),
                ("/api/v1/virtual-machines", "get"), ("/api/v1/virtual-machines/{id}", "get"),
                ("/api/v1/images", "post"), ("/api/v1/images", "get"), ("/api/v1/images/{id}", "get"),
                ("/api/v1/images/{id}", "patch"), ("/api/v1/images/{id}", "delete"),
                ("/api/v1/images/{id}/versions", "post"), ("/api/v1/images/{id}/versions", "get"),
                ("/api/v1/images/{id}/versions/{versionId}", "get"), ("/api/v1/images/{id}/versions/{versionId}", "patch"),
                ("/api/v1/images/{id}/versions/{versionId}", "delete"),
                ("/api/v1/images/{id}/versions/{versionId}/file", "put"), ("/api/v1/images/{id}/versions/{versionId}/file", "get"),
                ("/api/v1/images/{id}/versions/{versionId}/file", "head"),
                ("/api/v1/images/{id}/tags", "post"), ("/api/v1/images/{id}/tags", "get"),
                ("/api/v1/images/{id}/tags/{tagName}", "get"), ("/api/v1/images/{id}/tags/{tagName}", "patch"),
                ("/api/v1/images/{id}/tags/{tagName}", "delete"),
                ("/agent/v1/image-versions/{versionId}/file", "get"), ("/agent/v1/image-versions/{versionId}/file", "head"),
            ]
            #expect(paths.values.map(\.count).reduce(0, +) == expected.count, "documented: \(paths.keys.sorted())")
            for (path, method) in expected {
                #expect(paths[path]?[method] != nil, "\(method.uppercased()) \(path) is not documented")
            }
            // Truthful request bodies: the user create schema is the one the decoder enforces.
            let createUser = try #require(paths["/api/v1/users"]?["post"] as? [String: Any])
            let schema = try #require(((createUser["requestBody"] as? [String: Any])?["content"] as? [String: Any])?["application/json"] as? [String: Any])
            let properties = try #require((schema["schema"] as? [String: Any])?["properties"] as? [String: Any])
            #expect(Set(properties.keys) == ["username", "email", "password", "role", "status", "tenantId", "quotaConfig"])
            let role = try #require(properties["role"] as? [String: Any])
            #expect(role["enum"] as? [String] == ["ADMIN", "TENANT_ADMIN", "OPERATOR", "USER"])
            // Optional fields accept null (a PATCH clears with it).
            #expect((properties["tenantId"] as? [String: Any])?["type"] as? [String] == ["string", "null"])
            // List filters are documented with their values.
            let listUsers = try #require(paths["/api/v1/users"]?["get"] as? [String: Any])
            let roleFilter = (listUsers["parameters"] as? [[String: Any]])?.first { $0["name"] as? String == "role" }
            #expect((roleFilter?["schema"] as? [String: Any])?["enum"] as? [String] == ["ADMIN", "TENANT_ADMIN", "OPERATOR", "USER"])
            let required = try #require((schema["schema"] as? [String: Any])?["required"] as? [String])
            #expect(Set(required) == ["username", "email", "password", "role"])
            // Only routes that take a body describe one, and no schema anywhere is JSON null. The one PUT (an image
            // file) takes raw bytes.
            let upload = paths["/api/v1/images/{id}/versions/{versionId}/file"]?["put"] as? [String: Any]
            #expect(((upload?["requestBody"] as? [String: Any])?["content"] as? [String: Any])?["application/octet-stream"] != nil)
            for (path, operations) in paths {
                for (method, operation) in operations {
                    let hasBody = (operation as? [String: Any])?["requestBody"] != nil
                    // Actions named in the path (start, stop, evacuate…) need no body.
                    let bodyless = method == "post" && path.contains("/actions/")
                    #expect(hasBody == ["post", "put", "patch"].contains(method) || (bodyless && !hasBody), "\(method) \(path) requestBody: \(hasBody)")
                }
            }
            #expect(!response.text.contains(#""schema":null"#))
            // The User response schema has no password field.
            let userResponse = "\(paths["/api/v1/users/{id}"]?["get"] ?? "")"
            #expect(!userResponse.lowercased().contains("password"))
        }
    }

    @Test(arguments: TestEngine.all)
    func permissionsAreSeededForEveryResourceAndAction(engine: TestEngine) async throws {
        try await TestCoordinator.with(engine) { c in
            let token = try await c.adminToken()
            let permissions = try await c.client.get("/api/v1/permissions?limit=500", token: token).decode(Page<Permission>.self).items
            #expect(permissions.count == ResourceType.allCases.count * PermissionAction.allCases.count)
            let grants = try await c.client.get("/api/v1/role-permissions?role=ADMIN&limit=500", token: token).decode(Page<RolePermission>.self).items
            #expect(grants.count == permissions.count)
            let userGrants = try await c.client.get("/api/v1/role-permissions?role=USER&limit=500", token: token).decode(Page<RolePermission>.self).items
            let names = Set(userGrants.compactMap { grant in permissions.first { $0.id == grant.permissionId }?.permissionName })
            #expect(names.contains("INSTANCE:CREATE"))
            #expect(!names.contains("TENANT:CREATE"))
            #expect(!names.contains("SERVER:MANAGE"))
        }
    }
}
