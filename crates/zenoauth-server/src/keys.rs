//! Resolves the key-encryption key from configuration: inline, from a named
//! file, or — only when the public URL is loopback — from `zenoauth.kek` in
//! the working directory, created on first use.

use std::io::Write;
use std::path::Path;

use zenoauth_crypto::KeyEncryptionKey;
use zenoauth_domain::ports::RandomSource;

use crate::config::{ConfigError, KeySource, KEYS_KEK_FILE};

/// The key-encryption key `source` names. Errors name the setting or file, never the key.
pub fn load_key_encryption_key(source: &KeySource, random: &dyn RandomSource) -> Result<KeyEncryptionKey, ConfigError> {
    match source {
        KeySource::Inline(key) => Ok(key.clone()),
        KeySource::File(path) => read_key_file(path).map_err(|reason| ConfigError::Invalid {
            key: KEYS_KEK_FILE.key,
            env: KEYS_KEK_FILE.primary_env(),
            reason,
        }),
        KeySource::Local(path) => {
            let key = if path.exists() { read_key_file(path) } else { create_key_file(path, random) }
                .map_err(|reason| ConfigError::LocalKeyFile { reason })?;
            tracing::warn!(
                file = %path.display(),
                "signing keys are encrypted with the key in {}; fine on a loopback address, \
                 but set ZENOAUTH_KEY_ENCRYPTION_KEY for any real deployment",
                path.display()
            );
            Ok(key)
        }
    }
}

fn read_key_file(path: &Path) -> Result<KeyEncryptionKey, String> {
    let text = std::fs::read_to_string(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    KeyEncryptionKey::from_base64(&text).map_err(|error| format!("{}: {error}", path.display()))
}

fn create_key_file(path: &Path, random: &dyn RandomSource) -> Result<KeyEncryptionKey, String> {
    let key = KeyEncryptionKey::generate(random);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|error| format!("cannot create {}: {error}", path.display()))?;
    file.write_all(format!("{}\n", key.expose_base64().as_str()).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    tracing::warn!(file = %path.display(), "generated a new key-encryption key");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zenoauth_domain::testing::SeededRandom;

    #[test]
    fn the_local_key_is_created_once_with_mode_0600_and_then_reused() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("zenoauth.kek");
        let source = KeySource::Local(path.clone());
        let first = load_key_encryption_key(&source, &SeededRandom::new(1)).unwrap();
        let second = load_key_encryption_key(&source, &SeededRandom::new(2)).unwrap();
        assert_eq!(first.expose_base64(), second.expose_base64());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_broken_key_file_names_the_setting_not_the_key() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("kek");
        std::fs::write(&path, "secret-but-wrong").unwrap();
        let error = load_key_encryption_key(&KeySource::File(path), &SeededRandom::new(1)).unwrap_err().to_string();
        assert!(error.starts_with("invalid setting keys.key_encryption_key_file (ZENOAUTH_KEY_ENCRYPTION_KEY_FILE): "));
        assert!(!error.contains("secret-but-wrong"), "{error}");
        let missing = KeySource::File(directory.path().join("missing"));
        assert!(load_key_encryption_key(&missing, &SeededRandom::new(1))
            .unwrap_err()
            .to_string()
            .contains("cannot read"));
    }
}
