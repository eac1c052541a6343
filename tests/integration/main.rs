//! Integration tests: one binary that drives the real `socle` executable and
//! checks what it renders against the real tools and upstream data.

mod airflow;
mod argocd_schema;
mod argocd_topology;
mod charts;
mod check;
mod cli;
mod compose;
mod content;
mod datalab;
mod dbt;
mod distribution;
mod egress;
mod gate_holds;
mod generated_ci;
mod hostile_corpus;
mod hostile_input;
mod html_report;
mod least_privilege;
mod lineage;
mod living;
mod logical_dump;
mod mermaid;
mod observability;
mod prerequisites;
mod range;
mod secrets;
mod seed;
mod support;
mod system;
mod system_rules;
mod tools;
mod trust;
mod user_work;
mod wiring;
mod zeppelin_sso;
