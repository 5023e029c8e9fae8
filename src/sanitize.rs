//! Cleaning text that came from outside (Digis's answers, values already in the database, an
//! operator's pause reason) before it is stored, logged or shown. Such text may hold terminal
//! escapes that repaint a support person's screen, newlines that forge extra lines, or our own
//! API token echoed back in an error message. One function does all of it so every edge cleans
//! the same way, and cleaning twice changes nothing.
use std::sync::LazyLock;

use regex::Regex;

/// What a redacted secret becomes.
pub const REDACTED: &str = "***";

/// Secrets shorter than this are not redacted verbatim: replacing every `a` in a text would
/// destroy it without protecting anything (no real API key is that short).
const MIN_SECRET_LEN: usize = 4;

/// `token=…` in any spelling a URL or a form can give it: `=`, `%3D` and the doubly encoded
/// `%253D`. The value runs to the next separator; the backslash is a separator so that escapes
/// written by [`escape_controls`] are never swallowed into a value (which keeps cleaning
/// idempotent).
static TOKEN_PARAM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)(token|api[_-]?key|secret|password)(\s*(?:=|%3D|%253D)\s*)[^&\s"'<>#;,)\]}\\]*"#,
    )
    .expect("the pattern is valid")
});

/// `key=value` with a key that may be percent-encoded, judged by [`is_secret_key`] once decoded:
/// a server decodes `?%74oken=` to `token` (axum's `Query` authorises the export with it), so
/// redaction must see what the server sees. Same separators and value as [`TOKEN_PARAM`].
static ANY_PARAM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"([A-Za-z0-9_.~%+-]+)(\s*(?:=|%3D|%253D)\s*)([^&\s"'<>#;,)\]}\\]*)"#)
        .expect("the pattern is valid")
});

/// Whether a query or form key names a secret once percent-decoded (`%74oken`, `%2574oken`
/// and `to%6Ben` are all `token`): the names [`TOKEN_PARAM`] knows, anywhere in the key.
pub fn is_secret_key(raw: &str) -> bool {
    let mut key = raw.replace('+', " ");
    // Decoded until it stops changing: a doubly encoded key is still the key (bounded).
    for _ in 0..4 {
        let decoded = percent_encoding::percent_decode_str(&key)
            .decode_utf8_lossy()
            .into_owned();
        if decoded == key {
            break;
        }
        key = decoded;
    }
    let key = key.to_ascii_lowercase();
    key.contains("token")
        || key.contains("apikey")
        || key.contains("api_key")
        || key.contains("api-key")
        || key.contains("secret")
        || key.contains("password")
}

/// Redacts the value of every `key=value` whose key is a secret's once decoded; a value that
/// is not redacted is searched in turn (`a=b%26%74oken%3DX` hides a key inside a value).
fn redact_encoded_keys(text: &str) -> String {
    ANY_PARAM
        .replace_all(text, |c: &regex::Captures| {
            if is_secret_key(&c[1]) {
                format!("{}{}{REDACTED}", &c[1], &c[2])
            } else {
                format!("{}{}{}", &c[1], &c[2], redact_encoded_keys(&c[3]))
            }
        })
        .into_owned()
}

/// Cleans a text from outside for storing, logging or showing: control characters (ESC,
/// newlines, C1, bidi overrides) become visible escapes, `token=…` values become `***`, and each
/// of `secrets` (the configured tokens) is replaced wherever it occurs, also percent-encoded.
pub fn clean_untrusted<S: AsRef<str>>(text: &str, secrets: &[S]) -> String {
    let mut out = escape_controls(text);
    // Each pass can only shorten a secret's occurrence or rewrite a value to `***`, so a fixed
    // point comes quickly; the bound is a guard against a pathological secret such as `=***`.
    for _ in 0..8 {
        let before = out.clone();
        for s in secrets {
            out = redact_verbatim(&out, s.as_ref());
        }
        // Both patterns need `=` or a percent-encoded one: most texts (an external id, a
        // plain message) have neither and skip the two regexes (decision 0062).
        if out.contains(['=', '%']) {
            out = TOKEN_PARAM
                .replace_all(&out, |c: &regex::Captures| {
                    format!("{}{}{REDACTED}", &c[1], &c[2])
                })
                .into_owned();
            out = redact_encoded_keys(&out);
        }
        if out == before {
            break;
        }
    }
    out
}

/// For display of values that are already stored (old rows, a reason typed by an operator):
/// the same cleaning, without knowledge of the configured secrets.
pub fn for_display(text: &str) -> String {
    clean_untrusted::<&str>(text, &[])
}

/// Whether `c` could change what a terminal shows beyond its own glyph.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}'   // zero-width and direction marks
            | '\u{2028}' | '\u{2029}' // line and paragraph separators
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{FEFF}')
}

/// Control and layout-changing characters as visible escapes (`\n`, `\u{1b}`).
pub fn escape_controls(text: &str) -> String {
    if !text.chars().any(is_unsafe_char) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe_char(c) => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

fn redact_verbatim(text: &str, secret: &str) -> String {
    let secret = secret.trim();
    if secret.chars().count() < MIN_SECRET_LEN {
        return text.to_string();
    }
    let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let mut out = text.to_string();
    for form in [secret, encoded.as_str()] {
        // Replacing can join the text around an occurrence into a new one ("SESECRETCRET").
        while out.contains(form) {
            out = out.replace(form, REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: &str = "SECRET-TOKEN-4711";

    #[test]
    fn redacts_token_params_in_every_spelling() {
        for (input, want) in [
            (
                "Cannot POST /v1/import/single/brp?token=abc123",
                "Cannot POST /v1/import/single/brp?token=***",
            ),
            ("x?Token=abc&page=2", "x?Token=***&page=2"),
            ("x?token%3Dabc%26page", "x?token%3D***"),
            ("x?token%253Dabc rest", "x?token%253D*** rest"),
            ("apikey=zz; more", "apikey=***; more"),
            ("\"token=q\"", "\"token=***\""),
            // The key percent-encoded, as a server decodes it (issue 25, item 14).
            ("GET /x?%74oken=abc&page=2", "GET /x?%74oken=***&page=2"),
            ("x?to%6Ben=abc", "x?to%6Ben=***"),
            ("x?%2574oken=abc", "x?%2574oken=***"),
            ("x?a=b%26%74oken%3Dabc", "x?a=b%26%74oken%3D***"),
            ("x?page=2&format=csv", "x?page=2&format=csv"),
        ] {
            assert_eq!(clean_untrusted::<&str>(input, &[]), want, "{input}");
        }
    }

    #[test]
    fn redacts_the_configured_token_anywhere() {
        let s = clean_untrusted(&format!("path /{T}/x and %20{T}"), &[T]);
        assert!(!s.contains(T), "{s}");
        let enc = "a%2Bb%2Fc%3D%3D";
        let s = clean_untrusted(&format!("echo {enc}"), &["a+b/c=="]);
        assert_eq!(s, "echo ***");
        let s = clean_untrusted("SESECRET-TOKEN-4711CRET-TOKEN-4711", &[T]);
        assert!(!s.contains(T), "{s}");
        assert_eq!(
            clean_untrusted("a b", &["a"]),
            "a b",
            "short secrets are ignored"
        );
    }

    #[test]
    fn escapes_terminal_controls_and_newlines() {
        let s = for_display("ok\u{1b}[2J\u{1b}]0;pwned\u{7}\nfake line\r\u{202e}x\u{9b}");
        assert!(!s.chars().any(is_unsafe_char), "{s}");
        assert_eq!(
            s,
            "ok\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\nfake line\\r\\u{202e}x\\u{9b}"
        );
        assert_eq!(for_display("Åsa – fine"), "Åsa – fine");
    }

    proptest! {
        #[test]
        fn no_token_survives_and_cleaning_is_idempotent(
            before in ".{0,40}",
            after in ".{0,40}",
            token in "[A-Za-z0-9_.~+/=-]{4,32}",
            form in 0..4u8,
        ) {
            let embedded = match form {
                0 => token.clone(),
                1 => format!("token={token}"),
                2 => url::form_urlencoded::byte_serialize(token.as_bytes()).collect(),
                _ => format!("?TOKEN%3D{token}&x=1"),
            };
            let text = format!("{before}{embedded}{after}");
            let once = clean_untrusted(&text, &[token.as_str()]);
            prop_assert!(!once.contains(&token), "{once:?}");
            prop_assert!(!once.chars().any(is_unsafe_char), "{once:?}");
            prop_assert_eq!(clean_untrusted(&once, &[token.as_str()]), once);
        }

        #[test]
        fn any_text_comes_out_one_safe_line(text in any::<String>()) {
            let s = for_display(&text);
            prop_assert!(!s.chars().any(is_unsafe_char));
            prop_assert_eq!(for_display(&s), s);
        }
    }
}
