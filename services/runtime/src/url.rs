//! URLs in logs and messages: the one place that knows how to hide a URL's password.

/// The URL with the password of its userinfo replaced by `***`, fit for logs and error messages.
/// Works for `postgres`, `amqp(s)` and `http(s)` URLs alike; a URL without a password is returned
/// as is.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:***{}",
        &url[..scheme_end],
        &userinfo[..colon],
        &url[scheme_end + at..]
    )
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redaction_hides_the_password_and_keeps_the_rest() {
        assert_eq!(
            redact_url("amqp://guest:s3cr%40t@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(
            redact_url("http://guest:guest@localhost:15672"),
            "http://guest:***@localhost:15672"
        );
        assert_eq!(
            redact_url("postgres://u:p@a@h:5432/db?sslmode=disable"),
            "postgres://u:***@h:5432/db?sslmode=disable"
        );
    }

    #[test]
    fn redaction_leaves_urls_without_a_password_alone() {
        for url in [
            "amqp://127.0.0.1:5672/%2f",
            "amqp://guest@127.0.0.1/%2f",
            "postgres://postgres@127.0.0.1/orghub",
            "not a url",
            "amqp://host/path@with:colon",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }
}
