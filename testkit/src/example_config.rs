//! Commented example config files that document every field: checked against the structs
//! their parser fills, so a field cannot be added without being documented.

/// The names of every field of a struct, as strings. Adding a field to the struct fails to
/// compile here until it is listed.
#[macro_export]
macro_rules! every_field {
    ($ty:ident { $($field:ident),* $(,)? }) => {{
        let _ = |value: $ty| {
            let $ty { $($field: _),* } = value;
        };
        [$(stringify!($field)),*]
    }};
}

/// Each of `fields` is set in `table`, the `section` of the example file `file`.
pub fn assert_sets_every_field(file: &str, section: &str, table: &toml::Value, fields: &[&str]) {
    for field in fields {
        assert!(
            table.get(field).is_some(),
            "{file} does not set {section}{field}"
        );
    }
}
