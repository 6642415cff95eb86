//! The password policy where passwords are set: the bootstrap refuses a
//! configured administrator password that breaks it, with one clear line.

use crate::support::{assert_one_line_error, zenoauth};

#[test]
fn bootstrap_refuses_a_common_or_email_password_in_one_line() {
    for (password, rule) in [
        ("password1234", "one of the most commonly used passwords"),
        ("admin@localhost-pw", "must not contain the email"),
    ] {
        let directory = tempfile::tempdir().unwrap();
        let output = zenoauth(directory.path())
            .env("ZENOAUTH_BOOTSTRAP_ADMIN_PASSWORD", password)
            .arg("bootstrap")
            .output()
            .unwrap();
        let line = assert_one_line_error(&output);
        assert!(line.contains(rule), "{line}");
        assert!(!line.contains(password), "the password is never echoed: {line}");
    }
}
