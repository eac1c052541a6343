//! `socle check`: a repository, a commit, the index or a range of commits,
//! judged by the policies, in the report formats asked for.

use std::io::Write;

use socle::check::report::{self, Format};
use socle::check::{self as checker, Severity};

use super::colour_stdout;
use crate::cli::{CheckArgs, FailOn};

pub(crate) fn check(args: CheckArgs) -> anyhow::Result<u8> {
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
        // A range reports findings across commits, not one tree's lines.
        snippets: args.range.is_none() && args.format.iter().any(|o| o.format == Format::Html),
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
