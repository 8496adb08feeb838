//! The batch mining output: a zip with `potential_roles.csv`, `role_identities.csv`,
//! `role_entitlements.csv` and `summary.json`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use rolemine_engine::{MiningParams, MiningResult};
use serde_json::{json, Value};
use zip::write::SimpleFileOptions;

use crate::insights_export::UNEXPLAINED_COLUMNS;
use crate::load::AccessData;
use crate::role_export::{ExportedOutlier, OUTLIER_COLUMNS};

/// Why the output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The file system refused.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The output file.
        path: String,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
    /// The zip writer failed.
    #[error("cannot write {path}: {source}")]
    Zip {
        /// The output file.
        path: String,
        /// The reason.
        #[source]
        source: zip::result::ZipError,
    },
    /// The CSV writer failed.
    #[error("cannot write {path}: {source}")]
    Csv {
        /// The output file.
        path: String,
        /// The reason.
        #[source]
        source: csv::Error,
    },
}

/// The name given to the `index`-th (0-based) role of a batch run.
pub fn role_name(index: usize) -> String {
    format!("Potential Role {}", index + 1)
}

/// The `summary.json` document (also printed, on one line, by `rolemine mine`).
pub fn summary(
    data: &AccessData,
    params: &MiningParams,
    result: &MiningResult,
    extra: Value,
) -> Value {
    let timings: serde_json::Map<String, Value> = result
        .timings
        .iter()
        .map(|(phase, took)| (phase.name().to_owned(), json!(round3(took.as_secs_f64()))))
        .collect();
    let sweep: Vec<Value> = result
        .sweep
        .iter()
        .map(|p| json!({"threshold": p.threshold, "roles": p.roles, "coveredIdentities": p.covered_identities, "cost": p.cost}))
        .collect();
    let mut summary = json!({
        "pruneThreshold": params.prune_threshold,
        "prescribedPruneThreshold": result.prescribed_threshold,
        "usedPruneThreshold": result.threshold,
        "minNumIdentitiesInPotentialRole": params.min_identities,
        "type": params.role_type.as_str(),
        "method": params.method.as_str(),
        "input": {
            "identities": data.matrix.identities(),
            "entitlements": data.matrix.entitlements(),
            "sources": data.sources.len(),
            "assignments": data.matrix.assignments(),
            "existingRoles": data.roles.len(),
        },
        "population": result.population,
        "minedEntitlements": result.mined_entitlements,
        "features": result.features,
        "nodes": result.nodes,
        "edges": result.edges,
        "roleCount": result.roles.len(),
        "coverage": round3(result.coverage),
        "assignmentsExplainedPercent": round3(result.explained.explained_percent()),
        "explainedAssignments": result.explained.explained,
        "populationAssignments": result.explained.assignments,
        "overGrants": result.explained.over_grants,
        "identitiesInRolesPercent": round3(result.explained.identities_in_roles_percent()),
        "structuralComplexity": result.structural_complexity,
        "unexplainedAssignments": result.unexplained.iter().map(|(_, ids)| ids.len() as u64).sum::<u64>(),
        "outliers": result.outliers.len(),
        // Per role (role_id as in the CSVs): the share of its members' access it explains.
        "roles": result.roles.iter().enumerate().map(|(i, role)| json!({
            "roleId": i + 1,
            "accessExplainedPercent": round3(role.coverage.explained_percent()),
            "overGrants": role.coverage.over_grants,
        })).collect::<Vec<_>>(),
        "mineSeconds": timings,
        "sweep": sweep,
    });
    if let (Some(summary), Value::Object(extra)) = (summary.as_object_mut(), extra) {
        summary.extend(extra);
    }
    summary
}

/// Writes `role_entitlements.csv`: one row per role and entitlement a member holds (common
/// access included, flagged), which on a large run is tens of millions of rows. The rows are
/// rendered on a second thread while this one deflates them, and rendering is kept cheap: each
/// entitlement's descriptive cells are CSV-encoded once and copied into every row naming it,
/// and a number is formatted again only when it differs from the previous row's.
fn write_role_entitlements(
    out: &mut impl Write,
    data: &AccessData,
    result: &MiningResult,
) -> Result<(), csv::Error> {
    std::thread::scope(|scope| {
        let (chunks, received) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let renderer = scope.spawn(move || render_role_entitlements(data, result, &chunks));
        for chunk in received {
            out.write_all(&chunk)?;
        }
        match renderer.join() {
            Ok(rendered) => rendered,
            Err(_) => Err(std::io::Error::other("the CSV renderer stopped").into()),
        }
    })
}

/// Renders `role_entitlements.csv` in chunks of about [`FLUSH_AT`] bytes; stops early when the
/// receiver is gone (the writer failed and reports why).
fn render_role_entitlements(
    data: &AccessData,
    result: &MiningResult,
    chunks: &std::sync::mpsc::SyncSender<Vec<u8>>,
) -> Result<(), csv::Error> {
    let mut header = csv::Writer::from_writer(Vec::new());
    header.write_record([
        "role_id",
        "entitlement_id",
        "entitlement_name",
        "source_id",
        "source_name",
        "identity_count",
        "popularity",
        "popularity_in_org",
        "common_access",
        "in_definition",
    ])?;
    let mut row = header.into_inner().map_err(|e| e.into_error())?;
    // Per entitlement: its four descriptive cells, and its last in-org cells with the value.
    let mut described: Vec<Option<Vec<u8>>> = vec![None; data.entitlements.len()];
    let mut in_org: Vec<Option<(f64, bool, String)>> = vec![None; data.entitlements.len()];
    for (i, role) in result.roles.iter().enumerate() {
        let role_id = (i + 1).to_string();
        let mut popularity: Option<(u32, String)> = None;
        for stat in role.entitlements.iter().chain(&role.common_entitlements) {
            let index = stat.entitlement as usize;
            row.extend_from_slice(role_id.as_bytes());
            row.push(b',');
            match described.get_mut(index) {
                Some(Some(text)) => row.extend_from_slice(text),
                Some(slot) => {
                    let text = describe(data, index)?;
                    row.extend_from_slice(&text);
                    *slot = Some(text);
                }
                None => row.extend_from_slice(b",,,,"),
            }
            if popularity
                .as_ref()
                .is_none_or(|(count, _)| *count != stat.identity_count)
            {
                popularity = Some((
                    stat.identity_count,
                    format!("{},{:.2},", stat.identity_count, stat.popularity),
                ));
            }
            if let Some((_, text)) = &popularity {
                row.extend_from_slice(text.as_bytes());
            }
            let org = (stat.popularity_in_org, stat.common_access);
            match in_org.get_mut(index) {
                Some(Some((value, common, text))) if (*value, *common) == org => {
                    row.extend_from_slice(text.as_bytes());
                }
                Some(slot) => {
                    let text = format!("{:.2},{},", org.0, org.1);
                    row.extend_from_slice(text.as_bytes());
                    *slot = Some((org.0, org.1, text));
                }
                None => write!(row, "{:.2},{},", org.0, org.1)?,
            }
            row.extend_from_slice(if role.definition.contains(stat.entitlement) {
                b"true\n"
            } else {
                b"false\n"
            });
            if row.len() >= FLUSH_AT && chunks.send(std::mem::take(&mut row)).is_err() {
                return Ok(());
            }
        }
    }
    // A closed channel means the writer failed; it reports the error.
    let _ = chunks.send(row);
    Ok(())
}

/// The CSV-encoded `entitlement_id,entitlement_name,source_id,source_name,` of an entitlement,
/// quoted exactly as the whole row's writer would quote it.
fn describe(data: &AccessData, index: usize) -> Result<Vec<u8>, csv::Error> {
    let entitlement = data.entitlements.get(index);
    let source = entitlement.and_then(|e| data.sources.get(e.source as usize));
    // The default record terminator, replaced by a field separator afterwards: another
    // terminator would change which fields the writer quotes (line breaks in names).
    let mut cells = csv::Writer::from_writer(Vec::new());
    cells.write_record([
        entitlement.map_or("", |e| e.id.as_str()),
        entitlement.map_or("", |e| e.name.as_str()),
        source.map_or("", |s| s.id.as_str()),
        source.map_or("", |s| s.name.as_str()),
    ])?;
    let mut text = cells.into_inner().map_err(|e| e.into_error())?;
    if let Some(last) = text.last_mut() {
        *last = b',';
    }
    Ok(text)
}

/// Bytes of CSV gathered in memory before they are handed to the zip.
const FLUSH_AT: usize = 256 * 1024;

/// Rounds seconds (or percents) to three decimals for reports.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Writes the zip to `path`.
pub fn write_zip(
    path: &Path,
    data: &AccessData,
    result: &MiningResult,
    summary: &Value,
) -> Result<(), OutputError> {
    let shown = path.display().to_string();
    let io = |source| OutputError::Io {
        path: shown.clone(),
        source,
    };
    let zip_err = |source| OutputError::Zip {
        path: shown.clone(),
        source,
    };
    let csv_err = |source| OutputError::Csv {
        path: shown.clone(),
        source,
    };
    let file = File::create(path).map_err(io)?;
    let mut zip = zip::ZipWriter::new(BufWriter::new(file));
    // Fast deflate: the CSVs compress well at any level, and writing must not dominate a run.
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));

    zip.start_file("potential_roles.csv", options)
        .map_err(zip_err)?;
    {
        let mut csv = csv::Writer::from_writer(&mut zip);
        csv.write_record([
            "role_id",
            "name",
            "type",
            "identity_count",
            "entitlement_count",
            "density",
            "freshness",
            "quality",
        ])
        .map_err(csv_err)?;
        for (i, role) in result.roles.iter().enumerate() {
            let m = role.metrics;
            csv.write_record([
                (i + 1).to_string(),
                role_name(i),
                role.role_type.as_str().to_owned(),
                role.members.len().to_string(),
                m.entitlement_count.to_string(),
                m.density.to_string(),
                m.freshness.to_string(),
                m.quality.to_string(),
            ])
            .map_err(csv_err)?;
        }
        csv.flush().map_err(io)?;
    }

    zip.start_file("role_identities.csv", options)
        .map_err(zip_err)?;
    {
        let mut csv = csv::Writer::from_writer(&mut zip);
        csv.write_record(["role_id", "identity_id"])
            .map_err(csv_err)?;
        for (i, role) in result.roles.iter().enumerate() {
            let id = (i + 1).to_string();
            for &member in &role.members {
                let identity = data
                    .identity_ids
                    .get(member as usize)
                    .map_or("", String::as_str);
                csv.write_record([id.as_str(), identity]).map_err(csv_err)?;
            }
        }
        csv.flush().map_err(io)?;
    }

    zip.start_file("role_entitlements.csv", options)
        .map_err(zip_err)?;
    {
        write_role_entitlements(&mut zip, data, result).map_err(csv_err)?;
    }

    zip.start_file("rules.csv", options).map_err(zip_err)?;
    {
        let mut csv = csv::Writer::from_writer(&mut zip);
        csv.write_record([
            "role_id",
            "rank",
            "rule",
            "conditions",
            "precision",
            "recall",
            "matched",
            "members_matched",
            "would_add",
            "would_miss",
        ])
        .map_err(csv_err)?;
        for (i, role) in result.roles.iter().enumerate() {
            for (rank, rule) in role.rules.iter().enumerate() {
                csv.write_record([
                    (i + 1).to_string(),
                    (rank + 1).to_string(),
                    rule.criteria(),
                    rule.conditions.len().to_string(),
                    format!("{:.4}", rule.precision()),
                    format!("{:.4}", rule.recall()),
                    rule.matched.to_string(),
                    rule.members_matched.to_string(),
                    rule.would_add().to_string(),
                    rule.would_miss().to_string(),
                ])
                .map_err(csv_err)?;
            }
        }
        csv.flush().map_err(io)?;
    }

    let entitlement_ids = |list: &[u32]| -> Vec<String> {
        list.iter()
            .filter_map(|&e| data.entitlements.get(e as usize).map(|e| e.id.clone()))
            .collect()
    };
    zip.start_file("outliers.csv", options).map_err(zip_err)?;
    {
        let mut csv = csv::Writer::from_writer(&mut zip);
        csv.write_record(OUTLIER_COLUMNS).map_err(csv_err)?;
        for (rank, outlier) in result.outliers.iter().enumerate() {
            let roles: Vec<String> = outlier.roles.iter().map(|r| (r + 1).to_string()).collect();
            let exported = ExportedOutlier {
                rank: i32::try_from(rank + 1).unwrap_or(i32::MAX),
                identity_id: data
                    .identity_ids
                    .get(outlier.identity as usize)
                    .cloned()
                    .unwrap_or_default(),
                score: outlier.score,
                in_role: outlier.in_role,
                unusual_count: i32::try_from(outlier.unusual_count).unwrap_or(i32::MAX),
                unusual: entitlement_ids(&outlier.unusual),
                missing_count: i32::try_from(outlier.missing_count).unwrap_or(i32::MAX),
                missing: entitlement_ids(&outlier.missing),
            };
            csv.write_record(exported.cells(Some(&roles)))
                .map_err(csv_err)?;
        }
        csv.flush().map_err(io)?;
    }

    zip.start_file("unexplained.csv", options)
        .map_err(zip_err)?;
    {
        // Usage days per (identity, source): access with none is a removal candidate.
        let used: std::collections::HashSet<(u32, u32)> = data
            .usage
            .iter()
            .filter(|u| u.days > 0)
            .map(|u| (u.identity, u.source))
            .collect();
        let mut grouped: Vec<(u32, u32, &[u32])> = result
            .unexplained
            .iter()
            .map(|(e, ids)| {
                let source = data.entitlements.get(*e as usize).map_or(0, |e| e.source);
                (source, *e, ids.as_slice())
            })
            .collect();
        grouped.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then(b.2.len().cmp(&a.2.len()))
                .then(a.1.cmp(&b.1))
        });
        let mut csv = csv::Writer::from_writer(&mut zip);
        csv.write_record(UNEXPLAINED_COLUMNS).map_err(csv_err)?;
        for (source_index, e, ids) in grouped {
            let entitlement = data.entitlements.get(e as usize);
            let source = data.sources.get(source_index as usize);
            let unused = ids
                .iter()
                .filter(|&&i| !used.contains(&(i, source_index)))
                .count();
            let identities = ids
                .iter()
                .filter_map(|&i| data.identity_ids.get(i as usize).map(String::as_str))
                .collect::<Vec<_>>()
                .join(" ");
            csv.write_record([
                source.map_or("", |s| s.id.as_str()),
                source.map_or("", |s| s.name.as_str()),
                entitlement.map_or("", |e| e.id.as_str()),
                entitlement.map_or("", |e| e.name.as_str()),
                &ids.len().to_string(),
                &unused.to_string(),
                &identities,
            ])
            .map_err(csv_err)?;
        }
        csv.flush().map_err(io)?;
    }

    zip.start_file("summary.json", options).map_err(zip_err)?;
    let text = serde_json::to_string_pretty(summary).unwrap_or_default();
    zip.write_all(text.as_bytes()).map_err(io)?;
    let mut inner = zip.finish().map_err(zip_err)?;
    inner.flush().map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{Entitlement, Source};

    #[test]
    fn described_cells_are_quoted_as_a_whole_row_would_quote_them() {
        let names = [
            "plain",
            "two\nlines",
            "carriage\rreturn",
            "a, b",
            "say \"hi\"",
        ];
        let data = AccessData {
            entitlements: names
                .iter()
                .map(|name| Entitlement {
                    id: format!("id {name}"),
                    name: (*name).to_owned(),
                    attribute: "groups".to_owned(),
                    description: None,
                    source: 0,
                })
                .collect(),
            sources: vec![Source {
                id: "src".to_owned(),
                name: "Line\nbreak".to_owned(),
            }],
            ..AccessData::default()
        };
        for (index, name) in names.iter().enumerate() {
            let mut row = csv::Writer::from_writer(Vec::new());
            let id = format!("id {name}");
            row.write_record(["1", id.as_str(), name, "src", "Line\nbreak", "7"])
                .unwrap();
            let expected = row.into_inner().unwrap();
            let mut built = b"1,".to_vec();
            built.extend(describe(&data, index).unwrap());
            built.extend(b"7\n");
            assert_eq!(
                String::from_utf8(built).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
    }
}
