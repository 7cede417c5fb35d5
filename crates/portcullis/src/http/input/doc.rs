//! What an [`Input`] accepts, for the API document (`app::openapi`): its `parse` (or `describe`)
//! run on an empty object whose accessors record the members they read. The document is thereby
//! the very schema the server validates with, never a second description that could drift.
//!
//! Must never: be used to read a request (it accepts nothing), or depend on the document's format
//! (that mapping lives in `app::openapi`).

use super::{Input, Obj, Shape};
use serde_json::Map;

/// One member of an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub key: String,
    pub kind: Kind,
    pub required: bool,
}

/// A member's zod type, as the accessors of [`Obj`] name them.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    String,
    /// `z.string().nonempty()`
    NonEmpty,
    /// `z.email()`
    Email,
    Bool,
    Number,
    Enum(Vec<String>),
    /// `z.array(z.string())`
    Strings,
    /// `z.record(z.string(), z.any())`
    Record,
    /// `z.record(z.string(), z.string())`
    StringRecord,
    Object(Vec<Field>),
    /// Any JSON value (a member read by hand, [`Obj::raw`]).
    Any,
}

impl Kind {
    pub fn enumeration(options: &[&str]) -> Kind {
        Kind::Enum(options.iter().map(|o| o.to_string()).collect())
    }
}

/// An input's top-level shape and members (first declaration of a key wins).
#[derive(Debug, Clone)]
pub struct Described {
    pub shape: Shape,
    pub fields: Vec<Field>,
}

/// Records what `T` reads.
pub fn describe<T: Input>() -> Described {
    let (empty, mut issues, mut fields) = (Map::new(), Vec::new(), Vec::new());
    T::describe(&mut Obj { map: &empty, at: String::new(), issues: &mut issues, doc: Some(&mut fields) });
    Described { shape: T::SHAPE, fields: dedup(fields) }
}

fn dedup(fields: Vec<Field>) -> Vec<Field> {
    let mut out: Vec<Field> = Vec::new();
    for f in fields {
        if !out.iter().any(|o| o.key == f.key) {
            let kind = match f.kind {
                Kind::Object(inner) => Kind::Object(dedup(inner)),
                k => k,
            };
            out.push(Field { kind, ..f });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Demo;
    impl Input for Demo {
        fn parse(o: &mut Obj<'_>) -> Self {
            o.email("email");
            o.opt_bool("rememberMe");
            o.opt_object("user", |u| u.one_of("kind", &["a", "b"]));
            Demo
        }
    }

    #[test]
    fn describe_records_each_member_with_its_kind_and_whether_it_is_required() {
        let d = describe::<Demo>();
        assert_eq!(
            d.fields,
            vec![
                Field { key: "email".into(), kind: Kind::Email, required: true },
                Field { key: "rememberMe".into(), kind: Kind::Bool, required: false },
                Field {
                    key: "user".into(),
                    kind: Kind::Object(vec![Field { key: "kind".into(), kind: Kind::enumeration(&["a", "b"]), required: true }]),
                    required: false
                },
            ]
        );
    }
}
