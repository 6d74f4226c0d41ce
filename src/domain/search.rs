//! Search of a person's todos (`q=`): the words asked for, and what counts as a word the same
//! way on both stores. SQLite's FTS5 index is built with the same rules (`unicode61` with
//! diacritics removed, prefix queries), so the store answers what [`Search::matches`] says.

use std::borrow::Cow;

use icu_normalizer::DecomposingNormalizerBorrowed;

use super::{Invalid, Todo};

/// The words of `q`: a todo matches when each is the beginning of a word in its title,
/// description or notes, whatever the case and the accents (`cafe` finds "Café au lait").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Search {
    terms: Vec<String>,
}

impl Search {
    /// Bounds the words too, and so the work of one search.
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(Invalid(format!(
                "q must be at most {} characters",
                Self::MAX_CHARS
            )));
        }
        let mut terms: Vec<String> = words(raw).collect();
        terms.sort();
        terms.dedup();
        // A word that begins another asks nothing more of a todo than the longer one.
        let terms: Vec<String> = terms
            .iter()
            .filter(|t| {
                !terms
                    .iter()
                    .any(|o| o.len() > t.len() && o.starts_with(t.as_str()))
            })
            .cloned()
            .collect();
        match terms.is_empty() {
            true => Err(Invalid(
                "q must have a letter or a digit to look for".into(),
            )),
            false => Ok(Self { terms }),
        }
    }

    /// The words looked for, folded (lower case, no accents), each a prefix.
    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    pub fn matches(&self, todo: &Todo) -> bool {
        let texts = [
            todo.title.as_ref().map(|t| t.as_str()),
            Some(todo.description.as_str()),
            todo.notes.as_ref().map(|n| n.as_str()),
        ];
        let found: Vec<String> = texts.into_iter().flatten().flat_map(words).collect();
        self.terms
            .iter()
            .all(|term| found.iter().any(|word| word.starts_with(term.as_str())))
    }
}

/// The words of `text` as the search index keeps them: runs of letters and digits, in lower
/// case, accents taken off (decomposed, combining marks dropped).
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(fold)
}

fn fold(word: &str) -> String {
    let plain = word.is_ascii();
    let decomposed: Cow<str> = if plain {
        Cow::Borrowed(word)
    } else {
        DecomposingNormalizerBorrowed::new_nfd().normalize(word)
    };
    decomposed
        .chars()
        .filter(|c| !('\u{300}'..='\u{36f}').contains(c))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Description, Metadata, Notes, Plan, Title, Username};

    fn todo(title: Option<&str>, description: &str, notes: Option<&str>) -> Todo {
        let plan = Plan {
            title: title.map(|t| Title::parse(t).unwrap()),
            notes: notes.map(|n| Notes::parse(n).unwrap()),
            ..Plan::default()
        };
        Todo::planned(
            Username::parse("alice").unwrap(),
            Description::parse(description).unwrap(),
            Metadata::default(),
            plan,
        )
    }

    fn finds(q: &str, todo: &Todo) -> bool {
        Search::parse(q).unwrap().matches(todo)
    }

    #[test]
    fn words_fold_case_and_accents() {
        let folded: Vec<String> = words("Crème BRÛLÉE, naïve-Ångström! 3×4 straße").collect();
        assert_eq!(
            folded,
            ["creme", "brulee", "naive", "angstrom", "3", "4", "straße"]
        );
    }

    #[test]
    fn every_word_must_begin_a_word_of_the_todo() {
        let t = todo(
            Some("Café au lait"),
            "buy oat milk",
            Some("at the Épicerie"),
        );
        assert!(finds("cafe", &t));
        assert!(finds("CAFÉ", &t));
        assert!(finds("caf", &t), "a prefix");
        assert!(finds("milk oat", &t), "every word, in any order");
        assert!(finds("epic", &t), "notes too");
        assert!(!finds("ilk", &t), "a word's middle is not its beginning");
        assert!(!finds("milk tea", &t), "every word must be found");
    }

    #[test]
    fn a_query_needs_a_word_and_not_too_many_characters() {
        assert!(Search::parse("  ").is_err());
        assert!(Search::parse("!!! ---").is_err());
        assert!(Search::parse(&"a ".repeat(101)).is_err());
        assert!(
            Search::parse(&"é".repeat(200)).is_ok(),
            "characters, not bytes"
        );
        assert_eq!(Search::parse("mil milk Milk").unwrap().terms(), ["milk"]);
    }
}
