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
