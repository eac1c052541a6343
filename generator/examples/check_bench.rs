//! Benchmark of `socle check` on a repository: the whole check (reading,
//! parsing, input building, evaluation, exceptions) against the bare regorus
//! evaluation of the same inputs, measured in the same run.
//!
//! `cargo run --release --example check_bench -- DIR [RUNS]`

use std::time::{Duration, Instant};

use socle::check::engine::Embedded;
use socle::check::{self, files::Input, parse};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(11);
    let options = check::Options {
        local_policies: false,
        ..Default::default()
    };

    let mut full = Vec::new();
    let mut bare = Vec::new();
    let mut system = Vec::new();
    let mut documents = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let outcome = check::check_files(Input::from_dir(&dir)?, &options)?;
        full.push(t.elapsed());
        documents = outcome.documents;

        // Same inputs, prepared outside the timed region; the engine is the
        // compiled one `check` uses, cloned once as `check` does.
        let input = Input::from_dir(&dir)?;
        let parsed = parse::parse_all(&input.files);
        let embedded = Embedded::load()?;
        let paths: Vec<String> = input.files.iter().map(|(p, _)| p.clone()).collect();
        let prepared: Vec<(&str, regorus::Value)> = embedded
            .inputs(&parsed.documents, &parsed.texts, &paths)
            .into_iter()
            .map(|(rule, v)| (rule, regorus::Value::from(v)))
            .collect();
        let mut engine = embedded.engine();
        let t = Instant::now();
        for (rule, value) in prepared {
            engine.set_input(value);
            engine.eval_rule(rule.to_owned())?;
        }
        bare.push(t.elapsed());

        // The system simulation alone (model and rules, on the parsed
        // documents), with nothing remembered from an earlier run.
        let local = socle::check::engine::Local::load(&[], &options)?;
        let facts = socle::core::charts::ChartFacts::embedded();
        let docs: Vec<&parse::Document> = parsed.documents.iter().collect();
        let versions = std::collections::HashMap::new();
        let mut memo = socle::check::system::Memo::default();
        let t = Instant::now();
        socle::check::system::evaluate(
            &embedded,
            &local,
            &docs,
            &input.files,
            &versions,
            &facts,
            &mut memo,
        )?;
        system.push(t.elapsed());
    }
    let (f, b, sys) = (median(full), median(bare), median(system));
    println!(
        "socle check {} ({documents} documents), median of {runs}: full {:.1} ms, bare regorus evaluation {:.1} ms, ratio {:.2}x",
        dir.display(),
        f.as_secs_f64() * 1e3,
        b.as_secs_f64() * 1e3,
        f.as_secs_f64() / b.as_secs_f64()
    );
    println!(
        "system simulation (model and rules, cold), median of {runs}: {:.1} ms ({:.0}% of the whole check)",
        sys.as_secs_f64() * 1e3,
        100.0 * sys.as_secs_f64() / f.as_secs_f64()
    );
    Ok(())
}
