import ArgumentParser
import Foundation
import ZedgeCore

// MARK: - Tenants

enum Tenants: CreatableResource, UpdatableResource {
    static let spec = Resources.tenants
    typealias CreateFlags = TenantFlags
    typealias UpdateFlags = TenantFlags
}

struct TenantFlags: BodyFlags {
    @Option(help: "Its name (unique).") var name: String?
    @Option var description: String?
    @Option(help: ArgumentHelp(EnumChoices.of(TenantStatus.self, except: [.inactive]) + " A DELETE makes INACTIVE.")) var status: String?
    @Option(help: "Its VLAN (ADMIN only).") var vlanId: Int?
    @Option(help: "The tenant admin (username or id).") var adminUser: String?
    @Option(help: "Quotas as JSON, e.g. '{\"cpuCores\": 64, \"memoryGb\": 256, \"instances\": 20}'.") var quota: String?

    func fields() throws -> [String: JSONValue] {
        var f: [String: JSONValue] = [:]
        f.put("name", name); f.put("description", description); f.put("status", status); f.put("vlanId", vlanId)
        f.put("adminUserId", adminUser); f.put(json: "quotaConfig", quota)
        return f
    }
}

struct TenantCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant", abstract: "Tenants.", subcommands: [ListCommand<Tenants>.self, ShowCommand<Tenants>.self, CreateCommand<Tenants>.self,
                      UpdateCommand<Tenants>.self, DeleteCommand<Tenants>.self], aliases: ["tenants"])
}

// MARK: - Users

enum Users: CreatableResource, UpdatableResource {
    static let spec = Resources.users
    typealias CreateFlags = UserFlags
    typealias UpdateFlags = UserFlags
}

struct UserFlags: BodyFlags {
    @Option var username: String?
    @Option var email: String?
    @Option(help: ArgumentHelp(EnumChoices.of(UserRole.self))) var role: String?
    @Option(help: "Its tenant (name or id); TENANT_ADMIN and USER need one.") var tenant: String?
    @Option(help: ArgumentHelp(EnumChoices.of(UserStatus.self, except: [.inactive]) + " A DELETE makes INACTIVE.")) var status: String?
    @Flag(help: "Read the password from the first line of standard input.") var passwordStdin = false
    @Flag(help: "Ask for the password (without echo).") var password = false
    @Option(help: "Quotas as JSON.") var quota: String?

    func fields() throws -> [String: JSONValue] {
        var f: [String: JSONValue] = [:]
        f.put("username", username); f.put("email", email); f.put("role", role); f.put("tenantId", tenant)
        f.put("status", status); f.put(json: "quotaConfig", quota)
        if passwordStdin || password {
            let secret = passwordStdin ? PasswordPrompt.firstLineOfStandardInput() : PasswordPrompt.password(prompt: "New password: ")
            guard !secret.isEmpty else {
                throw CLIError.usage("empty password: type it at the prompt (a terminal is needed), or pipe it in with --password-stdin")
            }
            f.put("password", secret)
        }
        return f
    }
}

struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Users.", subcommands: [ListCommand<Users>.self, ShowCommand<Users>.self, CreateCommand<Users>.self,
                      UpdateCommand<Users>.self, DeleteCommand<Users>.self], aliases: ["users"])
}

// MARK: - User groups

enum Groups: CreatableResource, UpdatableResource {
    static let spec = Resources.groups
    typealias CreateFlags = GroupFlags
    typealias UpdateFlags = GroupFlags
}

struct GroupFlags: BodyFlags {
    @Option var name: String?
    @Option var description: String?
    @Option(help: "Its tenant (name or id).") var tenant: String?
    @Option(help: "Its parent group (name or id).") var parent: String?
    @Option(help: "Quotas as JSON.") var quota: String?

    func fields() throws -> [String: JSONValue] {
        var f: [String: JSONValue] = [:]
        f.put("name", name); f.put("description", description); f.put("tenantId", tenant); f.put("parentGroupId", parent)
        f.put(json: "quotaConfig", quota)
        return f
    }
}

struct GroupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group", abstract: "User groups and their members.", subcommands: [ListCommand<Groups>.self, ShowCommand<Groups>.self, CreateCommand<Groups>.self,
                      UpdateCommand<Groups>.self, DeleteCommand<Groups>.self, Member.self], aliases: ["groups"])

    /// `group member list|add|remove GROUP [USER]`.
    struct Member: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "member", abstract: "A group's members.",
                                                        subcommands: [List.self, Add.self, Remove.self])

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "list", abstract: "List a group's members.", aliases: ["ls"])
            @OptionGroup var global: GlobalOptions
            @Argument(help: "The group (name or id).") var group: String
            @OptionGroup var page: PageOptions

            func run() async throws {
                let session = try await global.session()
                let id = try await NameResolver(client: session.client).id(group, Groups.spec)
                try await page.list(Groups.spec.item(id) + "/members", spec: Resources.groupMembers, client: session.client, printer: global.printer)
            }
        }

        struct Add: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a user to a group.")
            @OptionGroup var global: GlobalOptions
            @Argument(help: "The group (name or id).") var group: String
            @Argument(help: "The user (username or id).") var user: String

            func run() async throws {
                let session = try await global.session()
                let resolver = NameResolver(client: session.client)
                let id = try await resolver.id(group, Groups.spec)
                let userId = try await resolver.id(user, Users.spec)
                let response = try await session.client.send("POST", Groups.spec.item(id) + "/members", json: ["userId": .string(userId)])
                try global.printer.object(try response.json(), raw: response.body, columns: Resources.groupMembers.columns)
            }
        }

        struct Remove: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a user from a group.", aliases: ["rm"])
            @OptionGroup var global: GlobalOptions
            @Argument(help: "The group (name or id).") var group: String
            @Argument(help: "The user (username or id).") var user: String

            func run() async throws {
                let session = try await global.session()
                let resolver = NameResolver(client: session.client)
                let id = try await resolver.id(group, Groups.spec)
                let userId = try await resolver.id(user, Users.spec)
                try await session.client.send("DELETE", Groups.spec.item(id) + "/members/" + APIClient.segment(userId))
            }
        }
    }
}

// MARK: - API keys

enum ApiKeys: CreatableResource {
    static let spec = Resources.apiKeys
    typealias CreateFlags = ApiKeyFlags
}

struct ApiKeyFlags: BodyFlags {
    @Option(help: "Its name.") var name: String?
    @Option(help: "When it stops working (RFC 3339, e.g. 2030-01-01T00:00:00Z).") var expiresAt: String?

    func fields() throws -> [String: JSONValue] {
        var f: [String: JSONValue] = [:]
        f.put("name", name); f.put("expiresAt", expiresAt)
        return f
    }
}

struct ApiKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api-key", abstract: "API keys (the key is shown once, by create; use it as ZEDGE_TOKEN).", subcommands: [ListCommand<ApiKeys>.self, ShowCommand<ApiKeys>.self, CreateCommand<ApiKeys>.self, DeleteCommand<ApiKeys>.self], aliases: ["api-keys"])
}
