//! Facts that both pipelines read: the rule catalog, what each pinned chart
//! creates, and the kinds Kubernetes knows. `socle new` derives objects from
//! them and `socle check` verifies a repository against the same facts, so
//! the two cannot disagree; neither pipeline reaches into the other's modules.

pub mod catalog;
pub mod charts;
pub mod kinds;
