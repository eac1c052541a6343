//! Each subcommand in its module; `run` dispatches to them and returns the
//! exit code.

mod blueprint;
mod check;
mod diff;
mod graph;
mod hook;
mod new;
mod policy;
mod promote;
mod update;

use std::io::Write;
use std::path::{Path, PathBuf};

use socle::check as checker;
use socle::model;
use socle::source::Tree;

use check::check;
use diff::diff;
use graph::{graph, secrets_list};
use hook::hook_install;
use new::new;
use policy::policy;
use promote::promote;
use update::update;

use crate::cli::{
    Cli, ColorWhen, Command, HookCommand, SchemaCommand, SecretsCommand, SpecCommand, SystemCommand,
};

/// An error that maps to a specific exit code.
#[derive(Debug)]
pub(crate) struct Exit(pub(crate) u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for Exit {}

pub(crate) fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Spec(SpecCommand::Example { blueprint }) => {
            std::io::stdout().write_all(&blueprint::example(blueprint.as_deref())?)?;
            Ok(0)
        }
        Command::Schema(which) => {
            let schema = match which {
                SchemaCommand::Report => checker::report::json_schema(),
                SchemaCommand::Spec => spec_schema(None)?,
                SchemaCommand::Config => checker::config::schema(),
                SchemaCommand::System => checker::system::input::schema(),
            };
            print_json(&schema)
        }
        Command::Spec(SpecCommand::Schema { blueprint }) => {
            print_json(&spec_schema(blueprint.as_deref())?)
        }
        Command::New(args) => new(args),
        Command::Check(args) => check(args),
        Command::Policy(cmd) => policy(cmd),
        Command::Hook(HookCommand::Install { dir, force }) => hook_install(&dir, force),
        Command::Diff(args) => diff(args),
        Command::Promote {
            from,
            to,
            dir,
            dry_run,
            format,
        } => promote(&from, &to, &dir, dry_run, format),
        Command::Update(args) => update(args),
        Command::Graph { dir, env, format } => graph(&dir, env.as_deref(), format),
        Command::PolicyWorker => Ok(u8::try_from(checker::worker::serve()).unwrap_or(2)),
        Command::System(SystemCommand::Schema) => print_json(&checker::system::input::schema()),
        Command::Secrets(SecretsCommand::List { dir, env, format }) => {
            secrets_list(&dir, env.as_deref(), format)
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd, "socle", &mut out);
            std::io::stdout().write_all(&out)?;
            Ok(0)
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            std::io::stdout().write_all(&out)?;
            Ok(0)
        }
        Command::Blueprint(cmd) => blueprint::run(cmd),
        Command::Why {
            file,
            dir,
            dir_flag,
        } => {
            let dir = dir.or(dir_flag).unwrap_or_else(|| PathBuf::from("."));
            write!(std::io::stdout(), "{}", socle::update::why(&dir, &file)?)?;
            Ok(0)
        }
    }
}

/// The run's colour choice, decided once from `--color` and the environment.
pub(crate) static COLOUR: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Whether stdout gets colour: the flag, then the conventions terminals
/// and CI share (NO_COLOR, CLICOLOR_FORCE, TERM=dumb, in that order, as
/// anstream reads them), then whether stdout is a terminal.
pub(crate) fn decide_colour(when: ColorWhen) -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        // NO_COLOR first: a user's standing wish beats a tool's forcing.
        ColorWhen::Auto if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) => false,
        ColorWhen::Auto if set("CLICOLOR_FORCE") => true,
        ColorWhen::Auto if std::env::var_os("TERM").is_some_and(|t| t == "dumb") => false,
        ColorWhen::Auto => std::io::IsTerminal::is_terminal(&std::io::stdout()),
    }
}

pub(crate) fn load_tree(dir: Option<&Path>, embedded: fn() -> Tree) -> anyhow::Result<Tree> {
    match dir {
        Some(dir) => Ok(Tree::from_dir(dir)?),
        None => Ok(embedded()),
    }
}

pub(crate) fn colour_stdout() -> bool {
    COLOUR.get().copied().unwrap_or(false)
}

/// A unified diff, coloured for a terminal.
pub(crate) fn paint(diff: &str, colour: bool) -> String {
    socle::colour::diff(colour, diff)
}

/// The spec's schema for an embedded blueprint (the default one for
/// `None`), with the embedded environments' names.
fn spec_schema(blueprint: Option<&str>) -> anyhow::Result<serde_json::Value> {
    let manifest = socle::blueprint::Manifest::load(&socle::blueprint::embedded(blueprint)?)?;
    Ok(socle::core::spec_schema::spec_schema_for(
        &model::environment_names(&Tree::embedded_environments()),
        &manifest.options,
        manifest.reads(),
    ))
}

/// A JSON document (a schema) on stdout, indented.
fn print_json(value: &serde_json::Value) -> anyhow::Result<u8> {
    writeln!(
        std::io::stdout(),
        "{}",
        serde_json::to_string_pretty(value)?
    )?;
    Ok(0)
}
