//! `rolemine generate`.

use std::time::Instant;

use anyhow::Context;
use rolemine_dataset::planted::{Planted, PlantedSpec};
use serde_json::json;

use crate::args::GenerateArgs;
use crate::progress::Progress;

/// Writes planted data to `--out` and prints a one-line JSON summary.
pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let spec = PlantedSpec {
        identities: args.identities,
        entitlements: args.entitlements,
        roles: args.roles,
        role_size_min: args.role_size_min,
        role_size_max: args.role_size_max,
        birthright: args.birthright,
        drop_rate: args.drop_rate,
        extra_per_identity: args.extra,
        sources: args.sources,
        second_role_share: args.second_role_share,
        third_role_share: args.third_role_share,
        seed: args.seed,
        ..PlantedSpec::default()
    };
    for (flag, share) in [
        ("--second-role-share", spec.second_role_share),
        ("--third-role-share", spec.third_role_share),
        ("--drop-rate", spec.drop_rate),
    ] {
        if !(0.0..=1.0).contains(&share) {
            anyhow::bail!("{flag} must be a probability from 0 to 1, got {share}");
        }
    }
    let needed = u64::from(spec.birthright) + u64::from(spec.roles) * u64::from(spec.role_size_max);
    if needed > u64::from(spec.entitlements) {
        anyhow::bail!(
            "--entitlements {} is too few for {} birthright entitlements and {} roles of up to {}",
            spec.entitlements,
            spec.birthright,
            spec.roles,
            spec.role_size_max
        );
    }
    let started = Instant::now();
    let planted = Planted::new(spec);
    let progress = Progress::new(
        false,
        "identities",
        "{msg} [{bar:40}] {pos}/{len} identities ({eta})",
    );
    progress.stage("generating");
    let total = Some(u64::from(spec.identities));
    planted
        .write(&args.out, |done| progress.update(u64::from(done), total))
        .with_context(|| format!("cannot write to {}", args.out.display()))?;
    progress.finish();
    super::output_line(json!({
        "out": args.out.display().to_string(),
        "identities": spec.identities,
        "entitlements": spec.entitlements,
        "plantedRoles": spec.roles,
        "seconds": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    }))?;
    Ok(())
}
