//! `indepgen`: writes four agencies' synthetic extracts, their Braid mapping
//! files and the ground truth into a folder.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;

/// Generate synthetic agency extracts with ground truth.
#[derive(Debug, Parser)]
#[command(name = "indepgen", version)]
struct Args {
    /// Folder to write into (created if needed).
    #[arg(long)]
    out: PathBuf,
    /// Children to generate; adults are added as household members and
    /// perpetrators.
    #[arg(long, default_value_t = 4000)]
    people: usize,
    /// Seed of the random stream.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of people of origins other than British.
    #[arg(long, default_value_t = 0.33)]
    diverse_share: f64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.people > 0, "--people must be at least 1");
    anyhow::ensure!((0.0..=1.0).contains(&args.diverse_share), "--diverse-share must lie between 0 and 1");
    let config = indepgen::Config { people: args.people, seed: args.seed, diverse_share: args.diverse_share, ..indepgen::Config::default() };
    let started = Instant::now();
    let output = indepgen::generate(&config);
    let generated = started.elapsed();
    let files = output.write_to(&args.out)?;
    for file in &files {
        println!("wrote {}", file.display());
    }
    print!("{}", output.summary());
    println!("generated in {:.2}s, written in {:.2}s", generated.as_secs_f64(), (started.elapsed() - generated).as_secs_f64());
    Ok(())
}
