//! Federation with upstream OpenID providers: the outbound HTTP client,
//! discovery and JWKS handling ([`upstream`]).

pub mod upstream;

pub use upstream::{ProviderMetadata, UpstreamClient, UpstreamError};
