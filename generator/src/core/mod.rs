//! Facts that both pipelines read: the rule catalog, what each pinned chart
//! creates, the kinds Kubernetes knows, and the client spec with its schema
//! (the generator renders from it, the checker validates a repository's
//! `socle.yaml` against it). `socle new` derives objects from
//! them and `socle check` verifies a repository against the same facts, so
//! the two cannot disagree; neither pipeline reaches into the other's modules.

pub mod blueprint;
pub mod catalog;
pub mod charts;
pub mod clouds;
pub mod kinds;
pub mod spec;
pub mod spec_schema;
pub mod url;
pub mod values;
pub mod wiring;

/// Name of the spec inside a generated repository (the checker validates
/// it; the generator writes it).
pub const SPEC_PATH: &str = "socle.yaml";
/// The lock `socle new` writes beside the spec: its presence says socle
/// rendered the repository.
pub const LOCK_PATH: &str = "socle.lock";
