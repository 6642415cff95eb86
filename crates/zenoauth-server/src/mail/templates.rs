//! The words of every mail ZenoAuth sends, plain text. Links are absolute
//! (`{issuer}/account/…?token=…`).

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub subject: String,
    pub body: String,
}

fn hours(lifetime: time::Duration) -> String {
    let minutes = lifetime.whole_minutes();
    if minutes < 120 {
        format!("{minutes} minutes")
    } else {
        format!("{} hours", lifetime.whole_hours())
    }
}

pub fn verify_email(organization: &str, link: &str, lifetime: time::Duration) -> Mail {
    Mail {
        subject: format!("Confirm your email address for {organization}"),
        body: format!(
            "Confirm that this is your email address for {organization} by opening this link:\n\n{link}\n\n\
             The link works once and expires in {}. If you did not expect this mail, ignore it.\n",
            hours(lifetime)
        ),
    }
}

pub fn reset_password(organization: &str, link: &str, lifetime: time::Duration) -> Mail {
    Mail {
        subject: format!("Reset your {organization} password"),
        body: format!(
            "Someone asked to reset the password of your {organization} account. To choose a new \
             password, open this link:\n\n{link}\n\nThe link works once and expires in {}. If you did \
             not ask for this, ignore this mail: your password stays as it is.\n",
            hours(lifetime)
        ),
    }
}

pub fn invitation(organization: &str, link: &str, lifetime: time::Duration) -> Mail {
    Mail {
        subject: format!("You are invited to {organization}"),
        body: format!(
            "An account has been created for you at {organization}. To set your password and \
             start using it, open this link:\n\n{link}\n\nThe link works once and expires in {}.\n",
            hours(lifetime)
        ),
    }
}

pub fn passkey_added(organization: &str) -> Mail {
    Mail {
        subject: format!("A passkey was added to your {organization} account"),
        body: format!(
            "A passkey was just added to your {organization} account; it can now sign in to it. \
             If this was not you, remove it under your account's security settings, change your \
             password and tell your administrator.\n"
        ),
    }
}

pub fn password_changed(organization: &str) -> Mail {
    Mail {
        subject: format!("Your {organization} password was changed"),
        body: format!(
            "The password of your {organization} account was just changed, and every session \
             was signed out. If this was not you, reset your password at once and tell your \
             administrator.\n"
        ),
    }
}
