//! The `socle` binary: argument parsing and exit codes only; the work is in
//! the library.
//!
//! Exit codes: 0 success, 1 policy violations, 2 usage or input error (bad
//! spec, non-empty output directory, unreadable blueprint). A closed stdout
//! (`socle spec schema | head`) is success, not an error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use socle::check::report::{self, Format};
use socle::check::{self as checker, Severity};
use socle::generate::{self, Inputs};
use socle::git::Identity;
use socle::source::Tree;
use socle::{model, output, schema, spec};

#[derive(Parser)]
#[command(
    name = "socle",
    version,
    about = "GitOps repository generator and policy checker for Kubernetes data platforms"
)]
struct Cli {
    /// When to colour the output: auto (a terminal, unless NO_COLOR is set
    /// or TERM is dumb; CLICOLOR_FORCE forces it unless NO_COLOR is set),
    /// always or never.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    color: ColorWhen,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ListFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// The run's colour choice, decided once from `--color` and the environment.
static COLOUR: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Whether stdout gets colour: the flag, then the conventions terminals
/// and CI share (NO_COLOR, CLICOLOR_FORCE, TERM=dumb, in that order, as
/// anstream reads them), then whether stdout is a terminal.
fn decide_colour(when: ColorWhen) -> bool {
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

#[derive(Subcommand)]
enum Command {
    /// Render a client's GitOps monorepo from a spec and commit it.
    #[command(
        after_help = "Examples:\n  socle new                                   # the embedded example client, into ./acme-platform\n  socle spec example > socle.yaml && socle new --spec socle.yaml --out ../client-platform\n  socle new --spec - --no-git --out /tmp/p < socle.yaml"
    )]
    New(NewArgs),
    /// Print the example spec or the spec's JSON Schema.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  socle spec example > socle.yaml\n  socle spec schema > socle.schema.json"
    )]
    Spec(SpecCommand),
    /// Print the JSON Schema of a file socle reads or writes.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  socle schema report > report.schema.json\n  socle schema config   # socle-check.yaml"
    )]
    Schema(SchemaCommand),
    /// Check a repository against the embedded and the repository's policies.
    #[command(
        after_help = "Examples:\n  socle check                                 # the current directory, text report\n  socle check --range origin/main..HEAD --format sarif=socle.sarif --format github\n  socle check --staged --cache   # what a pre-commit hook runs\n  socle check --data exclusions/ --combine   # conftest-style policies"
    )]
    Check(CheckArgs),
    /// List, explain or test policies.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  socle policy list\n  socle policy explain SOC-K8S-002\n  socle policy test ."
    )]
    Policy(PolicyCommand),
    /// Git hooks.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  socle hook install\n  socle hook install ../client-platform --force"
    )]
    Hook(HookCommand),
    /// What re-rendering the repository would change (exit 1 on drift), or
    /// with --env A..B what separates two environments.
    #[command(
        after_help = "Examples:\n  socle diff --stat\n  socle diff --spec new-socle.yaml\n  socle diff --env staging..prod"
    )]
    Diff(DiffArgs),
    /// Apply a new spec or a new socle's blueprint by three-way merge,
    /// keeping the team's edits.
    #[command(
        after_help = "Examples:\n  socle update --dry-run\n  socle update --spec socle.yaml\n  socle update --resume"
    )]
    Update(UpdateArgs),
    /// Copy chart versions and image tags of one environment into the next.
    #[command(
        after_help = "Examples:\n  socle promote staging prod --dry-run\n  socle promote dev staging ../client-platform"
    )]
    Promote {
        /// The environment whose settings travel (e.g. staging).
        from: String,
        /// The environment that receives them (e.g. prod).
        to: String,
        /// The repository.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Print the changes; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// `json`: the settings promoted and not, and each file's diff.
        #[arg(long, value_enum, default_value = "text")]
        format: ListFormat,
    },
    /// Evaluates repository policies for another socle process (internal).
    #[command(hide = true)]
    PolicyWorker,
    /// Print the modelled system of each environment: Applications by
    /// wave and the connections between them, broken links highlighted.
    #[command(
        after_help = "Examples:\n  socle graph --env prod\n  socle graph --format json > systems.json"
    )]
    Graph {
        /// The repository.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Only this environment.
        #[arg(long)]
        env: Option<String>,
        #[arg(long, value_enum, default_value = "mermaid")]
        format: checker::system::graph::GraphFormat,
    },
    /// The system model the system rules read.
    #[command(subcommand)]
    #[command(after_help = "Examples:\n  socle system schema > system.schema.json")]
    System(SystemCommand),
    /// The secret-store entries the repository's ExternalSecrets read.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  socle secrets list --env prod\n  socle secrets list --format json"
    )]
    Secrets(SecretsCommand),
    /// Print a shell completion script (e.g. `socle completions bash >
    /// ~/.local/share/bash-completion/completions/socle`).
    #[command(
        after_help = "Examples:\n  socle completions bash > ~/.local/share/bash-completion/completions/socle\n  socle completions zsh > \"${fpath[1]}/_socle\""
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print socle's man page (roff), e.g. `socle man > ~/.local/share/man/man1/socle.1`.
    #[command(
        after_help = "Examples:\n  socle man > ~/.local/share/man/man1/socle.1 && man socle"
    )]
    Man,
    /// Where a generated file comes from.
    #[command(
        after_help = "Examples:\n  socle why argocd/prod/applications/trino.yaml\n  socle why components/trino/values-prod.yaml ../client-platform"
    )]
    Why {
        /// The file, relative to the repository.
        file: String,
        /// The repository (default: the current directory).
        dir: Option<PathBuf>,
        /// The repository, as earlier versions took it.
        #[arg(long = "dir", hide = true, conflicts_with = "dir")]
        dir_flag: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Print every secret-store entry the repository expects, per
    /// environment, with the components and ExternalSecrets that read it.
    List {
        /// The repository.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Only this environment.
        #[arg(long)]
        env: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: socle::secrets::SecretsFormat,
    },
}

#[derive(Subcommand)]
enum SystemCommand {
    /// Print the JSON Schema of the system input (for writing system rules).
    Schema,
}

#[derive(clap::Args)]
struct DiffArgs {
    /// The repository (made by `socle new`).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// One line per file instead of the diff.
    #[arg(long)]
    stat: bool,
    /// Render from this spec instead of the repository's socle.yaml.
    #[arg(long, value_name = "FILE", conflicts_with = "env")]
    spec: Option<PathBuf>,
    /// Compare two environments of the repository instead, e.g. dev..prod.
    #[arg(long, value_name = "A..B")]
    env: Option<String>,
    /// `json`: one object per file (or, with --env, per component), for
    /// tools; the exit code is the same.
    #[arg(long, value_enum, default_value = "text")]
    format: ListFormat,
}

#[derive(clap::Args)]
struct UpdateArgs {
    /// The repository (made by `socle new`).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The new spec (default: the repository's socle.yaml, for a new socle).
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,
    /// Print the plan; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Update even though tracked files differ from HEAD.
    #[arg(long)]
    allow_dirty: bool,
    /// Finish an update that was interrupted (the files it already wrote
    /// are kept as they are).
    #[arg(long, conflicts_with = "dry_run")]
    resume: bool,
    /// `json`: the plan (each file's action and state), the conflicts and
    /// the check's counts; the exit code is the same.
    #[arg(long, value_enum, default_value = "text")]
    format: ListFormat,
}

#[derive(Subcommand)]
enum HookCommand {
    /// Write a pre-commit hook that runs `socle check` before each commit.
    Install {
        /// The repository.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Replace an existing pre-commit hook that socle did not write.
        #[arg(long)]
        force: bool,
    },
}

/// First lines of the hook socle writes; recognising it makes reinstalling safe.
const HOOK: &str = "#!/bin/sh\n# Installed by `socle hook install`: check what is staged for the next\n# commit against the repository's policies (socle must be on PATH).\nexec socle check --staged --cache .\n";

/// Hooks earlier versions of `socle hook install` wrote: socle's own, so
/// replaced without `--force`.
const OLD_HOOKS: [&str; 1] = ["#!/bin/sh\n# Installed by `socle hook install`: check the repository against its\n# policies before each commit (socle must be on PATH).\nexec socle check --cache .\n"];

#[derive(clap::Args)]
struct CheckArgs {
    /// Repository to check.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Print the JSON Schema of socle-check.yaml (the repository's check
    /// configuration) and exit.
    #[arg(long, exclusive = true)]
    config_schema: bool,
    /// Report format: text, json, junit, sarif, github or gitlab, to
    /// stdout, or FORMAT=FILE to write it to a file. Repeatable, so one run
    /// writes every report a CI job needs (`--format sarif=socle.sarif
    /// --format github`); at most one goes to stdout.
    #[arg(long, value_name = "FORMAT[=FILE]", default_value = "text")]
    format: Vec<report::Output>,
    /// Also fail (exit 1) on warnings.
    #[arg(long, value_enum, default_value = "deny")]
    fail_on: FailOn,
    /// Parse repository policies as Rego v0 (like conftest --rego-version v0).
    #[arg(long)]
    rego_v0: bool,
    /// Run only this package of the repository's policies (repeatable; like
    /// conftest --namespace, e.g. `main` or `kubernetes.admission`).
    #[arg(long, value_name = "PACKAGE")]
    namespace: Vec<String>,
    /// Run every package of the repository's policies (the default; like
    /// conftest --all-namespaces).
    #[arg(long, conflicts_with = "namespace")]
    all_namespaces: bool,
    /// JSON or YAML documents the repository's policies read as `data`
    /// (repeatable; a folder is walked, each file merged under its folder's
    /// path; like conftest --data).
    #[arg(long, value_name = "FILE|DIR")]
    data: Vec<PathBuf>,
    /// Give the repository's policies every document in one input, an array
    /// of {path, contents} (like conftest --combine).
    #[arg(long)]
    combine: bool,
    #[command(flatten)]
    bounds: PolicyBounds,
    /// Ignore the repository's own policies/*.rego.
    #[arg(long)]
    no_local_policies: bool,
    /// Also build every kustomize overlay (kustomize or kubectl on PATH) and
    /// check the rendered documents.
    #[arg(long, conflicts_with_all = ["range", "commit"])]
    render: bool,
    /// Check every commit of BASE..HEAD from the git object database and
    /// judge the range on what it introduces.
    #[arg(long, value_name = "BASE..HEAD", conflicts_with = "commit")]
    range: Option<String>,
    /// Check the tree of one commit (no checkout needed).
    #[arg(long, value_name = "REV")]
    commit: Option<String>,
    /// Check what is staged for the next commit (the index), not the
    /// working tree: what a pre-commit hook must judge.
    #[arg(long, conflicts_with_all = ["range", "commit", "render"])]
    staged: bool,
    /// With --range: fail when any commit introduces a denial, even one fixed later.
    #[arg(long, requires = "range")]
    every_commit_must_pass: bool,
    /// With --range: changes to policies/ are denials, not warnings.
    #[arg(long, requires = "range")]
    protect_policies: bool,
    /// Keep per-file results between runs, in DIR (default: the user's cache
    /// directory, $XDG_CACHE_HOME/socle or ~/.cache/socle, one folder per
    /// repository; never inside the repository). Safe to delete; safe to
    /// share between concurrent runs.
    // `=` required: `--cache .` must not read as a cache in "." and no DIR.
    #[arg(long, value_name = "DIR", num_args = 0..=1, require_equals = true)]
    #[allow(clippy::option_option)]
    cache: Option<Option<std::path::PathBuf>>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FailOn {
    Deny,
    Warn,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// List every embedded rule.
    List {
        /// `json`: every rule with its severity, title, remediation,
        /// example and profile.
        #[arg(long, value_enum, default_value = "text")]
        format: ListFormat,
    },
    /// Show one rule with its remediation and an example it rejects.
    Explain {
        /// Rule id, e.g. SOC-K8S-001.
        id: String,
    },
    /// Run the test_ rules of *_test.rego files (embedded, and DIR/policies when given).
    Test {
        /// A repository whose policies/ to test as well.
        dir: Option<PathBuf>,
        /// Parse repository policies as Rego v0.
        #[arg(long)]
        rego_v0: bool,
        #[command(flatten)]
        bounds: PolicyBounds,
    },
}

/// The bounds of the repository's own policies, which run in a process
/// of their own: hitting one is a SOC-POL-001 finding naming it.
#[derive(clap::Args)]
struct PolicyBounds {
    /// Time limit of one repository-policy query (one rule on one file),
    /// in milliseconds.
    #[arg(long, default_value_t = 5000, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(1..))]
    policy_timeout: u64,
    /// Memory the repository policies' evaluation may use, in MiB.
    #[arg(long, default_value_t = 1024, value_name = "MIB",
          value_parser = clap::value_parser!(u64).range(16..=1 << 20))]
    policy_memory: u64,
}

impl PolicyBounds {
    fn bounds(&self) -> checker::sandbox::Bounds {
        checker::sandbox::Bounds {
            time: std::time::Duration::from_millis(self.policy_timeout),
            memory: self.policy_memory << 20,
        }
    }
}

#[derive(clap::Args)]
struct NewArgs {
    /// Client spec (socle.yaml; `-` reads it from standard input). Without
    /// it, the embedded example (client "acme").
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,
    /// Output directory [default: ./<client slug>-platform].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Replace a non-empty output directory (refused when it holds a git
    /// repository with uncommitted changes, untracked files or unpushed commits).
    #[arg(long)]
    force: bool,
    /// With --force: replace the directory even though that destroys its
    /// repository's uncommitted changes, untracked files and unpushed commits.
    #[arg(long, requires = "force")]
    discard_work: bool,
    /// Do not create a git repository.
    #[arg(long)]
    no_git: bool,
    /// Author of the initial commit, "Name <email>" (overrides the spec).
    #[arg(long, value_name = "NAME <EMAIL>")]
    author: Option<String>,
    /// Render from this blueprint directory instead of the embedded one.
    #[arg(long, value_name = "DIR")]
    blueprints: Option<PathBuf>,
    /// Read environment defaults from this directory instead of the embedded ones.
    #[arg(long, value_name = "DIR")]
    environments: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Subcommand)]
enum SchemaCommand {
    /// The report of `socle check --format json`.
    Report,
    /// The client spec, socle.yaml.
    Spec,
    /// The check configuration, socle-check.yaml.
    Config,
    /// The system model the system rules read.
    System,
}

#[derive(Subcommand)]
enum SpecCommand {
    /// Print a commented example spec.
    Example,
    /// Print the JSON Schema of socle.yaml.
    Schema,
}

/// An error that maps to a specific exit code.
#[derive(Debug)]
struct Exit(u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for Exit {}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let _ = COLOUR.set(decide_colour(cli.color));
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err:#}");
            ExitCode::from(err.downcast_ref::<Exit>().map(|e| e.0).unwrap_or(2))
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Spec(SpecCommand::Example) => {
            std::io::stdout().write_all(spec::EXAMPLE.as_bytes())?;
            Ok(0)
        }
        Command::Schema(which) => {
            let schema = match which {
                SchemaCommand::Report => checker::report::json_schema(),
                SchemaCommand::Spec => {
                    schema::spec_schema(&model::environment_names(&Tree::embedded_environments()))
                }
                SchemaCommand::Config => checker::config::schema(),
                SchemaCommand::System => checker::system::input::schema(),
            };
            writeln!(
                std::io::stdout(),
                "{}",
                serde_json::to_string_pretty(&schema)?
            )?;
            Ok(0)
        }
        Command::Spec(SpecCommand::Schema) => {
            let names = model::environment_names(&Tree::embedded_environments());
            let text = serde_json::to_string_pretty(&schema::spec_schema(&names))?;
            writeln!(std::io::stdout(), "{text}")?;
            Ok(0)
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
        Command::System(SystemCommand::Schema) => {
            let schema = checker::system::input::schema();
            writeln!(
                std::io::stdout(),
                "{}",
                serde_json::to_string_pretty(&schema)?
            )?;
            Ok(0)
        }
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

fn check(args: CheckArgs) -> anyhow::Result<u8> {
    if args.config_schema {
        let text = serde_json::to_string_pretty(&checker::config::schema())?;
        writeln!(std::io::stdout(), "{text}")?;
        return Ok(0);
    }
    if args.format.iter().filter(|o| o.path.is_none()).count() > 1 {
        anyhow::bail!(
            "--format: more than one report goes to stdout; write all but one to a file (FORMAT=FILE)"
        );
    }
    if !args.dir.is_dir() {
        anyhow::bail!(
            "{}: not a directory; pass the repository to check",
            args.dir.display()
        );
    }
    let options = checker::Options {
        local_policies: !args.no_local_policies,
        rego_v0: args.rego_v0,
        policy_bounds: args.bounds.bounds(),
        namespaces: if args.all_namespaces {
            Vec::new()
        } else {
            args.namespace.clone()
        },
        data: if args.data.is_empty() {
            None
        } else {
            Some(checker::data::load(&args.data)?)
        },
        combine: args.combine,
        render_root: args.render.then(|| args.dir.clone()),
        cache_dir: match &args.cache {
            None => None,
            Some(dir) => match checker::cache::location(&args.dir, dir.as_deref()) {
                Ok(dir) => Some(dir),
                // Only speed is lost: the check runs in full.
                Err(e @ checker::cache::LocationError::NoUserCache) => {
                    eprintln!("warning: {e}");
                    None
                }
                Err(e) => return Err(e.into()),
            },
        },
    };
    let outcome = if let Some(spec) = &args.range {
        let range = checker::range::RangeOptions {
            every_commit_must_pass: args.every_commit_must_pass,
            protect_policies: args.protect_policies,
        };
        checker::range::check_range(&args.dir, spec, &options, &range)?
    } else if let Some(rev) = &args.commit {
        checker::range::check_commit(&args.dir, rev, &options)?
    } else if args.staged {
        checker::range::check_staged(&args.dir, &options)?
    } else {
        checker::check_dir(&args.dir, &options)?
    };
    for output in &args.format {
        match &output.path {
            Some(path) => {
                let text =
                    report::render(output.format, &outcome, &report::Style { colour: false });
                fs_err::write(path, text)?;
            }
            None => {
                let colour = output.format == Format::Text && colour_stdout();
                let text = report::render(output.format, &outcome, &report::Style { colour });
                std::io::stdout().write_all(text.as_bytes())?;
            }
        }
    }
    if args.format.iter().any(|o| o.format == Format::Github) {
        if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
            use std::io::Write as _;
            let mut f = fs_err::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            f.write_all(report::summary_markdown(&outcome).as_bytes())?;
        }
    }
    let failing = outcome.count(Severity::Deny)
        + if args.fail_on == FailOn::Warn {
            outcome.count(Severity::Warn)
        } else {
            0
        };
    Ok(if failing > 0 { 1 } else { 0 })
}

fn graph(
    dir: &Path,
    env: Option<&str>,
    format: checker::system::graph::GraphFormat,
) -> anyhow::Result<u8> {
    if !dir.is_dir() {
        anyhow::bail!("{}: not a directory; pass the repository", dir.display());
    }
    let input = checker::files::Input::from_dir(dir)?;
    let mut systems = checker::system::model_files(&input.files);
    let known: Vec<String> = systems.iter().map(|s| s.environment.clone()).collect();
    if let Some(env) = env {
        systems.retain(|s| s.environment == env);
        if systems.is_empty() {
            anyhow::bail!(
                "no environment {env:?} in {}; known: {}",
                dir.display(),
                known.join(", ")
            );
        }
    }
    if format == checker::system::graph::GraphFormat::Json {
        // With each place's line resolved to the field it names.
        let mut models = checker::system::model_json(&input.files);
        models.retain(|m| env.is_none_or(|e| m["environment"] == e));
        writeln!(
            std::io::stdout(),
            "{}",
            serde_json::to_string_pretty(&models)?
        )?;
        return Ok(0);
    }
    let text = checker::system::graph::render(&systems, format);
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(0)
}

fn secrets_list(
    dir: &Path,
    env: Option<&str>,
    format: socle::secrets::SecretsFormat,
) -> anyhow::Result<u8> {
    let (listing, warnings) = socle::secrets::list(dir, env)?;
    for w in &warnings {
        let at = w.line.map(|l| format!(":{l}")).unwrap_or_default();
        eprintln!(
            "warning: {}{at}: {}; ExternalSecrets in it are not listed",
            w.file, w.message
        );
    }
    let text = match format {
        socle::secrets::SecretsFormat::Text => socle::secrets::render_text(&listing),
        socle::secrets::SecretsFormat::Json => {
            format!("{}\n", serde_json::to_string_pretty(&listing)?)
        }
    };
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(0)
}

fn hook_install(dir: &Path, force: bool) -> anyhow::Result<u8> {
    let hooks = socle::git::hooks_dir(dir)?;
    if !force && !socle::git::is_inside_repository(dir, &hooks) {
        anyhow::bail!(
            "core.hooksPath points at {}, outside this repository: a hook there runs for every repository that uses it; pass --force to install it there anyway",
            hooks.display()
        );
    }
    let path = hooks.join("pre-commit");
    if let Ok(existing) = fs_err::read_to_string(&path) {
        if existing != HOOK && !OLD_HOOKS.contains(&existing.as_str()) && !force {
            anyhow::bail!(
                "{} exists and was not written by socle; pass --force to replace it",
                path.display()
            );
        }
    }
    fs_err::create_dir_all(&hooks)?;
    fs_err::write(&path, HOOK)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    writeln!(std::io::stdout(), "Installed {}", path.display())?;
    Ok(0)
}

fn policy(cmd: PolicyCommand) -> anyhow::Result<u8> {
    let catalog = socle::core::catalog::Catalog::embedded();
    let mut w = std::io::stdout().lock();
    match cmd {
        PolicyCommand::List { format } => {
            match format {
                ListFormat::Text => {
                    for r in &catalog.rules {
                        writeln!(w, "{:<14} {:<5} {}", r.id, r.severity, r.title)?;
                    }
                }
                ListFormat::Json => {
                    writeln!(w, "{}", serde_json::to_string_pretty(&catalog.rules)?)?;
                }
            }
            Ok(0)
        }
        PolicyCommand::Explain { id } => {
            let Some(r) = catalog.get(&id) else {
                anyhow::bail!("no rule {id:?}; `socle policy list` shows them all");
            };
            writeln!(
                w,
                "{} ({}): {}

Remediation: {}

Example it rejects:
",
                r.id, r.severity, r.title, r.remediation
            )?;
            for line in r.example.lines() {
                writeln!(w, "    {line}")?;
            }
            if r.profile.as_deref() == Some("platform") {
                writeln!(w, "\nProfile: platform (applies to repositories with a socle.lock, or with `rules: {{profile: platform}}` in socle-check.yaml)")?;
            }
            Ok(0)
        }
        PolicyCommand::Test {
            dir,
            rego_v0,
            bounds,
        } => {
            let mut results = checker::testing::embedded()?;
            if let Some(dir) = dir {
                let input = checker::files::Input::from_dir(&dir)?;
                results.extend(checker::testing::local(
                    &input.files,
                    rego_v0,
                    bounds.bounds(),
                )?);
            }
            let failed = results.iter().filter(|r| !r.passed).count();
            for r in &results {
                let status = if r.passed { "PASS" } else { "FAIL" };
                let detail = if r.detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", r.detail)
                };
                writeln!(w, "{status} {}: {}{detail}", r.module, r.name)?;
            }
            writeln!(w, "{} passed, {failed} failed", results.len() - failed)?;
            Ok(if failed > 0 { 1 } else { 0 })
        }
    }
}

fn load_tree(dir: Option<&Path>, embedded: fn() -> Tree) -> anyhow::Result<Tree> {
    match dir {
        Some(dir) => Ok(Tree::from_dir(dir)?),
        None => Ok(embedded()),
    }
}

fn new(args: NewArgs) -> anyhow::Result<u8> {
    let blueprint = load_tree(args.blueprints.as_deref(), Tree::embedded_blueprint)?;
    let environments = load_tree(args.environments.as_deref(), Tree::embedded_environments)?;
    let (spec_text, origin) = match &args.spec {
        Some(path) if path.as_os_str() == "-" => (spec::read_file(path)?, "(stdin)".to_owned()),
        Some(path) => (spec::read_file(path)?, path.display().to_string()),
        None => (spec::EXAMPLE.to_owned(), "embedded example spec".to_owned()),
    };
    let cli_author = match &args.author {
        Some(text) => Some(Identity::parse(text).with_context(|| {
            format!("--author {text:?}: expected \"Name <email>\", e.g. --author \"Jane Doe <jane@acme.example>\"")
        })?),
        None => None,
    };

    // The same policies CI runs, on the files in memory: a denial here is a
    // blueprint bug, and nothing is written.
    let (generated, outcome) = socle::repository::render_checked(
        &Inputs {
            spec_text: &spec_text,
            spec_origin: &origin,
            blueprint: &blueprint,
            environments: &environments,
        },
        &checker::Options {
            local_policies: false,
            ..Default::default()
        },
    )?;
    if outcome.count(Severity::Deny) > 0 {
        let text = report::render(Format::Text, &outcome, &report::Style { colour: false });
        return Err(anyhow::anyhow!(
            "the rendered repository violates the embedded policies (a blueprint bug); nothing was written:\n{text}"
        ));
    }
    let spec = &generated.model.spec;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}-platform", spec.client.slug)));
    let author = cli_author.or_else(|| {
        spec.author.as_ref().map(|a| Identity {
            name: a.name.clone(),
            email: a.email.clone(),
        })
    });
    let message = format!(
        "Initial platform for {}\n\nRendered by socle {} from blueprint {} {}.\n",
        spec.client.name.lines().next().unwrap_or_default(),
        env!("CARGO_PKG_VERSION"),
        generated.model.manifest.name,
        generated.model.manifest.version,
    );
    let branch = spec.repository.revision.clone();
    let mut commit = None;
    let replace = output::Replace {
        force: args.force,
        discard_work: args.discard_work,
    };
    output::write_atomically(&out, &generated.files, replace, |dir| {
        if args.no_git {
            return Ok(());
        }
        commit = Some(socle::git::init_and_commit(
            dir,
            &generated.files,
            &branch,
            author.as_ref(),
            &message,
        )?);
        Ok::<(), socle::git::GitError>(())
    })??;

    if !args.quiet {
        print_summary(&out, &generated, commit.as_deref())?;
    }
    Ok(0)
}

fn print_summary(
    out: &Path,
    generated: &generate::Generated,
    commit: Option<&str>,
) -> std::io::Result<()> {
    let mut w = std::io::stdout().lock();
    let model = &generated.model;
    writeln!(
        w,
        "Rendered {} files for {} into {} ({} components, {} environments).",
        generated.files.len(),
        model.spec.client.name.lines().next().unwrap_or_default(),
        out.display(),
        model.components.len(),
        model.envs().len(),
    )?;
    for (area, count) in generate::areas(&generated.files) {
        writeln!(w, "  {area:<16} {count:>4}")?;
    }
    match commit {
        Some(id) => writeln!(
            w,
            "Committed {} on {}.",
            &id[..id.len().min(12)],
            model.spec.repository.revision
        )?,
        None => writeln!(w, "No git repository created (--no-git).")?,
    }
    let branch = &model.spec.repository.revision;
    writeln!(w, "\nNext steps:")?;
    writeln!(w, "  cd {}", out.display())?;
    if commit.is_none() {
        writeln!(
            w,
            "  git init -b {branch} && git add -A && git commit -m \"Platform rendered by socle\""
        )?;
    }
    writeln!(w, "  git remote add origin {}", model.spec.repository.url)?;
    writeln!(w, "  git push -u origin {branch}")?;
    if commit.is_some() {
        // A clone does not fetch refs/socle/*: a teammate's `socle update`
        // needs the pristine render, so it is pushed too.
        writeln!(
            w,
            "  git push origin refs/socle/pristine  # the render `socle update` merges from"
        )?;
    }
    if let Some(first) = model.envs().first() {
        let env = &first.name;
        writeln!(
            w,
            "  # then bootstrap ArgoCD for {env}: see README.md, \"Bootstrap\""
        )?;
    }
    Ok(())
}

fn colour_stdout() -> bool {
    COLOUR.get().copied().unwrap_or(false)
}

/// A unified diff, coloured for a terminal.
fn paint(diff: &str, colour: bool) -> String {
    if !colour {
        return diff.to_owned();
    }
    diff.lines()
        .map(|l| {
            let code = if l.starts_with("+++") || l.starts_with("---") {
                "1"
            } else if l.starts_with('+') {
                "32"
            } else if l.starts_with('-') {
                "31"
            } else if l.starts_with("@@") {
                "36"
            } else {
                ""
            };
            if code.is_empty() {
                format!("{l}\n")
            } else {
                format!("\x1b[{code}m{l}\x1b[0m\n")
            }
        })
        .collect()
}

fn diff(args: DiffArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    if let Some(pair) = &args.env {
        let Some((from, to)) = pair
            .split_once("..")
            .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        else {
            anyhow::bail!("--env {pair:?}: expected two environments, e.g. --env dev..prod");
        };
        let components = socle::update::envdiff::compare(&args.dir, from, to)?;
        let flagged_total = components
            .iter()
            .flat_map(|c| &c.differences)
            .filter(|d| d.flag.is_some())
            .count();
        if args.format == ListFormat::Json {
            let report = serde_json::json!({
                "from": from,
                "to": to,
                "components": components,
                "unexpected": flagged_total,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            return Ok(u8::from(flagged_total > 0));
        }
        let mut flagged = 0;
        for c in &components {
            writeln!(out, "{}", c.component)?;
            for d in &c.differences {
                let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unset)".into());
                write!(out, "  {}: {} -> {}", d.key, show(&d.from), show(&d.to))?;
                if let Some(flag) = &d.flag {
                    flagged += 1;
                    write!(out, "   UNEXPECTED: {flag}")?;
                }
                writeln!(out)?;
            }
        }
        writeln!(
            out,
            "{} component(s) differ between {from} and {to}; {flagged} unexpected difference(s).",
            components.len()
        )?;
        return Ok(u8::from(flagged > 0));
    }
    let drift = socle::update::drift(&args.dir, args.spec.as_deref())?;
    if args.format == ListFormat::Json {
        let files: Vec<serde_json::Value> = drift
            .changes
            .iter()
            .map(|c| {
                let (added, deleted) = socle::update::counts(c);
                serde_json::json!({
                    "path": c.path,
                    "status": c.label(),
                    "drift": c.status.is_drift(),
                    "added": added,
                    "deleted": deleted,
                    "diff": c.status.is_drift().then(|| socle::update::unified(c)),
                })
            })
            .collect();
        let drifted = drift.changes.iter().filter(|c| c.status.is_drift()).count();
        let report = serde_json::json!({"files": files, "drifted": drifted});
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(u8::from(drifted > 0));
    }
    let colour = colour_stdout();
    let mut drifted = 0;
    for c in &drift.changes {
        if args.stat {
            let (add, del) = socle::update::counts(c);
            writeln!(out, "{:<48} +{add:<5} -{del:<5} {}", c.path, c.label())?;
        } else if c.status.is_drift() {
            writeln!(out, "# {} ({})", c.path, c.label())?;
            write!(out, "{}", paint(&socle::update::unified(c), colour))?;
        }
        drifted += usize::from(c.status.is_drift());
    }
    let team: Vec<&str> = drift
        .changes
        .iter()
        .filter(|c| !c.status.is_drift())
        .map(|c| c.path.as_str())
        .collect();
    if !args.stat && !team.is_empty() {
        writeln!(
            out,
            "# edited or deleted here (kept by `socle update`): {}",
            team.join(", ")
        )?;
    }
    writeln!(
        out,
        "{drifted} file(s) would change; {} file(s) edited or deleted here.",
        team.len()
    )?;
    Ok(u8::from(drifted > 0))
}

fn update(args: UpdateArgs) -> anyhow::Result<u8> {
    let drift = socle::update::drift(&args.dir, args.spec.as_deref())?;
    let interrupted = socle::update::Journal::read(&args.dir)?;
    let mut out = std::io::stdout().lock();
    if let Some(journal) = &interrupted {
        let done = journal.done(&args.dir)?.len();
        let journal_path = socle::update::Journal::path(&args.dir)?;
        let what = format!(
            "an earlier `socle update` (spec {}) was interrupted after writing {done} of {} file(s)",
            journal.spec,
            journal.steps.len()
        );
        if args.dry_run {
            writeln!(out, "note: {what}; `socle update --resume` finishes it.")?;
        } else if !args.resume {
            anyhow::bail!(
                "{}: {what}; run `socle update --resume` (with the same --spec) to finish it, or, to abandon it, restore the files it wrote (`git status` lists them) and delete {}",
                args.dir.display(),
                journal_path.display()
            );
        } else if !journal.matches(&drift) {
            anyhow::bail!(
                "{}: {what}, but from a different render than this one; resume it with the spec it was applying (`socle update --resume --spec {}`), or abandon it: restore the files it wrote and delete {}",
                args.dir.display(),
                journal.spec,
                journal_path.display()
            );
        }
    } else if args.resume {
        anyhow::bail!(
            "{}: no interrupted `socle update` to resume; run `socle update` without --resume",
            args.dir.display()
        );
    }
    let resuming = interrupted.as_ref().filter(|_| args.resume);
    if !args.allow_dirty && !args.dry_run {
        let mut dirty = socle::update::dirty_files(&args.dir)?;
        // What the interrupted update wrote is expected to differ from HEAD.
        if let Some(journal) = resuming {
            dirty.retain(|p| p != socle::lock::PATH && !journal.steps.iter().any(|s| &s.path == p));
        }
        if !dirty.is_empty() {
            anyhow::bail!(
                "{}: {} tracked file(s) differ from HEAD ({}{}); commit or stash them first, or pass --allow-dirty",
                args.dir.display(),
                dirty.len(),
                dirty.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
                if dirty.len() > 5 { ", ..." } else { "" }
            );
        }
    }
    let mut steps = socle::update::plan(&drift)?;
    let (journal, already) = match resuming {
        Some(journal) => {
            let gone = journal.resume(&args.dir, &mut steps)?;
            (journal.clone(), gone)
        }
        None => (socle::update::Journal::new(&drift, &steps), Vec::new()),
    };
    let json = args.format == ListFormat::Json;
    let mut conflicts = 0;
    let mut planned: Vec<serde_json::Value> = Vec::new();
    for s in &already {
        conflicts += usize::from(s.action == "CONFLICT");
        planned.push(serde_json::json!({"action": s.action, "path": s.path, "written_before_interruption": true}));
        if !json {
            writeln!(
                out,
                "{:<9} {} (written before the interruption)",
                s.action, s.path
            )?;
        }
    }
    for s in &steps {
        conflicts += usize::from(matches!(s.action, socle::update::Action::Conflict(_)));
        planned.push(serde_json::json!({
            "action": s.action.label(),
            "path": s.path,
            "status": s.status.label(),
            "note": s.note,
        }));
        if json {
            continue;
        }
        write!(
            out,
            "{:<9} {} ({})",
            s.action.label(),
            s.path,
            s.status.label()
        )?;
        if !s.note.is_empty() {
            write!(out, ": {}", s.note)?;
        }
        writeln!(out)?;
    }
    if args.dry_run {
        if json {
            let report =
                serde_json::json!({"dry_run": true, "steps": planned, "conflicts": conflicts});
            writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        } else {
            writeln!(
                out,
                "{} file(s) in the plan; nothing written (--dry-run).",
                steps.len()
            )?;
        }
        return Ok(0);
    }
    // The check reads the repository's check cache (what `socle check
    // --cache` and the pre-commit hook keep): only the files the update
    // changed are evaluated. Without a user cache directory it runs in full.
    let recheck = || -> anyhow::Result<checker::Outcome> {
        Ok(checker::check_files(
            checker::files::Input::from_dir(&args.dir)?,
            &checker::Options {
                cache_dir: checker::cache::location(&args.dir, None).ok(),
                ..Default::default()
            },
        )?)
    };
    let (pristine, outcome) = socle::update::apply(&drift, &steps, &journal, recheck)?;
    let outcome = outcome?;
    let (added, removed, changed) =
        socle::update::policy_changes(&drift.lock, &drift.generated.files);
    let failed = conflicts > 0 || outcome.count(Severity::Deny) > 0;
    if json {
        let report = serde_json::json!({
            "dry_run": false,
            "steps": planned,
            "conflicts": conflicts,
            "pristine": pristine,
            "policies": {"added": added, "removed": removed, "changed": changed},
            "denials": outcome.count(Severity::Deny),
            "warnings": outcome.count(Severity::Warn),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(u8::from(failed));
    }
    writeln!(
        out,
        "updated {} file(s), {conflicts} conflict(s); last render recorded as {}.",
        steps.len() + already.len(),
        &pristine[..pristine.len().min(10)]
    )?;
    if changed || !added.is_empty() || !removed.is_empty() {
        writeln!(
            out,
            "policies changed since the last render: {} rule(s) added{}, {} removed{}.",
            added.len(),
            if added.is_empty() {
                String::new()
            } else {
                format!(" ({})", added.join(", "))
            },
            removed.len(),
            if removed.is_empty() {
                String::new()
            } else {
                format!(" ({})", removed.join(", "))
            },
        )?;
    } else {
        writeln!(out, "policies unchanged since the last render.")?;
    }
    writeln!(
        out,
        "socle check: {} denial(s), {} warning(s).",
        outcome.count(Severity::Deny),
        outcome.count(Severity::Warn)
    )?;
    Ok(u8::from(failed))
}

fn promote(
    from: &str,
    to: &str,
    dir: &Path,
    dry_run: bool,
    format: ListFormat,
) -> anyhow::Result<u8> {
    let plan = socle::update::envdiff::promote(dir, from, to, !dry_run)?;
    let (done, manual) = (&plan.done, &plan.manual);
    let mut out = std::io::stdout().lock();
    if format == ListFormat::Json {
        let files: Vec<serde_json::Value> = plan
            .files
            .iter()
            .map(|(file, (old, new))| {
                let diff = similar::TextDiff::from_lines(old, new)
                    .unified_diff()
                    .header(&format!("a/{file}"), &format!("b/{file}"))
                    .to_string();
                serde_json::json!({"path": file, "diff": diff})
            })
            .collect();
        let (denials, warnings) = if dry_run {
            (None, None)
        } else {
            let outcome = checker::check_files(
                checker::files::Input::from_dir(dir)?,
                &checker::Options::default(),
            )?;
            (
                Some(outcome.count(Severity::Deny)),
                Some(outcome.count(Severity::Warn)),
            )
        };
        let report = serde_json::json!({
            "from": from,
            "to": to,
            "dry_run": dry_run,
            "promoted": done,
            "not_promoted": manual,
            "files": files,
            "denials": denials,
            "warnings": warnings,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(u8::from(denials.unwrap_or(0) > 0));
    }
    let colour = colour_stdout();
    for (file, (old, new)) in &plan.files {
        let diff = similar::TextDiff::from_lines(old, new)
            .unified_diff()
            .header(&format!("a/{file}"), &format!("b/{file}"))
            .to_string();
        write!(out, "{}", paint(&diff, colour))?;
    }
    let verb = if dry_run { "would promote" } else { "promoted" };
    for p in done {
        writeln!(out, "{verb} {} {}: {} -> {}", p.file, p.key, p.from, p.to)?;
    }
    for m in manual {
        writeln!(out, "not promoted: {m}")?;
    }
    if dry_run {
        writeln!(
            out,
            "{} setting(s) would be promoted from {from} to {to} (--dry-run: nothing written).",
            done.len()
        )?;
        return Ok(0);
    }
    let outcome = checker::check_files(
        checker::files::Input::from_dir(dir)?,
        &checker::Options::default(),
    )?;
    writeln!(
        out,
        "{} setting(s) promoted from {from} to {to}; socle check: {} denial(s), {} warning(s).",
        done.len(),
        outcome.count(Severity::Deny),
        outcome.count(Severity::Warn)
    )?;
    Ok(u8::from(outcome.count(Severity::Deny) > 0))
}
