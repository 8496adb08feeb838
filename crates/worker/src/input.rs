//! The engine's input for one session, assembled from the population rows the store streams:
//! dense identity and entitlement indices, dictionary-coded attributes and the existing roles.

use std::collections::HashMap;

use roaring::RoaringBitmap;
use rolemine_engine::mine::Attribute;
use rolemine_engine::{AccessMatrix, AccessMatrixBuilder};
use rolemine_store::mining::{IndexIds, PopulationRow};

/// What the engine needs for one session, with the dense indices mapped back to database ids.
#[derive(Debug)]
pub struct SessionInput {
    /// The population's access; identity index = position in `ids.identity_ids`.
    pub matrix: AccessMatrix,
    /// Database ids per dense index.
    pub ids: IndexIds,
    /// Identity attributes per identity index.
    pub attributes: Vec<Attribute>,
    /// Entitlement sets of existing roles (imported and provisioned), as entitlement indices.
    pub existing_roles: Vec<RoaringBitmap>,
}

/// Gathers population rows, then builds the [`SessionInput`].
#[derive(Debug, Default)]
pub struct InputBuilder {
    identity_ids: Vec<i32>,
    identity_names: Vec<String>,
    access: Vec<Vec<i32>>,
    attribute_index: HashMap<String, usize>,
    attributes: Vec<Attribute>,
    dictionaries: Vec<HashMap<String, u32>>,
}

fn index(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl InputBuilder {
    /// Adds the next identity (rows come in identity id order).
    pub fn push(&mut self, row: PopulationRow) {
        let identity = self.identity_ids.len();
        self.identity_ids.push(row.identity_id);
        self.identity_names.push(row.name);
        self.access.push(row.entitlement_ids);
        for (name, value) in row.attributes {
            // Only text values are attributes; anything else in the JSON is ignored.
            let Some(value) = value.as_str() else {
                continue;
            };
            let slot = match self.attribute_index.get(&name) {
                Some(&slot) => slot,
                None => {
                    self.attributes.push(Attribute {
                        name: name.clone(),
                        values: Vec::new(),
                        codes: Vec::new(),
                    });
                    self.dictionaries.push(HashMap::new());
                    self.attribute_index.insert(name, self.attributes.len() - 1);
                    self.attributes.len() - 1
                }
            };
            let attribute = &mut self.attributes[slot];
            let dictionary = &mut self.dictionaries[slot];
            let next = index(dictionary.len());
            let code = *dictionary.entry(value.to_owned()).or_insert_with(|| {
                attribute.values.push(value.to_owned());
                next
            });
            if attribute.codes.len() <= identity {
                attribute.codes.resize(identity + 1, None);
            }
            attribute.codes[identity] = Some(code);
        }
    }

    /// Builds the matrix; `existing_roles` are the entitlement database ids each existing role
    /// grants.
    pub fn build(mut self, existing_roles: Vec<Vec<i32>>) -> SessionInput {
        // Entitlement indices in database id order, not in order of first appearance: the same
        // data then gives the engine the same matrix however the population was selected, and
        // the engine's tie-breaks follow indices.
        let mut entitlement_ids: Vec<i32> = self.access.iter().flatten().copied().collect();
        entitlement_ids.sort_unstable();
        entitlement_ids.dedup();
        let entitlement_index: HashMap<i32, u32> = entitlement_ids
            .iter()
            .enumerate()
            .map(|(i, &id)| (id, index(i)))
            .collect();
        let mut builder = AccessMatrixBuilder::default();
        for (identity, held) in self.access.into_iter().enumerate() {
            for entitlement in held {
                if let Some(&dense) = entitlement_index.get(&entitlement) {
                    builder.push(index(identity), dense);
                }
            }
        }
        let identities = index(self.identity_ids.len());
        for attribute in &mut self.attributes {
            attribute.codes.resize(identities as usize, None);
        }
        // Existing roles may hold entitlements nobody in the population has: they get indices
        // past the population's, so Jaccard overlaps stay exact.
        let mut extra: HashMap<i32, u32> = HashMap::new();
        let mut next_extra = index(entitlement_ids.len());
        let existing_roles = existing_roles
            .into_iter()
            .map(|entitlements| {
                entitlements
                    .into_iter()
                    .map(|id| match entitlement_index.get(&id) {
                        Some(&dense) => dense,
                        None => *extra.entry(id).or_insert_with(|| {
                            next_extra += 1;
                            next_extra - 1
                        }),
                    })
                    .collect::<RoaringBitmap>()
            })
            .collect();
        builder.push_size(identities, index(entitlement_ids.len()));
        SessionInput {
            matrix: builder.build(),
            ids: IndexIds {
                identity_ids: self.identity_ids,
                identity_names: self.identity_names,
                entitlement_ids,
            },
            attributes: self.attributes,
            existing_roles,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i32, held: &[i32], dept: Option<&str>) -> PopulationRow {
        let mut attributes = serde_json::Map::new();
        if let Some(dept) = dept {
            attributes.insert("dept".into(), dept.into());
        }
        attributes.insert("level".into(), serde_json::json!(3));
        PopulationRow {
            identity_id: id,
            name: format!("user {id}"),
            entitlement_ids: held.to_vec(),
            attributes,
        }
    }

    #[test]
    fn indices_follow_database_ids_and_attributes_are_dictionary_coded() {
        let mut builder = InputBuilder::default();
        builder.push(row(10, &[30, 7], Some("IT")));
        builder.push(row(11, &[7], None));
        builder.push(row(12, &[], Some("IT")));
        let input = builder.build(vec![vec![7, 99]]);
        assert_eq!(input.ids.identity_ids, [10, 11, 12]);
        assert_eq!(input.ids.entitlement_ids, [7, 30], "sorted by database id");
        assert_eq!(input.matrix.identities(), 3);
        assert_eq!(
            input.attributes.len(),
            1,
            "non-text values are not attributes"
        );
        let dept = &input.attributes[0];
        assert_eq!(dept.values, ["IT"]);
        assert_eq!(dept.codes, [Some(0), None, Some(0)]);
        // Entitlement 99 is held by nobody in the population: it gets an index past theirs.
        let role: Vec<u32> = input.existing_roles[0].iter().collect();
        assert_eq!(role, [0, 2]);
    }
}
