use std::collections::HashSet;

use zenoauth_crypto::{digest_secret, issue_secret, OsRandom, SecretPrefix};

#[test]
fn os_random_secrets_are_unique_and_found_by_their_digest() {
    let random = OsRandom::new();
    let mut plaintexts = HashSet::new();
    let mut digests = HashSet::new();
    for _ in 0..1000 {
        let secret = issue_secret(&random, SecretPrefix::RefreshToken);
        assert!(secret.expose().starts_with("zar_"));
        assert_eq!(secret.expose().len(), 4 + 43);
        assert_eq!(digest_secret(secret.expose()), secret.digest());
        plaintexts.insert(secret.expose().to_owned());
        digests.insert(secret.digest());
    }
    assert_eq!(plaintexts.len(), 1000);
    assert_eq!(digests.len(), 1000);
}

#[test]
fn every_prefix_is_four_characters_ending_in_underscore_and_distinct() {
    let prefixes: HashSet<_> = SecretPrefix::ALL.iter().map(|prefix| prefix.as_str()).collect();
    assert_eq!(prefixes.len(), SecretPrefix::ALL.len());
    for prefix in prefixes {
        assert_eq!(prefix.len(), 4);
        assert!(prefix.ends_with('_'));
        assert!(prefix.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{prefix}");
    }
    assert_eq!(SecretPrefix::Session.as_str(), "zas_");
    assert_eq!(SecretPrefix::AuthorizationCode.as_str(), "zac_");
    assert_eq!(SecretPrefix::RefreshToken.as_str(), "zar_");
    assert_eq!(SecretPrefix::ClientSecret.as_str(), "zcs_");
    assert_eq!(SecretPrefix::ApiKey.as_str(), "zak_");
}
