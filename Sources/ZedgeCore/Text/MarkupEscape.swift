/// Escaping for XML and HTML (W3C XML 1.0 §2.4, §3.3.3; HTML's named references `&amp; &lt; &gt; &quot; &apos;`).
public enum MarkupEscape {
    /// Escapes text for use in XML (or HTML) character data or a single- or double-quoted attribute value: what
    /// the agent writes into libvirt's XML and the coordinator into its console page.
    ///
    /// `& < > " '` become entities; tab, newline and carriage return become character references (so attribute
    /// normalisation keeps them); other characters XML 1.0 cannot carry at all (C0 controls, U+FFFE, U+FFFF,
    /// lone surrogates cannot occur in a Swift String) become U+FFFD.
    public static func text(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t": out += "&#9;"
            case "\n": out += "&#10;"
            case "\r": out += "&#13;"
            default:
                let v = scalar.value
                if v < 0x20 || v == 0xFFFE || v == 0xFFFF {
                    out.unicodeScalars.append("\u{FFFD}")
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
