import ServiceLifecycle

/// The HTTP server as a service: when graceful shutdown reaches it (first, as the group's last service),
/// long-polls are woken so that they answer at once instead of holding the drain for their whole wait.
struct HTTPServerService: Service {
    let server: any Service
    let notifier: TaskNotifier

    func run() async throws {
        let notifier = self.notifier
        try await withGracefulShutdownHandler {
            try await server.run()
        } onGracefulShutdown: {
            notifier.close()
        }
    }
}
