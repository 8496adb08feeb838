//! Synthetic access data with planted roles, for tests and benchmarks.
//!
//! Each identity belongs to one planted role (its job function), and with the overlap knobs to a
//! second or third one too (people hold several roles), and holds its roles' entitlements, minus
//! a few dropped at random, plus the birthright entitlements everyone has, plus a few random
//! extra entitlements. Department and job title follow the role (with some
//! noise); location is random. A fraction of the planted roles is written as existing roles.
//! Everything derives from the seed: the same spec gives byte-identical files.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use roaring::RoaringBitmap;
use rolemine_engine::{AccessMatrixBuilder, Attribute};

use crate::load::{AccessData, Entitlement, ExistingRole, Source, Usage};

/// The generator's knobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlantedSpec {
    /// Identities to generate.
    pub identities: u32,
    /// Entitlements in all (role, birthright and noise).
    pub entitlements: u32,
    /// Planted roles.
    pub roles: u32,
    /// Fewest entitlements in a planted role.
    pub role_size_min: u32,
    /// Most entitlements in a planted role.
    pub role_size_max: u32,
    /// Entitlements every identity holds.
    pub birthright: u32,
    /// Probability that a member lacks one of its role's entitlements.
    pub drop_rate: f64,
    /// Mean number of random extra entitlements per identity.
    pub extra_per_identity: f64,
    /// Applications the entitlements belong to.
    pub sources: u32,
    /// Share of planted roles also written to roles.csv as existing roles.
    pub existing_role_share: f64,
    /// Probability that an identity also holds a second planted role.
    pub second_role_share: f64,
    /// Probability that an identity with a second role holds a third one too.
    pub third_role_share: f64,
    /// Probability that an identity's job title is its role's (`<Department> Specialist <n>`,
    /// which is then the role's planted attribute rule); the others are `<Department> Associate`.
    pub title_fidelity: f64,
    /// Share of identities made outliers (written to `planted_outliers.csv`): half of them get
    /// 10 or more entitlements of other departments' roles (two of each, so they hold none of
    /// those roles), half lose half of their role.
    pub outlier_share: f64,
    /// The seed.
    pub seed: u64,
}

impl Default for PlantedSpec {
    /// The recovery scenario: 5k identities, 40 roles of 4-12 entitlements, 3 % dropped, ~2 extra,
    /// 30 % of identities with a second role (so tests see overlapping roles by default).
    fn default() -> Self {
        Self {
            identities: 5_000,
            entitlements: 2_000,
            roles: 40,
            role_size_min: 4,
            role_size_max: 12,
            birthright: 3,
            drop_rate: 0.03,
            extra_per_identity: 2.0,
            sources: 8,
            existing_role_share: 0.1,
            second_role_share: 0.3,
            third_role_share: 0.0,
            title_fidelity: 0.8,
            outlier_share: 0.0,
            seed: 42,
        }
    }
}

impl PlantedSpec {
    /// The benchmark scale: ~30 assignments per identity over 100k entitlements.
    pub fn large(identities: u32) -> Self {
        Self {
            identities,
            entitlements: 100_000,
            roles: (identities / 500).clamp(40, 2_000),
            role_size_min: 18,
            role_size_max: 32,
            birthright: 3,
            // The published scale figures are for one role per identity.
            second_role_share: 0.0,
            ..Self::default()
        }
    }
}

const DEPARTMENTS: [&str; 8] = [
    "Finance",
    "Engineering",
    "Sales",
    "Marketing",
    "Support",
    "Legal",
    "Operations",
    "HR",
];
const LOCATIONS: [&str; 6] = ["Austin", "Miami", "London", "Berlin", "Singapore", "Sydney"];

/// The planted truth and the shape of the generated data.
#[derive(Debug, Clone)]
pub struct Planted {
    /// The spec it came from.
    pub spec: PlantedSpec,
    /// Each planted role's entitlement indices, ascending.
    pub roles: Vec<Vec<u32>>,
    /// Birthright entitlement indices.
    pub birthright: Vec<u32>,
    /// Relative size of each role's membership.
    role_weights: Vec<f64>,
    /// Each role's department index.
    role_department: Vec<usize>,
}

/// One generated identity.
#[derive(Debug, Clone, PartialEq)]
pub struct PlantedIdentity {
    /// Index (the id is `id<index>`).
    pub index: u32,
    /// Its planted role.
    pub role: u32,
    /// The further planted roles it holds (none without the overlap knobs).
    pub more_roles: Vec<u32>,
    /// Entitlement indices held, ascending, unique.
    pub entitlements: Vec<u32>,
    /// Department.
    pub department: &'static str,
    /// Location.
    pub location: &'static str,
    /// Job title.
    pub job_title: String,
    /// Usage days per source index it holds entitlements on.
    pub usage: Vec<(u32, u8)>,
    /// Whether, and how, it was made an outlier.
    pub outlier: Option<OutlierKind>,
}

/// How a planted outlier departs from its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutlierKind {
    /// It holds 10 or more entitlements of roles of other departments (a few of each).
    ForeignAccess,
    /// It lost half of its role's entitlements.
    Stripped,
}

impl OutlierKind {
    /// The name written to `planted_outliers.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutlierKind::ForeignAccess => "foreign_access",
            OutlierKind::Stripped => "stripped",
        }
    }
}

/// Entitlements of other departments' roles a foreign-access outlier gets at least.
pub const FOREIGN_ENTITLEMENTS: usize = 10;
/// Entitlements taken from each foreign role at most.
const FOREIGN_PER_ROLE: usize = 2;

impl Planted {
    /// Draws the planted roles.
    pub fn new(spec: PlantedSpec) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let mut pool: Vec<u32> = (0..spec.entitlements).collect();
        // Fisher–Yates: role and birthright entitlements are drawn without replacement.
        for i in (1..pool.len()).rev() {
            let j = rng.random_range(0..=i);
            pool.swap(i, j);
        }
        let mut next = pool.into_iter();
        let birthright: Vec<u32> = next.by_ref().take(spec.birthright as usize).collect();
        let mut roles = Vec::with_capacity(spec.roles as usize);
        let (low, high) = (
            spec.role_size_min.max(1),
            spec.role_size_max.max(spec.role_size_min.max(1)),
        );
        for _ in 0..spec.roles {
            let size = rng.random_range(low..=high);
            let mut role: Vec<u32> = next.by_ref().take(size as usize).collect();
            role.sort_unstable();
            roles.push(role);
        }
        let role_weights = (0..spec.roles)
            .map(|_| rng.random_range(0.5..1.5))
            .collect();
        let role_department = (0..spec.roles)
            .map(|_| rng.random_range(0..DEPARTMENTS.len()))
            .collect();
        Planted {
            spec,
            roles,
            birthright,
            role_weights,
            role_department,
        }
    }

    /// Source index of an entitlement: contiguous blocks, so a role spans one to a few sources.
    pub fn source_of(&self, entitlement: u32) -> u32 {
        let per_source = self
            .spec
            .entitlements
            .div_ceil(self.spec.sources.max(1))
            .max(1);
        (entitlement / per_source).min(self.spec.sources.max(1) - 1)
    }

    /// Generates identity `index` (independent of every other identity).
    pub fn identity(&self, index: u32) -> PlantedIdentity {
        let spec = &self.spec;
        let mut rng = ChaCha8Rng::seed_from_u64(
            spec.seed ^ (u64::from(index) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let role = self.pick_role(&mut rng);
        // The overlap draws happen only when asked for, so data without overlap stays the same.
        let mut more_roles: Vec<u32> = Vec::new();
        if self.roles.len() > 1 && spec.second_role_share > 0.0 {
            for share in [spec.second_role_share, spec.third_role_share] {
                if !rng.random_bool(share.clamp(0.0, 1.0)) {
                    break;
                }
                let mut extra = self.pick_role(&mut rng);
                while extra == role || more_roles.contains(&(extra as u32)) {
                    extra = (extra + 1) % self.roles.len();
                }
                more_roles.push(u32::try_from(extra).unwrap_or(0));
                if more_roles.len() + 1 >= self.roles.len() {
                    break;
                }
            }
        }
        let mut entitlements: Vec<u32> = self.birthright.clone();
        let held = std::iter::once(role).chain(more_roles.iter().map(|&r| r as usize));
        for planted in held.filter_map(|r| self.roles.get(r)) {
            entitlements.extend(
                planted
                    .iter()
                    .filter(|_| !rng.random_bool(spec.drop_rate.clamp(0.0, 1.0))),
            );
        }
        let whole = spec.extra_per_identity.max(0.0).floor() as u32;
        let extra = whole
            + u32::from(rng.random_bool(
                (spec.extra_per_identity.max(0.0) - f64::from(whole)).clamp(0.0, 1.0),
            ));
        for _ in 0..extra {
            if spec.entitlements > 0 {
                entitlements.push(rng.random_range(0..spec.entitlements));
            }
        }
        entitlements.sort_unstable();
        entitlements.dedup();
        let outlier = self.make_outlier(index, role, &mut entitlements);
        let role_department = self.role_department.get(role).copied().unwrap_or(0);
        let department = if rng.random_bool(0.9) {
            DEPARTMENTS[role_department]
        } else {
            DEPARTMENTS[rng.random_range(0..DEPARTMENTS.len())]
        };
        let job_title = if rng.random_bool(spec.title_fidelity.clamp(0.0, 1.0)) {
            format!("{} Specialist {}", DEPARTMENTS[role_department], role + 1)
        } else {
            format!("{department} Associate")
        };
        let mut sources: Vec<u32> = entitlements.iter().map(|&e| self.source_of(e)).collect();
        sources.sort_unstable();
        sources.dedup();
        let mut usage = Vec::with_capacity(sources.len());
        for s in sources {
            if rng.random_bool(0.9) {
                usage.push((s, rng.random_range(0..=90u8)));
            }
        }
        PlantedIdentity {
            index,
            role: u32::try_from(role).unwrap_or(0),
            more_roles,
            entitlements,
            department,
            location: LOCATIONS[rng.random_range(0..LOCATIONS.len())],
            job_title,
            usage,
            outlier,
        }
    }

    /// Makes identity `index` (of planted role `role`) an outlier with probability
    /// `outlier_share`, changing its entitlements. Draws from a generator of its own, so data
    /// without outliers is unchanged.
    fn make_outlier(
        &self,
        index: u32,
        role: usize,
        entitlements: &mut Vec<u32>,
    ) -> Option<OutlierKind> {
        let share = self.spec.outlier_share.clamp(0.0, 1.0);
        if share == 0.0 || self.roles.len() < 2 {
            return None;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(
            self.spec.seed.rotate_left(17)
                ^ (u64::from(index) + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
        );
        if !rng.random_bool(share) {
            return None;
        }
        let own = self.roles.get(role)?;
        if rng.random_bool(0.5) {
            let department = self.role_department.get(role).copied();
            let mut others: Vec<usize> = (0..self.roles.len())
                .filter(|&r| r != role && self.role_department.get(r).copied() != department)
                .collect();
            if others.is_empty() {
                others = (0..self.roles.len()).filter(|&r| r != role).collect();
            }
            let start = rng.random_range(0..others.len());
            let mut added = 0;
            for k in 0..others.len() {
                // A few of each role, not whole roles: it holds other departments' access
                // without holding their roles.
                let other = &self.roles[others[(start + k) % others.len()]];
                for &e in other.iter().take(FOREIGN_PER_ROLE) {
                    if !entitlements.contains(&e) {
                        entitlements.push(e);
                        added += 1;
                    }
                }
                if added >= FOREIGN_ENTITLEMENTS {
                    break;
                }
            }
            entitlements.sort_unstable();
            Some(OutlierKind::ForeignAccess)
        } else {
            let mut drop: Vec<u32> = own.clone();
            for i in (1..drop.len()).rev() {
                let j = rng.random_range(0..=i);
                drop.swap(i, j);
            }
            drop.truncate(own.len().div_ceil(2));
            entitlements.retain(|e| !drop.contains(e));
            Some(OutlierKind::Stripped)
        }
    }

    /// Each planted role's attribute rule, in the search language: its specialist job title.
    pub fn rule(&self, role: usize) -> String {
        let department = self.role_department.get(role).copied().unwrap_or(0);
        format!(
            "jobTitle:\"{} Specialist {}\"",
            DEPARTMENTS[department],
            role + 1
        )
    }

    /// A planted role drawn by weight (0 when there are none).
    fn pick_role(&self, rng: &mut ChaCha8Rng) -> usize {
        if self.roles.is_empty() {
            return 0;
        }
        let total: f64 = self.role_weights.iter().sum();
        let mut pick = rng.random_range(0.0..total);
        for (r, w) in self.role_weights.iter().enumerate() {
            if pick < *w {
                return r;
            }
            pick -= w;
        }
        self.roles.len() - 1
    }

    /// Indices of the planted roles that are written as existing roles.
    pub fn existing_roles(&self) -> Vec<u32> {
        let count = (self.roles.len() as f64 * self.spec.existing_role_share.clamp(0.0, 1.0))
            .round() as u32;
        (0..count).collect()
    }

    /// Generates everything in memory, as a validated import would load it.
    pub fn to_access_data(&self) -> AccessData {
        let n = self.spec.identities;
        let mut builder = AccessMatrixBuilder::new(n, self.spec.entitlements);
        let mut data = AccessData::default();
        let mut department = attribute("department", &DEPARTMENTS);
        let mut location = attribute("location", &LOCATIONS);
        let mut job_title = Attribute {
            name: "jobTitle".to_owned(),
            ..Attribute::default()
        };
        let mut titles = std::collections::HashMap::new();
        for i in 0..n {
            let identity = self.identity(i);
            for &e in &identity.entitlements {
                builder.push(i, e);
            }
            data.assignment_rows += identity.entitlements.len() as u64;
            data.identity_ids.push(format!("id{i}"));
            data.identity_names.push(format!("Identity {i}"));
            data.identity_emails
                .push(Some(format!("id{i}@example.com")));
            department.codes.push(
                DEPARTMENTS
                    .iter()
                    .position(|d| *d == identity.department)
                    .map(|p| p as u32),
            );
            location.codes.push(
                LOCATIONS
                    .iter()
                    .position(|l| *l == identity.location)
                    .map(|p| p as u32),
            );
            let next = titles.len() as u32;
            let code = *titles.entry(identity.job_title.clone()).or_insert_with(|| {
                job_title.values.push(identity.job_title.clone());
                next
            });
            job_title.codes.push(Some(code));
            data.usage
                .extend(identity.usage.iter().map(|&(source, days)| Usage {
                    identity: i,
                    source,
                    days,
                }));
        }
        data.matrix = builder.build();
        data.attributes = vec![department, location, job_title];
        data.sources = (0..self.spec.sources.max(1))
            .map(|s| Source {
                id: format!("src{s}"),
                name: format!("Application {s}"),
            })
            .collect();
        data.entitlements = (0..self.spec.entitlements)
            .map(|e| Entitlement {
                id: format!("ent{e}"),
                name: format!("Entitlement {e}"),
                attribute: "groups".to_owned(),
                description: None,
                source: self.source_of(e),
            })
            .collect();
        data.roles = self
            .existing_roles()
            .into_iter()
            .map(|r| ExistingRole {
                id: format!("existing{r}"),
                name: format!("Existing role {r}"),
                entitlements: self.roles[r as usize]
                    .iter()
                    .copied()
                    .collect::<RoaringBitmap>(),
            })
            .collect();
        data
    }

    /// Writes the import files plus the truth (`planted_roles.csv`, `planted_members.csv`,
    /// `planted_rules.csv` and, with outliers, `planted_outliers.csv`) to
    /// `dir`, streaming: memory does not grow with the identity count. `progress` is called with
    /// the identities written so far.
    pub fn write(&self, dir: &Path, mut progress: impl FnMut(u32)) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let create = |name: &str| -> std::io::Result<BufWriter<File>> {
            Ok(BufWriter::with_capacity(
                1 << 20,
                File::create(dir.join(name))?,
            ))
        };
        let mut entitlements = create("entitlements.csv")?;
        writeln!(entitlements, "id,name,attribute,source_id,source_name")?;
        for e in 0..self.spec.entitlements {
            let s = self.source_of(e);
            writeln!(
                entitlements,
                "ent{e},Entitlement {e},groups,src{s},Application {s}"
            )?;
        }
        entitlements.flush()?;
        let mut roles = create("roles.csv")?;
        writeln!(roles, "role_id,role_name,entitlement_id")?;
        for r in self.existing_roles() {
            for e in &self.roles[r as usize] {
                writeln!(roles, "existing{r},Existing role {r},ent{e}")?;
            }
        }
        roles.flush()?;
        let mut truth = create("planted_roles.csv")?;
        writeln!(truth, "role_id,entitlement_id")?;
        for (r, role) in self.roles.iter().enumerate() {
            for e in role {
                writeln!(truth, "planted{r},ent{e}")?;
            }
        }
        truth.flush()?;
        let mut rules = create("planted_rules.csv")?;
        writeln!(rules, "role_id,rule")?;
        for r in 0..self.roles.len() {
            writeln!(
                rules,
                "planted{r},\"{}\"",
                self.rule(r).replace('"', "\"\"")
            )?;
        }
        rules.flush()?;
        let mut outliers = (self.spec.outlier_share > 0.0)
            .then(|| -> std::io::Result<_> {
                let mut file = create("planted_outliers.csv")?;
                writeln!(file, "identity_id,kind")?;
                Ok(file)
            })
            .transpose()?;
        let mut identities = create("identities.csv")?;
        writeln!(identities, "id,name,email,department,location,jobTitle")?;
        let mut assignments = create("assignments.csv")?;
        writeln!(assignments, "identity_id,entitlement_id")?;
        let mut usage = create("usage.csv")?;
        writeln!(usage, "identity_id,source_id,usage_days")?;
        let mut members = create("planted_members.csv")?;
        writeln!(members, "role_id,identity_id")?;
        for i in 0..self.spec.identities {
            let identity = self.identity(i);
            writeln!(
                identities,
                "id{i},Identity {i},id{i}@example.com,{},{},{}",
                identity.department, identity.location, identity.job_title
            )?;
            for e in &identity.entitlements {
                writeln!(assignments, "id{i},ent{e}")?;
            }
            for (s, days) in &identity.usage {
                writeln!(usage, "id{i},src{s},{days}")?;
            }
            for role in std::iter::once(identity.role).chain(identity.more_roles.iter().copied()) {
                writeln!(members, "planted{role},id{i}")?;
            }
            if let (Some(file), Some(kind)) = (outliers.as_mut(), identity.outlier) {
                writeln!(file, "id{i},{}", kind.as_str())?;
            }
            if i % 10_000 == 0 {
                progress(i);
            }
        }
        for mut file in [identities, assignments, usage, members]
            .into_iter()
            .chain(outliers)
        {
            file.flush()?;
        }
        progress(self.spec.identities);
        Ok(())
    }
}

fn attribute(name: &str, values: &[&str]) -> Attribute {
    Attribute {
        name: name.to_owned(),
        values: values.iter().map(|v| (*v).to_owned()).collect(),
        codes: Vec::new(),
    }
}

/// How well mined roles recover planted ones: a planted role counts as recovered when some mined
/// role's entitlement set has Jaccard ≥ `min_jaccard` with it.
pub fn recovery(planted: &[Vec<u32>], mined: &[Vec<u32>], min_jaccard: f64) -> f64 {
    if planted.is_empty() {
        return 1.0;
    }
    let recovered = planted
        .iter()
        .filter(|p| {
            let p: RoaringBitmap = p.iter().copied().collect();
            mined.iter().any(|m| {
                let m: RoaringBitmap = m.iter().copied().collect();
                let union = p.union_len(&m);
                union > 0 && p.intersection_len(&m) as f64 / union as f64 >= min_jaccard
            })
        })
        .count();
    recovered as f64 / planted.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_gives_identities_distinct_further_roles_and_their_access() {
        let plain = Planted::new(PlantedSpec {
            identities: 2_000,
            second_role_share: 0.0,
            ..PlantedSpec::default()
        });
        let spec = PlantedSpec {
            identities: 2_000,
            second_role_share: 0.3,
            third_role_share: 0.5,
            ..PlantedSpec::default()
        };
        let overlapping = Planted::new(spec);
        let identities: Vec<PlantedIdentity> =
            (0..2_000).map(|i| overlapping.identity(i)).collect();
        let with = |n: usize| {
            identities
                .iter()
                .filter(|i| i.more_roles.len() == n)
                .count()
        };
        // About 30 % hold two or more roles, half of those three.
        assert!(
            (480..=720).contains(&(with(1) + with(2))),
            "{} {}",
            with(1),
            with(2)
        );
        assert!(
            with(2) > 200 && with(2) < with(1) + 100,
            "{} {}",
            with(1),
            with(2)
        );
        for identity in &identities {
            let mut roles = vec![identity.role];
            roles.extend(&identity.more_roles);
            let distinct: std::collections::BTreeSet<u32> = roles.iter().copied().collect();
            assert_eq!(distinct.len(), roles.len(), "{identity:?}");
            // Most of each role's entitlements are there (3 % are dropped).
            for &role in &roles {
                let planted = &overlapping.roles[role as usize];
                let held = planted
                    .iter()
                    .filter(|e| identity.entitlements.binary_search(e).is_ok())
                    .count();
                assert!(held * 2 >= planted.len(), "{identity:?}");
            }
        }
        // Without the knobs, nothing changes: the same identities as before.
        let unchanged = Planted::new(PlantedSpec {
            identities: 2_000,
            second_role_share: 0.0,
            ..spec
        });
        assert_eq!(plain.identity(11), unchanged.identity(11));
        assert!(plain.identity(11).more_roles.is_empty());
    }

    #[test]
    fn generation_is_deterministic_and_follows_the_spec() {
        let spec = PlantedSpec {
            identities: 300,
            ..PlantedSpec::default()
        };
        let a = Planted::new(spec);
        let b = Planted::new(spec);
        assert_eq!(a.roles, b.roles);
        assert_eq!(a.identity(7), b.identity(7));
        assert_eq!(a.roles.len(), 40);
        assert!(a.roles.iter().all(|r| (4..=12).contains(&r.len())));
        let data = a.to_access_data();
        assert_eq!(data.matrix.identities(), 300);
        // Everyone holds the birthright entitlements.
        for &e in &a.birthright {
            assert_eq!(data.matrix.holders(e).len(), 300);
        }
        assert_eq!(data.roles.len(), 4);
        assert_eq!(data.attributes.len(), 3);
    }

    #[test]
    fn written_files_load_back_identically() {
        let spec = PlantedSpec {
            identities: 200,
            entitlements: 300,
            ..PlantedSpec::default()
        };
        let planted = Planted::new(spec);
        let dir = tempfile::tempdir().unwrap();
        planted.write(dir.path(), |_| {}).unwrap();
        let loaded = AccessData::load(dir.path()).unwrap();
        let memory = planted.to_access_data();
        assert_eq!(loaded.identity_ids, memory.identity_ids);
        assert_eq!(loaded.matrix.assignments(), memory.matrix.assignments());
        assert_eq!(loaded.roles.len(), memory.roles.len());
        assert_eq!(loaded.usage.len(), memory.usage.len());
        assert_eq!(loaded.attributes.len(), 3);
    }

    #[test]
    fn recovery_counts_matches_at_the_jaccard_bar() {
        let planted = vec![vec![1, 2, 3, 4], vec![5, 6]];
        assert_eq!(recovery(&planted, &[vec![1, 2, 3, 4, 9]], 0.8), 0.5);
        assert_eq!(recovery(&planted, &[vec![1, 2, 3], vec![5, 6]], 0.8), 0.5);
        assert_eq!(recovery(&[], &[], 0.8), 1.0);
    }
}
