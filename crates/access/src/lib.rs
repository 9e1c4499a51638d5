//! Who may do what.
//!
//! A caller is a *principal*: the common name of the client certificate it
//! presents. A [`Policy`] (a TOML file the operator keeps) maps each
//! principal to one [`Role`]: an agency that uploads its own records, a
//! panel of a partnership, an auditor, or an administrator; [`authorize`]
//! decides each call from the role. [`pki`] issues
//! the development certificates that `braid keys init` writes; real
//! deployments bring their own CA and only write the policy.

mod authorize;
pub mod pki;
mod policy;

pub use authorize::{authorize, Action, Denial};
pub use policy::{Policy, PolicyError, Role};
