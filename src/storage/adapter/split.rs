//! Splits a host adapter's SQL into statements, so that `migrate` can say which statement of
//! the operator's file failed (a database error alone names neither). Only what decides where a
//! statement ends is understood: quotes, identifiers in double quotes, comments, PostgreSQL's
//! dollar-quoted bodies (`$$ … $$`, `$tag$ … $tag$`), and bodies between `BEGIN` and `END`
//! (SQLite triggers, PostgreSQL's `BEGIN ATOMIC`), whose `;` do not end the statement. That is
//! the rule SQLite's own `sqlite3_complete` follows.

/// One statement of the file: its text (without the final `;`) and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    pub text: &'a str,
    /// 1-based line of the statement's first word in the file.
    pub line: usize,
    /// The statement's first word, upper-cased (`CREATE`, `DROP`, `BEGIN`, ...).
    pub first_word: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Code,
    Single { backslash: bool },
    Double,
    LineComment,
    BlockComment,
}

/// The statements of `sql`, in order; comments and blank stretches between them are dropped.
pub fn statements(sql: &str) -> Vec<Statement<'_>> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut mode = Mode::Code;
    // Where the current statement's first word starts (None: only blanks and comments so far).
    let mut start: Option<usize> = None;
    let mut first_word = String::new();
    let mut words_seen = 0usize;
    let mut depth = 0usize;
    let mut i = 0;
    fn push<'a>(sql: &'a str, out: &mut Vec<Statement<'a>>, from: usize, to: usize, first: &str) {
        let text = sql[from..to].trim_end();
        if !text.is_empty() {
            out.push(Statement {
                text,
                line: sql[..from].matches('\n').count() + 1,
                first_word: first.to_string(),
            });
        }
    }
    while i < bytes.len() {
        let b = bytes[i];
        match mode {
            Mode::LineComment => {
                if b == b'\n' {
                    mode = Mode::Code;
                }
                i += 1;
            }
            Mode::BlockComment => {
                if b == b'*' && bytes.get(i + 1) == Some(&b'/') {
                    mode = Mode::Code;
                    i += 2;
                } else {
                    i += 1;
                }
            }
            Mode::Single { backslash } => {
                if backslash && b == b'\\' {
                    i += 2;
                } else if b == b'\'' {
                    // '' inside a string is a quote, not its end.
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                    } else {
                        mode = Mode::Code;
                        i += 1;
                    }
                } else {
                    i += 1;
                }
            }
            Mode::Double => {
                if b == b'"' {
                    mode = Mode::Code;
                }
                i += 1;
            }
            Mode::Code => {
                if b == b'-' && bytes.get(i + 1) == Some(&b'-') {
                    mode = Mode::LineComment;
                    i += 2;
                    continue;
                }
                if b == b'/' && bytes.get(i + 1) == Some(&b'*') {
                    mode = Mode::BlockComment;
                    i += 2;
                    continue;
                }
                if b.is_ascii_whitespace() {
                    i += 1;
                    continue;
                }
                if start.is_none() {
                    start = Some(i);
                }
                match b {
                    b';' if depth == 0 => {
                        push(sql, &mut out, start.unwrap_or(i), i, &first_word);
                        start = None;
                        first_word.clear();
                        words_seen = 0;
                        i += 1;
                    }
                    b'\'' => {
                        // E'...' (PostgreSQL) takes backslash escapes.
                        let backslash = i > 0
                            && matches!(bytes[i - 1], b'E' | b'e')
                            && (i < 2 || !is_word_byte(bytes[i - 2]));
                        mode = Mode::Single { backslash };
                        i += 1;
                    }
                    b'"' => {
                        mode = Mode::Double;
                        i += 1;
                    }
                    b'$' => match dollar_tag(&sql[i..]) {
                        Some(tag) => {
                            let body = i + tag.len();
                            i = match sql[body..].find(tag) {
                                Some(end) => body + end + tag.len(),
                                None => bytes.len(),
                            };
                        }
                        None => i += 1,
                    },
                    _ if is_word_start(b) => {
                        let end = i + sql[i..]
                            .bytes()
                            .position(|c| !is_word_byte(c))
                            .unwrap_or(bytes.len() - i);
                        let word = sql[i..end].to_ascii_uppercase();
                        if words_seen == 0 {
                            first_word = word.clone();
                        } else {
                            match word.as_str() {
                                "BEGIN" | "CASE" => depth += 1,
                                "END" => depth = depth.saturating_sub(1),
                                _ => {}
                            }
                        }
                        words_seen += 1;
                        i = end;
                    }
                    _ => i += 1,
                }
            }
        }
    }
    if let Some(from) = start {
        push(sql, &mut out, from, bytes.len(), &first_word);
    }
    out
}

fn is_word_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// `$$` or `$tag$` at the start of `s` (a tag does not start with a digit: `$1` is a parameter).
fn dollar_tag(s: &str) -> Option<&str> {
    let rest = &s[1..];
    let end = rest.find('$')?;
    let tag = &rest[..end];
    let ok = tag.is_empty()
        || (tag
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    ok.then(|| &s[..end + 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<&str> {
        statements(sql).into_iter().map(|s| s.text).collect()
    }

    #[test]
    fn plain_statements_comments_and_lines() {
        let sql = "-- header; not a statement\nDROP VIEW IF EXISTS a;\n\n/* b; c */ CREATE VIEW a AS SELECT ';' AS x, \"we;ird\" FROM t;\nSELECT 1";
        let s = statements(sql);
        assert_eq!(
            s.iter().map(|s| s.text).collect::<Vec<_>>(),
            vec![
                "DROP VIEW IF EXISTS a",
                "CREATE VIEW a AS SELECT ';' AS x, \"we;ird\" FROM t",
                "SELECT 1"
            ]
        );
        assert_eq!(s.iter().map(|s| s.line).collect::<Vec<_>>(), vec![2, 4, 5]);
        assert_eq!(s[1].first_word, "CREATE");
    }

    #[test]
    fn postgres_dollar_bodies_and_quotes() {
        let sql = "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\n  PERFORM 1; IF x THEN y; END IF;\nEND;\n$$;\nCREATE FUNCTION g() RETURNS text AS $body$ SELECT 'a;$$'; $body$ LANGUAGE sql;\nSELECT 'it''s; fine', E'a\\';b', $1;";
        let t = texts(sql);
        assert_eq!(t.len(), 3, "{t:#?}");
        assert!(t[0].ends_with("$$"));
        assert!(t[1].ends_with("LANGUAGE sql"));
        assert!(t[2].ends_with("$1"));
    }

    #[test]
    fn trigger_bodies_keep_their_semicolons() {
        let sql = "CREATE TRIGGER t AFTER INSERT ON s WHEN NEW.a = 'x'\nBEGIN\n  INSERT INTO q SELECT CASE WHEN 1 THEN 2 END;\n  DELETE FROM r;\nEND;\nDROP TRIGGER IF EXISTS u;\nBEGIN;\nCOMMIT;";
        let t = statements(sql);
        assert_eq!(t.len(), 4, "{t:#?}");
        assert!(t[0].text.ends_with("END"));
        assert_eq!(t[2].first_word, "BEGIN");
        assert_eq!(t[3].first_word, "COMMIT");
    }

    /// The reference adapters split into the statements they hold.
    #[test]
    fn the_reference_adapters_split() {
        let pg = statements(include_str!("../../../assets/host-adapter.postgres.sql"));
        // 16 since 0012: the old one-subscription digis_queue_subscription(BIGINT) is dropped
        // first, and INSERT into subscription has a trigger of its own (statement-level); 25
        // since 0018: three functions and three triggers keep the person keys.
        assert_eq!(pg.len(), 25, "{pg:#?}");
        assert!(pg
            .iter()
            .all(|s| ["CREATE", "DROP"].contains(&s.first_word.as_str())));
        let lite = statements(include_str!("../../../assets/host-adapter.sqlite.sql"));
        // 18 since 0018: three triggers (each dropped first) keep the person keys.
        assert_eq!(lite.len(), 18, "{lite:#?}");
        assert!(lite
            .iter()
            .all(|s| ["CREATE", "DROP"].contains(&s.first_word.as_str())));
    }
}
