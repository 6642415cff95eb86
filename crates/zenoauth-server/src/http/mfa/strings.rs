//! The text of the multi-factor pages (as `pages::strings` for the others).

pub const CHALLENGE_TITLE: &str = "Two-step verification";
pub const CHALLENGE_INTRO: &str = "Enter the 6-digit code from your authenticator app, or one of your recovery codes.";
pub const CHALLENGE_FAILED: &str = "That code is not correct, or was already used.";
pub const CHALLENGE_LOCKED: &str = "Too many wrong codes. Sign in again in a few minutes.";
pub const CODE_LABEL: &str = "Code";
pub const VERIFY_BUTTON: &str = "Verify";

pub const ENROL_TITLE: &str = "Set up two-step verification";
pub const ENROL_REQUIRED: &str = "Your organization requires two-step verification. Set it up to continue.";
pub const ENROL_INTRO: &str = "Scan this QR code with an authenticator app, then enter the code it shows.";
pub const ENROL_MANUAL: &str = "Or enter this key in the app:";
pub const ENROL_FAILED: &str = "That code is not correct. Check the time on your device and try again.";
pub const ENROL_ALREADY: &str = "Two-step verification is already set up.";

pub const RECOVERY_TITLE: &str = "Your recovery codes";
pub const RECOVERY_INTRO: &str =
    "Keep these codes somewhere safe. Each one signs you in once if you lose your authenticator. They are shown only now.";

pub const MANAGE_TITLE: &str = "Two-step verification";
pub const MANAGE_ON: &str = "Two-step verification is on.";
pub const MANAGE_OFF: &str = "Two-step verification is off.";
pub const MANAGE_REMAINING: &str = "Unused recovery codes:";
pub const MANAGE_ENROL: &str = "Set up an authenticator app";
pub const MANAGE_REGENERATE: &str = "Make new recovery codes";
pub const MANAGE_REMOVE: &str = "Turn off two-step verification";
pub const REMOVED_BODY: &str = "Two-step verification was turned off.";

pub const SIGN_IN_FIRST: &str = "Sign in first.";

pub const MANAGE_PASSKEYS: &str = "Passkeys";
pub const ENROL_PASSKEY_INSTEAD: &str = "Or use a passkey (your device's screen lock or a security key):";

pub const PASSKEYS_TITLE: &str = "Passkeys";
pub const PASSKEYS_NONE: &str = "You have no passkeys yet.";
pub const PASSKEY_NAME_LABEL: &str = "Name";
pub const PASSKEY_NAME_PLACEHOLDER: &str = "e.g. Work laptop";
pub const PASSKEY_NAME_INVALID: &str = "Give the passkey a name of at most 64 characters.";
pub const PASSKEY_ADD: &str = "Add a passkey";
pub const PASSKEY_ADDED: &str = "The passkey was added.";
pub const PASSKEY_RENAME: &str = "Rename";
pub const PASSKEY_RENAMED: &str = "The passkey was renamed.";
pub const PASSKEY_REMOVE: &str = "Remove";
pub const PASSKEY_REMOVED: &str = "The passkey was removed.";
pub const PASSKEY_LAST_USED: &str = "Last used:";
pub const PASSKEY_NEVER_USED: &str = "never";
pub const PASSKEY_NOT_FOUND: &str = "There is no such passkey.";
pub const PASSKEY_LIMIT: &str = "You have as many passkeys as allowed. Remove one first.";
pub const PASSKEY_UNAVAILABLE: &str = "Passkeys are not available on this server.";
pub const PASSKEY_CONTINUE: &str = "Continue";
/// Shown on a ceremony page when the browser runs no JavaScript.
pub const PASSKEY_NEEDS_SCRIPT: &str =
    "Passkeys need JavaScript, which is turned off in this browser. Turn it on, or use another way to sign in.";
pub const PASSKEY_BROWSER_FAILED: &str = "Your browser did not complete the passkey request. Try again.";
pub const PASSKEY_REGISTER_TITLE: &str = "Add a passkey";
pub const PASSKEY_REGISTER_INTRO: &str = "Continue, then follow your browser's prompt to create the passkey.";
pub const PASSKEY_REGISTER_FAILED: &str = "The passkey could not be added. Start again.";
pub const PASSKEY_SIGN_IN_AGAIN: &str = "For your security, sign in again before adding a passkey.";
pub const PASSKEY_SIGN_IN_AGAIN_LINK: &str = "Sign in again";
pub const PASSKEY_CHALLENGE_BUTTON: &str = "Use a passkey instead";
pub const PASSKEY_CHALLENGE_INTRO: &str = "Continue, then confirm with your passkey.";
pub const PASSKEY_FAILED: &str = "That passkey could not be used. Try again.";
pub const PASSKEY_LOGIN_BUTTON: &str = "Sign in with a passkey";
pub const PASSKEY_LOGIN_TITLE: &str = "Sign in with a passkey";
pub const PASSKEY_LOGIN_INTRO: &str = "Continue, then choose your passkey in your browser's prompt.";
pub const PASSKEY_LOGIN_FAILED: &str = "That passkey could not be used to sign in.";
