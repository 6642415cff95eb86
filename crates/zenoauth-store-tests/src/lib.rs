//! The conformance suite every store adapter must pass: one `pub async fn`
//! per contract, each taking the adapter's [`Stores`](zenoauth_domain::ports::Stores)
//! bundle, and [`for_each_contract!`] to turn them into one test each.
//!
//! A contract makes its own organizations, users and so on, with fresh ids
//! (seeded by the contract's name) and fixed timestamps in whole seconds, so
//! every store keeps them exactly. Contracts expect a fresh, empty store each
//! (housekeeping methods such as `delete_expired` count across organizations).
//!
//! Semantics pinned here beyond the port docs:
//! - expiry means "expired by `now`": `expires_at <= now`;
//! - `NotFound` names the missing kind: `organization`, `user`, `application`,
//!   `session`, `refresh_token_family`, `signing_key`; a tenant-scoped call
//!   naming another organization's object gets the same `NotFound`;
//! - `email_prefix` is a literal prefix: `%`, `_` and `\` match only themselves;
//! - `rotate` of a token that was already rotated is `ReuseDetected` even when
//!   the family is already revoked, and the family keeps its first `revoked_at`;
//! - `revoke_for_code`/`_session`/`_user` count only families they newly
//!   revoke, and keep earlier `revoked_at` values;
//! - signing keys list newest first by `created_at`.
//!
//! ```text
//! macro_rules! memory_contract {
//!     ($name:ident) => {
//!         #[tokio::test]
//!         async fn $name() {
//!             zenoauth_store_tests::$name(&MemoryDatabase::new().stores()).await;
//!         }
//!     };
//! }
//! zenoauth_store_tests::for_each_contract!(memory_contract);
//! ```

// Test-support code: a failed expectation must panic to fail the calling test,
// exactly as in `#[test]` code, which the workspace lints already allow.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod applications;
mod audit;
mod cascades;
mod codes;
mod consents;
mod email;
mod federation;
pub mod fixture;
mod login_attempts;
mod mfa;
mod organizations;
mod passkeys;
mod preconditions;
mod refresh;
mod revocations;
mod roles;
mod sessions;
mod signing_keys;
mod users;

pub use applications::*;
pub use audit::*;
pub use cascades::*;
pub use codes::*;
pub use consents::*;
pub use email::*;
pub use federation::*;
pub use login_attempts::*;
pub use mfa::*;
pub use organizations::*;
pub use passkeys::*;
pub use preconditions::*;
pub use refresh::*;
pub use revocations::*;
pub use roles::*;
pub use sessions::*;
pub use signing_keys::*;
pub use users::*;

/// Invokes `$callback!(contract_name);` once per contract in this suite.
#[macro_export]
macro_rules! for_each_contract {
    ($callback:ident) => {
        // organizations
        $callback!(organization_roundtrip);
        $callback!(organization_slug_is_unique);
        $callback!(organization_update_writes_name_settings_and_updated_at);
        $callback!(organization_update_and_delete_of_missing_are_not_found);
        $callback!(organizations_are_paginated_by_id);
        // optimistic concurrency (organizations, users, applications)
        $callback!(conditional_updates_apply_only_while_unchanged);
        $callback!(concurrent_conditional_updates_let_exactly_one_win);
        // users
        $callback!(user_roundtrip);
        $callback!(user_email_is_unique_within_an_organization);
        $callback!(user_requires_an_existing_organization);
        $callback!(user_update_writes_every_mutable_field);
        $callback!(user_update_and_delete_of_missing_are_not_found);
        $callback!(users_are_paginated_by_id);
        $callback!(users_are_filtered_by_email_prefix);
        $callback!(users_are_filtered_by_profile_attribute);
        $callback!(tenants_are_isolated_for_users);
        // applications
        $callback!(application_roundtrip);
        $callback!(application_client_id_is_unique_within_an_organization);
        $callback!(application_requires_an_existing_organization);
        $callback!(application_update_writes_every_mutable_field_but_the_client_id);
        $callback!(application_update_and_delete_of_missing_are_not_found);
        $callback!(applications_are_paginated_by_id);
        $callback!(tenants_are_isolated_for_applications);
        // sessions
        $callback!(session_roundtrip);
        $callback!(session_is_not_found_after_it_expires);
        $callback!(sessions_are_listed_for_a_user_oldest_first);
        $callback!(session_delete_and_delete_for_user);
        $callback!(session_delete_expired_counts_only_expired_sessions);
        $callback!(session_touch_records_last_seen);
        $callback!(tenants_are_isolated_for_sessions);
        // authorization codes
        $callback!(authorization_code_is_redeemed_once_then_replayed);
        $callback!(authorization_code_unknown_or_expired_is_invalid_grant);
        $callback!(authorization_code_is_single_use_under_concurrency);
        $callback!(authorization_code_delete_expired_counts);
        $callback!(tenants_are_isolated_for_authorization_codes);
        $callback!(authorization_code_remembers_its_access_token);
        // refresh tokens
        $callback!(refresh_family_roundtrip);
        $callback!(refresh_token_rotation_and_reuse_detection);
        $callback!(refresh_token_rotation_is_single_use_under_concurrency);
        $callback!(refresh_token_unknown_expired_or_revoked_is_invalid_grant);
        $callback!(refresh_family_revoke_and_missing_is_not_found);
        $callback!(refresh_families_are_revoked_for_code_session_and_user);
        $callback!(refresh_families_are_revoked_for_user_and_application);
        $callback!(refresh_delete_expired_counts_families);
        $callback!(tenants_are_isolated_for_refresh_tokens);
        // revocations
        $callback!(revocation_is_idempotent_and_scoped_to_its_organization);
        $callback!(revocation_delete_expired_counts);
        // signing keys
        $callback!(signing_key_roundtrip_and_list_newest_first);
        $callback!(signing_key_find_active_is_newest_active_per_algorithm);
        $callback!(signing_key_retired_stays_published_until_expired);
        $callback!(signing_key_retire_of_missing_is_not_found);
        $callback!(signing_key_pending_is_published_but_signs_only_once_activated);
        $callback!(tenants_are_isolated_for_signing_keys);
        // audit log
        $callback!(audit_events_roundtrip);
        $callback!(audit_append_is_all_or_none);
        $callback!(audit_events_are_filtered);
        $callback!(audit_events_are_paginated_by_id);
        $callback!(tenants_are_isolated_for_audit_events);
        // consents and client assertions
        $callback!(consent_roundtrip_replace_and_delete);
        $callback!(tenants_are_isolated_for_consents);
        $callback!(consents_go_with_their_user_and_application);
        $callback!(client_assertion_jti_is_accepted_once_until_it_expires);
        $callback!(client_assertion_jti_is_single_use_under_concurrency);
        // cascades
        $callback!(deleting_an_organization_removes_everything_it_owns);
        $callback!(deleting_a_user_removes_their_sessions_codes_and_refresh_tokens);
        $callback!(deleting_an_application_removes_its_codes_and_refresh_tokens);
        $callback!(cascades_leave_other_tenants_intact);
        // login attempts (brute-force defence)
        $callback!(login_attempts_count_and_lock_at_the_threshold);
        $callback!(login_attempts_restart_after_the_window_or_the_lock);
        $callback!(login_attempts_clear_and_delete_stale);
        $callback!(login_attempts_are_counted_once_under_concurrency);
        $callback!(tenants_are_isolated_for_login_attempts);
        // roles and client-secret rotation
        $callback!(role_roundtrip_unique_names_and_update);
        $callback!(role_assignments_are_scoped_and_cascade);
        $callback!(client_secret_rotation_keeps_the_old_digest_for_the_grace_period);
        $callback!(outbox_messages_are_claimed_under_a_lease_then_completed);
        $callback!(outbox_failures_are_counted_rescheduled_and_given_up);
        $callback!(outbox_claims_are_exclusive_under_concurrency);
        $callback!(account_tokens_are_single_use_and_expire);
        $callback!(account_tokens_are_isolated_and_go_with_their_user);
        $callback!(account_token_consumption_is_single_use_under_concurrency);
        // multi-factor authentication
        $callback!(totp_credential_is_replaced_until_confirmed);
        $callback!(totp_steps_are_used_once_and_only_forward);
        $callback!(recovery_codes_are_single_use_and_replaced);
        $callback!(mfa_credentials_are_deleted_with_their_user);
        // passkeys
        $callback!(passkeys_roundtrip_unique_per_organization);
        $callback!(passkey_use_rename_and_removal_are_scoped);
        $callback!(passkey_ceremonies_are_single_use_and_expire);
        $callback!(passkey_ceremony_is_taken_once_under_concurrency);
        $callback!(passkey_counter_advances_once_under_concurrency);
        $callback!(passkeys_are_deleted_with_their_user);
        // federation
        $callback!(identity_providers_roundtrip_with_unique_names);
        $callback!(federated_identities_link_once_and_go_with_user_and_provider);
        $callback!(federation_logins_are_single_use_and_expire);
        $callback!(federated_identities_are_deleted_only_for_their_user);
        $callback!(pending_links_are_single_use_isolated_and_expire);
        $callback!(oauth2_providers_keep_their_endpoints_claims_icon_and_amr_trust);
        $callback!(providers_know_whether_users_are_linked_to_them);
        $callback!(a_users_last_link_is_kept_even_under_concurrent_removals);
        $callback!(expired_federation_logins_and_pending_links_are_deleted);
    };
}
