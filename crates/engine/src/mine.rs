//! The whole pipeline: population → nodes → similarity → peer groups → potential roles.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use roaring::RoaringBitmap;

use crate::birthright::birthright;
use crate::cluster::peer_groups;
use crate::compress::{compress, Node};
use crate::counts::Counts;
use crate::cover::minimal_cover;
use crate::coverage::{explain, role_coverage, Coverage, RoleCoverage};
use crate::error::EngineError;
use crate::matrix::AccessMatrix;
use crate::metrics::{popularity_distribution, EntitlementStat, RoleMetrics};
use crate::observer::{Observer, Phase};
use crate::outliers::{outliers, Outlier, PeerRole};
use crate::population::{popularity, Population};
use crate::rules::{AttributeIndex, AttributeRule};
use crate::similarity::{Edges, Search};
use crate::threshold::{self, SweepPoint};
use crate::tiling::{self, TilingInput, TilingParams};

pub use crate::population::RoleType;
pub use rolemine_domain::MiningMethod;

/// Minimum identities in a potential role when the session leaves it null.
pub const DEFAULT_MIN_IDENTITIES: u32 = 20;
/// Default common-access threshold, in percent.
pub const DEFAULT_COMMON_ACCESS_THRESHOLD: f64 = 80.0;

/// One identity attribute across the matrix (department, location, ...).
#[derive(Debug, Clone, Default)]
pub struct Attribute {
    /// The attribute's name.
    pub name: String,
    /// Distinct values; `codes` index into it.
    pub values: Vec<String>,
    /// Per identity index: its value's code, or `None` when missing.
    pub codes: Vec<Option<u32>>,
}

/// All identity attributes.
pub type Attributes = Vec<Attribute>;

/// What to mine.
#[derive(Debug, Clone, Copy)]
pub struct MiningInput<'a> {
    /// The access matrix.
    pub matrix: &'a AccessMatrix,
    /// The session's identities (indices into `matrix`).
    pub population: &'a RoaringBitmap,
    /// Entitlement sets of roles that exist already (for freshness).
    pub existing_roles: &'a [RoaringBitmap],
    /// Identity attributes, for the identity distribution.
    pub attributes: &'a [Attribute],
}

/// How to mine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MiningParams {
    /// Common access or everything else.
    pub role_type: RoleType,
    /// Similarity threshold in percent; `None` uses the prescribed one.
    pub prune_threshold: Option<u8>,
    /// Peer groups smaller than this are not roles.
    pub min_identities: u32,
    /// Percent of the population at which an entitlement is common access.
    pub common_access_threshold: f64,
    /// Overlapping peer groups, or the minimal exact cover.
    pub method: MiningMethod,
}

impl Default for MiningParams {
    fn default() -> Self {
        Self {
            role_type: RoleType::Specialized,
            prune_threshold: None,
            min_identities: DEFAULT_MIN_IDENTITIES,
            common_access_threshold: DEFAULT_COMMON_ACCESS_THRESHOLD,
            method: MiningMethod::PeerGroups,
        }
    }
}

/// Members per value of one attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeDistribution {
    /// The attribute.
    pub name: String,
    /// (value, members); `None` counts members without a value. Ordered by count descending,
    /// then value.
    pub counts: Vec<(Option<String>, u32)>,
}

/// A discovered role.
#[derive(Debug, Clone, PartialEq)]
pub struct PotentialRole {
    /// `COMMON` for the birthright role of a `SPECIALIZED` session (its common access, see
    /// [`crate::birthright`]); the session's type otherwise.
    pub role_type: RoleType,
    /// Member identity indices, ascending.
    pub members: Vec<u32>,
    /// Every mined entitlement held by at least one member, by popularity descending, then index
    /// (for a birthright role, every common-access entitlement a member holds).
    pub entitlements: Vec<EntitlementStat>,
    /// Common-access entitlements held by a member that this session did not mine (those of a
    /// `SPECIALIZED` session; empty for `COMMON`), ordered as `entitlements`. They are not part
    /// of the role's counts or metrics; `includeCommonAccess` views add them.
    pub common_entitlements: Vec<EntitlementStat>,
    /// Scores, with no exclusions.
    pub metrics: RoleMetrics,
    /// What the role stands for (see [`crate::coverage`]): the entitlements, common access
    /// included, that at least half of its members hold, or, for a minimal cover, that all of
    /// them hold.
    pub definition: RoaringBitmap,
    /// What the role explains of its members' access (see [`crate::coverage`]).
    pub coverage: RoleCoverage,
    /// Members per attribute value.
    pub identity_distribution: Vec<AttributeDistribution>,
    /// Popularity percent → entitlements with it.
    pub popularity_distribution: BTreeMap<u8, u32>,
    /// The attribute rules that best select its members from the population, best first.
    pub rules: Vec<AttributeRule>,
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct MiningResult {
    /// The threshold the sweep chose.
    pub prescribed_threshold: u8,
    /// The threshold used: the session's, or the prescribed one.
    pub threshold: u8,
    /// The roles, largest first (ties by smallest member index).
    pub roles: Vec<PotentialRole>,
    /// The sweep behind the prescribed threshold.
    pub sweep: Vec<SweepPoint>,
    /// Population size.
    pub population: u64,
    /// Entitlements mined (after the common-access split).
    pub mined_entitlements: u64,
    /// Mined entitlements used as clustering features.
    pub features: u64,
    /// Weighted nodes after compression.
    pub nodes: u64,
    /// Similarity edges found: those at the lowest threshold the sweep visited or the session
    /// chose.
    pub edges: u64,
    /// Percent of the population in some role.
    pub coverage: f64,
    /// How much of the population's access the roles explain.
    pub explained: Coverage,
    /// Weighted structural complexity with unit weights: roles + role memberships + the
    /// entitlements of their definitions.
    pub structural_complexity: u64,
    /// Identities whose access departs from their peers', highest score first (at most
    /// [`outlier_limit`] of them).
    pub outliers: Vec<Outlier>,
    /// Assignments no role explains, by entitlement (see [`crate::coverage::explain`]).
    pub unexplained: Vec<(u32, Vec<u32>)>,
    /// Wall time per phase, in pipeline order.
    pub timings: Vec<(Phase, Duration)>,
}

/// Mines potential roles. Deterministic: the same input and parameters give the same roles in
/// the same order on any number of threads. Never panics on odd input; bad parameters are errors.
pub fn mine(
    input: MiningInput<'_>,
    params: MiningParams,
    observer: &dyn Observer,
) -> Result<MiningResult, EngineError> {
    if let Some(t) = params.prune_threshold.filter(|t| *t > 100) {
        return Err(EngineError::ThresholdOutOfRange(u32::from(t)));
    }
    for attribute in input.attributes {
        if attribute.codes.len() != input.matrix.identities() as usize {
            return Err(EngineError::AttributeLength {
                name: attribute.name.clone(),
                len: attribute.codes.len(),
                identities: input.matrix.identities(),
            });
        }
    }
    let min_identities = params.min_identities.max(1);
    let mut timings = Vec::new();
    let mut clock = PhaseClock::new(observer, &mut timings);

    clock.start(Phase::Population)?;
    let population = Population::select(
        input.matrix,
        input.population.clone(),
        params.role_type,
        params.common_access_threshold,
        min_identities,
    )?;

    clock.start(Phase::Compression)?;
    let nodes = compress(input.matrix, &population);

    clock.start(Phase::Similarity)?;
    let search = Search::new(&nodes);
    let affordable = threshold::affordable_lowest(&search);
    let floor = threshold::search_floor(affordable, params.prune_threshold);
    let mut edges = Edges::search(&search, floor, observer)?;

    clock.start(Phase::ThresholdSweep)?;
    let prescription =
        threshold::prescribe(&nodes, &mut edges, min_identities, affordable, observer)?;
    let edges = edges.into_list();
    drop(search);
    let prescribed = prescription.threshold;
    let chosen = params.prune_threshold.unwrap_or(prescribed);

    clock.start(Phase::Clustering)?;
    let mut groups_by_threshold = prescription.groups;
    groups_by_threshold
        .entry(chosen)
        .or_insert_with(|| peer_groups(&nodes, &edges, f32::from(chosen) / 100.0));
    let definable = &population.mined | &population.common;
    let tiling_input = TilingInput {
        matrix: input.matrix,
        population: &population.members,
        mined: &population.mined,
        holder_counts: &population.holder_counts,
        definable: &definable,
        twinned: &population.twinned,
    };
    // Each role's members with its definition and type.
    let mut groups: Vec<(Vec<u32>, RoaringBitmap, RoleType)> = match params.method {
        MiningMethod::PeerGroups => {
            let seeds = seeds(tiling_input, &nodes, &groups_by_threshold, min_identities);
            let tiling_params = TilingParams {
                min_identities,
                fit: fit(chosen),
            };
            let tiles = tiling::tile(tiling_input, seeds, tiling_params, observer)?;
            let birthright = birthright(tiling_input, tiling_params, &tiles, observer)?;
            tiles
                .into_iter()
                .map(|tile| (tile.members, tile.definition, params.role_type))
                .chain(birthright.map(|tile| (tile.members, tile.definition, RoleType::Common)))
                .collect()
        }
        MiningMethod::MinimalCover => {
            minimal_cover(input.matrix, &population.members, &definable, observer)?
                .into_iter()
                .map(|role| (role.members, role.definition, params.role_type))
                .collect()
        }
    };
    groups.sort_by(|a, b| {
        b.0.len()
            .cmp(&a.0.len())
            .then(a.0.first().cmp(&b.0.first()))
            .then(a.1.min().cmp(&b.1.min()))
    });

    clock.start(Phase::Metrics)?;
    let total = groups.len() as u64;
    let done = AtomicU64::new(0);
    let unmined_common = &population.common - &population.mined;
    let mut roles: Vec<PotentialRole> = groups
        .into_par_iter()
        .map_init(
            || Counts::new(input.matrix.entitlements() as usize),
            |counts, (members, definition, role_type)| {
                if observer.cancelled() {
                    return Err(EngineError::Cancelled);
                }
                let role = build_role(
                    &input,
                    &population,
                    &unmined_common,
                    counts,
                    members,
                    definition,
                    (role_type, params.role_type),
                );
                observer.progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                Ok(role)
            },
        )
        .collect::<Result<_, _>>()?;

    clock.start(Phase::Insights)?;
    let attribute_index = AttributeIndex::new(input.attributes, &population.members);
    let role_rules: Vec<Vec<AttributeRule>> = roles
        .par_iter()
        .map(|role| attribute_index.rules(&role.members.iter().copied().collect()))
        .collect();
    for (role, rules) in roles.iter_mut().zip(role_rules) {
        role.rules = rules;
    }
    // A birthright role holds no mined access, so it says nothing of what is unusual or missing
    // in an identity's mined access: its members are nobody's peers there (indices stay).
    let peers: Vec<PeerRole<'_>> = roles
        .iter()
        .map(|role| PeerRole {
            members: if role.role_type == params.role_type {
                &role.members
            } else {
                &[]
            },
            definition: &role.definition,
            stats: &role.entitlements,
        })
        .collect();
    let outliers = outliers(
        input.matrix,
        &population.members,
        &population.mined,
        &peers,
        outlier_limit(population.size()),
    );
    let defined: Vec<(&[u32], &RoaringBitmap)> = roles
        .iter()
        .map(|role| (role.members.as_slice(), &role.definition))
        .collect();
    let (explained, unexplained) = explain(input.matrix, &population.members, &defined);
    clock.finish();

    let structural_complexity = defined
        .iter()
        .map(|(members, definition)| 1 + members.len() as u64 + definition.len())
        .sum();
    let covered = explained.identities_in_roles;
    Ok(MiningResult {
        prescribed_threshold: prescribed,
        threshold: chosen,
        coverage: popularity(
            u32::try_from(covered).unwrap_or(u32::MAX),
            population.size(),
        ),
        explained,
        structural_complexity,
        population: population.size(),
        mined_entitlements: population.mined.len(),
        features: population.features.len(),
        nodes: nodes.len() as u64,
        edges: edges.len() as u64,
        outliers,
        unexplained,
        roles,
        sweep: prescription.sweep,
        timings,
    })
}

/// How many outliers a population of `size` reports: a twentieth of it, at least 100 and at
/// most 50,000 (a review list, not a second copy of the population).
pub fn outlier_limit(size: u64) -> usize {
    usize::try_from(size / 20)
        .unwrap_or(usize::MAX)
        .clamp(100, 50_000)
}

/// The share of a role's definition a member holds at least, for prune threshold `threshold`:
/// halfway between a half and all of it, so a higher threshold gives tighter roles.
pub fn fit(threshold: u8) -> f64 {
    (100.0 + f64::from(threshold.min(100))) / 200.0
}

/// The seeds of the tiling: the definitions of the peer groups found at the session's threshold
/// and at every threshold of the sweep (a role too split or too merged at one threshold is whole
/// at another), and the parts any two of those definitions share (a role held together with
/// different other roles is what the peer groups it was split into have in common). Groups
/// smaller than half the minimum role size propose nothing.
fn seeds(
    input: TilingInput<'_>,
    nodes: &[Node],
    groups_by_threshold: &BTreeMap<u8, Vec<Vec<u32>>>,
    min_identities: u32,
) -> Vec<RoaringBitmap> {
    let seed_size = (min_identities as usize).div_ceil(2).max(2);
    let groups: Vec<Vec<u32>> = groups_by_threshold
        .values()
        .flat_map(|groups| groups.iter())
        .map(|group| identities_of(nodes, group))
        .filter(|members| members.len() >= seed_size)
        .collect();
    let mut seeds = tiling::definitions_of(input, &groups);
    seeds.retain(|definition| !definition.is_empty());
    seeds.par_sort_unstable_by(|a, b| a.iter().cmp(b.iter()));
    seeds.dedup();
    let shared = tiling::shared_parts(input, &seeds, 1);
    seeds.extend(shared);
    seeds
}

/// The identities of a group of nodes, ascending.
fn identities_of(nodes: &[Node], group: &[u32]) -> Vec<u32> {
    let mut members: Vec<u32> = group
        .iter()
        .flat_map(|&n| nodes[n as usize].identities.iter().copied())
        .collect();
    members.sort_unstable();
    members
}

/// A role's statistics and scores; `counts` is a scratch counter (left cleared), and
/// `unmined_common` the common access the session does not mine. A role of the session's type
/// counts what the session mines and lists the unmined common access apart; a birthright role
/// (`types`: the role's, then the session's) counts that common access as a `COMMON` session's
/// role would.
fn build_role(
    input: &MiningInput<'_>,
    population: &Population,
    unmined_common: &RoaringBitmap,
    counts: &mut Counts,
    members: Vec<u32>,
    definition: RoaringBitmap,
    types: (RoleType, RoleType),
) -> PotentialRole {
    let (role_type, session_type) = types;
    let mined = role_type == session_type;
    let member_count = u32::try_from(members.len()).unwrap_or(u32::MAX);
    let (counted, apart) = if mined {
        (&population.mined, unmined_common)
    } else {
        (unmined_common, &RoaringBitmap::new())
    };
    let entitlements = held_stats(population, input.matrix, counts, &members, counted);
    let common_entitlements = held_stats(population, input.matrix, counts, &members, apart);
    let metrics = RoleMetrics::compute(
        member_count,
        &entitlements,
        &RoaringBitmap::new(),
        input.existing_roles,
    );
    let coverage = role_coverage(input.matrix, &members, &definition);
    PotentialRole {
        role_type,
        definition,
        coverage,
        identity_distribution: distribution(input.attributes, &members),
        popularity_distribution: popularity_distribution(entitlements.iter()),
        rules: Vec::new(),
        members,
        entitlements,
        common_entitlements,
        metrics,
    }
}

/// Stats of the entitlements in `of` held by at least one member, by member count descending,
/// then index.
fn held_stats(
    population: &Population,
    matrix: &AccessMatrix,
    counts: &mut Counts,
    members: &[u32],
    of: &RoaringBitmap,
) -> Vec<EntitlementStat> {
    let member_count = u32::try_from(members.len()).unwrap_or(u32::MAX);
    if !of.is_empty() {
        for &m in members {
            for e in matrix.of_identity(m) {
                // Whether `of` holds it is asked once per entitlement held, not per holder.
                if counts.get(e) > 0 || of.contains(e) {
                    counts.add(e, 1);
                }
            }
        }
    }
    let mut stats: Vec<EntitlementStat> = counts
        .iter()
        .map(|(entitlement, count)| (entitlement, u32::try_from(count).unwrap_or(u32::MAX)))
        .map(|(entitlement, identity_count)| EntitlementStat {
            entitlement,
            identity_count,
            popularity: popularity(identity_count, u64::from(member_count)),
            popularity_in_org: population.popularity_in_org(entitlement),
            common_access: population.common.contains(entitlement),
        })
        .collect();
    counts.clear();
    stats.sort_by(|a, b| {
        b.identity_count
            .cmp(&a.identity_count)
            .then(a.entitlement.cmp(&b.entitlement))
    });
    stats
}

fn distribution(attributes: &[Attribute], members: &[u32]) -> Vec<AttributeDistribution> {
    attributes
        .iter()
        .map(|attribute| {
            let mut counts: BTreeMap<Option<u32>, u32> = BTreeMap::new();
            for &m in members {
                let code = attribute.codes.get(m as usize).copied().flatten();
                *counts.entry(code).or_insert(0) += 1;
            }
            let mut counts: Vec<(Option<String>, u32)> = counts
                .into_iter()
                .map(|(code, n)| {
                    let value = code.and_then(|c| attribute.values.get(c as usize).cloned());
                    (value, n)
                })
                .collect();
            counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            AttributeDistribution {
                name: attribute.name.clone(),
                counts,
            }
        })
        .collect()
}

/// Times phases, tells the observer, and checks for cancellation between them.
struct PhaseClock<'a> {
    observer: &'a dyn Observer,
    timings: &'a mut Vec<(Phase, Duration)>,
    current: Option<(Phase, Instant)>,
}

impl<'a> PhaseClock<'a> {
    fn new(observer: &'a dyn Observer, timings: &'a mut Vec<(Phase, Duration)>) -> Self {
        Self {
            observer,
            timings,
            current: None,
        }
    }

    fn start(&mut self, phase: Phase) -> Result<(), EngineError> {
        self.finish();
        if self.observer.cancelled() {
            return Err(EngineError::Cancelled);
        }
        self.observer.phase(phase);
        self.current = Some((phase, Instant::now()));
        Ok(())
    }

    fn finish(&mut self) {
        if let Some((phase, started)) = self.current.take() {
            self.timings.push((phase, started.elapsed()));
        }
    }
}
