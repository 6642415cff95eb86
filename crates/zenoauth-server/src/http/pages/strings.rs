//! Every word the hosted pages show, in one place so a translation is one
//! new module with the same constants.

pub const LANG: &str = "en";

pub const LOGIN_TITLE: &str = "Sign in";
pub const LOGIN_INTRO: &str = "Sign in to continue.";
/// Before an upstream identity provider's name on its login button.
pub const SIGN_IN_WITH: &str = "Sign in with";
pub const LOGIN_CONTINUE_TO: &str = "to continue to";
pub const EMAIL_LABEL: &str = "Email address";
pub const PASSWORD_LABEL: &str = "Password";
pub const LOGIN_BUTTON: &str = "Sign in";
pub const FORGOT_PASSWORD_LINK: &str = "Forgot your password?";
pub const LOGIN_FAILED: &str = "The email address or password is not correct.";
pub const LOGIN_BUSY: &str = "Too many sign-ins are being processed right now. Try again in a few seconds.";
pub const SIGNED_IN_TITLE: &str = "You are signed in";
pub const SIGNED_IN_BODY: &str = "You can close this window.";

pub const CONSENT_TITLE: &str = "Allow access?";
pub const CONSENT_INTRO: &str = "wants to access your account.";
pub const CONSENT_SIGNED_IN_AS: &str = "Signed in as";
pub const CONSENT_SCOPES: &str = "It will be able to:";
pub const CONSENT_ALLOW: &str = "Allow";
pub const CONSENT_DENY: &str = "Deny";

pub const LOGOUT_TITLE: &str = "Sign out?";
pub const LOGOUT_BODY: &str = "Do you want to sign out of this organization?";
pub const LOGOUT_BUTTON: &str = "Sign out";
pub const SIGNED_OUT_TITLE: &str = "You are signed out";
pub const SIGNED_OUT_BODY: &str = "You can close this window.";

pub const CONTINUE_TITLE: &str = "Continue";
pub const CONTINUE_BODY: &str = "Select Continue to return to the application.";
pub const CONTINUE_BUTTON: &str = "Continue";

pub const ERROR_TITLE: &str = "Something is wrong with this request";
pub const ERROR_HINT: &str = "Go back to the application and try again. If it keeps happening, tell its developers.";
pub const CSRF_FAILED: &str = "This form has expired. Go back and try again.";
pub const SERVER_ERROR: &str = "The service could not complete the request. Try again later.";

pub const LOGO_ALT: &str = "logo";

/// What a scope lets the application do, for the consent page.
pub fn scope_description(scope: &str) -> Option<&'static str> {
    match scope {
        "openid" => Some("Know who you are"),
        "profile" => Some("See your name and profile details"),
        "email" => Some("See your email address"),
        "offline_access" => Some("Stay signed in when you are not using it"),
        _ => None,
    }
}
