#![recursion_limit = "512"]
//! socle: renders a client's GitOps monorepo for a Kubernetes data platform.
//!
//! The pipeline runs one way, one module per stage:
//! spec ([`spec`], [`schema`]) → validated model ([`model`], with the
//! blueprint's dependency graph from [`blueprint`]) → rendered file set in
//! memory ([`render`]) → written all at once ([`output`]) and committed
//! ([`git`]).

pub mod blueprint;
pub mod check;
pub mod core;
pub mod generate;
pub mod git;
pub mod locate;
pub mod lock;
pub mod model;
pub mod output;
pub mod quantity;
pub mod render;
pub mod repository;
pub mod schema;
pub mod secrets;
pub mod source;
pub mod spec;
pub mod update;
