//! Contracts of [`AuditLog`](zenoauth_domain::ports::AuditLog).

use serde_json::json;
use zenoauth_domain::ids::AuditEventId;
use zenoauth_domain::model::AuditEvent;
use zenoauth_domain::ports::{AuditQuery, Stores};

use crate::fixture::{after, at, first, Fixture};

/// Events with every optional field set, or none, read back equal, in id order.
pub async fn audit_events_roundtrip(stores: &Stores) {
    let fx = Fixture::new("audit_events_roundtrip");
    let organization = fx.create_organization(stores).await;
    let full = fx.audit_event(&organization, "user.created", at(10));
    let bare = AuditEvent {
        actor: None,
        subject: None,
        correlation_id: None,
        ip: None,
        user_agent: None,
        data: json!({}),
        ..fx.audit_event(&organization, "login.failed", at(5))
    };
    stores.audit.append(&[full.clone(), bare.clone()]).await.unwrap();
    stores.audit.append(&[]).await.unwrap();

    let listed = stores.audit.list(organization.id, &AuditQuery::default(), &first(10)).await.unwrap();
    assert_eq!(listed, vec![full, bare]);
}

/// A batch with a failing event writes nothing.
pub async fn audit_append_is_all_or_none(stores: &Stores) {
    let fx = Fixture::new("audit_append_is_all_or_none");
    let organization = fx.create_organization(stores).await;
    let existing = fx.audit_event(&organization, "user.created", at(1));
    stores.audit.append(std::slice::from_ref(&existing)).await.unwrap();

    let fresh = fx.audit_event(&organization, "user.updated", at(2));
    let duplicate = AuditEvent { event_type: "user.deleted".to_owned(), ..existing.clone() };
    let result = stores.audit.append(&[fresh, duplicate]).await;
    assert!(result.is_err(), "a batch repeating a stored event id must fail");

    let listed = stores.audit.list(organization.id, &AuditQuery::default(), &first(10)).await.unwrap();
    assert_eq!(listed, vec![existing]);
}

fn ids(events: Vec<AuditEvent>) -> Vec<AuditEventId> {
    events.into_iter().map(|event| event.id).collect()
}

/// Filters on actor, subject, event_type and the `[from, until)` window, all at once.
pub async fn audit_events_are_filtered(stores: &Stores) {
    let fx = Fixture::new("audit_events_are_filtered");
    let organization = fx.create_organization(stores).await;
    let event = |event_type: &str, actor: &str, subject: &str, seconds: i64| AuditEvent {
        actor: Some(actor.to_owned()),
        subject: Some(subject.to_owned()),
        ..fx.audit_event(&organization, event_type, at(seconds))
    };
    let events = vec![
        event("login.succeeded", "alice", "session:1", 100),
        event("login.failed", "alice", "session:2", 200),
        event("user.updated", "admin", "alice", 300),
        event("login.succeeded", "bob", "session:3", 400),
        AuditEvent { actor: None, subject: None, ..fx.audit_event(&organization, "key.rotated", at(500)) },
    ];
    stores.audit.append(&events).await.unwrap();
    let list =
        |query: AuditQuery| async move { ids(stores.audit.list(organization.id, &query, &first(200)).await.unwrap()) };
    let pick = |indexes: &[usize]| indexes.iter().map(|&index| events[index].id).collect::<Vec<_>>();

    assert_eq!(list(AuditQuery::default()).await, pick(&[0, 1, 2, 3, 4]));
    assert_eq!(list(AuditQuery { actor: Some("alice".to_owned()), ..AuditQuery::default() }).await, pick(&[0, 1]));
    assert_eq!(list(AuditQuery { subject: Some("alice".to_owned()), ..AuditQuery::default() }).await, pick(&[2]));
    let logins = AuditQuery { event_type: Some("login.succeeded".to_owned()), ..AuditQuery::default() };
    assert_eq!(list(logins).await, pick(&[0, 3]));
    let window = AuditQuery { from: Some(at(200)), until: Some(at(400)), ..AuditQuery::default() };
    assert_eq!(list(window).await, pick(&[1, 2]));
    assert_eq!(list(AuditQuery { from: Some(at(400)), ..AuditQuery::default() }).await, pick(&[3, 4]));
    assert_eq!(list(AuditQuery { until: Some(at(100)), ..AuditQuery::default() }).await, pick(&[]));
    let combined = AuditQuery {
        actor: Some("alice".to_owned()),
        event_type: Some("login.failed".to_owned()),
        from: Some(at(100)),
        until: Some(at(201)),
        ..AuditQuery::default()
    };
    assert_eq!(list(combined).await, pick(&[1]));
    let nothing =
        AuditQuery { actor: Some("bob".to_owned()), subject: Some("alice".to_owned()), ..AuditQuery::default() };
    assert_eq!(list(nothing).await, pick(&[]));
    assert_eq!(list(AuditQuery { actor: Some("ALICE".to_owned()), ..AuditQuery::default() }).await, pick(&[]));
}

/// Keyset pagination by id, within the organization, also under a filter.
pub async fn audit_events_are_paginated_by_id(stores: &Stores) {
    let fx = Fixture::new("audit_events_are_paginated_by_id");
    let organization = fx.create_organization(stores).await;
    let events: Vec<AuditEvent> = (0..5)
        .map(|index| fx.audit_event(&organization, if index % 2 == 0 { "even" } else { "odd" }, at(100 - index)))
        .collect();
    stores.audit.append(&events).await.unwrap();
    let created = ids(events.clone());
    let all = AuditQuery::default();
    let org = organization.id;

    let page1 = ids(stores.audit.list(org, &all, &first(2)).await.unwrap());
    assert_eq!(page1, created[0..2].to_vec());
    let page2 = ids(stores.audit.list(org, &all, &after(page1[1], 2)).await.unwrap());
    assert_eq!(page2, created[2..4].to_vec());
    let page3 = ids(stores.audit.list(org, &all, &after(page2[1], 2)).await.unwrap());
    assert_eq!(page3, created[4..].to_vec());
    assert!(stores.audit.list(org, &all, &after(page3[0], 2)).await.unwrap().is_empty());

    let even = AuditQuery { event_type: Some("even".to_owned()), ..AuditQuery::default() };
    let page = ids(stores.audit.list(org, &even, &after(created[0], 1)).await.unwrap());
    assert_eq!(page, vec![created[2]]);
}

/// Another organization's events are never listed.
pub async fn tenants_are_isolated_for_audit_events(stores: &Stores) {
    let fx = Fixture::new("tenants_are_isolated_for_audit_events");
    let mine = fx.create_organization(stores).await;
    let theirs = fx.create_organization(stores).await;
    let own = fx.audit_event(&mine, "user.created", at(10));
    let foreign = fx.audit_event(&theirs, "user.created", at(10));
    stores.audit.append(&[own.clone(), foreign.clone()]).await.unwrap();

    assert_eq!(stores.audit.list(mine.id, &AuditQuery::default(), &first(200)).await.unwrap(), vec![own]);
    let by_actor = AuditQuery { actor: foreign.actor.clone(), ..AuditQuery::default() };
    assert_eq!(stores.audit.list(mine.id, &by_actor, &first(200)).await.unwrap().len(), 1);
    assert_eq!(stores.audit.list(theirs.id, &AuditQuery::default(), &first(200)).await.unwrap(), vec![foreign]);
}
