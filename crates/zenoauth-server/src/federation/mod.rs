//! Federation with upstream OpenID providers: the outbound HTTP client,
//! discovery and JWKS handling ([`upstream`]), and what an upstream login
//! proves ([`identity`]).

pub mod identity;
pub mod upstream;

pub use upstream::{ProviderMetadata, UpstreamClient, UpstreamError};
