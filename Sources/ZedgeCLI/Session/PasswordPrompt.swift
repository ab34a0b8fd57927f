import ConsoleKitTerminal
import Foundation

/// Reading a secret or a line from the person at the terminal. The prompt goes to stderr, so stdout stays the
/// command's output.
public enum PasswordPrompt {
    /// Prompts and reads a password without echo: ConsoleKit's `readpassphrase` turns the terminal's ECHO off
    /// (termios) while reading from /dev/tty, and falls back to stdin when there is no terminal.
    public static func password(prompt: String = "Password: ") -> String {
        FileHandle.standardError.write(Data(prompt.utf8))
        let secret = Terminal().input(isSecure: true)
        FileHandle.standardError.write(Data("\n".utf8))
        return secret
    }

    /// Prompts and reads one line (with echo); nil at end of input.
    public static func line(prompt: String) -> String? {
        FileHandle.standardError.write(Data(prompt.utf8))
        return readLine(strippingNewline: true)
    }

    /// The first line of standard input, without its newline (`--password-stdin`, as `docker login` reads it).
    public static func firstLineOfStandardInput() -> String {
        let data = FileHandle.standardInput.readDataToEndOfFile()
        var text = String(decoding: data, as: UTF8.self)
        if let newline = text.firstIndex(where: \.isNewline) { text = String(text[..<newline]) }
        return text
    }
}
