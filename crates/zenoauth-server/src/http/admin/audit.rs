//! `/api/v1/organizations/{org_id}/audit-events`: the organization's audit log.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use zenoauth_domain::model::AuditEvent;
use zenoauth_domain::ports::AuditQuery;

use super::auth::Admin;
use super::common::{filter_text, path_id, timestamp, AdminQuery, Page, PageQuery};
use super::error::AdminError;
use crate::http::AppState;

/// One audit event.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "019375c2-6647-70a1-bd25-09f47117c3fa", "occurred_at": "2026-01-02T03:04:05Z",
    "event_type": "user.created", "actor": "admin-cli@system", "subject": "019375c2-6647-70a1-bd25-09f47117c3f5",
    "correlation_id": null, "ip": null, "user_agent": null, "data": {}}))]
pub struct AuditEventDto {
    pub id: uuid::Uuid,
    pub occurred_at: String,
    /// Dotted type, e.g. `user.created`, `role.assigned`.
    pub event_type: String,
    /// Who acted: for admin API changes `{sub}@{organization slug}`.
    pub actor: Option<String>,
    /// What was acted on (an id).
    pub subject: Option<String>,
    pub correlation_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    #[schema(value_type = Object)]
    pub data: Json,
}

impl From<&AuditEvent> for AuditEventDto {
    fn from(event: &AuditEvent) -> Self {
        Self {
            id: event.id.as_uuid(),
            occurred_at: timestamp(event.occurred_at),
            event_type: event.event_type.clone(),
            actor: event.actor.clone(),
            subject: event.subject.clone(),
            correlation_id: event.correlation_id.clone(),
            ip: event.ip.clone(),
            user_agent: event.user_agent.clone(),
            data: event.data.clone(),
        }
    }
}

/// Filters; every given filter must match.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditListQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
    pub actor: Option<String>,
    pub subject: Option<String>,
    /// The event type, e.g. `user.created`.
    #[serde(rename = "type")]
    #[param(rename = "type", example = "user.created")]
    pub event_type: Option<String>,
    /// RFC 3339; events at or after this instant.
    #[param(example = "2026-01-01T00:00:00Z")]
    pub from: Option<String>,
    /// RFC 3339; events before this instant.
    #[param(example = "2026-02-01T00:00:00Z")]
    pub until: Option<String>,
}

fn instant(text: Option<&str>, field: &'static str) -> Result<Option<OffsetDateTime>, AdminError> {
    text.map(|text| {
        OffsetDateTime::parse(text, &Rfc3339)
            .map_err(|_| AdminError::validation(format!("{field}: must be an RFC 3339 timestamp")))
    })
    .transpose()
}

/// List audit events, oldest first.
#[utoipa::path(get, operation_id = "audit_list", path = "/organizations/{org_id}/audit-events", tag = "audit",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), AuditListQuery),
    responses((status = 200, description = "One page of events, by id (time order)", body = Page<AuditEventDto>)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    Path(org_id): Path<String>,
    AdminQuery(query): AdminQuery<AuditListQuery>,
) -> Result<Response, AdminError> {
    let organization = admin.organization(&state, path_id(&org_id)?).await?;
    let page = PageQuery { limit: query.limit, after: query.after.clone() }.page()?;
    let filter = AuditQuery {
        actor: filter_text(query.actor.as_ref(), "actor", 256)?,
        subject: filter_text(query.subject.as_ref(), "subject", 256)?,
        event_type: filter_text(query.event_type.as_ref(), "type", 256)?,
        from: instant(query.from.as_deref(), "from")?,
        until: instant(query.until.as_deref(), "until")?,
    };
    let events = state.stores.audit.list(organization.id, &filter, &page).await?;
    let items: Vec<AuditEventDto> = events.iter().map(AuditEventDto::from).collect();
    Ok(axum::Json(Page::new(items, &page, |dto: &AuditEventDto| dto.id)).into_response())
}
