import Foundation
import ZedgeCLI

/// The admin CLI; everything is in the ZedgeCLI library (commands, client, session, output).
@main
enum ZedgectlMain {
    static func main() async {
        exit(await Zedgectl.run(Array(CommandLine.arguments.dropFirst())))
    }
}
