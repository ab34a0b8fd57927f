import ArgumentParser
import Foundation
import ZedgeTransport

/// The admin CLI: `zedgectl <resource> <verb>`, as kubectl, nomad and openstack users expect.
public struct Zedgectl: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "zedgectl",
        abstract: "Administer a Zedge coordinator.",
        discussion: """
        Log in once with `zedgectl login --url https://HOST:8443 --ca-hash sha256:HEX`; the context (URL and pinned CA) \
        goes to ~/.config/zedge/config.json and the refresh token to ~/.config/zedge/credentials.json (0600). \
        ZEDGE_URL, ZEDGE_TOKEN (an API key or access token) and ZEDGE_CA_HASH override the context. \
        Names work where ids do (a data center by name, a user by username, a CloudBox by serial number).
        """,
        version: CLIVersion.current,
        subcommands: [
            LoginCommand.self, LogoutCommand.self, ContextCommand.self, WhoAmICommand.self,
            TenantCommand.self, UserCommand.self, GroupCommand.self, ApiKeyCommand.self,
            DataCenterCommand.self, PoolCommand.self, MachineCommand.self, CloudBoxCommand.self, EnrollmentTokenCommand.self,
            TemplateCommand.self, InstanceCommand.self, InstanceSetCommand.self, VirtualMachineCommand.self,
            ImageCommand.self, DiskCommand.self,
            VpcCommand.self, SubnetCommand.self, PlaceCommand.self, IpAddressCommand.self,
            OperationCommand.self, AuditCommand.self, PermissionCommand.self, RolePermissionCommand.self, AdminCommand.self,
            CompletionCommand.self,
        ])

    public init() {}

    /// Parses and runs `arguments` (without the program name); returns the exit status. API problems, failed
    /// operations and transport errors print one or two lines to stderr and return 1; usage errors are
    /// ArgumentParser's (message and usage, its exit code).
    public static func run(_ arguments: [String]) async -> Int32 {
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            return 0
        } catch let error as CLIError {
            report(error.description.hasPrefix("error:") ? error.description : "error: \(error)")
        } catch let error as TransportError {
            report("error: cannot reach the coordinator: \(error.message)")
        } catch let error as CAPinningError {
            report("error: \(error)")
        } catch let error as DecodingError {
            report("error: unexpected answer from the coordinator: \(error)")
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if !message.isEmpty {
                if code == .success { print(message) } else { report(lowercasedErrorPrefix(message)) }
            }
            return code.rawValue
        }
        return 1
    }

    /// ArgumentParser begins a usage error with "Error: "; every other error zedgectl prints begins "error: ", as
    /// compilers and git do.
    static func lowercasedErrorPrefix(_ message: String) -> String {
        message.hasPrefix("Error: ") ? "error: " + message.dropFirst("Error: ".count) : message
    }

    static func report(_ message: String) {
        FileHandle.standardError.write(Data((message.hasSuffix("\n") ? message : message + "\n").utf8))
    }
}

/// `zedgectl completion bash|zsh`: the shell completion script (ArgumentParser's, as
/// `--generate-completion-script` prints it), e.g. `source <(zedgectl completion bash)`.
struct CompletionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "completion", abstract: "Print the bash or zsh completion script.",
        discussion: "bash: `source <(zedgectl completion bash)`; zsh: `zedgectl completion zsh > \"${fpath[1]}/_zedgectl\"`.")

    enum Shell: String, ExpressibleByArgument, CaseIterable { case bash, zsh, fish }

    @Argument(help: "bash, zsh or fish.") var shell: Shell

    func run() throws {
        let kind: CompletionShell = switch shell {
        case .bash: .bash
        case .zsh: .zsh
        case .fish: .fish
        }
        print(Zedgectl.completionScript(for: kind))
    }
}
