#![recursion_limit = "512"]
//! socle: renders a client's GitOps monorepo for a Kubernetes data platform.
//!
//! The pipeline runs one way, one module per stage:
//! spec ([`spec`], [`schema`], both in [`core`]) → validated model ([`model`], with the
//! blueprint's dependency graph from [`blueprint`]) → rendered file set in
//! memory ([`render`]) → written all at once ([`output`]) and committed
//! ([`git`]).

pub mod blueprint;
pub mod check;
pub mod colour;
pub mod compose;
pub mod core;
pub mod generate;
pub mod git;
pub mod locate;
pub mod lock;
mod memory;
pub mod model;
pub mod output;
mod parallel;
pub mod quantity;
pub mod render;
pub mod repository;
pub mod secrets;
pub mod source;
pub mod update;
mod yaml;

// The spec and its schema are shared by both pipelines, hence in `core`;
// their public paths stay `socle::spec` and `socle::schema`.
pub use crate::core::spec;
pub use crate::core::spec_schema as schema;
