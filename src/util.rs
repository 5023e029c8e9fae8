//! Small helpers shared by several modules.

/// A database URL safe to show: the password, if any, becomes `***`, in the user part and in
/// the query (`?password=`, `?sslpassword=`, which sqlx and libpq accept too).
pub fn redact_db_url(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        return redact_unparsed(url);
    };
    let secret = |k: &str| k.to_ascii_lowercase().contains("password");
    let in_query = u.query_pairs().any(|(k, _)| secret(&k));
    if u.password().is_none() && !in_query {
        // Shown as written: nothing to hide, and no normalisation surprises.
        return url.to_string();
    }
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if in_query {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret(&k) {
                    "***".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// Who is acting, for `paused_by` and the like: `$USER@host`.
/// Who runs this process, as operator events record it: `name@host`. The name is the one the
/// system has for this process's user id (what `id -un` says), since `$USER` may be unset (a
/// cron job, `env -i`, a systemd unit) or say something else; `$USER` only when the id has no
/// name, then `uid N`.
pub fn operator_name() -> String {
    // SAFETY: getuid cannot fail and has no preconditions.
    let uid = unsafe { libc::getuid() };
    let user = user_name(uid)
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.trim().is_empty()))
        .unwrap_or_else(|| format!("uid {uid}"));
    format!("{user}@{}", host_name())
}

/// The name of user id `uid` in the system's user database (`/etc/passwd`, NSS), if it has one.
fn user_name(uid: libc::uid_t) -> Option<String> {
    let mut buf = vec![0u8; 1024];
    loop {
        let mut pwd = std::mem::MaybeUninit::<libc::passwd>::uninit();
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call: `pwd` and `found` are ours, and `buf`
        // is handed over with its true length; the result is read only when `found` is set.
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                pwd.as_mut_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut found,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || found.is_null() {
            return None;
        }
        // SAFETY: `found` points at `pwd`, filled by getpwuid_r, whose pw_name points into
        // `buf` (still alive) as a NUL-terminated string.
        let name = unsafe { std::ffi::CStr::from_ptr((*found).pw_name) };
        let name = name.to_string_lossy().trim().to_string();
        return (!name.is_empty()).then_some(name);
    }
}

pub fn host_name() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

/// A URL `url` cannot parse (a typo in the port, say) may still hold a password: everything
/// between `://` and the last `@` is hidden (a password may hold `/`, so hiding too much is
/// the safe side), and a query naming a password.
fn redact_unparsed(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(start) = out.find("://").map(|i| i + 3) {
        if let Some(at) = out[start..].rfind('@') {
            out.replace_range(start..start + at, "***");
        }
    }
    if let Some(q) = out.find('?') {
        let lower = out[q..].to_ascii_lowercase();
        if lower.contains("password") {
            out.replace_range(q.., "?***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A URL that does not parse was shown as written, password and all (into doctor's
    /// `database` line and the package's upgrade output).
    #[test]
    fn hides_the_password_of_a_url_that_does_not_parse() {
        for url in [
            "postgres://relay:S3cret@db:5432x/relay",
            "postgres://relay:S3/cr@t@db:99999/relay",
            "postgres://db:5432x/relay?password=S3cret",
        ] {
            assert!(url::Url::parse(url).is_err(), "{url} parses");
            let shown = redact_db_url(url);
            assert!(!shown.contains("S3"), "{url} shown as {shown}");
        }
        assert_eq!(
            redact_db_url("postgres://relay:S3cret@db:5432x/relay"),
            "postgres://***@db:5432x/relay"
        );
    }

    #[test]
    fn hides_database_passwords() {
        assert_eq!(
            redact_db_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_db_url("sqlite://x.db"), "sqlite://x.db");
        // sqlx and libpq also take the password as a query parameter.
        let shown =
            redact_db_url("postgres://u@h/db?sslmode=require&password=s3cret&sslpassword=k3y");
        assert!(
            !shown.contains("s3cret") && !shown.contains("k3y"),
            "{shown}"
        );
        assert!(shown.contains("sslmode=require"), "{shown}");
    }
}
