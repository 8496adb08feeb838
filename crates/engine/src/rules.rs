//! Attribute rules: for a potential role, the shortest conjunctions of identity attribute
//! conditions (`department = Finance AND jobTitle = Analyst`) that best separate its members
//! from the rest of the population, so a role engineer sees *why* these identities and can
//! turn the role into a rule-based one.
//!
//! A rule is scored by F1, the harmonic mean of its precision (members among the identities it
//! matches) and recall (members it matches among all members), less [`CONDITION_COST`] per
//! condition beyond the first: a longer rule wins only where it separates clearly better.
//! Candidates are each attribute's values most common among the members, alone, in pairs and
//! in triples of different attributes (triples only around the best pairs), so the search
//! stays a few hundred bitmap intersections per role whatever the population size.

use std::sync::Mutex;

use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;

use crate::mine::Attribute;

/// Rules reported per role, best first.
pub const MAX_RULES: usize = 3;
/// Conditions in a rule at most.
pub const MAX_CONDITIONS: usize = 3;
/// What each condition beyond the first costs in F1.
pub const CONDITION_COST: f64 = 0.01;
/// Values of one attribute considered, the most common among the members first.
const VALUES_PER_ATTRIBUTE: usize = 6;
/// Single conditions combined into pairs and triples, the best first.
const COMBINED: usize = 12;
/// Best pairs extended into triples.
const EXTENDED_PAIRS: usize = 5;

/// `attribute = value`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Condition {
    /// The attribute's name.
    pub attribute: String,
    /// The value it must have.
    pub value: String,
}

/// A conjunction of conditions and how well it matches a role's members.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeRule {
    /// The conditions, by attribute name.
    pub conditions: Vec<Condition>,
    /// Population identities matching the rule.
    pub matched: u32,
    /// Members matching the rule.
    pub members_matched: u32,
    /// The role's members.
    pub members: u32,
}

impl AttributeRule {
    /// Share of the matched identities that are members (0 when it matches nobody).
    pub fn precision(&self) -> f64 {
        ratio(self.members_matched, self.matched)
    }

    /// Share of the members the rule matches.
    pub fn recall(&self) -> f64 {
        ratio(self.members_matched, self.members)
    }

    /// Identities the rule matches that are not members.
    pub fn would_add(&self) -> u32 {
        self.matched - self.members_matched
    }

    /// Members the rule does not match.
    pub fn would_miss(&self) -> u32 {
        self.members - self.members_matched
    }

    /// The harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        let whole = u64::from(self.matched) + u64::from(self.members);
        if whole == 0 {
            0.0
        } else {
            2.0 * f64::from(self.members_matched) / whole as f64
        }
    }

    /// F1 less the cost of conditions beyond the first: what rules are ranked by.
    pub fn score(&self) -> f64 {
        self.f1() - CONDITION_COST * self.conditions.len().saturating_sub(1) as f64
    }

    /// The rule in the identity search language of a session's `scope.criteria`
    /// (`department:"Finance" AND jobTitle:"Analyst"`), so it can select identities as is.
    pub fn criteria(&self) -> String {
        self.conditions
            .iter()
            .map(|c| format!("{}:{}", c.attribute, quote(&c.value)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }
}

fn ratio(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        0.0
    } else {
        f64::from(part) / f64::from(whole)
    }
}

fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The population's identities per attribute value, built once per mining.
#[derive(Debug, Default)]
pub struct AttributeIndex {
    /// Per attribute: its name and, per value code, the population identities having it.
    attributes: Vec<(String, Vec<String>, Vec<RoaringBitmap>)>,
    /// Per attribute: each identity's value code (`None`: missing).
    codes: Vec<Vec<Option<u32>>>,
    /// Population identities matching each combination of conditions asked so far (sorted):
    /// the same attribute values come up in role after role, and intersecting
    /// population-sized bitmaps was most of the rules' time on a large population.
    matched: Mutex<FxHashMap<Vec<(usize, usize)>, u64>>,
}

impl AttributeIndex {
    /// Indexes `attributes` over the identities of `population`.
    pub fn new(attributes: &[Attribute], population: &RoaringBitmap) -> Self {
        let mut index = AttributeIndex::default();
        for attribute in attributes {
            let mut holders = vec![RoaringBitmap::new(); attribute.values.len()];
            for identity in population {
                if let Some(Some(code)) = attribute.codes.get(identity as usize) {
                    if let Some(bitmap) = holders.get_mut(*code as usize) {
                        bitmap.insert(identity);
                    }
                }
            }
            index
                .attributes
                .push((attribute.name.clone(), attribute.values.clone(), holders));
            index.codes.push(attribute.codes.clone());
        }
        index
    }

    /// Population identities matching all of `conditions` (attribute and value codes).
    fn matching(&self, conditions: &[(usize, usize)]) -> RoaringBitmap {
        let mut matched: Option<RoaringBitmap> = None;
        for &(attribute, value) in conditions {
            let holders = &self.attributes[attribute].2[value];
            matched = Some(match matched {
                None => holders.clone(),
                Some(so_far) => so_far & holders,
            });
        }
        matched.unwrap_or_default()
    }

    /// The rules of a role with members `members` (identity indices within the population),
    /// best first, at most [`MAX_RULES`]; none when no attribute value is shared by members.
    pub fn rules(&self, members: &RoaringBitmap) -> Vec<AttributeRule> {
        let member_count = u32::try_from(members.len()).unwrap_or(u32::MAX);
        if member_count == 0 {
            return Vec::new();
        }
        // Singles: each attribute's values most common among the members.
        let mut singles: Vec<Candidate> = Vec::new();
        for (a, codes) in self.codes.iter().enumerate() {
            let values = self.attributes[a].1.len();
            let mut counts = vec![0u32; values];
            for member in members {
                if let Some(Some(code)) = codes.get(member as usize) {
                    if let Some(count) = counts.get_mut(*code as usize) {
                        *count += 1;
                    }
                }
            }
            let mut common: Vec<(u32, usize)> = counts
                .iter()
                .enumerate()
                .filter(|(_, &count)| count > 0)
                .map(|(value, &count)| (count, value))
                .collect();
            common.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
            for &(count, value) in common.iter().take(VALUES_PER_ATTRIBUTE) {
                let matched = u32::try_from(self.attributes[a].2[value].len()).unwrap_or(u32::MAX);
                singles.push(Candidate {
                    conditions: vec![(a, value)],
                    matched,
                    members_matched: count,
                });
            }
        }
        singles.sort_by(|x, y| x.order(y, member_count));
        let combined: Vec<&Candidate> = singles.iter().take(COMBINED).collect();

        // Pairs of different attributes among the best singles.
        let mut pairs: Vec<Candidate> = Vec::new();
        for (i, first) in combined.iter().enumerate() {
            for second in &combined[i + 1..] {
                let (a, b) = (first.conditions[0], second.conditions[0]);
                if a.0 == b.0 {
                    continue;
                }
                pairs.push(self.candidate(vec![a, b], members));
            }
        }
        pairs.sort_by(|x, y| x.order(y, member_count));

        // Triples around the best pairs.
        let mut triples: Vec<Candidate> = Vec::new();
        if MAX_CONDITIONS >= 3 {
            for pair in pairs.iter().take(EXTENDED_PAIRS) {
                for single in &combined {
                    let c = single.conditions[0];
                    if pair.conditions.iter().any(|p| p.0 == c.0) {
                        continue;
                    }
                    let mut conditions = pair.conditions.clone();
                    conditions.push(c);
                    conditions.sort_unstable();
                    if triples.iter().any(|t| t.conditions == conditions) {
                        continue;
                    }
                    triples.push(self.candidate(conditions, members));
                }
            }
        }

        let mut all: Vec<Candidate> = singles;
        all.extend(pairs);
        all.extend(triples);
        all.retain(|c| c.members_matched > 0);
        all.sort_by(|x, y| x.order(y, member_count));
        let mut kept: Vec<Candidate> = Vec::new();
        for candidate in all {
            if kept.len() == MAX_RULES {
                break;
            }
            // A kept rule with a condition more says nothing new.
            let extends_kept = kept.iter().any(|k| {
                k.conditions
                    .iter()
                    .all(|c| candidate.conditions.contains(c))
            });
            if !extends_kept {
                kept.push(candidate);
            }
        }
        kept.into_iter()
            .map(|c| self.rule(c, member_count))
            .collect()
    }

    fn candidate(&self, conditions: Vec<(usize, usize)>, members: &RoaringBitmap) -> Candidate {
        // Members by their codes (a role is small next to the population), the population by
        // intersection sizes: no population-sized bitmap is copied for a pair.
        let members_matched = members
            .iter()
            .filter(|&m| {
                conditions.iter().all(|&(a, value)| {
                    self.codes[a].get(m as usize).copied().flatten() == Some(value as u32)
                })
            })
            .count();
        let matched = self.matched_by(&conditions);
        Candidate {
            members_matched: u32::try_from(members_matched).unwrap_or(u32::MAX),
            matched: u32::try_from(matched).unwrap_or(u32::MAX),
            conditions,
        }
    }

    /// Population identities matching all of `conditions`, remembered across roles.
    fn matched_by(&self, conditions: &[(usize, usize)]) -> u64 {
        let mut key = conditions.to_vec();
        key.sort_unstable();
        if let Some(&known) = self.matched.lock().ok().as_ref().and_then(|m| m.get(&key)) {
            return known;
        }
        let holders = |&(a, value): &(usize, usize)| &self.attributes[a].2[value];
        let matched = match key.as_slice() {
            [] => 0,
            [one] => holders(one).len(),
            [first, second] => holders(first).intersection_len(holders(second)),
            [first, second, rest @ ..] => {
                let mut both = holders(first) & holders(second);
                for condition in &rest[..rest.len() - 1] {
                    both &= holders(condition);
                }
                rest.last()
                    .map_or(both.len(), |last| both.intersection_len(holders(last)))
            }
        };
        if let Ok(mut known) = self.matched.lock() {
            known.insert(key, matched);
        }
        matched
    }

    fn rule(&self, candidate: Candidate, members: u32) -> AttributeRule {
        let mut conditions: Vec<Condition> = candidate
            .conditions
            .iter()
            .map(|&(a, value)| Condition {
                attribute: self.attributes[a].0.clone(),
                value: self.attributes[a].1[value].clone(),
            })
            .collect();
        conditions.sort();
        AttributeRule {
            conditions,
            matched: candidate.matched,
            members_matched: candidate.members_matched,
            members,
        }
    }

    /// Re-evaluates `rule` on the population: (matched, members matched). What the property
    /// test checks reported figures against.
    pub fn evaluate(&self, rule: &AttributeRule, members: &RoaringBitmap) -> (u32, u32) {
        let mut conditions = Vec::new();
        for condition in &rule.conditions {
            let Some(a) = self
                .attributes
                .iter()
                .position(|(name, _, _)| *name == condition.attribute)
            else {
                return (0, 0);
            };
            let Some(value) = self.attributes[a]
                .1
                .iter()
                .position(|v| *v == condition.value)
            else {
                return (0, 0);
            };
            conditions.push((a, value));
        }
        let matched = self.matching(&conditions);
        (
            u32::try_from(matched.len()).unwrap_or(u32::MAX),
            u32::try_from(matched.intersection_len(members)).unwrap_or(u32::MAX),
        )
    }
}

/// A rule under consideration: (attribute, value code) conditions, sorted.
#[derive(Debug, Clone)]
struct Candidate {
    conditions: Vec<(usize, usize)>,
    matched: u32,
    members_matched: u32,
}

impl Candidate {
    fn score(&self, members: u32) -> f64 {
        let whole = u64::from(self.matched) + u64::from(members);
        let f1 = if whole == 0 {
            0.0
        } else {
            2.0 * f64::from(self.members_matched) / whole as f64
        };
        f1 - CONDITION_COST * self.conditions.len().saturating_sub(1) as f64
    }

    /// Best first: score, then fewer conditions, then the conditions themselves (so ties
    /// resolve the same way on every run).
    fn order(&self, other: &Candidate, members: u32) -> std::cmp::Ordering {
        other
            .score(members)
            .total_cmp(&self.score(members))
            .then(self.conditions.len().cmp(&other.conditions.len()))
            .then(self.conditions.cmp(&other.conditions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attribute(name: &str, values: &[&str], per_identity: &[usize]) -> Attribute {
        Attribute {
            name: name.to_owned(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            codes: per_identity.iter().map(|&c| Some(c as u32)).collect(),
        }
    }

    #[test]
    fn the_attribute_that_selects_exactly_the_members_is_the_best_rule() {
        // Identities 0-5 are the role; title 1 is theirs alone, department 0 also has 6-7.
        let department = attribute(
            "department",
            &["Finance", "Sales"],
            &[0, 0, 0, 0, 0, 0, 0, 0, 1, 1],
        );
        let title = attribute(
            "jobTitle",
            &["Clerk", "Analyst"],
            &[1, 1, 1, 1, 1, 1, 0, 0, 0, 0],
        );
        let population: RoaringBitmap = (0..10).collect();
        let index = AttributeIndex::new(&[department, title], &population);
        let members: RoaringBitmap = (0..6).collect();
        let rules = index.rules(&members);
        let best = &rules[0];
        assert_eq!(best.criteria(), "jobTitle:\"Analyst\"");
        assert_eq!((best.precision(), best.recall()), (1.0, 1.0));
        assert_eq!(rules[1].criteria(), "department:\"Finance\"");
        assert_eq!((rules[1].matched, rules[1].would_add()), (8, 2));
    }

    #[test]
    fn a_pair_wins_only_when_neither_condition_separates_alone() {
        // Members: Finance ∧ Miami (0-3); Finance elsewhere (4-5), Miami in Sales (6-7).
        let department = attribute(
            "department",
            &["Finance", "Sales"],
            &[0, 0, 0, 0, 0, 0, 1, 1, 1],
        );
        let location = attribute(
            "location",
            &["Miami", "Austin"],
            &[0, 0, 0, 0, 1, 1, 0, 0, 1],
        );
        let population: RoaringBitmap = (0..9).collect();
        let index = AttributeIndex::new(&[department, location], &population);
        let members: RoaringBitmap = (0..4).collect();
        let best = &index.rules(&members)[0];
        assert_eq!(
            best.criteria(),
            "department:\"Finance\" AND location:\"Miami\""
        );
        assert_eq!((best.matched, best.members_matched), (4, 4));
    }

    #[test]
    fn values_are_quoted_for_the_search_language() {
        let rule = AttributeRule {
            conditions: vec![Condition {
                attribute: "jobTitle".to_owned(),
                value: "Lead \"A\" \\ B".to_owned(),
            }],
            matched: 1,
            members_matched: 1,
            members: 1,
        };
        assert_eq!(rule.criteria(), r#"jobTitle:"Lead \"A\" \\ B""#);
    }

    #[test]
    fn no_members_or_no_attributes_give_no_rules() {
        let population: RoaringBitmap = (0..4).collect();
        let index = AttributeIndex::new(&[], &population);
        assert!(index.rules(&population).is_empty());
        let department = attribute("department", &["Finance"], &[0, 0, 0, 0]);
        let index = AttributeIndex::new(&[department], &population);
        assert!(index.rules(&RoaringBitmap::new()).is_empty());
    }
}
