import Foundation
import Testing
import ZedgeCore

private let long = String(repeating: "a", count: 10_000)

/// Hostile strings every identifier-like validator must refuse.
private let hostile: [String] = [
    "", long, "a\u{0}b", "a\nb", "a\rb", "a\tb", " abc", "abc ", "a b", "../etc", "..", "a/b",
    "x'; DROP TABLE users;--", "x\"y", "<script>", "\u{202E}abc", "аbc" /* Cyrillic а */, "ab\u{200B}c", "ａｂｃ",
]

@Suite struct NameValidationTests {
    @Test(arguments: ["a", "web-1", "Web_server.01", "0abc", String(repeating: "x", count: 63)])
    func acceptsNames(_ s: String) { #expect(Validate.name(s, field: "name") == nil) }

    @Test(arguments: hostile + [String(repeating: "x", count: 64), "-a", ".a", "_a", "a@b", "a:b", "é"])
    func rejectsNames(_ s: String) {
        let e = Validate.name(s, field: "name")
        #expect(e != nil)
        #expect(e?.field == "name")
    }

    @Test func namesSayWhatIsWrong() {
        #expect(Validate.name("", field: "name")?.message == "must not be empty")
        #expect(Validate.name(long, field: "name")?.message == "must be at most 63 characters")
        #expect(Validate.name(" a", field: "name")?.message == "must not have leading or trailing whitespace")
        #expect(Validate.name("аdmin", field: "name")?.message == "must contain only ASCII characters")
        #expect(Validate.name("-a", field: "name")?.message == "must start with a letter or digit")
    }

    @Test(arguments: ["bob", "alice.smith", "a_1-2", String(repeating: "u", count: 64)])
    func acceptsUsernames(_ s: String) { #expect(Validate.username(s, field: "username") == nil) }

    @Test(arguments: hostile + ["ab", "Bob", "1bob", "_bob", "bob!", String(repeating: "u", count: 65), "admin\u{0}"])
    func rejectsUsernames(_ s: String) { #expect(Validate.username(s, field: "username") != nil) }

    @Test(arguments: ["localhost", "node-1.example.com", "a", "1.2.3.4", "xn--80ak6aa92e.com",
                      String(repeating: "a", count: 63) + ".com"])
    func acceptsHostnames(_ s: String) { #expect(Validate.hostname(s, field: "hostname") == nil) }

    @Test(arguments: hostile.filter { $0 != ".." } + ["..", "-a.com", "a-.com", "a..b", "a.", ".a", "a_b.com",
                                                      String(repeating: "a", count: 64) + ".com",
                                                      Array(repeating: "abcdefgh", count: 30).joined(separator: ".")])
    func rejectsHostnames(_ s: String) { #expect(Validate.hostname(s, field: "hostname") != nil) }
}

@Suite struct TextValidationTests {
    @Test func acceptsOrdinaryText() {
        #expect(Validate.displayText("", field: "description") == nil)
        #expect(Validate.displayText("Line one\n\tline two — ünïcødé 日本語 👩‍👩‍👧", field: "description") == nil)
        #expect(Validate.description("O'Brien's \"quoted\" <b>text</b>", field: "description") == nil)
        #expect(Validate.displayText(String(repeating: "é", count: 1024), field: "d") == nil)
    }

    @Test func rejectsHostileText() {
        #expect(Validate.displayText(long, field: "d")?.message == "must be at most 1024 characters")
        #expect(Validate.displayText(String(repeating: "é", count: 1025), field: "d") != nil)
        #expect(Validate.displayText("a\u{0}b", field: "d") != nil)
        #expect(Validate.displayText("a\rb", field: "d") != nil)
        #expect(Validate.displayText("a\u{1B}[31mred", field: "d") != nil)
        #expect(Validate.displayText("a\u{85}b", field: "d") != nil)
        #expect(Validate.displayText("safe\u{202E}txt.exe", field: "d")?.message == "must not contain bidirectional control characters")
        #expect(Validate.description("x", field: "d", maxLength: 0) != nil)
        // Zalgo: a single grapheme made of thousands of scalars counts by scalars.
        #expect(Validate.displayText("e" + String(repeating: "\u{301}", count: 2000), field: "d") != nil)
    }
}

@Suite struct EmailValidationTests {
    @Test(arguments: ["a@b.co", "first.last@example.com", "user+tag@sub.example.org", "UPPER@EXAMPLE.COM",
                      "x_y-z@a-b.c-d.io", "a!#$%&*+/=?^_{|}~-b@example.com"])
    func accepts(_ s: String) { #expect(Validate.email(s, field: "email") == nil, "\(s)") }

    @Test(arguments: ["", long + "@example.com", "plain", "@example.com", "a@", "a@@b.com", "a@b@c.com",
                      "a@localhost", "a@example.c", "a@example.c0m", "a@-example.com", "a@example-.com",
                      "a@exa_mple.com", "a@example..com", ".a@example.com", "a.@example.com", "a..b@example.com",
                      "a b@example.com", " a@example.com", "a@example.com ", "a@example.com\n", "a\u{0}@example.com",
                      "\"a\"@example.com", "o'brien@example.com", "<a@example.com>", "a@exаmple.com" /* Cyrillic а */,
                      "аdmin@example.com", "a@例え.jp", "x'; DROP TABLE users;--@example.com",
                      String(repeating: "l", count: 65) + "@example.com", "a@" + String(repeating: "d", count: 64) + ".com",
                      "a@b.c/../d.com", "a(comment)@example.com", "a,b@example.com", "a@[127.0.0.1]"])
    func rejects(_ s: String) { #expect(Validate.email(s, field: "email") != nil, "\(s)") }

    @Test func messages() {
        #expect(Validate.email("a@b", field: "email")?.message == "the domain must contain a dot, e.g. example.com")
        #expect(Validate.email("a@b@c.io", field: "email")?.message == "must contain exactly one '@'")
        #expect(Validate.email("a\"b@c.io", field: "email")?.message == "must not contain quotes or angle brackets")
    }
}

@Suite struct PasswordValidationTests {
    @Test func bounds() {
        #expect(Validate.password("12345678", field: "password") == nil)
        #expect(Validate.password(String(repeating: "p", count: 128), field: "password") == nil)
        #expect(Validate.password("pässwörd", field: "password") == nil)
        #expect(Validate.password("", field: "password")?.message == "must be at least 8 characters")
        #expect(Validate.password("1234567", field: "password") != nil)
        #expect(Validate.password(String(repeating: "p", count: 129), field: "password")?.message == "must be at most 128 characters")
        // Characters are counted as JSON Schema counts them (code points), not bytes: bcrypt's 72-byte limit no
        // longer applies, since the hasher pre-hashes (128 four-byte characters is 512 bytes).
        #expect(Validate.password(String(repeating: "😀", count: 128), field: "password") == nil)
        #expect(Validate.password(String(repeating: "é", count: 7), field: "password") != nil)
        #expect(Validate.password("abcd\u{0}efgh", field: "password")?.message == "must not contain NUL characters")
        #expect(Validate.password(long, field: "password") != nil)
    }
}

@Suite struct NumberValidationTests {
    @Test func ranges() {
        #expect(Validate.vlanId(1, field: "vlanId") == nil)
        #expect(Validate.vlanId(4094, field: "vlanId") == nil)
        #expect(Validate.vlanId(0, field: "vlanId")?.message == "must be between 1 and 4094")
        #expect(Validate.vlanId(4095, field: "vlanId") != nil)
        #expect(Validate.vlanId(-1, field: "vlanId") != nil)
        #expect(Validate.vlanId(.max, field: "vlanId") != nil)
        #expect(Validate.size(1, field: "sizeGb", in: 1...65536) == nil)
        #expect(Validate.size(65537, field: "sizeGb", in: 1...65536)?.field == "sizeGb")
        #expect(Validate.size(.min, field: "sizeGb", in: 1...65536) != nil)
    }

    @Test func combining() {
        #expect(throws: Never.self) { try Validate.all(nil, Validate.name("ok", field: "name")) }
        do {
            try Validate.all(Validate.name("", field: "name"), nil, Validate.vlanId(0, field: "vlanId"))
            Issue.record("no failure")
        } catch {
            #expect(error.errors.map(\.field) == ["name", "vlanId"])
        }
        #expect(Validate.collect(nil, Validate.email("x", field: "email")).count == 1)
    }
}

@Suite struct InterfaceNameValidationTests {
    @Test(arguments: ["br-zedge", "br0", "a", "ovs_br.1", String(repeating: "x", count: 15)])
    func acceptsInterfaceNames(_ s: String) { #expect(Validate.interfaceName(s, field: "bridge") == nil) }

    @Test(arguments: hostile + [String(repeating: "x", count: 16), ".", "..", "br:0", "br zedge", "é"])
    func rejectsInterfaceNames(_ s: String) { #expect(Validate.interfaceName(s, field: "bridge")?.field == "bridge") }
}
