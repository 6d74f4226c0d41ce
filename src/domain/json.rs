//! A todo's JSON written straight into bytes, byte for byte what its `Serialize` gives
//! (`serde_json`'s compact form; a test holds the two together on every kind of field).
//!
//! Every answer with todos in it writes them: a list of 20 read from the store, and every
//! create and update. Through serde a todo cost ~7,400 instructions (callgrind), a third of an
//! uncached list: each of its seventeen keys and every value went through the escaping loop,
//! byte by byte, though only the texts people write can hold a character to escape; here keys
//! are written as they are, and a text is scanned once and escaped by `serde_json` itself only
//! when it holds such a character.

use super::plan::{write_day, write_instant, write_local};
use super::{Due, Timestamp, Todo};

impl Todo {
    /// This todo as JSON, onto the end of `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"uid\":");
        push_uuid(out, self.uid);
        out.extend_from_slice(b",\"username\":");
        push_str(out, self.username.as_str());
        out.extend_from_slice(b",\"list\":");
        push_uuid(out, self.list.uuid());
        out.extend_from_slice(b",\"description\":");
        push_str(out, self.description.as_str());
        out.extend_from_slice(b",\"state\":\"");
        out.extend_from_slice(self.state.as_str().as_bytes());
        out.extend_from_slice(b"\",\"metadata\":");
        out.extend_from_slice(self.metadata.as_json().as_bytes());
        out.extend_from_slice(b",\"created_at\":");
        push_time(out, Some(self.created_at));
        out.extend_from_slice(b",\"updated_at\":");
        push_time(out, Some(self.updated_at));
        out.extend_from_slice(b",\"version\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.version).as_bytes());
        out.extend_from_slice(b",\"title\":");
        push_optional(out, self.title.as_ref().map(|t| t.as_str()));
        out.extend_from_slice(b",\"notes\":");
        push_optional(out, self.notes.as_ref().map(|n| n.as_str()));
        out.extend_from_slice(b",\"priority\":\"");
        out.extend_from_slice(self.priority.as_str().as_bytes());
        out.extend_from_slice(b"\",\"due\":");
        match &self.due {
            None => out.extend_from_slice(b"null"),
            Some(Due::Day(day)) => push_str(out, &write_day(*day)),
            Some(Due::At { local, zone, utc }) => {
                out.extend_from_slice(b"{\"at\":");
                push_str(out, &write_local(*local));
                out.extend_from_slice(b",\"tz\":");
                push_str(out, zone);
                out.extend_from_slice(b",\"utc\":");
                push_str(out, &write_instant(*utc));
                out.push(b'}');
            }
        }
        out.extend_from_slice(b",\"position\":");
        push_str(out, self.position.as_str());
        out.extend_from_slice(b",\"completed_at\":");
        push_time(out, self.completed_at);
        if let Some(by) = &self.created_by {
            out.extend_from_slice(b",\"created_by\":");
            push_str(out, by.as_str());
        }
        if let Some(by) = &self.updated_by {
            out.extend_from_slice(b",\"updated_by\":");
            push_str(out, by.as_str());
        }
        out.push(b'}');
    }

    /// How many bytes [`Todo::write_json`] writes when no text needs escaping (else more):
    /// room for the answer in one allocation of the size the kept answers are counted at
    /// (serde's buffer, doubling from 128 bytes, left up to half of it unused).
    pub fn json_len(&self) -> usize {
        const SKELETON: &str = r#"{"uid":"","username":"","list":"","description":"","state":"","metadata":,"created_at":"","updated_at":"","version":,"title":,"notes":,"priority":"","due":,"position":"","completed_at":}"#;
        let text = |t: Option<&str>| t.map_or(4, |t| t.len() + 2);
        let by = |u: &Option<super::Username>| u.as_ref().map_or(0, |u| 16 + u.as_str().len());
        let due = match &self.due {
            None => 4,
            Some(Due::Day(_)) => 12,
            Some(Due::At { local, zone, .. }) => {
                let local = if local.second() == 0 { 16 } else { 19 };
                r#"{"at":"","tz":"","utc":""}"#.len() + local + zone.len() + 20
            }
        };
        SKELETON.len()
            + 2 * 36
            + 2 * 24
            + self.username.as_str().len()
            + self.description.as_str().len()
            + self.state.as_str().len()
            + self.metadata.as_json().len()
            + self.version.checked_ilog10().map_or(1, |d| d as usize + 1)
            + text(self.title.as_ref().map(|t| t.as_str()))
            + text(self.notes.as_ref().map(|n| n.as_str()))
            + self.priority.as_str().len()
            + due
            + self.position.as_str().len()
            + self.completed_at.map_or(4, |_| 26)
            + by(&self.created_by)
            + by(&self.updated_by)
    }

    /// `todos` as a JSON array, onto the end of `out`.
    pub fn write_json_array(todos: &[Todo], out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, todo) in todos.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            todo.write_json(out);
        }
        out.push(b']');
    }
}

/// `text` as a JSON string. Most texts hold nothing to escape and are copied between quotes;
/// the rest are escaped by `serde_json`, so that both forms agree on every character.
fn push_str(out: &mut Vec<u8>, text: &str) {
    if text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        // Writing into a Vec cannot fail, and a str is always valid to serialise.
        let _ = serde_json::to_writer(&mut *out, text);
    } else {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    }
}

/// An id as serde writes it: hyphenated, lower case, quoted.
fn push_uuid(out: &mut Vec<u8>, id: uuid::Uuid) {
    out.push(b'"');
    out.extend_from_slice(
        id.hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer())
            .as_bytes(),
    );
    out.push(b'"');
}

fn push_optional(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => push_str(out, text),
        None => out.extend_from_slice(b"null"),
    }
}

fn push_time(out: &mut Vec<u8>, at: Option<Timestamp>) {
    match at {
        Some(at) => {
            out.push(b'"');
            out.extend_from_slice(&at.text());
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::{Description, Due, ListId, Metadata, Notes, Priority, Title, TodoState};
    use crate::domain::{Position, Username};

    /// Texts with every kind of character JSON treats apart.
    const TEXTS: &[&str] = &[
        "plain",
        "a \"quoted\" word",
        "back\\slash",
        "tab\there, line\nbreak, return\r, bell\u{7}, nul\u{0}, esc\u{1b}, del\u{7f}",
        "unicode: é ü 中文 🎉, separators \u{2028}\u{2029}, c1 \u{85}",
        "</script> & <b>",
    ];

    fn todos() -> Vec<Todo> {
        let alice = Username::parse("alice").unwrap();
        let metadata =
            Metadata::parse(json!({"tags": ["a\"b", 1, null], "x": {"y": "\n"}})).unwrap();
        let mut todos = vec![Todo::new(
            alice.clone(),
            Description::parse("one").unwrap(),
            Metadata::parse(json!({})).unwrap(),
        )];
        for (i, text) in TEXTS.iter().enumerate() {
            let mut todo = Todo::new(
                Username::parse("bob.o'neil@x+y:z-1").unwrap_or_else(|_| alice.clone()),
                Description::from_stored(text).unwrap(),
                metadata.clone(),
            );
            todo.title = Some(Title::from_stored(text).unwrap());
            todo.notes = Some(Notes::from_stored(text).unwrap());
            todo.state = TodoState::ALL[i % 3];
            todo.priority = Priority::ALL[i % 4];
            todo.version = [1, 9, 10, 99, 1_000_000, u64::MAX][i];
            todo.completed_at = (i % 2 == 0).then(Timestamp::now);
            todo.created_by = (i % 3 == 0).then(|| alice.clone());
            todo.updated_by = (i % 2 == 1).then(|| alice.clone());
            todo.list = if i % 2 == 0 {
                ListId::new()
            } else {
                ListId::inbox_of(&alice)
            };
            todo.position = Position::from_stored(["1", "zz", "0a1"][i % 3]).unwrap();
            todo.due = match i % 3 {
                0 => None,
                1 => Some(Due::parse(&json!("2026-12-24")).unwrap()),
                _ => Some(
                    Due::parse(&json!({"at": "2026-03-29T02:30:07", "tz": "America/New_York"}))
                        .unwrap(),
                ),
            };
            todos.push(todo);
        }
        // Every field at its longest form, no text to escape.
        let mut full = todos[1].clone();
        full.metadata = Metadata::parse(json!({"tags": ["a", 1, null], "x": {"y": 2}})).unwrap();
        full.description = Description::parse("plain").unwrap();
        full.title = Some(Title::parse("plain").unwrap());
        full.notes = Some(Notes::parse("plain").unwrap());
        full.due = todos[3].due.clone();
        full.completed_at = Some(Timestamp::now());
        full.created_by = Some(alice.clone());
        full.updated_by = Some(alice);
        full.version = u64::MAX;
        todos.push(full);
        todos
    }

    #[test]
    fn a_todo_is_written_as_serde_writes_it() {
        for todo in todos() {
            let mut out = b"before ".to_vec();
            todo.write_json(&mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("before {}", serde_json::to_string(&todo).unwrap())
            );
        }
    }

    #[test]
    fn the_length_is_known_before_writing_when_no_text_needs_escaping() {
        let mut checked = 0;
        for todo in todos() {
            let mut out = Vec::new();
            todo.write_json(&mut out);
            if !out.contains(&b'\\') {
                checked += 1;
                assert_eq!(out.len(), todo.json_len());
            }
        }
        assert_eq!(checked, 2);
    }

    #[test]
    fn todos_are_written_as_serde_writes_an_array_of_them() {
        let todos = todos();
        for n in [0, 1, todos.len()] {
            let mut out = Vec::new();
            Todo::write_json_array(&todos[..n], &mut out);
            assert_eq!(out, serde_json::to_vec(&todos[..n]).unwrap());
        }
    }
}
