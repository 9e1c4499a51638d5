//! Who may do what.
//!
//! A caller is a *principal*: the common name of the client certificate it
//! presents. A [`Policy`] (a TOML file the operator keeps) maps each
//! principal to one [`Role`]: an agency that uploads its own records, a
//! panel of a partnership, an auditor, or an administrator. [`pki`] issues
//! the development certificates that `braid keys init` writes; real
//! deployments bring their own CA and only write the policy.

pub mod pki;
mod policy;

pub use policy::{Policy, PolicyError, Role};
