//! Make attacker-chosen text (process and user names) safe to print on a terminal.
//!
//! Anyone can name a process; a name carrying escape sequences could rewrite the
//! screen, and bidi overrides could make `nginx` read as something else. Every such
//! character is shown as a visible escape instead; a backslash is doubled so that an
//! escape we print cannot be mistaken for one the name spelled out itself.

use std::borrow::Cow;
use std::fmt::Write;

/// Like [`for_terminal`], for bytes that may not be UTF-8: each invalid byte shows as `\xNN`.
pub fn bytes_for_terminal(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return for_terminal(text);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(&for_terminal(chunk.valid()));
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    Cow::Owned(out)
}

pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x100 && needs_escape(c) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    matches!(c,
        '\\'
        | '\u{0}'..='\u{1f}'              // C0 controls, ESC among them
        | '\u{7f}'..='\u{9f}'             // DEL and the C1 controls (CSI is U+009B)
        | '\u{202a}'..='\u{202e}'         // bidi embeddings and overrides
        | '\u{2066}'..='\u{2069}'         // bidi isolates
        | '\u{200e}' | '\u{200f}'         // left-to-right / right-to-left marks
        | '\u{061c}'                      // Arabic letter mark, another bidi mark
        | '\u{200b}'..='\u{200d}'         // zero-width space and joiners: invisible
        | '\u{2060}'..='\u{2065}'         // word joiner and invisible operators
        | '\u{feff}'                      // zero-width no-break space (BOM)
        | '\u{2028}' | '\u{2029}'         // line and paragraph separators
        | '\u{fff9}'..='\u{fffb}'         // interlinear annotation controls
        | '\u{fffd}'                      // where a name's bytes were not UTF-8
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass_unchanged() {
        assert!(matches!(
            for_terminal("nginx: worker"),
            Cow::Borrowed("nginx: worker")
        ));
        assert_eq!(for_terminal("café"), "café");
    }

    #[test]
    fn controls_become_visible() {
        assert_eq!(for_terminal("evil\x1b[2Jname"), "evil\\x1b[2Jname");
        assert_eq!(for_terminal("a\nb\tc\rd\x07"), "a\\x0ab\\x09c\\x0dd\\x07");
        assert_eq!(for_terminal("del\x7f"), "del\\x7f");
        assert_eq!(for_terminal("csi\u{9b}31m"), "csi\\x9b31m");
    }

    #[test]
    fn bidi_overrides_become_visible() {
        assert_eq!(for_terminal("x\u{202e}dhss"), "x\\u{202e}dhss");
        assert_eq!(for_terminal("\u{2066}a\u{2069}"), "\\u{2066}a\\u{2069}");
    }

    #[test]
    fn invisible_and_line_breaking_characters_become_visible() {
        assert_eq!(for_terminal("ss\u{200b}hd"), "ss\\u{200b}hd");
        assert_eq!(for_terminal("a\u{2028}b"), "a\\u{2028}b");
        assert_eq!(for_terminal("\u{feff}x\u{061c}"), "\\u{feff}x\\u{061c}");
    }

    #[test]
    fn backslash_is_doubled_so_escapes_are_unambiguous() {
        assert_eq!(for_terminal("a\\x1b"), "a\\\\x1b");
    }

    #[test]
    fn invalid_utf8_bytes_show_as_hex() {
        assert_eq!(bytes_for_terminal(b"ok"), "ok");
        assert_eq!(
            bytes_for_terminal(b"ev\xff\x1bil\xe2\x80"),
            "ev\\xff\\x1bil\\xe2\\x80"
        );
    }

    #[test]
    fn no_output_char_is_a_control() {
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        let out = for_terminal(&all);
        assert!(
            !out.chars()
                .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c))
        );
    }
}
