//! Reading HTTP by hand: a response head off a raw socket.
use std::collections::HashMap;

/// Reads a response until its head is complete (`\r\n\r\n`), 60 s at most for each read;
/// returns all that was read (the head and any body bytes that came with it).
pub async fn read_response_head(s: &mut (impl tokio::io::AsyncRead + Unpin)) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(60), s.read(&mut buf))
            .await
            .expect("the response head within 60 s")
            .unwrap();
        assert!(n > 0, "closed before the head: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// One parsed sample of the Prometheus/OpenMetrics text format.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    /// Values as written in the text (escapes kept).
    pub labels: HashMap<String, String>,
    pub value: f64,
}

/// A strict enough reader of the text exposition format: every line is a `# HELP`/`# TYPE`/
/// `# UNIT` comment, `# EOF` (last), or `name{label="value",...} value`; every sample belongs
/// to a family declared by `# TYPE`.
pub fn parse_prometheus(text: &str) -> Vec<Sample> {
    let name_re = regex::Regex::new(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$").unwrap();
    let label_re = regex::Regex::new(r#"^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"$"#).unwrap();
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "ends with # EOF");
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap();
            let name = parts.next().expect("comment names a metric");
            assert!(name_re.is_match(name), "{line}");
            match kind {
                "TYPE" => {
                    let t = parts.next().expect("a type");
                    assert!(
                        [
                            "counter",
                            "gauge",
                            "histogram",
                            "summary",
                            "info",
                            "unknown"
                        ]
                        .contains(&t),
                        "{line}"
                    );
                    types.insert(name.to_string(), t.to_string());
                }
                "HELP" | "UNIT" => {}
                _ => panic!("unexpected comment: {line}"),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => {
                let inner = rest.strip_suffix('}').unwrap_or_else(|| panic!("{line}"));
                let labels = if inner.is_empty() {
                    HashMap::new()
                } else {
                    inner
                        .split(',')
                        .map(|kv| {
                            let c = label_re.captures(kv).unwrap_or_else(|| panic!("{line}"));
                            (c[1].to_string(), c[2].to_string())
                        })
                        .collect()
                };
                (n, labels)
            }
            None => (series, HashMap::new()),
        };
        assert!(name_re.is_match(name), "{line}");
        let family = ["_total", "_bucket", "_sum", "_count", "_created"]
            .iter()
            .find_map(|suf| name.strip_suffix(suf).filter(|f| types.contains_key(*f)))
            .unwrap_or(name);
        assert!(types.contains_key(family), "no # TYPE for {name}");
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    samples
}

/// The body of a chunked HTTP/1.1 response, and whether it ended as HTTP says a complete one
/// does (the zero-size last chunk). A body that breaks off is returned as far as it came.
pub fn dechunk(raw: &[u8]) -> (Vec<u8>, bool) {
    let start = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    let mut rest = &raw[start..];
    let mut body = Vec::new();
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return (body, false);
        };
        let size_text = std::str::from_utf8(&rest[..eol]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .unwrap_or_else(|_| panic!("bad chunk size line {size_text:?}"));
        rest = &rest[eol + 2..];
        if size == 0 {
            return (body, rest.starts_with(b"\r\n"));
        }
        if rest.len() < size + 2 {
            body.extend_from_slice(&rest[..rest.len().min(size)]);
            return (body, false);
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}
