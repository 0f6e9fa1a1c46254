//! Garment ids and names.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest id, in bytes. Ids become file names; short ones keep paths far from any limit.
const MAX_ID_LEN: usize = 64;
/// Longest id made from a name, leaving room for a `-N` suffix that makes it unique.
const MAX_SLUG_LEN: usize = 48;
/// Longest display name, in characters.
const MAX_NAME_CHARS: usize = 200;

/// Names Windows reserves for devices, whatever the extension: never usable as file stems.
const RESERVED_STEMS: [&str; 22] = [
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
    "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// A garment's stable id: lowercase ASCII letters, digits, `-` and `_`, starting with a letter
/// or digit. Ids name files, so they are safe on every file system, case-insensitive ones
/// included; they never change when a garment is renamed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GarmentId(String);

impl GarmentId {
    /// The id spelled `s`, or `None` if `s` is not a valid id.
    pub fn parse(s: &str) -> Option<Self> {
        let valid = !s.is_empty()
            && s.len() <= MAX_ID_LEN
            && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            && !RESERVED_STEMS.contains(&s);
        valid.then(|| GarmentId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An id that reads like `name` ("Red tee!" gives `red-tee`); never empty.
    pub(crate) fn from_name(name: &str) -> Self {
        let mut slug = String::new();
        for c in name.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                slug.push(c);
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        slug.truncate(MAX_SLUG_LEN);
        let slug = slug.trim_end_matches('-');
        match slug {
            "" => GarmentId("garment".into()),
            s if RESERVED_STEMS.contains(&s) => GarmentId(format!("{s}-garment")),
            s => GarmentId(s.to_owned()),
        }
    }

    /// The first of `self`, `self-2`, `self-3`, ... that `taken` refuses.
    pub(crate) fn unique(self, taken: impl Fn(&GarmentId) -> bool) -> Self {
        if !taken(&self) {
            return self;
        }
        (2u32..)
            .map(|n| GarmentId(format!("{}-{n}", self.0)))
            .find(|candidate| !taken(candidate))
            .unwrap_or(self)
    }
}

impl fmt::Display for GarmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for GarmentId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for GarmentId {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        GarmentId::parse(&s).ok_or_else(|| format!("`{s}` is not a valid garment id"))
    }
}

impl From<GarmentId> for String {
    fn from(id: GarmentId) -> String {
        id.0
    }
}

/// A garment the app can try on: one of the wardrobe's, or a photo opened from a file (its mask
/// computed). Part of the result cache key, so it names the garment exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GarmentRef {
    Wardrobe(GarmentId),
    File(std::path::PathBuf),
}

impl GarmentRef {
    /// The wardrobe id, for a wardrobe garment.
    pub fn wardrobe_id(&self) -> Option<&GarmentId> {
        match self {
            GarmentRef::Wardrobe(id) => Some(id),
            GarmentRef::File(_) => None,
        }
    }
}

impl fmt::Display for GarmentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GarmentRef::Wardrobe(id) => write!(f, "{id}"),
            GarmentRef::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A display name as typed: control characters dropped, spaces trimmed, length capped.
/// `None` when nothing is left.
pub(crate) fn clean_name(name: &str) -> Option<String> {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed: String = cleaned.trim().chars().take(MAX_NAME_CHARS).collect();
    let trimmed = trimmed.trim_end();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// A display name for a garment known only by its file or id: `red_striped-tee` gives
/// "Red striped tee".
pub(crate) fn name_from_stem(stem: &str) -> String {
    let spaced: String = stem
        .chars()
        .map(|c| if c == '-' || c == '_' { ' ' } else { c })
        .collect();
    let Some(clean) = clean_name(&spaced) else {
        return "Garment".into();
    };
    let mut chars = clean.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "Garment".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_names_are_valid_and_unique() {
        assert_eq!(GarmentId::from_name("Red tee!").as_str(), "red-tee");
        assert_eq!(GarmentId::from_name("  ").as_str(), "garment");
        assert_eq!(GarmentId::from_name("Футболка").as_str(), "garment");
        assert_eq!(GarmentId::from_name("CON").as_str(), "con-garment");
        let long = GarmentId::from_name(&"a".repeat(500));
        assert!(GarmentId::parse(long.as_str()).is_some());
        let taken = ["red-tee", "red-tee-2"];
        let id = GarmentId::from_name("Red tee").unique(|c| taken.contains(&c.as_str()));
        assert_eq!(id.as_str(), "red-tee-3");
    }

    #[test]
    fn parse_refuses_unsafe_ids() {
        for bad in [
            "",
            "-a",
            "A",
            "a/b",
            "..",
            "a.b",
            "nul",
            "a b",
            &"a".repeat(65),
        ] {
            assert!(GarmentId::parse(bad).is_none(), "{bad:?}");
        }
        assert!(GarmentId::parse("000523_1").is_some());
    }

    #[test]
    fn names() {
        assert_eq!(name_from_stem("red_striped-tee"), "Red striped tee");
        assert_eq!(name_from_stem("---"), "Garment");
        assert_eq!(clean_name(" a\tb \n").as_deref(), Some("a b"));
        assert_eq!(clean_name("\n"), None);
    }
}
