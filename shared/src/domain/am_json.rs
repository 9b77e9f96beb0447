//! How domain values live in automerge documents: as the JSON shape their serde derives
//! define (the same shape the TypeScript bindings describe), so there is one source of
//! truth for the layout of a document.
//!
//! **Reading** walks the document into a `serde_json::Value` and deserialises that with
//! the path of the offending field kept (`serde_path_to_error`). It accepts what the JS
//! automerge client really writes: strings as collaborative `Text` objects (the default
//! of `@automerge/automerge` 3) or as scalar strings, whole numbers as `Int` where Rust
//! has `f64` or `u32`, and a missing key where Rust has an `Option`.
//!
//! **Writing** (autosurgeon `Reconcile`) diffs against what is there: unchanged scalars
//! produce no operation, so the server can reconcile a whole grid index every few seconds
//! without the document's history growing with it. Strings are written as `Text`, which
//! JavaScript reads back as plain strings (a scalar string would surface as an
//! `ImmutableString` object); integers as `Int`, like JavaScript writes them.
//!
//! autosurgeon's derives are not used: their `String` does not read `Text`, their `f64`
//! does not read an `Int`, and their errors do not say which field failed.

use automerge::{ObjId, ObjType, ScalarValue, Value};
use autosurgeon::reconcile::{MapReconciler, NoKey, SeqReconciler, TextReconciler};
use autosurgeon::{HydrateError, Prop, ReadDoc, Reconcile, Reconciler};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value as Json;

use super::violation::{join, Violation};

/// Deepest nesting read from a document. Linli's schemas are four levels deep; the cap
/// keeps a hostile document from overflowing the stack.
pub const MAX_DEPTH: usize = 16;

/// Reads the object `obj` of `doc` (map, list or text) as JSON.
pub(crate) fn read_object<D: ReadDoc>(doc: &D, obj: &ObjId) -> Result<Json, Violation> {
    let Some(objtype) = doc.object_type(obj) else {
        return Err(Violation::new("", "no such object in the document"));
    };
    read_obj(doc, obj, objtype, "", 0)
}

/// Reads the value at `prop` of `obj` as JSON; a missing value reads as `null`.
pub(crate) fn read_prop<D: ReadDoc>(doc: &D, obj: &ObjId, prop: &Prop<'_>) -> Result<Json, Violation> {
    match doc.get(obj, prop).map_err(|e| Violation::new(prop.to_string(), e.to_string()))? {
        None => Ok(Json::Null),
        Some((value, id)) => read_value(doc, value, &id, &prop.to_string(), 0),
    }
}

fn read_value<D: ReadDoc>(doc: &D, value: Value<'_>, id: &ObjId, path: &str, depth: usize) -> Result<Json, Violation> {
    match value {
        Value::Object(objtype) => read_obj(doc, id, objtype, path, depth + 1),
        Value::Scalar(s) => scalar_to_json(&s, path),
    }
}

fn read_obj<D: ReadDoc>(doc: &D, obj: &ObjId, objtype: ObjType, path: &str, depth: usize) -> Result<Json, Violation> {
    if depth > MAX_DEPTH {
        return Err(Violation::new(path, format!("nested deeper than {MAX_DEPTH} levels")));
    }
    let am_err = |e: automerge::AutomergeError| Violation::new(path, e.to_string());
    match objtype {
        ObjType::Map | ObjType::Table => {
            let keys: Vec<String> = doc.map_range(obj, ..).map(|item| item.key.into_owned()).collect();
            let mut map = serde_json::Map::with_capacity(keys.len());
            for key in keys {
                let child_path = join(path, &key);
                let json = match doc.get(obj, key.as_str()).map_err(am_err)? {
                    None => Json::Null,
                    Some((value, id)) => read_value(doc, value, &id, &child_path, depth)?,
                };
                map.insert(key, json);
            }
            Ok(Json::Object(map))
        }
        ObjType::List => {
            let len = doc.length(obj);
            let mut items = Vec::with_capacity(len);
            for index in 0..len {
                let json = match doc.get(obj, index).map_err(am_err)? {
                    None => Json::Null,
                    Some((value, id)) => read_value(doc, value, &id, &join(path, index), depth)?,
                };
                items.push(json);
            }
            Ok(Json::Array(items))
        }
        ObjType::Text => Ok(Json::String(doc.text(obj).map_err(am_err)?)),
    }
}

fn scalar_to_json(s: &ScalarValue, path: &str) -> Result<Json, Violation> {
    Ok(match s {
        ScalarValue::Null => Json::Null,
        ScalarValue::Boolean(b) => Json::Bool(*b),
        ScalarValue::Int(i) | ScalarValue::Timestamp(i) => Json::from(*i),
        ScalarValue::Uint(u) => Json::from(*u),
        ScalarValue::Counter(c) => Json::from(i64::from(c)),
        ScalarValue::F64(f) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .ok_or_else(|| Violation::new(path, "not a finite number"))?,
        ScalarValue::Str(s) => Json::String(s.to_string()),
        ScalarValue::Bytes(_) | ScalarValue::Unknown { .. } => {
            return Err(Violation::new(path, "binary values are not part of any Linli document"))
        }
    })
}

/// Deserialises `json` as a `T`, naming the failing field relative to `base`.
pub(crate) fn from_json<T: DeserializeOwned>(json: Json, base: &str) -> Result<T, Violation> {
    serde_path_to_error::deserialize(json).map_err(|e| {
        let mut field = base.to_string();
        for segment in e.path().iter() {
            use serde_path_to_error::Segment;
            match segment {
                Segment::Seq { index } => field = join(&field, index),
                Segment::Map { key } => field = join(&field, key),
                Segment::Enum { variant } => field = join(&field, variant),
                Segment::Unknown => {}
            }
        }
        let message = e.into_inner().to_string();
        // A missing field is reported at the enclosing struct, an unknown one at itself:
        // either way, name the field and say it plainly.
        for (prefix, reason) in [("missing field `", "missing"), ("unknown field `", "not in the schema")] {
            if let Some(name) = message.strip_prefix(prefix).and_then(|rest| rest.split('`').next()) {
                let named = field == name || field.ends_with(&format!(".{name}"));
                return Violation::new(if named { field } else { join(&field, name) }, reason);
            }
        }
        Violation::new(field, message)
    })
}

/// For `Hydrate` impls: reads the value at `prop` and deserialises it.
pub(crate) fn hydrate_prop<D: ReadDoc, T: DeserializeOwned>(
    doc: &D,
    obj: &ObjId,
    prop: &Prop<'_>,
) -> Result<T, HydrateError> {
    read_prop(doc, obj, prop).and_then(|json| from_json(json, &prop.to_string())).map_err(hydrate_error)
}

/// For `Hydrate` impls: reads the object `obj` and deserialises it.
pub(crate) fn hydrate_obj<D: ReadDoc, T: DeserializeOwned>(doc: &D, obj: &ObjId) -> Result<T, HydrateError> {
    read_object(doc, obj).and_then(|json| from_json(json, "")).map_err(hydrate_error)
}

fn hydrate_error(v: Violation) -> HydrateError {
    HydrateError::unexpected(format!("a valid `{}`", v.field), v.reason)
}

/// For `Reconcile` impls: writes `value`'s serde form.
pub(crate) fn reconcile_serialized<T: Serialize, R: Reconciler>(value: &T, reconciler: R) -> Result<(), R::Error> {
    // Serialising these plain data types (string keys only, no custom serialisers) cannot
    // fail; `Null` is a defensive fallback, never reached.
    let json = serde_json::to_value(value).unwrap_or(Json::Null);
    JsonNode(&json).reconcile(reconciler)
}

/// A JSON value written into a document, diffing against what is there.
struct JsonNode<'a>(&'a Json);

impl Reconcile for JsonNode<'_> {
    type Key<'k> = NoKey;

    fn reconcile<R: Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
        match self.0 {
            Json::Null => reconciler.none(),
            Json::Bool(b) => reconciler.boolean(*b),
            Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => reconciler.i64(i),
                (None, Some(u), _) => reconciler.u64(u),
                (None, None, f) => reconciler.f64(f.unwrap_or(f64::NAN)),
            },
            // `update` diffs the text, so an unchanged string costs no operation.
            Json::String(s) => reconciler.text()?.update(s),
            Json::Array(items) => {
                let mut seq = reconciler.seq()?;
                let old_len = seq.len()?;
                for (index, item) in items.iter().enumerate() {
                    if index < old_len {
                        if !same_scalar(seq.get(index)?.as_ref(), item) {
                            seq.set(index, JsonNode(item))?;
                        }
                    } else {
                        seq.insert(index, JsonNode(item))?;
                    }
                }
                for _ in items.len()..old_len {
                    seq.delete(items.len())?;
                }
                Ok(())
            }
            Json::Object(map) => {
                let mut m = reconciler.map()?;
                let stale: Vec<String> =
                    m.entries().map(|(k, _)| k.into_owned()).filter(|k| !map.contains_key(k)).collect();
                for key in stale {
                    m.delete(&key)?;
                }
                for (key, value) in map {
                    if !same_scalar(m.entry(key).as_ref(), value) {
                        m.put(key, JsonNode(value))?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// Whether the document already holds exactly this scalar (so writing it is a no-op).
/// Strings are not scalars here: they are `Text`, which `update` diffs itself.
fn same_scalar(existing: Option<&Value<'_>>, new: &Json) -> bool {
    let Some(Value::Scalar(s)) = existing else { return false };
    match (s.as_ref(), new) {
        (ScalarValue::Null, Json::Null) => true,
        (ScalarValue::Boolean(a), Json::Bool(b)) => a == b,
        (ScalarValue::Int(a), Json::Number(n)) => n.as_i64() == Some(*a),
        (ScalarValue::Uint(a), Json::Number(n)) => n.as_i64().is_none() && n.as_u64() == Some(*a),
        (ScalarValue::F64(a), Json::Number(n)) => n.is_f64() && n.as_f64().map(f64::to_bits) == Some(a.to_bits()),
        _ => false,
    }
}

/// Implements autosurgeon's `Hydrate` and `Reconcile` for a serde type, through JSON.
macro_rules! via_json {
    ($t:ty) => {
        impl autosurgeon::Hydrate for $t {
            fn hydrate<D: autosurgeon::ReadDoc>(
                doc: &D,
                obj: &automerge::ObjId,
                prop: autosurgeon::Prop<'_>,
            ) -> Result<Self, autosurgeon::HydrateError> {
                $crate::domain::am_json::hydrate_prop(doc, obj, &prop)
            }

            fn hydrate_map<D: autosurgeon::ReadDoc>(
                doc: &D,
                obj: &automerge::ObjId,
            ) -> Result<Self, autosurgeon::HydrateError> {
                $crate::domain::am_json::hydrate_obj(doc, obj)
            }
        }

        impl autosurgeon::Reconcile for $t {
            type Key<'a> = autosurgeon::reconcile::NoKey;

            fn reconcile<R: autosurgeon::Reconciler>(&self, reconciler: R) -> Result<(), R::Error> {
                $crate::domain::am_json::reconcile_serialized(self, reconciler)
            }
        }
    };
}
pub(crate) use via_json;
