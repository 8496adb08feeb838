//! Collection queries: a checked filter tree, sort keys and paging turned into one
//! parameterised SQL statement (values are always bound, never spliced).

use rolemine_filter::{FieldSpec, Filter, Kind, Op, Sort, Value};
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};

use crate::error::StoreError;
use rolemine_filter::SorterSpec;

/// A filterable field of an endpoint (a `const` helper for the field tables).
pub(crate) const fn field(
    name: &'static str,
    kind: Kind,
    ops: &'static [Op],
    target: &'static str,
) -> FieldSpec {
    FieldSpec {
        name,
        kind,
        ops,
        target,
    }
}

/// A sort key of an endpoint (a `const` helper for the sorter tables).
pub(crate) const fn sorter(name: &'static str, target: &'static str) -> SorterSpec {
    SorterSpec { name, target }
}

/// What a list endpoint asks for.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// A filter already checked against the endpoint's fields.
    pub filter: Option<Filter>,
    /// Sort keys, first first; the default order follows them.
    pub sorts: Vec<Sort>,
    /// Page size.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
    /// Whether the total number of matches is wanted too.
    pub count: bool,
}

/// One page and, when asked for, the total number of matches.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// All matches, for `X-Total-Count`.
    pub total: Option<i64>,
}

/// Runs the query `base` writes (a complete `SELECT ... WHERE condition`, whose columns the
/// field targets name) with `listing` applied. `tiebreak` ends every ORDER BY so pages are
/// stable.
pub async fn fetch<'q, T>(
    pool: &PgPool,
    base: impl Fn(&mut QueryBuilder<'q, Postgres>),
    fields: &[FieldSpec],
    listing: &Listing,
    default_order: &str,
    tiebreak: &str,
) -> Result<Page<T>, StoreError>
where
    T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    let filtered = |query: &mut QueryBuilder<'q, Postgres>| -> Result<(), StoreError> {
        base(query);
        if let Some(filter) = &listing.filter {
            query.push(" AND ");
            push_filter(query, filter, fields)?;
        }
        Ok(())
    };
    let mut query = QueryBuilder::<Postgres>::new("");
    filtered(&mut query)?;
    push_order(&mut query, listing, default_order, tiebreak);
    push_page(&mut query, listing);
    let items = query.build_query_as::<T>().fetch_all(pool).await?;

    let total = if listing.count {
        let mut counting = QueryBuilder::<Postgres>::new("SELECT count(*) FROM (");
        filtered(&mut counting)?;
        counting.push(") AS matches");
        Some(counting.build_query_scalar::<i64>().fetch_one(pool).await?)
    } else {
        None
    };
    Ok(Page { items, total })
}

/// Appends ` ORDER BY` the listing's sort keys then `tiebreak`, or `default_order`.
pub(crate) fn push_order(
    query: &mut QueryBuilder<'_, Postgres>,
    listing: &Listing,
    default_order: &str,
    tiebreak: &str,
) {
    query.push(" ORDER BY ");
    if listing.sorts.is_empty() {
        query.push(default_order);
        return;
    }
    // PostgreSQL's default null placement (nulls sort as the largest value) and a tiebreak in
    // the direction of the last key keep the order one that an index can walk backwards: a
    // deep `-name` page of a 100k-member role was a full sort (100 ms) under `DESC NULLS LAST`.
    for sort in &listing.sorts {
        query.push(sort.target);
        query.push(if sort.descending { " DESC, " } else { " ASC, " });
    }
    let descending = listing.sorts.last().is_some_and(|sort| sort.descending);
    for (i, key) in tiebreak.split(',').enumerate() {
        if i > 0 {
            query.push(", ");
        }
        query.push(key.trim());
        query.push(if descending { " DESC" } else { " ASC" });
    }
}

/// Appends the listing's ` LIMIT` and ` OFFSET`.
pub(crate) fn push_page(query: &mut QueryBuilder<'_, Postgres>, listing: &Listing) {
    query.push(" LIMIT ");
    query.push_bind(listing.limit);
    query.push(" OFFSET ");
    query.push_bind(listing.offset);
}

/// Appends `operands` in parentheses, separated by `joiner` (` AND ` or ` OR `), each written by
/// `push`: the boolean nodes of every query tree this crate translates.
pub(crate) fn push_joined<'q, T>(
    query: &mut QueryBuilder<'q, Postgres>,
    joiner: &str,
    operands: &[T],
    mut push: impl FnMut(&mut QueryBuilder<'q, Postgres>, &T) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    query.push("(");
    for (i, operand) in operands.iter().enumerate() {
        if i > 0 {
            query.push(joiner);
        }
        push(query, operand)?;
    }
    query.push(")");
    Ok(())
}

/// `LIKE` pattern metacharacters escaped, for `sw` and `co`.
fn like_escaped(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn push_value(query: &mut QueryBuilder<'_, Postgres>, value: &Value) {
    match value {
        Value::String(text) => query.push_bind(text.clone()),
        Value::Bool(b) => query.push_bind(*b),
        Value::Number(n) => query.push_bind(*n),
        Value::DateTime(time) => query.push_bind(*time),
    };
}

/// Appends `filter` as a boolean SQL expression.
pub(crate) fn push_filter(
    query: &mut QueryBuilder<'_, Postgres>,
    filter: &Filter,
    fields: &[FieldSpec],
) -> Result<(), StoreError> {
    let target = |field: &str| {
        fields
            .iter()
            .find(|spec| spec.name == field)
            .ok_or_else(|| StoreError::Query(format!("the filter field {field} was not checked")))
    };
    match filter {
        Filter::And(all) | Filter::Or(all) => {
            let joiner = if matches!(filter, Filter::And(_)) {
                " AND "
            } else {
                " OR "
            };
            push_joined(query, joiner, all, |query, operand| {
                push_filter(query, operand, fields)
            })?;
        }
        Filter::Not(inner) => {
            query.push("NOT coalesce((");
            push_filter(query, inner, fields)?;
            // A comparison with a null field is unknown; `not` of it must still be a boolean.
            query.push("), false)");
        }
        Filter::Compare { field, op, value } => {
            let spec = target(field)?;
            query.push(if *op == Op::Sw { "(lower(" } else { "(" });
            query.push(spec.target);
            match op {
                Op::Sw | Op::Co => {
                    let Value::String(text) = value else {
                        return Err(StoreError::Query(format!("{op} needs text")));
                    };
                    if *op == Op::Sw {
                        // `lower(x) LIKE lower('prefix%')` can use an index on `lower(x)`
                        // (text_pattern_ops); ILIKE never can.
                        query.push(") LIKE lower(");
                        query.push_bind(format!("{}%", like_escaped(text)));
                        query.push(") ESCAPE '\\'");
                    } else {
                        query.push(" ILIKE ");
                        query.push_bind(format!("%{}%", like_escaped(text)));
                        query.push(" ESCAPE '\\'");
                    }
                }
                _ => {
                    query.push(match op {
                        Op::Ne => " IS DISTINCT FROM ",
                        Op::Ge => " >= ",
                        Op::Gt => " > ",
                        Op::Le => " <= ",
                        Op::Lt => " < ",
                        _ => " = ",
                    });
                    push_value(query, value);
                }
            }
            query.push(")");
        }
        Filter::In { field, values } => {
            let spec = target(field)?;
            query.push("(");
            query.push(spec.target);
            query.push(" = ANY(");
            // The checked tree holds values of the field's kind only.
            match spec.kind {
                Kind::Text => query.push_bind(pick(values, |v| match v {
                    Value::String(s) => Some(s.clone()),
                    _ => None,
                })),
                Kind::Bool => query.push_bind(pick(values, |v| match v {
                    Value::Bool(b) => Some(*b),
                    _ => None,
                })),
                Kind::Number => query.push_bind(pick(values, |v| match v {
                    Value::Number(n) => Some(*n),
                    _ => None,
                })),
                Kind::DateTime => query.push_bind(pick(values, |v| match v {
                    Value::DateTime(t) => Some(*t),
                    _ => None,
                })),
            };
            query.push("))");
        }
        Filter::Present { field } => {
            query.push("(");
            query.push(target(field)?.target);
            query.push(" IS NOT NULL)");
        }
        Filter::IsNull { field } => {
            query.push("(");
            query.push(target(field)?.target);
            query.push(" IS NULL)");
        }
    }
    Ok(())
}

/// The values of one kind, as a bindable array.
fn pick<T>(values: &[Value], of_kind: impl Fn(&Value) -> Option<T>) -> Vec<T> {
    values.iter().filter_map(of_kind).collect()
}
